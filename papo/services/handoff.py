"""Human handoff: automation pauses in a conversation while the owner talks to the customer (issue 16).

A conversation is paused while `conversations.automation_paused_until` is in the future. It is paused
for PAPO_HANDOFF_HOURS (12 by default) when the owner answers by hand — from the admin bot, or from the
platform's own app (a WhatsApp Business app echo, a Messenger/Instagram echo not sent by Papo) — when a
`handoff` rule fires, or when the owner presses "pause"; it is resumed when that time passes or when the
owner resumes it. While paused, messages are still stored, classified and scored; only automated replies
(rules and the away reply) stop.

Telling the owner's echoes from Papo's own: WhatsApp echoes only ever come from the Business app
(`smb_message_echoes`: the Cloud API does not echo what it sends); a Messenger/Instagram echo carries the
`app_id` that sent it (Papo's is PAPO_META_APP_ID); and every platform message id Papo sends is
remembered in Redis for a day the moment the platform answers (`remember_sent`), so an echo of one of
them is recognised even without an app id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from tortoise import Tortoise

from papo.adapters.events import EventKind, InboundEvent
from papo.adapters.whatsapp import SENT_FROM_BUSINESS_APP
from papo.batching import AutoPipeline
from papo.constants import OWN_SENT_TTL, own_sent_key
from papo.enums import Platform
from papo.models import Conversation
from papo.services import NotFound, ServiceError
from papo.services.event_store import NewMessage
from papo.services.ids import id_prefix, id_with_prefix
from papo.services.templates import UserRef, user_id

OWNER_REPLY = "owner_reply"  # the owner answered from the admin bot
OWNER_APP = "owner_app"  # the owner answered from the platform's own app (an echo Papo did not send)
RULE = "rule"  # a handoff rule fired
MANUAL = "manual"  # the owner pressed pause (bot) or ran `papo conversations pause`
REASONS = (OWNER_REPLY, OWNER_APP, RULE, MANUAL)
MAX_HOURS = 24 * 365


@dataclass(frozen=True, slots=True)
class PauseState:
    """Whether automation is paused in a conversation, until when and why."""

    conversation_id: uuid.UUID
    paused_until: datetime | None
    reason: str | None

    def paused(self, now: datetime | None = None) -> bool:
        """Whether automated replies are held now."""
        return self.paused_until is not None and self.paused_until > (now or datetime.now(UTC))

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """JSON-ready (the CLI prints it)."""
        paused = self.paused(now)
        return {"conversation": str(self.conversation_id), "paused": paused,
                "paused_until": self.paused_until.isoformat() if paused and self.paused_until else None,
                "reason": self.reason if paused else None}


def _state(conv: Conversation) -> PauseState:
    return PauseState(conv.id, conv.automation_paused_until, conv.automation_paused_reason)


def check_hours(hours: float) -> float:
    """A pause length in hours: more than 0, at most a year."""
    if not 0 < hours <= MAX_HOURS:
        raise ServiceError(f"--hours must be more than 0 and at most {MAX_HOURS}, not {hours:g}")
    return hours


async def find_conversation(ref: str | uuid.UUID, user: UserRef | None = None) -> Conversation:
    """A conversation by id or unique id prefix (of this business when `user` is given); NotFound otherwise."""
    uid = user_id(user) if user is not None else None
    found: Any = None
    try:
        found = uuid.UUID(str(ref).strip())
    except ValueError:
        prefix = id_prefix(ref)
        if prefix is None:
            raise NotFound(f"no conversation {str(ref)!r}: give its id, or at least its first 6 characters") from None
        found = await id_with_prefix("conversations", prefix, user_id=uid, what="conversation")
    conv = None
    if found is not None:
        conv = await (Conversation.get_or_none(id=found, user_id=uid) if uid else Conversation.get_or_none(id=found))
    if conv is None:
        raise NotFound(f"no conversation {str(ref)!r}")
    return conv


async def get_state(user: UserRef, conversation_id: str | uuid.UUID) -> PauseState:
    """The pause state of one of the business's conversations."""
    return _state(await find_conversation(conversation_id, user))


async def pause(user: UserRef | None, conversation_id: str | uuid.UUID, *, hours: float, reason: str = MANUAL,
                now: datetime | None = None, conversation: Conversation | None = None) -> PauseState:
    """Pause automation in a conversation for `hours` from now (a longer pause already set is kept).

    `conversation`: the business's row the caller already loaded (it is not looked up again).
    """
    if reason not in REASONS:
        raise ServiceError(f"reason {reason!r} is not one of: {', '.join(REASONS)}")
    if conversation is None:
        conv = await find_conversation(conversation_id, user)
    elif str(conversation.id) != str(conversation_id):
        raise ValueError(f"conversation {conversation.id} given for {conversation_id}")
    else:
        conv = conversation
    until = (now or datetime.now(UTC)) + timedelta(hours=check_hours(hours))
    changed = await pause_many([conv.id], until=until, reason=reason)
    if changed and until.tzinfo is not None:  # the row holds what was just written: no need to read it back
        conv.automation_paused_until, conv.automation_paused_reason = until.astimezone(UTC), reason
    else:  # a longer pause was kept (or a naive time given): what the row holds
        await conv.refresh_from_db(fields=["automation_paused_until", "automation_paused_reason"])
    return _state(conv)


async def resume(user: UserRef | None, conversation_id: str | uuid.UUID) -> PauseState:
    """Resume automation in a conversation now."""
    conv = await find_conversation(conversation_id, user)
    conv.automation_paused_until = None
    conv.automation_paused_reason = None
    await conv.save(update_fields=["automation_paused_until", "automation_paused_reason", "updated_at"])
    return _state(conv)


async def pause_many(conversation_ids: Iterable[uuid.UUID], *, until: datetime, reason: str) -> int:
    """Pause these conversations until `until` (each keeps a later end it already has); how many changed.

    Called by the pipeline with the ids of conversations it just stored (already the business's own).
    """
    ids = list(dict.fromkeys(conversation_ids))
    if not ids:
        return 0
    count, _ = await Tortoise.get_connection("default").execute_query(
        "UPDATE conversations SET automation_paused_until = $2, automation_paused_reason = $3 "
        "WHERE id = ANY($1::uuid[]) AND (automation_paused_until IS NULL OR automation_paused_until < $2)",
        [ids, until, reason])
    return int(count)


async def paused_among(conversation_ids: Iterable[uuid.UUID], now: datetime) -> set[uuid.UUID]:
    """Which of these conversations are paused at `now`."""
    ids = list(set(conversation_ids))
    if not ids:
        return set()
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT id FROM conversations WHERE id = ANY($1::uuid[]) AND automation_paused_until > $2", [ids, now])
    return {row["id"] for row in rows}


# ------------------------------------------------------------------ echoes: Papo's own, or the owner's


async def remember_sent(redis: aioredis.Redis | AutoPipeline, platform: str | Platform,
                        platform_message_id: str | None) -> None:
    """Papo sent this message (called as soon as the platform answers): its echo is not the owner's.

    The outbound pipeline passes its AutoPipeline, so this rides the ledger's round trip."""
    if platform_message_id:
        await redis.set(own_sent_key(platform, platform_message_id), "1", ex=OWN_SENT_TTL)


def echo_origin(event: InboundEvent, papo_app_id: str | None) -> str | None:
    """"papo" or "owner" when the echo says who sent it, None when only the sent-message ids can tell."""
    detail = event.detail or {}
    if detail.get("sent_from") == SENT_FROM_BUSINESS_APP:
        return "owner"
    app_id = detail.get("app_id")
    if app_id is not None and papo_app_id:
        return "papo" if str(app_id) == str(papo_app_id) else "owner"
    return None


def is_echo(event: InboundEvent) -> bool:
    """A message the business sent (from Papo or from the platform's app)."""
    return event.is_echo or event.kind is EventKind.ECHO


async def owner_echoes(redis: aioredis.Redis, messages: Iterable[NewMessage],
                       papo_app_id: str | None) -> list[NewMessage]:
    """The new echoes that the owner sent by hand (not Papo): each one hands its conversation off."""
    echoes = [m for m in messages if is_echo(m.event)]
    undecided = [m for m in echoes if echo_origin(m.event, papo_app_id) is None]
    ours: set[int] = set()
    if undecided:
        flags = await redis.mget([own_sent_key(m.event.platform, m.event.platform_message_id or "") for m in undecided])
        ours = {id(m) for m, flag in zip(undecided, flags, strict=True) if flag}
    return [m for m in echoes if (echo_origin(m.event, papo_app_id) or ("papo" if id(m) in ours else "owner"))
            == "owner"]
