"""The CRM as owners use it: counts, filtered lists, a lead card, status/quality/tags, follow-ups, search.

Every function takes the business (`user`) and only ever touches that business's leads: a lead id of
another business is NotFound, never someone else's data.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from tortoise import Tortoise

from papo.enums import LeadQuality, LeadStatus, Platform
from papo.models import Lead
from papo.services import NotFound, ServiceError
from papo.services.accounts import parse_platform
from papo.services.ids import ERASED_PREFIX, NOT_ERASED
from papo.services.templates import UserRef, user_id

MAX_TAGS = 20
MAX_TAG_LENGTH = 50
# The score a hand-graded lead continues from (papo.services.crm uses the same values).
QUALITY_SCORE = {LeadQuality.COLD: 0.2, LeadQuality.WARM: 0.55, LeadQuality.HOT: 0.8}
FOLLOW_UP_GRACE = timedelta(days=1)  # a follow-up older than this is not alerted any more

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list."""

    items: tuple[T, ...]
    page: int
    pages: int
    total: int


@dataclass(frozen=True, slots=True)
class LeadSummary:
    """A lead in a list."""

    id: uuid.UUID
    name: str
    platform: str
    quality: str | None
    status: str | None
    score: float | None
    tags: tuple[str, ...]
    last_interaction: datetime | None
    next_followup: datetime | None


@dataclass(frozen=True, slots=True)
class MessageLine:
    """One message as the bot shows it."""

    at: datetime | None
    from_customer: bool
    text: str
    automated: bool = False
    delivery: str | None = None  # Papo's own messages: sent, delivered, read, played or failed
    error: str | None = None  # why it failed, as the platform (or Papo) said it


@dataclass(frozen=True, slots=True)
class LeadCard:
    """Everything the lead card shows."""

    lead: LeadSummary
    remote_user_id: str
    email: str | None
    phone: str | None
    conversation_id: uuid.UUID | None
    messages: tuple[MessageLine, ...]


@dataclass(frozen=True, slots=True)
class LeadCounts:
    """How many leads a business has, by quality and by status."""

    total: int
    by_quality: dict[str, int]
    by_status: dict[str, int]


@dataclass(frozen=True, slots=True)
class DueFollowUp:
    """A follow-up whose time has come."""

    user_id: uuid.UUID
    lead_id: uuid.UUID
    name: str
    platform: str
    due_at: datetime


def _name(row: dict[str, Any] | Lead) -> str:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return get("remote_user_name") or get("remote_user_id") or "?"


def lead_score(metadata: Any) -> float | None:
    """The lead's score from its metadata (None when it has none)."""
    if isinstance(metadata, str):
        import json

        metadata = json.loads(metadata) if metadata else {}
    value = metadata.get("score") if isinstance(metadata, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _summary(row: dict[str, Any]) -> LeadSummary:
    return LeadSummary(
        id=row["id"], name=_name(row), platform=row["platform"], quality=row["quality"], status=row["status"],
        score=lead_score(row["metadata"]), tags=tuple(row["tags"] or ()), last_interaction=row["last_interaction"],
        next_followup=row["next_followup"],
    )


def parse_lead_id(value: str | uuid.UUID) -> uuid.UUID:
    """A lead id from input; NotFound when it is not a UUID (nothing could match)."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"no lead {value!r}") from None


async def lead_counts(user: UserRef) -> LeadCounts:
    """Counts by quality and by status."""
    rows = await Tortoise.get_connection("default").execute_query_dict(
        f"SELECT quality, status, count(*) AS n FROM crm_leads WHERE user_id = $1 AND {NOT_ERASED} "
        "GROUP BY quality, status",
        [user_id(user)],
    )
    by_quality = {q.value: 0 for q in LeadQuality}
    by_status = {s.value: 0 for s in LeadStatus}
    for row in rows:
        by_quality[row["quality"] or LeadQuality.COLD.value] += row["n"]
        by_status[row["status"] or LeadStatus.NEW.value] += row["n"]
    return LeadCounts(total=sum(by_quality.values()), by_quality=by_quality, by_status=by_status)


_COLUMNS = "id, remote_user_id, remote_user_name, platform, quality, status, tags, metadata, last_interaction, " \
           "next_followup"


def lead_filter(user: UserRef, *, quality: str | None = None, status: str | None = None,
                platform: str | None = None, tag: str | None = None) -> tuple[str, list[Any]]:
    """The SQL condition and parameters for the business's (not erased) leads matching the filters."""
    where, params = [f"user_id = $1 AND {NOT_ERASED}"], [user_id(user)]
    if quality:
        params.append(parse_choice(LeadQuality, quality, "quality").value)
        where.append(f"quality = ${len(params)}")
    if status:
        params.append(parse_choice(LeadStatus, status, "status").value)
        where.append(f"status = ${len(params)}")
    if platform:
        params.append(parse_platform(platform).value)
        where.append(f"platform = ${len(params)}")
    if tag:
        params.append(tag)
        where.append(f"${len(params)} = ANY(tags)")
    return " AND ".join(where), params


async def list_leads(user: UserRef, *, quality: str | None = None, status: str | None = None,
                     platform: str | None = None, tag: str | None = None, page: int = 0,
                     per_page: int = 8) -> Page[LeadSummary]:
    """Leads filtered by quality/status/platform/tag, newest interaction first."""
    where, params = lead_filter(user, quality=quality, status=status, platform=platform, tag=tag)
    return await _page(where, params, page, per_page)


async def _page(where: str, params: list[Any], page: int, per_page: int) -> Page[LeadSummary]:
    conn = Tortoise.get_connection("default")
    total = (await conn.execute_query_dict(f"SELECT count(*) AS n FROM crm_leads WHERE {where}", params))[0]["n"]
    pages = max(1, -(-total // per_page))
    page = min(max(0, page), pages - 1)
    rows = await conn.execute_query_dict(
        f"SELECT {_COLUMNS} FROM crm_leads WHERE {where} "
        f"ORDER BY last_interaction DESC NULLS LAST, created_at DESC, id "
        f"LIMIT {int(per_page)} OFFSET {page * per_page}",
        params,
    )
    return Page(tuple(_summary(r) for r in rows), page, pages, total)


async def search_leads(user: UserRef, query: str, *, page: int = 0, per_page: int = 8) -> Page[LeadSummary]:
    """Leads whose name or email contains the text, or whose phone contains its digits."""
    text = query.strip()
    if len(text) < 2:
        raise ServiceError("search: type at least 2 characters")
    params: list[Any] = [user_id(user), f"%{_like(text)}%"]
    where = f"user_id = $1 AND {NOT_ERASED} AND (remote_user_name ILIKE $2 OR email ILIKE $2"
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 4:
        params.append(f"%{digits}%")
        where += " OR regexp_replace(coalesce(phone, ''), '\\D', '', 'g') LIKE $3"
    return await _page(where + ")", params, page, per_page)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _row(user: UserRef, lead_id: str | uuid.UUID) -> Lead:
    lead = await Lead.get_or_none(id=parse_lead_id(lead_id), user_id=user_id(user))
    if lead is None or lead.remote_user_id.startswith(ERASED_PREFIX):
        raise NotFound(f"no lead {lead_id}")
    return lead


async def get_lead(user: UserRef, lead_id: str | uuid.UUID, *, messages: int = 5) -> LeadCard:
    """The lead card: the lead and the last messages of its conversation(s)."""
    lead = await _row(user, lead_id)
    conn = Tortoise.get_connection("default")
    convs = await conn.execute_query_dict(
        "SELECT id FROM conversations WHERE user_id = $1 AND platform = $2 AND remote_user_id = $3 "
        "ORDER BY last_message_at DESC NULLS LAST LIMIT 1",
        [lead.user_id, str(lead.platform), lead.remote_user_id],
    )
    rows = await conn.execute_query_dict(
        "SELECT m.sender, m.message_text, m.message_type, m.kind, m.is_automated, m.delivery_status, "
        "m.delivery_error, "
        "coalesce(m.platform_timestamp, m.created_at) AS at FROM messages m JOIN conversations c "
        "ON c.id = m.conversation_id WHERE c.user_id = $1 AND c.platform = $2 AND c.remote_user_id = $3 "
        "AND m.deleted_at IS NULL ORDER BY at DESC LIMIT $4",
        [lead.user_id, str(lead.platform), lead.remote_user_id, messages],
    )
    summary = LeadSummary(
        id=lead.id, name=_name(lead), platform=str(lead.platform), quality=_str(lead.quality),
        status=_str(lead.status), score=lead_score(lead.metadata), tags=tuple(lead.tags or ()),
        last_interaction=lead.last_interaction, next_followup=lead.next_followup,
    )
    return LeadCard(
        lead=summary, remote_user_id=lead.remote_user_id, email=lead.email, phone=lead.phone,
        conversation_id=convs[0]["id"] if convs else None,
        messages=tuple(message_line(r) for r in reversed(rows)),
    )


def message_line(row: dict[str, Any]) -> MessageLine:
    """A `messages` row as one line (media without text shows its type)."""
    text = row["message_text"] or f"[{row.get('kind') or row.get('message_type') or 'media'}]"
    return MessageLine(at=row["at"], from_customer=row["sender"] == "remote", text=text,
                       automated=bool(row.get("is_automated")), delivery=row.get("delivery_status"),
                       error=row.get("delivery_error"))


def _str(value: Any) -> str | None:
    return str(value.value if hasattr(value, "value") else value) if value is not None else None


def parse_choice(kind: type[Any], value: str, field: str) -> Any:
    """`value` as a member of the enum `kind`; ServiceError naming `field` and the allowed values."""
    try:
        return kind(value.strip().lower())
    except ValueError:
        raise ServiceError(f"{field}: {value!r} is not one of: {', '.join(m.value for m in kind)}") from None


async def set_status(user: UserRef, lead_id: str | uuid.UUID, status: str) -> LeadStatus:
    """Change a lead's status (new, contacted, qualified, lost)."""
    lead = await _row(user, lead_id)
    lead.status = parse_choice(LeadStatus, status, "status")
    await lead.save(update_fields=["status", "updated_at"])
    return lead.status


async def mark_contacted(user: UserRef, lead_id: str | uuid.UUID, *, now: datetime | None = None) -> None:
    """Status 'contacted'; a follow-up already due is done with."""
    lead = await _row(user, lead_id)
    lead.status = LeadStatus.CONTACTED
    fields = ["status", "updated_at"]
    if lead.next_followup is not None and lead.next_followup <= (now or datetime.now(UTC)):
        lead.next_followup = None
        fields.append("next_followup")
    await lead.save(update_fields=fields)


async def set_quality(user: UserRef, lead_id: str | uuid.UUID, quality: str) -> LeadQuality:
    """Grade a lead by hand; the pipeline's scoring continues from the grade's score."""
    lead = await _row(user, lead_id)
    value = parse_choice(LeadQuality, quality, "quality")
    meta = dict(lead.metadata) if isinstance(lead.metadata, dict) else {}
    meta.update(score=QUALITY_SCORE[value], graded_by_owner=True)
    lead.quality, lead.metadata = value, meta
    await lead.save(update_fields=["quality", "metadata", "updated_at"])
    return value


def clean_tag(tag: str) -> str:
    """A tag as stored: trimmed, inner spaces collapsed, at most 50 characters."""
    value = " ".join(tag.split())
    if not value:
        raise ServiceError("tag: must not be empty")
    if len(value) > MAX_TAG_LENGTH:
        raise ServiceError(f"tag: at most {MAX_TAG_LENGTH} characters")
    return value


async def add_tag(user: UserRef, lead_id: str | uuid.UUID, tag: str) -> tuple[str, ...]:
    """Add a tag (case-insensitively once); the lead's tags after."""
    lead = await _row(user, lead_id)
    value = clean_tag(tag)
    tags = list(lead.tags or [])
    if value.casefold() not in {t.casefold() for t in tags}:
        if len(tags) >= MAX_TAGS:
            raise ServiceError(f"tag: a lead has at most {MAX_TAGS} tags")
        tags.append(value)
        lead.tags = tags
        await lead.save(update_fields=["tags", "updated_at"])
    return tuple(tags)


async def remove_tag(user: UserRef, lead_id: str | uuid.UUID, tag: str) -> tuple[str, ...]:
    """Remove a tag (case-insensitively); the lead's tags after."""
    lead = await _row(user, lead_id)
    tags = [t for t in (lead.tags or []) if t.casefold() != tag.strip().casefold()]
    if len(tags) != len(lead.tags or []):
        lead.tags = tags
        await lead.save(update_fields=["tags", "updated_at"])
    return tuple(tags)


async def distinct_tags(user: UserRef) -> list[str]:
    """Every tag the business's leads carry, alphabetically."""
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT DISTINCT unnest(tags) AS tag FROM crm_leads WHERE user_id = $1 ORDER BY 1", [user_id(user)])
    return [r["tag"] for r in rows]


async def set_followup(user: UserRef, lead_id: str | uuid.UUID, when: datetime | None) -> datetime | None:
    """Schedule (or clear, with None) the lead's follow-up; `when` must be timezone-aware."""
    lead = await _row(user, lead_id)
    if when is not None and when.tzinfo is None:
        raise ServiceError("follow-up: the time needs a time zone")
    lead.next_followup = when.astimezone(UTC) if when else None
    await lead.save(update_fields=["next_followup", "updated_at"])
    return lead.next_followup


async def find_lead(user: UserRef, platform: str | Platform, remote_user_id: str) -> uuid.UUID | None:
    """The id of a customer's lead, if there is one."""
    found = await Lead.get_or_none(user_id=user_id(user), platform=str(platform), remote_user_id=remote_user_id)
    return found.id if found else None


async def due_followups(now: datetime | None = None, *, limit: int = 500) -> list[DueFollowUp]:
    """Follow-ups that came due within the last day (older ones were alerted or are stale)."""
    now = now or datetime.now(UTC)
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT id, user_id, remote_user_id, remote_user_name, platform, next_followup FROM crm_leads "
        "WHERE next_followup <= $1 AND next_followup > $2 ORDER BY next_followup LIMIT $3",
        [now, now - FOLLOW_UP_GRACE, limit],
    )
    return [DueFollowUp(user_id=r["user_id"], lead_id=r["id"], name=_name(r), platform=r["platform"],
                        due_at=r["next_followup"]) for r in rows]
