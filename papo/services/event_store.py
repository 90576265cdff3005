"""Persisting inbound events: conversations, messages, updates, statuses and interactions, exactly once.

A batch (one stream partition, in order) is written in one transaction with a few set-based statements
(`unnest` arrays) instead of one round trip per event: that is what lets a worker persist thousands of
events per second. Redelivered events are no-ops thanks to the unique keys of migration 0003.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from papo.adapters.events import INTERACTION_KINDS, MESSAGE_KINDS, UPDATE_KINDS, EventKind, InboundEvent
from papo.constants import account_key
from papo.services import fences
from papo.services.account_index import AccountOwner

# Delivery statuses only move forward (Meta does not guarantee order); "failed" wins over anything.
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "played": 4, "failed": 5}
_RANK_SQL = " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in STATUS_RANK.items())


@dataclass(slots=True)
class NewMessage:
    """A message this batch inserted for the first time (handed to classification and automation)."""

    message_id: uuid.UUID
    conversation_id: uuid.UUID
    account_id: uuid.UUID
    user_id: uuid.UUID
    event: InboundEvent
    understood: bool = False  # stored earlier and already classified: a later stage is what is owed


@dataclass(slots=True)
class BatchResult:
    """What a batch changed, handed through the stages in order.

    Persistence fills the fields up to `skipped` and `received_at`; the stages fill the rest, and each
    stage declares the fields it `fills` and `reads` (see papo/pipeline/persist.py): understanding fills
    `classifications` and `leads`, which automation needs; opt-out fills `handled`, which automation
    skips if it is filled (an empty set without opt-out). A stage list that reads a field before a stage
    fills it is refused when the pipeline is built.
    """

    new_messages: list[NewMessage] = field(default_factory=list)
    conversations: dict[uuid.UUID, tuple[uuid.UUID, InboundEvent]] = field(default_factory=dict)
    updated: int = 0
    statuses: int = 0
    interactions: int = 0
    skipped: int = 0
    # Filled by the stages that follow persistence (understanding, then automation).
    classifications: dict[uuid.UUID, Any] = field(default_factory=dict)  # message id -> Classification
    leads: dict[tuple[uuid.UUID, str, str], Any] = field(default_factory=dict)  # (user, platform, remote) -> LeadState
    received_at: dict[str, datetime] = field(default_factory=dict)  # event dedupe key -> when its webhook came in
    # Messages a stage fully answered (an opt-out keyword): automation does not run its rules on them.
    handled: set[uuid.UUID] = field(default_factory=set)


def _metadata(event: InboundEvent) -> dict[str, Any] | None:
    meta: dict[str, Any] = {}
    for name in ("story_id", "story_url", "postback_payload", "reaction", "remote_user_username",
                 "remote_user_phone", "parent_comment_id", "error_code", "error_title"):
        value = getattr(event, name)
        if value is not None:
            meta[name] = value
    if event.referral:
        meta["referral"] = dict(event.referral)
    if event.detail:
        meta["detail"] = dict(event.detail)
    if event.removed:
        meta["removed"] = True
    return meta or None


def stored_message_id(event: InboundEvent) -> str:
    """The id a message is stored under: the platform's, or (post reactions…) the event's dedupe key."""
    return (event.platform_message_id or event.dedupe_key)[:255]


def _text(event: InboundEvent) -> str | None:
    if event.text is not None:
        return event.text
    if event.kind is EventKind.REACTION:
        return event.reaction
    return None


async def persist_batch(events: Sequence[InboundEvent], owners: dict[str, list[AccountOwner]], *,
                        fence: tuple[str, dict[int, int]] | None = None) -> BatchResult:
    """Write one ordered batch; `owners` maps "platform:account" to the businesses that connected it.

    `fence` (stream name, {partition: lease epoch}) makes the write conditional on those leases still
    being the newest to have written (raises `Fenced` and writes nothing otherwise).
    """
    result = BatchResult()
    conv_rows: dict[tuple[uuid.UUID, str], dict[str, Any]] = {}
    msg_events: list[tuple[AccountOwner, InboundEvent]] = []
    updates: list[tuple[AccountOwner, InboundEvent]] = []
    statuses: list[tuple[AccountOwner, InboundEvent]] = []
    interactions: list[tuple[AccountOwner, InboundEvent]] = []

    for event in events:
        targets = owners.get(account_key(event.platform, event.account_id), [])
        # An Instagram mention does not say who mentioned the business: no conversation to put it in.
        if not targets or (event.kind in MESSAGE_KINDS and not event.remote_user_id):
            result.skipped += 1
            continue
        for owner in targets:
            if event.kind in MESSAGE_KINDS:
                key = (owner.account_id, event.remote_user_id)
                row = conv_rows.setdefault(key, {
                    "user_id": owner.user_id, "account_id": owner.account_id, "remote_user_id": event.remote_user_id,
                    "platform": str(event.platform), "name": None, "avatar": None, "last": event.timestamp,
                    "latest": event,
                })
                # Echoes carry the business's side: never take the customer's name from them.
                if not event.is_echo:
                    row["name"] = event.remote_user_name or row["name"]
                    row["avatar"] = event.remote_user_avatar or row["avatar"]
                if event.timestamp >= row["last"]:
                    row["last"], row["latest"] = event.timestamp, event
                msg_events.append((owner, event))
            elif event.kind in UPDATE_KINDS:
                updates.append((owner, event))
            elif event.kind is EventKind.STATUS:
                statuses.append((owner, event))
            elif event.kind in INTERACTION_KINDS:
                interactions.append((owner, event))
            else:
                result.skipped += 1  # account-level kinds are recorded by the worker, not here

    async with in_transaction() as conn:
        if fence is not None:
            await fences.check(conn, *fence)
        conv_ids = await _upsert_conversations(conn, list(conv_rows.values()))
        if msg_events:
            await _insert_messages(conn, msg_events, conv_ids, result)
        for owner, event in updates:
            result.updated += await _apply_update(conn, owner, event)
        if statuses:
            result.statuses = await _apply_statuses(conn, statuses)
        if interactions:
            result.interactions = await _insert_interactions(conn, interactions)
    for key, conv_id in conv_ids.items():
        result.conversations[conv_id] = (conv_rows[key]["user_id"], conv_rows[key]["latest"])
    return result


async def _upsert_conversations(conn: Any, rows: list[dict[str, Any]]) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
    if not rows:
        return {}
    sql = """
        INSERT INTO conversations (id, user_id, account_id, platform_conversation_id, remote_user_id,
                                   remote_user_name, remote_user_avatar, platform, last_message_at)
        SELECT gen_random_uuid(), u, a, r, r, n, av, p, l
        FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
             AS t(u, a, r, n, av, p, l)
        ON CONFLICT (account_id, platform_conversation_id) DO UPDATE SET
            remote_user_name = COALESCE(EXCLUDED.remote_user_name, conversations.remote_user_name),
            remote_user_avatar = COALESCE(EXCLUDED.remote_user_avatar, conversations.remote_user_avatar),
            last_message_at = GREATEST(conversations.last_message_at, EXCLUDED.last_message_at)
        RETURNING id, account_id, platform_conversation_id
    """
    values = [
        [r["user_id"] for r in rows], [r["account_id"] for r in rows], [r["remote_user_id"] for r in rows],
        [r["name"] for r in rows], [r["avatar"] for r in rows], [r["platform"] for r in rows],
        [r["last"] for r in rows],
    ]
    # execute_query_dict: Tortoise's execute_query drops the rows of an INSERT … RETURNING.
    returned = await conn.execute_query_dict(sql, values)
    return {(rec["account_id"], rec["platform_conversation_id"]): rec["id"] for rec in returned}


async def _insert_messages(conn: Any, items: list[tuple[AccountOwner, InboundEvent]],
                           conv_ids: dict[tuple[uuid.UUID, str], uuid.UUID], result: BatchResult) -> None:
    # created_at = statement time + ordinal microseconds: strictly increasing in processing order, which
    # is the conversation's order because a partition is processed sequentially.
    sql = """
        INSERT INTO messages (id, conversation_id, platform_message_id, sender, message_text, message_type,
                              media_url, kind, detail_type, media_id, media_mime, post_id, reply_to_id,
                              platform_timestamp, metadata, created_at)
        SELECT id, c, pm, s, tx, mt, mu, k, dt, mi, mm, po, rt, ts, md::jsonb,
               statement_timestamp() + ord * interval '1 microsecond'
        FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
                    $14::timestamptz[], $15::text[]) WITH ORDINALITY
             AS t(id, c, pm, s, tx, mt, mu, k, dt, mi, mm, po, rt, ts, md, ord)
        ON CONFLICT (conversation_id, platform_message_id) WHERE platform_message_id IS NOT NULL DO NOTHING
        RETURNING id
    """
    # Each new message owes its stages until the pipeline says they are done (`stages_done`).
    sql = (f"WITH ins AS ({sql}), owed AS (INSERT INTO inbound_pending (message_id) SELECT id FROM ins) "
           "SELECT id FROM ins")
    ids = [uuid.uuid4() for _ in items]
    cols: list[list[Any]] = [[] for _ in range(15)]
    for new_id, (owner, e) in zip(ids, items, strict=True):
        meta = _metadata(e)
        row = (
            new_id, conv_ids[(owner.account_id, e.remote_user_id)], stored_message_id(e), str(e.sender), _text(e),
            str(e.message_type), e.media_url, str(e.kind), e.detail_type, e.media_id, e.media_mime, e.post_id,
            e.reply_to or e.parent_comment_id, e.timestamp, json.dumps(meta) if meta else None,
        )
        for col, value in zip(cols, row, strict=True):
            col.append(value)
    inserted = {rec["id"] for rec in await conn.execute_query_dict(sql, cols)}
    owed = {}
    if len(inserted) < len(items):  # stored before: by a delivery whose worker may have died before its stages
        owed = await _still_owed(conn, cols[1], cols[2])
    for new_id, (owner, e) in zip(ids, items, strict=True):
        conv = conv_ids[(owner.account_id, e.remote_user_id)]
        if new_id in inserted:
            result.new_messages.append(NewMessage(new_id, conv, owner.account_id, owner.user_id, e))
        elif (earlier := owed.pop((conv, stored_message_id(e)), None)) is not None:
            result.new_messages.append(NewMessage(earlier[0], conv, owner.account_id, owner.user_id, e,
                                                  understood=earlier[1]))


async def _still_owed(conn: Any, conversations: list[Any],
                      platform_ids: list[Any]) -> dict[tuple[Any, str], tuple[Any, bool]]:
    """Stored messages among these still owed stages: (conversation, platform id) -> (id, understood)."""
    rows = await conn.execute_query_dict(
        "SELECT m.id, m.conversation_id, m.platform_message_id, p.understood FROM inbound_pending p "
        "JOIN messages m ON m.id = p.message_id "
        "WHERE (m.conversation_id, m.platform_message_id) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))",
        [conversations, platform_ids])
    return {(r["conversation_id"], r["platform_message_id"]): (r["id"], r["understood"]) for r in rows}


async def mark_understood(conn: Any, message_ids: list[uuid.UUID]) -> None:
    """In the understanding stage's transaction: these messages are classified and their leads scored."""
    if message_ids:
        await conn.execute_query("UPDATE inbound_pending SET understood = true WHERE message_id = ANY($1::uuid[])",
                                 [message_ids])


async def stages_done(result: BatchResult) -> None:
    """Every stage ran for the batch's new messages: they owe nothing any more."""
    if result.new_messages:
        await Tortoise.get_connection("default").execute_query(
            "DELETE FROM inbound_pending WHERE message_id = ANY($1::uuid[])",
            [[m.message_id for m in result.new_messages]])


async def _apply_update(conn: Any, owner: AccountOwner, event: InboundEvent) -> int:
    if event.kind in (EventKind.MESSAGE_EDIT, EventKind.COMMENT_EDIT):
        sql = """
            UPDATE messages m SET message_text = $1, edited_at = $2
            FROM conversations c
            WHERE m.conversation_id = c.id AND c.account_id = $3 AND m.platform_message_id = $4
              AND (m.edited_at IS NULL OR m.edited_at <= $2)
        """
        values = [event.text, event.timestamp, owner.account_id, event.platform_message_id]
    else:
        sql = """
            UPDATE messages m SET deleted_at = $1
            FROM conversations c
            WHERE m.conversation_id = c.id AND c.account_id = $2 AND m.platform_message_id = $3
              AND m.deleted_at IS NULL
        """
        values = [event.timestamp, owner.account_id, event.platform_message_id]
    count, _ = await conn.execute_query(sql, values)
    return int(count)


async def _apply_statuses(conn: Any, items: list[tuple[AccountOwner, InboundEvent]]) -> int:
    sql = f"""
        UPDATE messages m SET delivery_status = t.st, delivery_error = t.err, delivery_updated_at = t.ts
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[])
             AS t(acc, pm, st, rank, err, ts), conversations c
        WHERE m.conversation_id = c.id AND c.account_id = t.acc AND m.platform_message_id = t.pm
          AND COALESCE(CASE m.delivery_status {_RANK_SQL} END, 0) < t.rank
    """
    # Keep only the strongest status per message within the batch (UPDATE … FROM applies one row).
    best: dict[tuple[uuid.UUID, str], InboundEvent] = {}
    for owner, e in items:
        if not e.platform_message_id or e.status not in STATUS_RANK:
            continue
        key = (owner.account_id, e.platform_message_id)
        if key not in best or STATUS_RANK[e.status] > STATUS_RANK[best[key].status or "sent"]:
            best[key] = e
    if not best:
        return 0
    keys = list(best)
    values = [
        [k[0] for k in keys], [k[1] for k in keys], [best[k].status for k in keys],
        [STATUS_RANK[best[k].status or "sent"] for k in keys],
        [_status_error(best[k]) for k in keys], [best[k].timestamp for k in keys],
    ]
    count, _ = await conn.execute_query(sql, values)
    return int(count)


def _status_error(event: InboundEvent) -> str | None:
    if event.error_code is None and not event.error_title:
        return None
    return f"{event.error_code}: {event.error_title or ''}".strip()


async def _insert_interactions(conn: Any, items: list[tuple[AccountOwner, InboundEvent]]) -> int:
    sql = """
        INSERT INTO interactions (id, user_id, account_id, platform, kind, remote_user_id, remote_user_name,
                                  target_id, dedupe_key, occurred_at)
        SELECT gen_random_uuid(), u, a, p, k, r, n, t, d, o
        FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::text[], $9::timestamptz[]) AS x(u, a, p, k, r, n, t, d, o)
        ON CONFLICT (dedupe_key) DO NOTHING
        RETURNING id
    """
    cols: list[list[Any]] = [[] for _ in range(9)]
    for owner, e in items:
        kind = f"un{e.kind}" if e.removed else str(e.kind)
        # One business's copy per owner: the dedupe key carries the owning account.
        row = (owner.user_id, owner.account_id, str(e.platform), kind, e.remote_user_id, e.remote_user_name, e.post_id,
               f"{owner.account_id}:{e.dedupe_key}"[:255], e.timestamp)
        for col, value in zip(cols, row, strict=True):
            col.append(value)
    return len(await conn.execute_query_dict(sql, cols))
