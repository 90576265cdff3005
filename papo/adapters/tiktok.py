"""TikTok webhooks: `{client_key, event, create_time, user_openid, content}`, content a JSON string.

`user_openid` is the TikTok account that authorized Papo — the business whose token we hold — so it is
the account_id of every event. Signature: `TikTok-Signature: t=<unix>,s=<hex>`, HMAC-SHA256 keyed with
the app's client secret over `"{t}.{raw body}"`, rejected outside the freshness window.

A DM's customer is its personal account (`from_user`, or `to_user` in the business's own messages),
else `unique_identifier`; comment and mention events carry only `unique_identifier`, the same value
TikTok sends with that customer's DMs, so both land in one conversation.

Events → kinds (developers.tiktok.com webhooks, Content Posting API, TikTok API for Business):
    im_receive_msg (Business Messaging DM)        -> message (postback_payload for Q&A card taps;
                                                     a `reaction` message -> reaction)
    im_send_msg (business's own DM, any app)      -> echo
    im_mark_read_msg                              -> status read
    im_referral_msg (chat opened from an ad/link) -> referral
    im_receive_high_intent_comment                -> comment (with its text)
    comment.update insert / delete                -> comment (no text: TikTok leaves it out) / comment_delete
    brand.mention.event CREATE                    -> mention
    video.publish.completed / post.publish.complete -> publish_status published
    post.publish.publicly_available               -> publish_status publicly_available (post_id set)
    post.publish.inbox_delivered                  -> publish_status inbox_delivered
    post.publish.no_longer_publicly_available     -> publish_status removed (also TikTok's "publicaly")
    video.upload.failed / post.publish.failed     -> publish_status failed
    authorization.removed                         -> system (detail_type "authorization_removed")
im_receive_msg_eu (EEA/Switzerland/UK senders: no sender, no content), comment visibility changes,
mention edits, auto-message and portability events, and anything unknown are logged and skipped.
TikTok has no webhook for likes or follows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from papo.adapters.base import DEFAULT_TOLERANCE, WebhookSecrets
from papo.adapters.errors import PayloadError
from papo.adapters.events import DeliveryStatus, EventKind, InboundEvent, PublishState
from papo.adapters.parsing import (
    as_dict,
    as_dicts,
    as_int,
    as_str,
    first_time,
    hmac_hex,
    load_json,
    load_json_object,
    require_secret,
    short_digest,
    verify_timestamped,
)
from papo.enums import MessageType, Platform

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "TikTok-Signature"
AUTHORIZATION_REASONS = {
    0: "unknown",
    1: "user disconnected the app",
    2: "account deleted",
    3: "age changed",
    4: "account banned",
    5: "developer revoked authorization",
}
_DM_TYPES: dict[str, MessageType] = {
    "text": MessageType.TEXT,
    "image": MessageType.IMAGE,
    "sticker": MessageType.IMAGE,
    "emoji": MessageType.IMAGE,
    "video": MessageType.VIDEO,
    "share_post": MessageType.TEXT,
    "template": MessageType.TEXT,
}
_PUBLISH_EVENTS: dict[str, PublishState] = {
    "video.publish.completed": PublishState.PUBLISHED,
    "video.upload.failed": PublishState.FAILED,
    "post.publish.complete": PublishState.PUBLISHED,
    "post.publish.failed": PublishState.FAILED,
    "post.publish.publicly_available": PublishState.PUBLICLY_AVAILABLE,
    "post.publish.inbox_delivered": PublishState.INBOX_DELIVERED,
    "post.publish.no_longer_publicly_available": PublishState.REMOVED,
    # The Content Posting API's "Get Post Status" page spells the event this way.
    "post.publish.no_longer_publicaly_available": PublishState.REMOVED,
}
# A post can go public, private and public again, and one upload can become several posts: these
# states are per post and may repeat, so their dedupe key names the post and the event time.
_REPEATABLE_STATES = frozenset({PublishState.PUBLICLY_AVAILABLE, PublishState.REMOVED})
_COMMENT_ACTIONS: dict[str, EventKind] = {"insert": EventKind.COMMENT, "delete": EventKind.COMMENT_DELETE}


def sign(body: bytes, client_secret: str, timestamp: int) -> str:
    """The TikTok-Signature header value TikTok would send for this body at this time."""
    return f"t={timestamp},s={hmac_hex(client_secret, f'{timestamp}.'.encode() + body)}"


@dataclass(frozen=True, slots=True)
class Envelope:
    """The outer fields of one TikTok webhook."""

    event: str
    account_id: str
    create_time: Any
    content: Mapping[str, Any]
    raw: Mapping[str, Any]

    def event_of(self, kind: EventKind, **values: Any) -> InboundEvent:
        """An event of this envelope's account and time, keeping the whole body as raw."""
        values.setdefault("timestamp", first_time(self.create_time))
        values.setdefault(
            "dedupe_key",
            f"tiktok:{self.event}:{self.account_id}:{self.create_time}:{short_digest(self.content)}",
        )
        return InboundEvent(
            platform=Platform.TIKTOK, kind=kind, account_id=self.account_id, raw=self.raw, **values
        )


def _object_id(value: Any) -> str | None:
    """A comment/video id; TikTok sends these as (64-bit) numbers and uses 0 for "none"."""
    text = as_str(value)
    return None if text in (None, "0") else text


def _customer(content: Mapping[str, Any], side: str) -> str | None:
    """The customer's id: the personal account on `side` ("from" or "to"), else `unique_identifier`.

    A DM names both accounts; which one `unique_identifier` stands for in the business's own messages
    is not documented, so it is only the fallback (in received DMs TikTok sends the same value).
    """
    return as_str(as_dict(content.get(f"{side}_user")).get("id")) or as_str(content.get("unique_identifier"))


def _person(content: Mapping[str, Any], side: str) -> dict[str, Any]:
    """The customer fields of an event: id (see `_customer`) and the handle TikTok puts on `side`."""
    handle = as_str(content.get(side))
    return {"remote_user_id": _customer(content, side) or "", "remote_user_name": handle,
            "remote_user_username": handle}


def _dm_detail(content: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any] | None:
    """Conversation and context fields worth keeping beside the message."""
    pairs = (
        ("conversation_id", content.get("conversation_id")),
        ("video_id", body.get("video_id")),
        ("is_follower", content.get("is_follower")),
        ("source", as_dict(content.get("message_tag")).get("source")),
        ("auto_message_type", content.get("auto_message_type")),
    )
    detail = {key: value for key, value in pairs if value is not None and value != ""}
    return detail or None


def _template_text(body: Mapping[str, Any]) -> str | None:
    """The titles of a Q&A card (`template.elements[].title`) the business sent."""
    titles = [as_str(element.get("title")) for element in as_dicts(body.get("elements"))]
    return "\n".join(title for title in titles if title) or None


def _dm(env: Envelope, *, echo: bool) -> list[InboundEvent]:
    c = env.content
    message_id = as_str(c.get("message_id"))
    if message_id is None:
        log.info("tiktok: skipping %s without message_id", env.event)
        return []
    side = "to" if echo else "from"
    kind_name = as_str(c.get("type")) or "unknown"
    if kind_name == "reaction":
        return _reactions(env, message_id, side, echo=echo)
    body = as_dict(c.get(kind_name))
    return [
        env.event_of(
            EventKind.ECHO if echo else EventKind.MESSAGE,
            timestamp=first_time(c.get("timestamp"), env.create_time),
            **_person(c, side),
            platform_message_id=message_id,
            text=as_str(body.get("body")) or _template_text(body),
            message_type=_DM_TYPES.get(kind_name, MessageType.TEXT),
            detail_type=kind_name if kind_name in _DM_TYPES else "unsupported",
            media_id=as_str(body.get("media_id")),
            media_url=as_str(body.get("embed_url")) or as_str(body.get("url")),
            reply_to=as_str(as_dict(c.get("referenced_message_info")).get("referenced_message_id")),
            # A tap on a Q&A card button arrives as a text message naming the button's id.
            postback_payload=as_str(as_dict(c.get("reply_source_payload")).get("reply_source_unique_id")),
            detail=_dm_detail(c, body),
            dedupe_key=f"tiktok:{message_id}",
        )
    ]


def _reactions(env: Envelope, message_id: str, side: str, *, echo: bool) -> list[InboundEvent]:
    """A `reaction` message: one event per emoji added to (or removed from) a message."""
    c = env.content
    items = as_dicts(c.get("reaction"))
    who = _person(c, side)
    events = []
    for index, item in enumerate(items):
        item_id = message_id if len(items) == 1 else f"{message_id}:{index}"
        emoji = as_str(item.get("emoji"))
        events.append(
            env.event_of(
                EventKind.ECHO if echo else EventKind.REACTION,
                timestamp=first_time(item.get("timestamp"), c.get("timestamp"), env.create_time),
                **who,
                platform_message_id=item_id,
                detail_type="reaction",
                reaction=emoji or as_str(item.get("type")),
                media_url=None if emoji else as_str(item.get("ai_emoji_url")),
                reply_to=as_str(item.get("original_msg_id")),
                removed=(as_str(item.get("operation")) or "").upper() == "REMOVE",
                detail=_dm_detail(c, {}),
                dedupe_key=f"tiktok:{item_id}",
            )
        )
    if not events:
        log.info("tiktok: skipping reaction message %s without reactions", message_id)
    return events


def _read(env: Envelope) -> list[InboundEvent]:
    c = env.content
    reader = as_str(as_dict(c.get("from_user")).get("id")) or ""
    if reader == env.account_id:  # the business read the customer's messages: nothing to record
        return []
    customer = _customer(c, "from") or ""
    last = as_str(as_dict(c.get("read")).get("last_read_timestamp"))
    conversation = as_str(c.get("conversation_id"))
    return [
        env.event_of(
            EventKind.STATUS,
            timestamp=first_time(last, env.create_time),
            remote_user_id=customer,
            status=DeliveryStatus.READ,
            detail={"conversation_id": conversation, "last_read_timestamp": last},
            dedupe_key=f"tiktok:read:{conversation}:{customer}:{last}",
        )
    ]


def _referral(env: Envelope) -> list[InboundEvent]:
    """im_referral_msg: the customer opened the chat from a Click-to-Message ad or a tiktok.me link."""
    c = env.content
    customer = _customer(c, "from")
    if customer is None:
        log.info("tiktok: skipping %s without a customer", env.event)
        return []
    referral = dict(as_dict(c.get("referral")))
    stamp = c.get("timestamp")
    return [
        env.event_of(
            EventKind.REFERRAL,
            timestamp=first_time(stamp, env.create_time),
            **_person(c, "from"),
            referral=referral or None,
            detail_type=as_str(referral.get("source")) or "referral",
            detail=_dm_detail(c, {}),
            dedupe_key=f"tiktok:referral:{as_str(c.get('conversation_id'))}:{customer}:{stamp}",
        )
    ]


def _high_intent_comment(env: Envelope) -> list[InboundEvent]:
    """A comment TikTok judged high-intent (Comment-to-Message): it carries the comment's text."""
    c = env.content
    comment_id = _object_id(c.get("comment_id"))
    if comment_id is None:
        log.info("tiktok: skipping %s without comment_id", env.event)
        return []
    return [
        env.event_of(
            EventKind.COMMENT,
            timestamp=first_time(c.get("timestamp"), env.create_time),
            **_person(c, "from"),
            platform_message_id=comment_id,
            text=as_str(c.get("comment_text")),
            post_id=_object_id(c.get("video_id")),
            detail_type="high_intent_comment",
            detail=_dm_detail(c, {}),
            dedupe_key=f"tiktok:comment:{comment_id}",  # the same comment's comment.update shares it
        )
    ]


def _comment_update(env: Envelope) -> list[InboundEvent]:
    """comment.update: a comment or reply on the business's post was created or deleted."""
    c = env.content
    action = as_str(c.get("comment_action")) or ""
    kind = _COMMENT_ACTIONS.get(action)
    comment_id = _object_id(c.get("comment_id"))
    if kind is None or comment_id is None:
        log.info("tiktok: skipping comment.update %s of comment %s", action, comment_id)
        return []
    comment_type = as_str(c.get("comment_type")) or "comment"
    return [
        env.event_of(
            kind,
            timestamp=first_time(c.get("timestamp"), env.create_time),
            remote_user_id=as_str(c.get("unique_identifier")) or "",
            platform_message_id=comment_id,
            text=as_str(c.get("text")),  # TikTok documents no text; fetch it with /business/comment/list/
            post_id=_object_id(c.get("video_id")),
            parent_comment_id=_object_id(c.get("parent_comment_id")) if comment_type == "reply" else None,
            detail_type=comment_type,
            dedupe_key=f"tiktok:comment:{comment_id}" if kind is EventKind.COMMENT
            else f"tiktok:comment_delete:{comment_id}",
        )
    ]


def _mention(env: Envelope) -> list[InboundEvent]:
    """brand.mention.event: someone @mentioned the business in a video caption or a comment."""
    c = env.content
    change = (as_str(c.get("type_of_event")) or "CREATE").upper()
    if change != "CREATE":
        log.info("tiktok: skipping brand mention %s of video %s", change, c.get("video_id"))
        return []
    # TikTok's sample writes "VIDEO MENTION"; the field's enum is VIDEO_MENTION.
    mention_type = (as_str(c.get("mention_type")) or "VIDEO_MENTION").upper().replace(" ", "_")
    in_comment = mention_type == "COMMENT"
    video_id = _object_id(c.get("video_id"))
    target = (_object_id(c.get("comment_id")) if in_comment else None) or video_id
    if target is None:
        log.info("tiktok: skipping brand mention without video_id")
        return []
    return [
        env.event_of(
            EventKind.MENTION,
            remote_user_id=as_str(c.get("unique_identifier")) or "",
            platform_message_id=target,
            # In a comment mention the caption is the video's, not the commenter's words.
            text=None if in_comment else as_str(c.get("video_caption")),
            post_id=video_id,
            media_url=as_str(c.get("share_url")),
            detail_type="comment_mention" if in_comment else "video_mention",
            detail={"video_caption": c.get("video_caption")} if in_comment else None,
            dedupe_key=f"tiktok:mention:{target}",
        )
    ]


def _eu_message(env: Envelope) -> list[InboundEvent]:
    """im_receive_msg_eu carries neither sender nor content (TikTok's rule for EEA/CH/UK senders)."""
    log.info("tiktok: skipping %s for %s: TikTok sends no sender or content for it", env.event, env.account_id)
    return []


def _publish(env: Envelope) -> list[InboundEvent]:
    c = env.content
    state = _PUBLISH_EVENTS[env.event]
    publish_id = as_str(c.get("publish_id")) or as_str(c.get("share_id"))
    post_id = as_str(c.get("post_id"))
    reason = as_str(c.get("reason")) or as_str(c.get("fail_reason"))
    values: dict[str, Any] = {}
    if state in _REPEATABLE_STATES:
        values["dedupe_key"] = f"tiktok:{state}:{publish_id}:{post_id}:{env.create_time}"
    elif publish_id:
        # One outcome per publish and event name: retries of it carry the same ids.
        values["dedupe_key"] = f"tiktok:{env.event}:{publish_id}"
    return [
        env.event_of(
            EventKind.PUBLISH_STATUS,
            platform_message_id=publish_id,
            post_id=post_id,
            status=state,
            error_title=(reason or env.event) if state is PublishState.FAILED else None,
            detail_type=env.event,
            detail=dict(c) or None,
            **values,
        )
    ]


def _authorization_removed(env: Envelope) -> list[InboundEvent]:
    reason = as_int(env.content.get("reason"))
    return [
        env.event_of(
            EventKind.SYSTEM,
            detail_type="authorization_removed",
            text=AUTHORIZATION_REASONS.get(reason if reason is not None else 0, "unknown"),
            detail={"reason": reason},
        )
    ]


EVENT_HANDLERS: dict[str, Callable[[Envelope], list[InboundEvent]]] = {
    "im_receive_msg": lambda env: _dm(env, echo=False),
    "im_send_msg": lambda env: _dm(env, echo=True),
    "im_mark_read_msg": _read,
    "im_referral_msg": _referral,
    "im_receive_high_intent_comment": _high_intent_comment,
    "im_receive_msg_eu": _eu_message,
    "comment.update": _comment_update,
    "brand.mention.event": _mention,
    "authorization.removed": _authorization_removed,
    **dict.fromkeys(_PUBLISH_EVENTS, _publish),
}


def _content(value: Any) -> Mapping[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        return as_dict(load_json(value, what="TikTok webhook 'content'"))
    return {}


class TikTokAdapter:
    """TikTok webhooks (Login Kit, Content Posting API, Business Messaging, Accounts and Mentions)."""

    platform = Platform.TIKTOK

    def __init__(self, tolerance: float = DEFAULT_TOLERANCE) -> None:
        self.tolerance = tolerance

    def handshake(self, query: Mapping[str, str], secrets: WebhookSecrets) -> str | None:
        """TikTok verifies callback URLs from the developer portal, not with a GET challenge."""
        return None

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, *, now: float) -> None:
        """TikTok-Signature over "{t}.{raw body}" with the client secret, t within the window."""
        key = require_secret(secret, "PAPO_TIKTOK_CLIENT_SECRET")
        verify_timestamped(headers, body, key, header=SIGNATURE_HEADER, field="s", now=now,
                           tolerance=self.tolerance)

    def check_envelope(self, body: bytes) -> None:
        """A JSON object with an `event` string, and a `user_openid` for the events Papo handles."""
        _envelope(body)

    def parse(self, body: bytes) -> list[InboundEvent]:
        """One TikTok webhook body -> its events (several only for a multi-emoji reaction)."""
        data, event, account_id = _envelope(body)
        handler = EVENT_HANDLERS.get(event)
        if handler is None:
            log.info("tiktok: skipping event %s", event)
            return []
        assert account_id is not None  # _envelope refused a handled event without one
        env = Envelope(event, account_id, data.get("create_time"), _content(data.get("content")), data)
        return handler(env)


def _envelope(body: bytes) -> tuple[dict[str, Any], str, str | None]:
    """(data, event, user_openid) of a TikTok webhook body, or PayloadError for a top level Papo cannot read."""
    data = load_json_object(body, what="TikTok webhook body")
    event = as_str(data.get("event"))
    if event is None:
        raise PayloadError("TikTok webhook body has no 'event'")
    account_id = as_str(data.get("user_openid"))
    if account_id is None and event in EVENT_HANDLERS:
        raise PayloadError(f"TikTok {event} webhook has no 'user_openid'")
    return data, event, account_id
