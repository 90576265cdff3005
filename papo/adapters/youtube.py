"""YouTube: PubSubHubbub pushes of a channel's uploads, and comment threads read by the poller.

Push: Atom XML, `feed/entry` with `yt:videoId` and `yt:channelId`, signed with
`X-Hub-Signature: sha1=<hex>` (HMAC-SHA1 of the raw body keyed with the hub.secret Papo subscribed
with). The hub sends the same kind of entry when a video is uploaded and when its title or description
changes, and nothing in it tells the two apart (YouTube's own example has `updated` three days after
`published`), so every entry becomes a video_published event keyed on the video id — the dedupe
store absorbs repeats — with `detail["metadata_update"]` set when `updated` is more than UPDATE_GRACE
after `published` (most likely an edit). `at:deleted-entry` (a deleted video) is logged and skipped.

YouTube has no webhook for comments: `comment_thread_events` turns a `commentThreads.list` item into
comment events for the poller.
"""

from __future__ import annotations

import hmac
import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from papo.adapters.base import WebhookSecrets
from papo.adapters.errors import PayloadError, SignatureError
from papo.adapters.events import EventKind, InboundEvent
from papo.adapters.parsing import (
    as_dict,
    as_dicts,
    as_str,
    first_time,
    get_header,
    hmac_hex,
    require_secret,
    to_datetime,
)
from papo.enums import MessageType, Platform

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature"
UPDATE_GRACE = timedelta(hours=24)
_NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "yt": "http://www.youtube.com/xml/schemas/2015",
    "at": "http://purl.org/atompub/tombstones/1.0",
}
_TOPIC_HOSTS = {"www.youtube.com", "youtube.com"}
_TOPIC_PATHS = {"/xml/feeds/videos.xml", "/feeds/videos.xml"}


def sign(body: bytes, hub_secret: str) -> str:
    """The X-Hub-Signature header value the hub would send for this body."""
    return "sha1=" + hmac_hex(hub_secret, body, "sha1")


def topic_channel(topic: str) -> str | None:
    """The channel id of a YouTube uploads feed topic URL, None for any other URL."""
    parts = urlsplit(topic)
    if parts.scheme not in ("http", "https") or parts.hostname not in _TOPIC_HOSTS:
        return None
    if parts.path not in _TOPIC_PATHS:
        return None
    channels = parse_qs(parts.query).get("channel_id")
    return channels[0] if channels else None


def _text(element: ET.Element, path: str) -> str | None:
    found = element.find(path, _NS)
    if found is None:
        return None
    return (found.text or "").strip() or None


def _entry_event(entry: ET.Element) -> InboundEvent | None:
    video_id = _text(entry, "yt:videoId")
    channel_id = _text(entry, "yt:channelId")
    if video_id is None or channel_id is None:
        log.info("youtube: skipping feed entry without yt:videoId/yt:channelId")
        return None
    published_at = _text(entry, "atom:published")
    updated_at = _text(entry, "atom:updated")
    published, updated = to_datetime(published_at), to_datetime(updated_at)
    link = entry.find("atom:link[@rel='alternate']", _NS)
    return InboundEvent(
        platform=Platform.YOUTUBE,
        kind=EventKind.VIDEO_PUBLISHED,
        account_id=channel_id,
        timestamp=first_time(published_at, updated_at),
        platform_message_id=video_id,
        post_id=video_id,
        text=_text(entry, "atom:title"),
        message_type=MessageType.VIDEO,
        detail_type="video",
        media_url=link.get("href") if link is not None else None,
        detail={
            "channel_title": _text(entry, "atom:author/atom:name"),
            "updated": updated.isoformat() if updated else None,
            "metadata_update": bool(published and updated and updated - published > UPDATE_GRACE),
        },
        dedupe_key=f"youtube:video:{video_id}",
        raw={"video_id": video_id, "channel_id": channel_id, "xml": ET.tostring(entry, encoding="unicode")},
    )


def parse_feed(body: bytes) -> list[InboundEvent]:
    """video_published events from a PubSubHubbub Atom notification."""
    # Notifications never need a DTD; refusing one rules out entity-expansion attacks outright.
    upper = body.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise PayloadError("YouTube notification must not contain a DOCTYPE or entity declarations")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise PayloadError(f"YouTube notification is not valid XML: {exc}") from None
    if root.tag != f"{{{_NS['atom']}}}feed":
        raise PayloadError(f"YouTube notification root must be an Atom feed, got {root.tag}")
    for deleted in root.findall("at:deleted-entry", _NS):
        log.info("youtube: skipping deleted-entry %s", deleted.get("ref"))
    events = [_entry_event(entry) for entry in root.findall("atom:entry", _NS)]
    return [event for event in events if event is not None]


def _comment_event(
    comment: Mapping[str, Any], channel_id: str, thread: Mapping[str, Any]
) -> InboundEvent | None:
    comment_id = as_str(comment.get("id"))
    snippet = as_dict(comment.get("snippet"))
    author = as_str(as_dict(snippet.get("authorChannelId")).get("value"))
    if comment_id is None or author is None:
        return None
    if author == channel_id:  # the channel's own replies
        return None
    video_id = as_str(snippet.get("videoId")) or as_str(as_dict(thread.get("snippet")).get("videoId"))
    return InboundEvent(
        platform=Platform.YOUTUBE,
        kind=EventKind.COMMENT,
        account_id=channel_id,
        timestamp=first_time(snippet.get("publishedAt"), snippet.get("updatedAt")),
        remote_user_id=author,
        remote_user_name=as_str(snippet.get("authorDisplayName")),
        remote_user_username=as_str(snippet.get("authorDisplayName")),
        remote_user_avatar=as_str(snippet.get("authorProfileImageUrl")),
        platform_message_id=comment_id,
        # textOriginal is what the author typed; textDisplay is HTML.
        text=as_str(snippet.get("textOriginal")) or as_str(snippet.get("textDisplay")),
        detail_type="comment",
        post_id=video_id,
        parent_comment_id=as_str(snippet.get("parentId")),
        dedupe_key=f"youtube:comment:{comment_id}",
        raw=comment,
    )


def comment_thread_events(thread: Mapping[str, Any], *, channel_id: str) -> list[InboundEvent]:
    """Comment events for one `commentThreads.list` item: the top-level comment and included replies."""
    snippet = as_dict(thread.get("snippet"))
    comments = [as_dict(snippet.get("topLevelComment"))]
    comments += as_dicts(as_dict(thread.get("replies")).get("comments"))
    events = [_comment_event(comment, channel_id, thread) for comment in comments if comment]
    return [event for event in events if event is not None]


class YouTubeAdapter:
    """YouTube PubSubHubbub push notifications."""

    platform = Platform.YOUTUBE

    def handshake(self, query: Mapping[str, str], secrets: WebhookSecrets) -> str | None:
        """Echo hub.challenge for (un)subscribe verifications of a YouTube uploads feed."""
        mode = query.get("hub.mode")
        if mode is None:
            return None
        if mode == "denied":
            log.warning(
                "youtube: hub denied the subscription to %s: %s",
                query.get("hub.topic"),
                query.get("hub.reason"),
            )
            return ""
        if mode not in ("subscribe", "unsubscribe"):
            raise SignatureError(f"unsupported hub.mode {mode!r}")
        if topic_channel(query.get("hub.topic", "")) is None:
            raise SignatureError(f"hub.topic {query.get('hub.topic')!r} is not a YouTube channel feed")
        challenge = query.get("hub.challenge")
        if not challenge:
            raise PayloadError("hub.challenge is missing")
        return challenge

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, *, now: float) -> None:
        """X-Hub-Signature: sha1=<hex> with PAPO_YOUTUBE_HUB_SECRET (the hub signs no timestamp)."""
        key = require_secret(secret, "PAPO_YOUTUBE_HUB_SECRET")
        value = get_header(headers, SIGNATURE_HEADER)
        if not value:
            raise SignatureError(f"missing {SIGNATURE_HEADER} header")
        algorithm, _, digest = value.partition("=")
        if algorithm.strip().lower() != "sha1" or not digest:
            raise SignatureError(f"malformed {SIGNATURE_HEADER} header (expected sha1=<hex>)")
        if not hmac.compare_digest(hmac_hex(key, body, "sha1").encode(), digest.strip().lower().encode()):
            raise SignatureError(f"{SIGNATURE_HEADER} does not match the body")

    def check_envelope(self, body: bytes) -> None:
        """A well-formed Atom notification (parsed whole: pushes are rare and small)."""
        parse_feed(body)

    def parse(self, body: bytes) -> list[InboundEvent]:
        """video_published events of an Atom notification."""
        return parse_feed(body)
