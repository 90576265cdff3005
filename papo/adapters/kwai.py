"""Kwai as a custom channel: Papo's own signed JSON format, documented in KWAI.md.

No public Kwai API for messages or comments exists, so a partner connector posts events to
`/webhooks/kwai` in this format, signed with the connected account's own secret:
`X-Papo-Signature: t=<unix>,v1=<hex>` = HMAC-SHA256(account secret, "{t}.{raw body}"). The HTTP
handler calls `signing_account(body)` to find which account's secret to verify with.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from papo.adapters.base import DEFAULT_TOLERANCE, WebhookSecrets
from papo.adapters.errors import PayloadError
from papo.adapters.events import INTERACTION_KINDS, MESSAGE_KINDS, EventKind, InboundEvent
from papo.adapters.parsing import (
    as_dict,
    as_dicts,
    as_int,
    as_str,
    first_time,
    hmac_hex,
    load_json_object,
    require_secret,
    verify_timestamped,
)
from papo.enums import MessageType, Platform

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Papo-Signature"
FORMAT_VERSION = 1
EVENT_TYPES: dict[str, EventKind] = {
    kind.value: kind
    for kind in (
        EventKind.MESSAGE,
        EventKind.ECHO,
        EventKind.COMMENT,
        EventKind.MENTION,
        EventKind.REACTION,
        EventKind.LIKE,
        EventKind.FOLLOW,
        EventKind.POSTBACK,
        EventKind.REFERRAL,
        EventKind.STATUS,
        EventKind.MESSAGE_EDIT,
        EventKind.MESSAGE_DELETE,
        EventKind.COMMENT_EDIT,
        EventKind.COMMENT_DELETE,
    )
}
_TARGETED = frozenset(
    {
        EventKind.MESSAGE_EDIT,
        EventKind.MESSAGE_DELETE,
        EventKind.COMMENT_EDIT,
        EventKind.COMMENT_DELETE,
        EventKind.STATUS,
    }
)
_CREATES_MESSAGE = frozenset(
    {EventKind.MESSAGE, EventKind.ECHO, EventKind.COMMENT, EventKind.MENTION, EventKind.POSTBACK}
)
# Kinds filed under a customer (a conversation or lead activity): KWAI.md requires `user.id` for them.
_NEEDS_USER = MESSAGE_KINDS | INTERACTION_KINDS
MEDIA_TYPES = {
    "image": MessageType.IMAGE,
    "video": MessageType.VIDEO,
    "audio": MessageType.AUDIO,
    "file": MessageType.FILE,
}


def sign(body: bytes, account_secret: str, timestamp: int) -> str:
    """The X-Papo-Signature header value for this body at this time."""
    return f"t={timestamp},v1={hmac_hex(account_secret, f'{timestamp}.'.encode() + body)}"


def _load(body: bytes) -> tuple[str, dict[str, Any]]:
    data = load_json_object(body, what="Kwai webhook body")
    account_id = as_str(data.get("account_id"))
    if account_id is None:
        raise PayloadError("Kwai webhook body has no 'account_id'")
    version = data.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise PayloadError(f"Kwai webhook version {version!r} is not supported (expected {FORMAT_VERSION})")
    if not isinstance(data.get("events"), list):
        raise PayloadError("Kwai webhook body has no 'events' array")
    return account_id, data


def _event(account_id: str, item: Mapping[str, Any]) -> InboundEvent | None:
    event_id = as_str(item.get("id"))
    type_name = as_str(item.get("type")) or ""
    kind = EVENT_TYPES.get(type_name)
    if event_id is None or kind is None:
        log.info("kwai: skipping event %s of type %s", event_id, type_name)
        return None
    user = as_dict(item.get("user"))
    if kind in _NEEDS_USER and as_str(user.get("id")) is None:
        log.info("kwai: skipping %s event %s without user.id", type_name, event_id)
        return None
    message_id = as_str(item.get("message_id"))
    if kind in _TARGETED and message_id is None:
        log.info("kwai: skipping %s event %s without message_id", type_name, event_id)
        return None
    if kind in _CREATES_MESSAGE:
        message_id = message_id or event_id
    media = as_dict(item.get("media"))
    media_type = as_str(media.get("type"))
    error = as_dict(item.get("error"))
    return InboundEvent(
        platform=Platform.KWAI,
        kind=kind,
        account_id=account_id,
        timestamp=first_time(item.get("timestamp")),
        remote_user_id=as_str(user.get("id")) or "",
        remote_user_name=as_str(user.get("name")),
        remote_user_username=as_str(user.get("username")),
        remote_user_avatar=as_str(user.get("avatar")),
        platform_message_id=message_id,
        text=as_str(item.get("text")),
        message_type=MEDIA_TYPES.get(media_type or "", MessageType.FILE) if media else MessageType.TEXT,
        detail_type=media_type or ("text" if item.get("text") else None),
        media_id=as_str(media.get("id")),
        media_url=as_str(media.get("url")),
        media_mime=as_str(media.get("mime")),
        reply_to=as_str(item.get("reply_to")),
        post_id=as_str(item.get("video_id")),
        parent_comment_id=as_str(item.get("parent_comment_id")),
        referral=dict(as_dict(item.get("referral"))) or None,
        postback_payload=as_str(item.get("payload")),
        reaction=as_str(item.get("reaction")),
        removed=item.get("removed") is True,
        status=as_str(item.get("status")) if kind is EventKind.STATUS else None,
        error_code=as_int(error.get("code")),
        error_title=as_str(error.get("message")),
        dedupe_key=f"kwai:{account_id}:{event_id}",
        raw=item,
    )


class KwaiAdapter:
    """Kwai custom channel (Papo's documented signed JSON format)."""

    platform = Platform.KWAI

    def __init__(self, tolerance: float = DEFAULT_TOLERANCE) -> None:
        self.tolerance = tolerance

    def handshake(self, query: Mapping[str, str], secrets: WebhookSecrets) -> str | None:
        """The custom channel has no GET verification."""
        return None

    def signing_account(self, body: bytes) -> str:
        """The account_id whose secret must have signed this body (PayloadError if there is none)."""
        account_id, _ = _load(body)
        return account_id

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, *, now: float) -> None:
        """X-Papo-Signature over "{t}.{raw body}" with the account's secret, t within the window."""
        key = require_secret(secret, "the Kwai account's webhook secret")
        verify_timestamped(headers, body, key, header=SIGNATURE_HEADER, field="v1", now=now,
                           tolerance=self.tolerance)

    def check_envelope(self, body: bytes) -> None:
        """A JSON object with an `account_id` and an `events` array."""
        _load(body)

    def parse(self, body: bytes) -> list[InboundEvent]:
        """Every event of a Kwai custom-channel body."""
        account_id, data = _load(body)
        items = as_dicts(data["events"])
        if len(items) < len(data["events"]):
            log.info("kwai: skipping %d events that are not an object", len(data["events"]) - len(items))
        events = [_event(account_id, item) for item in items]
        return [event for event in events if event is not None]
