"""Rebuild an InboundEvent from a stored message, for dry runs over a business's history (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from papo.adapters.events import EventKind, InboundEvent
from papo.enums import MessageType, Platform


def _kind(value: str | None) -> EventKind:
    try:
        return EventKind(value) if value else EventKind.MESSAGE
    except ValueError:
        return EventKind.MESSAGE  # rows written before `kind` existed, or by a newer producer


def event_from_stored(*, platform: str, account_id: str, remote_user_id: str, remote_user_name: str | None,
                      kind: str | None, text: str | None, is_business: bool, platform_message_id: str | None,
                      message_type: str | None, detail_type: str | None, post_id: str | None,
                      media_id: str | None, reply_to_id: str | None, at: datetime,
                      metadata: Mapping[str, Any] | None) -> InboundEvent:
    """The event a stored message came from, as far as the columns and `metadata` tell."""
    meta = dict(metadata or {})
    try:
        mtype = MessageType(message_type) if message_type else MessageType.TEXT
    except ValueError:
        mtype = MessageType.TEXT
    referral = meta.get("referral")
    return InboundEvent(
        platform=Platform(platform),
        kind=_kind(kind),
        account_id=account_id,
        timestamp=at if at.tzinfo else at.replace(tzinfo=UTC),
        remote_user_id=remote_user_id,
        remote_user_name=remote_user_name,
        remote_user_username=meta.get("remote_user_username"),
        platform_message_id=platform_message_id,
        text=text,
        message_type=mtype,
        detail_type=detail_type,
        media_id=media_id,
        reply_to=reply_to_id,
        post_id=post_id,
        parent_comment_id=meta.get("parent_comment_id"),
        story_id=meta.get("story_id"),
        story_url=meta.get("story_url"),
        referral=referral if isinstance(referral, dict) else None,
        postback_payload=meta.get("postback_payload"),
        reaction=meta.get("reaction"),
        is_echo=is_business,
    )
