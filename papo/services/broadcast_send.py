"""What the campaign runner does to the stores: start due broadcasts, claim recipients, follow their outcomes.

A recipient is claimed (pending → queued, `FOR UPDATE SKIP LOCKED`, so several runners never take the same
row) and committed *before* its outbound request is appended to the outbound stream under the recipient's
`outbound_id`. From there the outbound pipeline's send ledger sends it at most once: a runner that dies
between the claim and the append leaves a queued row without a `messages` row, which `orphans` offers
again — the stream's dedupe marker drops the offer when the first append did happen, and the ledger would
refuse a second send anyway. A send in doubt (a worker killed between the API call and its answer) is
recorded by the pipeline as `unknown` and is never resent. `sync` copies each outcome — sent (with the
platform's message id), failed (with the platform's error), skipped, unknown, then delivered and read as
the status webhooks update the `messages` row — and `replied_at`, the customer's first message after it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from tortoise import Tortoise

from papo.adapters.senders.message import OutboundKind, OutboundMessage, TemplateMessage
from papo.enums import Platform

OPTED_OUT = "the customer opted out of campaigns"

# One pass over a broadcast's unfinished rows: the outcome of the request recorded in `messages`.
_SYNC = """
    UPDATE broadcast_recipients r SET
        state = CASE WHEN m.delivery_status = 'played' THEN 'read' ELSE m.delivery_status END,
        platform_message_id = COALESCE(m.platform_message_id, r.platform_message_id),
        error = m.delivery_error,
        sent_at = COALESCE(r.sent_at, CASE WHEN m.delivery_status IN ('sent', 'delivered', 'read', 'played')
                                           THEN m.created_at END),
        delivered_at = COALESCE(r.delivered_at, CASE WHEN m.delivery_status IN ('delivered', 'read', 'played')
                                                     THEN m.delivery_updated_at END),
        read_at = COALESCE(r.read_at, CASE WHEN m.delivery_status IN ('read', 'played')
                                           THEN m.delivery_updated_at END),
        updated_at = now()
    FROM messages m
    WHERE r.broadcast_id = $1 AND r.state = ANY($2::text[]) AND m.outbound_id = r.outbound_id
      AND m.delivery_status IS NOT NULL
      AND (r.state IS DISTINCT FROM m.delivery_status OR r.platform_message_id IS DISTINCT FROM m.platform_message_id)
"""
_REPLIED = """
    UPDATE broadcast_recipients r SET replied_at = first.at, updated_at = now()
    FROM (
        SELECT r2.id, min(m.created_at) AS at FROM broadcast_recipients r2
        JOIN messages m ON m.conversation_id = r2.conversation_id AND m.sender = 'remote'
                       AND m.created_at > r2.sent_at AND (m.kind IS NULL OR m.kind <> 'echo')
        WHERE r2.broadcast_id = $1 AND r2.sent_at IS NOT NULL AND r2.replied_at IS NULL
        GROUP BY r2.id
    ) first
    WHERE r.id = first.id
"""
_CLAIM = """
    WITH picked AS (
        SELECT r.id, EXISTS (SELECT 1 FROM opt_outs o WHERE o.user_id = r.user_id AND o.platform = r.platform
                             AND o.remote_user_id = r.remote_user_id) AS opted
        FROM broadcast_recipients r
        WHERE r.broadcast_id = $1 AND r.state = 'pending'
        ORDER BY r.id LIMIT $2
        FOR UPDATE SKIP LOCKED
    )
    UPDATE broadcast_recipients r SET
        state = CASE WHEN picked.opted THEN 'skipped' ELSE 'queued' END,
        error = CASE WHEN picked.opted THEN $3 END,
        queued_at = now(), updated_at = now()
    FROM picked WHERE r.id = picked.id
    RETURNING r.id, r.user_id, r.conversation_id, r.account_id, r.platform, r.remote_user_id, r.phone, r.params,
              r.outbound_id, r.state
"""
_ORPHANS = """
    SELECT r.id, r.user_id, r.conversation_id, r.account_id, r.platform, r.remote_user_id, r.phone, r.params,
           r.outbound_id, r.state
    FROM broadcast_recipients r
    WHERE r.broadcast_id = $1 AND r.state = 'queued' AND r.queued_at < now() - make_interval(secs => $2)
      AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.outbound_id = r.outbound_id)
    ORDER BY r.id LIMIT $3
"""


@dataclass(frozen=True, slots=True)
class Campaign:
    """What the runner needs of a broadcast to build its requests."""

    id: uuid.UUID
    user_id: uuid.UUID
    meta_template_name: str
    language: str
    content: str
    template_variables: tuple[str, ...]

    @classmethod
    def of(cls, row: dict[str, Any]) -> Campaign:
        """From a `broadcasts` row."""
        names = row["template_variables"]
        return cls(id=row["id"], user_id=row["user_id"], meta_template_name=row["meta_template_name"],
                   language=row["language"], content=row["content"],
                   template_variables=tuple(json.loads(names) if isinstance(names, str) else names))


def _conn() -> Any:
    return Tortoise.get_connection("default")


async def start_due() -> list[uuid.UUID]:
    """Move broadcasts whose time has come from scheduled to running."""
    rows = await _conn().execute_query_dict(
        "UPDATE broadcasts SET status = 'running', started_at = now() "
        "WHERE status = 'scheduled' AND scheduled_for <= now() RETURNING id")
    return [row["id"] for row in rows]


async def running() -> list[Campaign]:
    """The broadcasts being sent now (every business: the runner serves them all)."""
    rows = await _conn().execute_query_dict("SELECT * FROM broadcasts WHERE status = 'running' ORDER BY started_at")
    return [Campaign.of(row) for row in rows]


async def next_due_in() -> float | None:
    """Seconds until the next scheduled broadcast, or None."""
    rows = await _conn().execute_query_dict(
        "SELECT EXTRACT(EPOCH FROM min(scheduled_for) - now()) AS s FROM broadcasts WHERE status = 'scheduled'")
    value = rows[0]["s"] if rows else None
    return None if value is None else max(0.0, float(value))


async def sync(broadcast_id: uuid.UUID, *, queued_only: bool = False) -> None:
    """Bring recipients up to date with their `messages` rows (and, fully, their replies)."""
    # "unknown" too: a send the runner had to call in doubt may still get its `messages` row (and then it says).
    states = ["queued"] if queued_only else ["queued", "sent", "delivered", "unknown"]
    await _conn().execute_query(_SYNC, [broadcast_id, states])
    if not queued_only:
        await _conn().execute_query(_REPLIED, [broadcast_id])


async def in_flight(broadcast_id: uuid.UUID) -> int:
    """Recipients queued and not yet settled by the outbound pipeline."""
    rows = await _conn().execute_query_dict(
        "SELECT count(*) AS n FROM broadcast_recipients WHERE broadcast_id = $1 AND state = 'queued'",
        [broadcast_id])
    return int(rows[0]["n"])


async def claim(broadcast_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    """Claim up to `limit` pending recipients, in order; opted-out ones are settled as skipped."""
    if limit <= 0:
        return []
    rows = await _conn().execute_query_dict(_CLAIM, [broadcast_id, limit, OPTED_OUT])
    return sorted((row for row in rows if row["state"] == "queued"), key=lambda row: row["id"])


async def orphans(broadcast_id: uuid.UUID, *, older_than: float, limit: int = 1000) -> list[dict[str, Any]]:
    """Queued recipients with no outcome after `older_than` seconds (their append may never have happened)."""
    return await _conn().execute_query_dict(_ORPHANS, [broadcast_id, older_than, limit])


async def skip(recipient_ids: list[int], reason: str) -> None:
    """Settle claimed recipients that must not be sent to (e.g. outside their messaging window)."""
    if recipient_ids:
        await _conn().execute_query(
            "UPDATE broadcast_recipients SET state = 'skipped', error = $2, updated_at = now() "
            "WHERE id = ANY($1::bigint[]) AND state = 'queued'", [recipient_ids, reason])


async def finish_if_done(broadcast_id: uuid.UUID) -> bool:
    """Mark a running broadcast finished once no recipient is pending or queued."""
    rows = await _conn().execute_query_dict(
        "UPDATE broadcasts b SET status = 'finished', finished_at = now() WHERE id = $1 AND status = 'running' "
        "AND NOT EXISTS (SELECT 1 FROM broadcast_recipients r WHERE r.broadcast_id = b.id "
        "AND r.state IN ('pending', 'queued')) RETURNING id", [broadcast_id])
    return bool(rows)


async def recently_finished(hours: float = 72.0) -> list[uuid.UUID]:
    """Broadcasts finished lately: their deliveries, reads and replies keep arriving."""
    rows = await _conn().execute_query_dict(
        "SELECT id FROM broadcasts WHERE status IN ('finished', 'cancelled') "
        "AND COALESCE(finished_at, cancelled_at) > now() - make_interval(secs => $1)", [hours * 3600])
    return [row["id"] for row in rows]


async def account_ids(broadcast_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """connected account id -> the platform's account id, for the accounts a broadcast sends through."""
    rows = await _conn().execute_query_dict(
        "SELECT DISTINCT a.id, a.platform_account_id FROM broadcast_recipients r "
        "JOIN connected_accounts a ON a.id = r.account_id WHERE r.broadcast_id = $1", [broadcast_id])
    return {row["id"]: row["platform_account_id"] for row in rows}


def request_for(campaign: Campaign, row: dict[str, Any], platform_account_id: str) -> OutboundMessage:
    """The outbound request of one recipient: the template on WhatsApp, its text on Instagram/Messenger."""
    from papo.engine.render import render

    params = row["params"]
    params = tuple(json.loads(params) if isinstance(params, str) else params)
    text = render(campaign.content, dict(zip(campaign.template_variables, params, strict=True)))
    platform = Platform(row["platform"])
    template = None
    if platform is Platform.WHATSAPP:
        template = TemplateMessage(name=campaign.meta_template_name, language=campaign.language,
                                   body_params=params, expected_body_params=len(campaign.template_variables),
                                   preview=text)
    return OutboundMessage(
        outbound_id=row["outbound_id"], platform=platform, user_id=str(campaign.user_id),
        account_id=str(row["account_id"]), platform_account_id=platform_account_id,
        conversation_id=str(row["conversation_id"]), recipient_id=row["remote_user_id"],
        recipient_phone=row["phone"] if platform is Platform.WHATSAPP else None, kind=OutboundKind.REPLY,
        text=None if template else text, template=template, automated=True, campaign_id=str(campaign.id),
    )


IN_DOUBT = ("a worker stopped between the API call and its answer: not resent, to avoid sending twice; "
            "check the conversation on the platform")


async def settle(recipient_id: int, state: str, *, platform_message_id: str | None = None,
                 error: str | None = None) -> None:
    """Give a queued recipient the outcome the send ledger knows (when no `messages` row can say it)."""
    await _conn().execute_query(
        "UPDATE broadcast_recipients SET state = $2::text, platform_message_id = $3, error = $4, "
        "sent_at = CASE WHEN $2::text = 'sent' THEN now() END, updated_at = now() WHERE id = $1 AND state = 'queued'",
        [recipient_id, state, platform_message_id, error])
