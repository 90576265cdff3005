"""Outbound use-cases: one private reply per comment, the record of every reply in `messages` and
`analytics_logs`, and building a reply typed by the owner (the send ledger is `send_ledger.py`, account
credentials `account_cache.py`).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import redis.asyncio as aioredis
from tortoise import Tortoise
from tortoise.exceptions import IntegrityError, OperationalError

from papo.adapters.outbound.message import Button, OutboundKind, OutboundMessage
from papo.analytics import AnalyticsStore
from papo.batching import Coalescer
from papo.constants import private_reply_key
from papo.enums import Platform
from papo.models import ConnectedAccount, Conversation, Message
from papo.services import NotFound
from papo.services.send_ledger import Outcome

log = logging.getLogger(__name__)


async def claim_comment(redis: aioredis.Redis, request: OutboundMessage, *, days: float) -> bool:
    """One private reply per comment: the first outbound id to claim the comment owns it (for `days` + 1)."""
    key = private_reply_key(request.account_id, request.comment_id)
    if await redis.set(key, request.outbound_id, nx=True, ex=int((days + 1) * 86400)):
        return True
    return await redis.get(key) == request.outbound_id


async def release_comment(redis: aioredis.Redis, request: OutboundMessage) -> None:
    """Give the comment back after a send that certainly failed (another reply may try)."""
    key = private_reply_key(request.account_id, request.comment_id)
    if await redis.get(key) == request.outbound_id:
        await redis.delete(key)


# ------------------------------------------------------------------ records

_UPDATE_OWN = """
    UPDATE messages SET
        platform_message_id = COALESCE($2, platform_message_id),
        delivery_status = CASE WHEN delivery_status IN ('delivered', 'read') AND $3 = 'sent'
                               THEN delivery_status ELSE $3 END,
        delivery_error = $4, delivery_updated_at = now(), message_text = COALESCE($5, message_text),
        metadata = COALESCE(metadata, '{}'::jsonb) || $6::jsonb
    WHERE outbound_id = $1
    RETURNING id
"""
# The platform's echo of our own message (Instagram, Messenger) may be stored by the inbound worker
# before this record: adopt that row instead of failing on the (conversation, platform id) key.
_ADOPT_ECHO = """
    UPDATE messages SET outbound_id = $1, is_automated = $4, automation_rule_id = $5, kind = $6,
        delivery_status = COALESCE(delivery_status, $7), delivery_updated_at = now(),
        metadata = COALESCE(metadata, '{}'::jsonb) || $8::jsonb
    WHERE conversation_id = $2 AND platform_message_id = $3 AND outbound_id IS NULL
    RETURNING id
"""
# The common case in one round trip: insert the row and, for a sent reply, move the conversation's
# last_message_at forward.
_INSERT = """
    WITH ins AS (
        INSERT INTO messages (id, conversation_id, platform_message_id, sender, message_text, message_type,
                              is_automated, automation_rule_id, kind, reply_to_id, platform_timestamp,
                              delivery_status, delivery_error, delivery_updated_at, metadata, outbound_id)
        VALUES ($1, $2, $3, 'user', $4, 'text', $5, $6, $7, $8, now(), $9, $10, now(), $11::jsonb, $12)
        ON CONFLICT DO NOTHING
        RETURNING id, conversation_id
    ), touched AS (
        UPDATE conversations SET last_message_at = GREATEST(last_message_at, now())
        WHERE $9::text = 'sent' AND id IN (SELECT conversation_id FROM ins)
    )
    SELECT id FROM ins
"""
_TOUCH_CONVERSATION = "UPDATE conversations SET last_message_at = GREATEST(last_message_at, now()) WHERE id = $1"


def _metadata(request: OutboundMessage, outcome: Outcome) -> dict[str, Any]:
    meta: dict[str, Any] = {"outbound_id": request.outbound_id, "attempts": outcome.attempts}
    if outcome.template:
        meta["template"] = outcome.template
    if outcome.fallback_used:
        meta["fallback_used"] = True
    if outcome.recipient:
        meta["recipient"] = outcome.recipient
    if request.buttons:
        meta["buttons"] = [{"id": b.id, "title": b.title} for b in request.buttons]
    if request.comment_id:
        meta["comment_id"] = request.comment_id
    return {**meta, **outcome.extra}


async def record_message(request: OutboundMessage, outcome: Outcome) -> uuid.UUID | None:
    """Write (or update) the request's `messages` row; idempotent by outbound id. None if the
    conversation is gone."""
    conn = Tortoise.get_connection("default")
    meta = json.dumps(_metadata(request, outcome), ensure_ascii=False)
    rule = uuid.UUID(request.automation_rule_id) if request.automation_rule_id else None
    automated = request.automated or rule is not None
    conv = uuid.UUID(request.conversation_id)
    pm = outcome.platform_message_id
    for _ in range(2):  # a second pass only when a concurrent writer won a race
        try:
            rows = await conn.execute_query_dict(_INSERT, [
                uuid.uuid4(), conv, pm, outcome.text, automated, rule, str(request.kind),
                request.comment_id or request.reply_to, outcome.status, outcome.error, meta, request.outbound_id,
            ])
        except (IntegrityError, OperationalError) as exc:
            if "foreign key" not in str(exc).lower():
                raise
            log.warning("outbound %s: conversation %s is gone; nothing to record", request.outbound_id, conv)
            return None
        if rows:
            return rows[0]["id"]
        # Already recorded (a redelivery), or the platform's echo of this message was stored first.
        rows = await conn.execute_query_dict(
            _UPDATE_OWN, [request.outbound_id, pm, outcome.status, outcome.error, outcome.text, meta])
        if not rows and pm:
            rows = await conn.execute_query_dict(
                _ADOPT_ECHO, [request.outbound_id, conv, pm, automated, rule, str(request.kind), outcome.status, meta])
        if rows:
            if outcome.status == "sent":
                await conn.execute_query(_TOUCH_CONVERSATION, [conv])
            return rows[0]["id"]
    return None


# Many replies in one statement (the common case of a batch: new rows). Rows it does not insert (a
# redelivery, an echo stored first, a conversation gone) take record_message's careful path.
_INSERT_MANY = """
    WITH new AS (
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bool[], $6::uuid[], $7::text[],
                             $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
            AS r(id, conversation_id, platform_message_id, message_text, is_automated, automation_rule_id, kind,
                 reply_to_id, delivery_status, delivery_error, metadata, outbound_id)
    ), ins AS (
        INSERT INTO messages (id, conversation_id, platform_message_id, sender, message_text, message_type,
                              is_automated, automation_rule_id, kind, reply_to_id, platform_timestamp,
                              delivery_status, delivery_error, delivery_updated_at, metadata, outbound_id)
        SELECT new.id, new.conversation_id, platform_message_id, 'user', message_text, 'text', is_automated,
               automation_rule_id, new.kind, reply_to_id, now(), delivery_status, delivery_error, now(),
               new.metadata::jsonb, outbound_id
        FROM new JOIN conversations c ON c.id = new.conversation_id  -- a gone conversation: the slow path says so
        ON CONFLICT DO NOTHING
        RETURNING id, conversation_id, outbound_id, delivery_status
    ), touched AS (
        UPDATE conversations SET last_message_at = GREATEST(last_message_at, now())
        WHERE id IN (SELECT conversation_id FROM ins WHERE delivery_status = 'sent')
    )
    SELECT id, outbound_id FROM ins
"""


class MessageRecorder:
    """record_message for concurrent callers: the requests of one loop iteration are inserted together."""

    def __init__(self) -> None:
        self._coalescer: Coalescer[tuple[OutboundMessage, Outcome], uuid.UUID | None] = Coalescer(self._flush)

    async def record(self, request: OutboundMessage, outcome: Outcome) -> uuid.UUID | None:
        """Same contract as record_message."""
        return await self._coalescer.submit((request, outcome))

    async def _flush(self, items: list[tuple[OutboundMessage, Outcome]]) -> list[uuid.UUID | BaseException | None]:
        inserted: dict[str, uuid.UUID] = {}
        if len(items) > 1:
            columns: list[list[Any]] = [[] for _ in range(12)]
            for request, outcome in items:
                rule = uuid.UUID(request.automation_rule_id) if request.automation_rule_id else None
                row = (uuid.uuid4(), uuid.UUID(request.conversation_id), outcome.platform_message_id, outcome.text,
                       request.automated or rule is not None, rule, str(request.kind),
                       request.comment_id or request.reply_to, outcome.status, outcome.error,
                       json.dumps(_metadata(request, outcome), ensure_ascii=False), request.outbound_id)
                for column, value in zip(columns, row, strict=True):
                    column.append(value)
            try:
                rows = await Tortoise.get_connection("default").execute_query_dict(_INSERT_MANY, columns)
                inserted = {row["outbound_id"]: row["id"] for row in rows}
            except Exception as exc:  # a conversation gone, a deadlock…: each row on its own below
                log.info("batched record of %d replies failed (%s); recording them one by one", len(items), exc)
        results: list[uuid.UUID | BaseException | None] = []
        for request, outcome in items:
            if request.outbound_id in inserted:
                results.append(inserted[request.outbound_id])
                continue
            try:
                results.append(await record_message(request, outcome))
            except Exception as exc:
                results.append(exc)
        return results


async def log_sent(analytics: AnalyticsStore, request: OutboundMessage, outcome: Outcome,
                   message_id: uuid.UUID | None) -> None:
    """The `analytics_logs` `message_sent` event of a reply that went out, once per outbound id."""
    await analytics.log_event(
        doc_id=f"message_sent:{request.outbound_id}",  # a worker killed before its ledger flag logs it again
        user_id=request.user_id,
        event_type="message_sent",
        platform=str(request.platform),
        data={
            "outbound_id": request.outbound_id,
            "conversation_id": request.conversation_id,
            "message_id": str(message_id) if message_id else None,
            "platform_message_id": outcome.platform_message_id,
            "kind": str(request.kind),
            "automated": request.automated or request.automation_rule_id is not None,
            "automation_rule_id": request.automation_rule_id,
            "template": outcome.template,
            "fallback_used": outcome.fallback_used,
            "attempts": outcome.attempts,
        },
    )


# ------------------------------------------------------------------ replies typed by the owner


async def manual_reply(conversation_id: str | uuid.UUID, text: str, *, buttons: tuple[Button, ...] = (),
                       outbound_id: str | None = None, conversation: Conversation | None = None) -> OutboundMessage:
    """An OutboundMessage for a reply the owner typed (admin bot): a fresh UUID unless one is given.

    `conversation`: the row the caller already loaded (it is not read again; its account is fetched
    unless it already was).
    """
    if conversation is None:
        conversation = await Conversation.get_or_none(id=conversation_id).prefetch_related("account")
    elif str(conversation.id) != str(conversation_id):
        raise ValueError(f"conversation {conversation.id} given for {conversation_id}")
    account = conversation.account if conversation is not None else None
    if account is not None and not isinstance(account, ConnectedAccount):  # not fetched yet: one query
        account = await account
    if conversation is None or account is None:
        raise NotFound(f"no conversation {conversation_id} with a connected account")
    phone = None
    if conversation.platform == Platform.WHATSAPP:
        last = await Message.filter(conversation_id=conversation.id, sender="remote").order_by("-created_at").first()
        phone = (last.metadata or {}).get("remote_user_phone") if last else None
    return OutboundMessage(
        outbound_id=outbound_id or f"manual:{uuid.uuid4()}",
        platform=Platform(conversation.platform),
        user_id=str(conversation.user_id),
        account_id=str(account.id),
        platform_account_id=account.platform_account_id,
        conversation_id=str(conversation.id),
        recipient_id=conversation.remote_user_id,
        recipient_phone=phone,
        kind=OutboundKind.REPLY,
        text=text,
        buttons=buttons,
        automated=False,
    )
