"""Broadcasts (campaigns): an approved WhatsApp template sent to a segment of a business's leads.

`preview` selects the segment and renders each lead's variables without storing anything; `create_broadcast`
stores the campaign and its recipients (exactly the customers the owner saw in the preview); the
campaign runner (papo.pipeline.broadcast) sends them from `scheduled_for` on. Segments filter `crm_leads`
by quality, status, tags (any of them), platform and last contact before/after; a lead needs a
conversation on a connected account to be reached through, and customers who opted out
(papo.services.optout) are never included. WhatsApp recipients get the template; Instagram and Messenger
recipients get its text as a message, only while their 24-hour messaging window is open.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from papo.enums import Platform
from papo.services import NotFound, ServiceError, plans
from papo.services.broadcast_segments import (  # noqa: F401 - part of this module's interface
    BROADCAST_PLATFORMS,
    LEAD_VARIABLES,
    Segment,
    fill,
    variable_values,
)
from papo.services.ids import id_prefix, id_with_prefix
from papo.services.posts import parse_when
from papo.services.templates import TemplateInfo, UserRef, get_template, user_id
from papo.timezones import DEFAULT_TIMEZONE

STATUSES = ("scheduled", "running", "finished", "cancelled")
# Recipient states, in the order the bot and the CLI show them.
STATES = ("pending", "queued", "sent", "delivered", "read", "failed", "skipped", "unknown", "cancelled")
SAMPLE = 5


# ------------------------------------------------------------------ selection and preview

# Each lead's newest conversation on a connected account, found through idx_conversations_customer
# (migration 0013): one index lookup per lead, whatever the planner's statistics say.
_SELECT = """
    SELECT l.id AS lead_id, l.platform, l.remote_user_id, COALESCE(l.remote_user_name, c.remote_user_name) AS name,
           l.email, c.id AS conversation_id, c.account_id, c.business_name,
           COALESCE(
               (SELECT m.metadata->>'remote_user_phone' FROM messages m
                WHERE m.conversation_id = c.id AND m.sender = 'remote' ORDER BY m.created_at DESC LIMIT 1),
               l.phone) AS phone,
           EXISTS (SELECT 1 FROM opt_outs o WHERE o.user_id = l.user_id AND o.platform = l.platform
                   AND o.remote_user_id = l.remote_user_id) AS opted_out
    FROM crm_leads l
    JOIN LATERAL (
        SELECT c.id, c.account_id, c.remote_user_name, a.business_name FROM conversations c
        JOIN connected_accounts a ON a.id = c.account_id AND a.status IS DISTINCT FROM 'disconnected'
        WHERE c.user_id = l.user_id AND c.platform = l.platform AND c.remote_user_id = l.remote_user_id
        ORDER BY c.last_message_at DESC NULLS LAST LIMIT 1
    ) c ON true
    WHERE l.user_id = $1 AND l.platform = ANY($2::text[])
      AND (cardinality($3::text[]) = 0 OR l.quality = ANY($3::text[]))
      AND (cardinality($4::text[]) = 0 OR l.status = ANY($4::text[]))
      AND (cardinality($5::text[]) = 0 OR l.tags && $5::text[])
      AND ($6::timestamptz IS NULL OR l.last_interaction < $6)
      AND ($7::timestamptz IS NULL OR l.last_interaction >= $7)
    ORDER BY l.last_interaction DESC NULLS LAST, l.id
"""


async def select_leads(uid: uuid.UUID, segment: Segment) -> list[dict[str, Any]]:
    """Every reachable lead of the segment (opted-out ones flagged), most recent contact first."""
    platforms = list(segment.platform) or [p.value for p in BROADCAST_PLATFORMS]
    return await Tortoise.get_connection("default").execute_query_dict(_SELECT, [
        uid, platforms, list(segment.quality), list(segment.status), list(segment.tags),
        segment.last_contact_before, segment.last_contact_after,
    ])


@dataclass(frozen=True, slots=True)
class Recipient:
    """One customer a broadcast will go to, with the text they will read."""

    lead_id: uuid.UUID
    platform: str
    remote_user_id: str
    name: str | None
    phone: str | None
    conversation_id: uuid.UUID
    account_id: uuid.UUID
    params: list[str]
    text: str

    def brief(self) -> dict[str, Any]:
        """What a preview shows of one recipient."""
        return {"name": self.name, "platform": self.platform, "remote_user_id": self.remote_user_id,
                "text": self.text}


@dataclass(frozen=True, slots=True)
class Preview:
    """What the owner confirms: how many customers, who first, and who is left out and why."""

    template: TemplateInfo
    segment: Segment
    patterns: list[str]
    recipients: list[Recipient]
    opted_out: int = 0
    missing_value: int = 0  # a variable rendered empty for them (e.g. no name known)
    by_platform: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """How many customers it goes to."""
        return len(self.recipients)

    def to_dict(self) -> dict[str, Any]:
        """JSON for the CLI."""
        return {"template": self.template.name, "segment": self.segment.to_dict(), "count": self.count,
                "by_platform": self.by_platform, "opted_out": self.opted_out,
                "missing_value": self.missing_value, "first": [r.brief() for r in self.recipients[:SAMPLE]]}


def approved_template(template: TemplateInfo) -> TemplateInfo:
    """The template, or a ServiceError saying why it cannot be broadcast."""
    if template.platform is not Platform.WHATSAPP or not template.meta_template_name or not template.language:
        raise ServiceError(f"template {template.name!r} is not a WhatsApp template with a Meta name and language "
                           "(papo templates add --platform whatsapp --meta-name … --language …)")
    if not template.is_approved:
        raise ServiceError(f"template {template.name!r} is not approved by Meta yet; only approved templates "
                           "can be broadcast")
    return template


async def preview(user: UserRef, *, template: str, segment: Segment,
                  variables: Mapping[str, Any] | str | None = None) -> Preview:
    """The broadcast's recipients and texts, nothing stored."""
    uid = user_id(user)
    info = approved_template(await get_template(uid, template))
    patterns = variable_values(info, variables)
    recipients, opted, missing, by_platform = [], 0, 0, {}
    for row in await select_leads(uid, segment):
        if row["opted_out"]:
            opted += 1
            continue
        params, text = fill(info, patterns, row)
        if any(not p for p in params):
            missing += 1
            continue
        recipients.append(Recipient(
            lead_id=row["lead_id"], platform=row["platform"], remote_user_id=row["remote_user_id"],
            name=row["name"], phone=row["phone"], conversation_id=row["conversation_id"],
            account_id=row["account_id"], params=params, text=text))
        by_platform[row["platform"]] = by_platform.get(row["platform"], 0) + 1
    return Preview(info, segment, patterns, recipients, opted, missing, by_platform)


# ------------------------------------------------------------------ create, list, show, cancel


@dataclass(frozen=True, slots=True)
class BroadcastView:
    """A broadcast as the CLI and the bot show it, with its recipients counted by state."""

    id: uuid.UUID
    name: str
    template: str
    status: str
    scheduled_for: datetime
    total: int
    counts: dict[str, int]
    replied: int
    segment: dict[str, Any]
    started_at: datetime | None = None
    finished_at: datetime | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)  # the most common failures and skips

    @property
    def done(self) -> int:
        """Recipients with a final outcome."""
        return self.total - self.counts.get("pending", 0) - self.counts.get("queued", 0)

    def funnel(self) -> dict[str, int]:
        """How far the messages got: reached the platform, delivered, read, answered; and the rest."""
        c = self.counts
        return {"sent": c.get("sent", 0) + c.get("delivered", 0) + c.get("read", 0),
                "delivered": c.get("delivered", 0) + c.get("read", 0), "read": c.get("read", 0),
                "replied": self.replied, "failed": c.get("failed", 0) + c.get("unknown", 0),
                "skipped": c.get("skipped", 0) + c.get("cancelled", 0),
                "pending": c.get("pending", 0) + c.get("queued", 0)}

    def to_dict(self) -> dict[str, Any]:
        """JSON for the CLI."""
        out = asdict(self)
        out["id"] = str(self.id)
        for name in ("scheduled_for", "started_at", "finished_at"):
            out[name] = out[name].isoformat() if out[name] else None
        return out


_INSERT_RECIPIENTS = """
    INSERT INTO broadcast_recipients (broadcast_id, user_id, lead_id, conversation_id, account_id, platform,
                                      remote_user_id, phone, name, params, outbound_id)
    SELECT $1::uuid, $2, r.lead_id, r.conversation_id, r.account_id, r.platform, r.remote_user_id, r.phone, r.name,
           r.params::jsonb, 'broadcast:' || $11 || ':' || r.n
    FROM unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
         WITH ORDINALITY AS r(lead_id, conversation_id, account_id, platform, remote_user_id, phone, name, params, n)
"""


async def create_broadcast(user: UserRef, *, template: str, segment: Segment,
                           variables: Mapping[str, Any] | str | None = None, when: str | datetime | None = None,
                           timezone: str = DEFAULT_TIMEZONE, name: str | None = None) -> BroadcastView:
    """Store the broadcast and its recipients (as the preview shows them); sent from `when` (default now)."""
    uid = user_id(user)
    found = await preview(uid, template=template, segment=segment, variables=variables)
    if not found.count:
        raise ServiceError("no customer matches this segment (after leaving out those who opted out)")
    at = parse_when(when, timezone) if when else None
    info = found.template
    rs = found.recipients
    # Every recipient counts against the plan's month at creation (QuotaExceeded before anything is stored);
    # a failed store or a cancel gives back what will not be sent.
    await plans.check_quota(uid, plans.BROADCAST_RECIPIENTS, len(rs))
    try:
        bid = await _store_broadcast(uid, name=name, info=info, found=found, segment=segment, at=at)
    except BaseException:
        await plans.give_back(uid, plans.BROADCAST_RECIPIENTS, len(rs))
        raise
    return await get_broadcast(uid, str(bid))


async def _store_broadcast(uid: uuid.UUID, *, name: str | None, info: TemplateInfo, found: Preview,
                           segment: Segment, at: datetime | None) -> uuid.UUID:
    rs = found.recipients
    async with in_transaction() as conn:
        rows = await conn.execute_query_dict(
            "INSERT INTO broadcasts (user_id, name, template_id, template_name, meta_template_name, language, "
            "content, template_variables, variables, segment, scheduled_for, total) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10::jsonb, COALESCE($11, now()), $12) "
            "RETURNING id",
            [uid, (name or info.name)[:255], info.id, info.name, info.meta_template_name, info.language,
             info.content, json.dumps(list(info.variables)),
             json.dumps(dict(zip(info.variables, found.patterns, strict=True)), ensure_ascii=False),
             json.dumps(segment.to_dict()), at, len(rs)])
        bid = rows[0]["id"]
        await conn.execute_query(_INSERT_RECIPIENTS, [
            bid, uid, [r.lead_id for r in rs], [r.conversation_id for r in rs], [r.account_id for r in rs],
            [r.platform for r in rs], [r.remote_user_id for r in rs], [r.phone for r in rs], [r.name for r in rs],
            [json.dumps(r.params, ensure_ascii=False) for r in rs], str(bid)])
    return bid  # type: ignore[no-any-return]


async def find_broadcast(uid: uuid.UUID, ref: str) -> uuid.UUID:
    """A broadcast of this business by id or a unique prefix of 6+ characters of it."""
    text = ref.strip().lower()
    try:
        bid: uuid.UUID | None = uuid.UUID(text)
    except ValueError:
        prefix = id_prefix(text)
        if prefix is None:
            raise NotFound(f"no broadcast {ref!r} (give its id, or at least its first 6 characters)") from None
        bid = await id_with_prefix("broadcasts", prefix, user_id=uid, what="broadcast")
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT id FROM broadcasts WHERE id = $1 AND user_id = $2", [bid, uid]) if bid else []
    if not rows:
        raise NotFound(f"no broadcast {ref!r} for this business")
    return rows[0]["id"]


async def _views(uid: uuid.UUID, rows: list[dict[str, Any]], *, errors: bool = False) -> list[BroadcastView]:
    conn = Tortoise.get_connection("default")
    ids = [row["id"] for row in rows]
    counts: dict[uuid.UUID, dict[str, int]] = {i: {} for i in ids}
    replied: dict[uuid.UUID, int] = dict.fromkeys(ids, 0)
    for c in await conn.execute_query_dict(
            "SELECT broadcast_id, state, count(*) AS n, count(replied_at) AS replied FROM broadcast_recipients "
            "WHERE broadcast_id = ANY($1::uuid[]) AND user_id = $2 GROUP BY broadcast_id, state", [ids, uid]):
        counts[c["broadcast_id"]][c["state"]] = c["n"]
        replied[c["broadcast_id"]] += c["replied"]
    found: dict[uuid.UUID, list[dict[str, Any]]] = {i: [] for i in ids}
    if errors:
        for e in await conn.execute_query_dict(
                "SELECT broadcast_id, state, error, count(*) AS n FROM broadcast_recipients "
                "WHERE broadcast_id = ANY($1::uuid[]) AND user_id = $2 AND error IS NOT NULL "
                "GROUP BY broadcast_id, state, error ORDER BY n DESC LIMIT 10", [ids, uid]):
            found[e["broadcast_id"]].append({"state": e["state"], "error": e["error"], "count": e["n"]})
    return [BroadcastView(
        id=row["id"], name=row["name"], template=row["template_name"], status=row["status"],
        scheduled_for=row["scheduled_for"], total=row["total"],
        counts={s: counts[row["id"]][s] for s in STATES if s in counts[row["id"]]}, replied=replied[row["id"]],
        segment=_json(row["segment"]), started_at=row["started_at"], finished_at=row["finished_at"],
        errors=found[row["id"]]) for row in rows]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def get_broadcast(user: UserRef, ref: str) -> BroadcastView:
    """One broadcast with its progress (statuses brought up to date first) and its commonest errors."""
    from papo.services.broadcast_send import sync

    uid = user_id(user)
    bid = await find_broadcast(uid, ref)
    await sync(bid)
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT * FROM broadcasts WHERE id = $1 AND user_id = $2", [bid, uid])
    return (await _views(uid, rows, errors=True))[0]


async def list_broadcasts(user: UserRef, *, status: str | None = None, limit: int = 20) -> list[BroadcastView]:
    """A business's broadcasts, newest first."""
    uid = user_id(user)
    if status is not None and status not in STATUSES:
        raise ServiceError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT * FROM broadcasts WHERE user_id = $1 AND ($2::text IS NULL OR status = $2) "
        "ORDER BY created_at DESC LIMIT $3", [uid, status, limit])
    return await _views(uid, rows)


async def cancel_broadcast(user: UserRef, ref: str) -> BroadcastView:
    """Stop a scheduled or running broadcast: customers not yet queued are not sent to."""
    uid = user_id(user)
    bid = await find_broadcast(uid, ref)
    async with in_transaction() as conn:
        rows = await conn.execute_query_dict(
            "UPDATE broadcasts SET status = 'cancelled', cancelled_at = now() "
            "WHERE id = $1 AND user_id = $2 AND status IN ('scheduled', 'running') RETURNING created_at", [bid, uid])
        if not rows:
            current = await conn.execute_query_dict("SELECT status FROM broadcasts WHERE id = $1", [bid])
            raise ServiceError(f"broadcast {str(bid)[:8]} is {current[0]['status']}; only a scheduled or running "
                               "broadcast can be cancelled")
        unsent, _ = await conn.execute_query(
            "UPDATE broadcast_recipients SET state = 'cancelled', updated_at = now() "
            "WHERE broadcast_id = $1 AND state = 'pending'", [bid])
    if unsent:  # not sent: back to the allowance of the month they were counted in (the creation's)
        await plans.give_back(uid, plans.BROADCAST_RECIPIENTS, unsent,
                              month=plans.current_month(rows[0]["created_at"]))
    return await get_broadcast(uid, str(bid))
