"""TikTok webhooks: `{client_key, event, create_time, user_openid, content}`, content a JSON string.

`user_openid` is the TikTok account that authorized Papo — the business whose token we hold — so it is
the account_id of every event. Signature: `TikTok-Signature: t=<unix>,s=<hex>`, HMAC-SHA256 keyed with
the app's client secret over `"{t}.{raw body}"`, rejected outside the freshness window.

Events → kinds:
    im_receive_msg (Business Messaging DM)        -> message
    im_send_msg (business's own DM, any app)      -> echo
    im_mark_read_msg                              -> status read
    video.publish.completed / post.publish.complete -> publish_status published
    post.publish.publicly_available               -> publish_status publicly_available (post_id set)
    post.publish.inbox_delivered                  -> publish_status inbox_delivered
    post.publish.no_longer_publicly_available     -> publish_status removed
    video.upload.failed / post.publish.failed     -> publish_status failed
    authorization.removed                         -> system (detail_type "authorization_removed")
Anything else (portability.*, comment events…) is logged and skipped. TikTok has no webhook for
organic comments, likes or follows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from papo.adapters.base import DEFAULT_TOLERANCE, WebhookSecrets
from papo.adapters.errors import PayloadError
from papo.adapters.events import DeliveryStatus, EventKind, InboundEvent, PublishState
from papo.adapters.parsing import (
    as_dict,
    as_int,
    as_str,
    first_time,
    hmac_hex,
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
    "video": MessageType.VIDEO,
    "share_post": MessageType.TEXT,
}
_PUBLISH_EVENTS: dict[str, PublishState] = {
    "video.publish.completed": PublishState.PUBLISHED,
    "video.upload.failed": PublishState.FAILED,
    "post.publish.complete": PublishState.PUBLISHED,
    "post.publish.failed": PublishState.FAILED,
    "post.publish.publicly_available": PublishState.PUBLICLY_AVAILABLE,
    "post.publish.inbox_delivered": PublishState.INBOX_DELIVERED,
    "post.publish.no_longer_publicly_available": PublishState.REMOVED,
}


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


def _dm(env: Envelope, *, echo: bool) -> list[InboundEvent]:
    c = env.content
    message_id = as_str(c.get("message_id"))
    if message_id is None:
        log.info("tiktok: skipping %s without message_id", env.event)
        return []
    side = "to" if echo else "from"
    user = as_dict(c.get(f"{side}_user"))
    remote = as_str(user.get("id")) or as_str(c.get("unique_identifier"))
    kind_name = as_str(c.get("type")) or "unknown"
    body = as_dict(c.get(kind_name))
    detail = {
        k: v
        for k, v in (("conversation_id", c.get("conversation_id")), ("video_id", body.get("video_id")))
        if v
    }
    return [
        env.event_of(
            EventKind.ECHO if echo else EventKind.MESSAGE,
            timestamp=first_time(c.get("timestamp"), env.create_time),
            remote_user_id=remote or "",
            remote_user_name=as_str(c.get(side)),
            remote_user_username=as_str(c.get(side)),
            platform_message_id=message_id,
            text=as_str(body.get("body")),
            message_type=_DM_TYPES.get(kind_name, MessageType.TEXT),
            detail_type=kind_name if kind_name in _DM_TYPES else "unsupported",
            media_id=as_str(body.get("media_id")),
            media_url=as_str(body.get("embed_url")) or as_str(body.get("url")),
            reply_to=as_str(as_dict(c.get("referenced_message_info")).get("referenced_message_id")),
            detail=detail or None,
            dedupe_key=f"tiktok:{message_id}",
        )
    ]


def _read(env: Envelope) -> list[InboundEvent]:
    c = env.content
    reader = as_str(as_dict(c.get("from_user")).get("id")) or ""
    if reader == env.account_id:  # the business read the customer's messages: nothing to record
        return []
    last = as_str(as_dict(c.get("read")).get("last_read_timestamp"))
    conversation = as_str(c.get("conversation_id"))
    return [
        env.event_of(
            EventKind.STATUS,
            timestamp=first_time(last, env.create_time),
            remote_user_id=reader,
            status=DeliveryStatus.READ,
            detail={"conversation_id": conversation, "last_read_timestamp": last},
            dedupe_key=f"tiktok:read:{conversation}:{reader}:{last}",
        )
    ]


def _publish(env: Envelope) -> list[InboundEvent]:
    c = env.content
    state = _PUBLISH_EVENTS[env.event]
    publish_id = as_str(c.get("publish_id")) or as_str(c.get("share_id"))
    reason = as_str(c.get("reason")) or as_str(c.get("fail_reason"))
    values: dict[str, Any] = {}
    if publish_id:
        # One outcome per publish and event name: retries of it carry the same ids.
        values["dedupe_key"] = f"tiktok:{env.event}:{publish_id}"
    return [
        env.event_of(
            EventKind.PUBLISH_STATUS,
            platform_message_id=publish_id,
            post_id=as_str(c.get("post_id")),
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
    "authorization.removed": _authorization_removed,
    **dict.fromkeys(_PUBLISH_EVENTS, _publish),
}


def _content(value: Any) -> Mapping[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            decoded = json.loads(value)
        except ValueError:
            raise PayloadError("TikTok webhook 'content' is not a JSON string") from None
        return as_dict(decoded)
    return {}


class TikTokAdapter:
    """TikTok webhooks (Login Kit, Content Posting API, Business Messaging)."""

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

    def parse(self, body: bytes) -> list[InboundEvent]:
        """One TikTok webhook body -> zero or one event (two never share a body)."""
        data = load_json_object(body, what="TikTok webhook body")
        event = as_str(data.get("event"))
        account_id = as_str(data.get("user_openid"))
        if event is None:
            raise PayloadError("TikTok webhook body has no 'event'")
        handler = EVENT_HANDLERS.get(event)
        if handler is None:
            log.info("tiktok: skipping event %s", event)
            return []
        if account_id is None:
            raise PayloadError(f"TikTok {event} webhook has no 'user_openid'")
        env = Envelope(event, account_id, data.get("create_time"), _content(data.get("content")), data)
        return handler(env)
