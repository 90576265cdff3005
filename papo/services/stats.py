"""A business's numbers for today, 7 or 30 days: messages, automation, response time, leads, intents, posts.

Days are the owner's calendar days (their time zone): "today" starts at their local midnight, and
"7 days" is today and the six days before.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise import Tortoise

from papo.analytics import AnalyticsStore
from papo.enums import LeadQuality
from papo.services import ServiceError
from papo.services.templates import UserRef, user_id
from papo.timezones import DEFAULT_TIMEZONE

log = logging.getLogger(__name__)

PERIODS = (1, 7, 30)
NOT_SENT = ("failed", "skipped", "unknown")


@dataclass(frozen=True, slots=True)
class DayCount:
    """Messages in and out on one local day."""

    day: date
    incoming: int
    outgoing: int


@dataclass(frozen=True, slots=True)
class Stats:
    """The numbers of one period."""

    days: int
    since: datetime
    until: datetime
    messages_in: int
    messages_out: int
    automated_out: int
    response_median_seconds: float | None
    responses: int
    leads_by_quality: dict[str, int]
    new_leads: int
    top_intents: tuple[tuple[str, int], ...]
    posts_published: int
    series: tuple[DayCount, ...]

    @property
    def automated_share(self) -> float | None:
        """Automated replies over all replies sent (None when nothing was sent)."""
        return self.automated_out / self.messages_out if self.messages_out else None


def period(days: int, timezone: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start of the first local day, now) for a period of `days` local days."""
    if days not in PERIODS:
        raise ServiceError(f"stats: the period is one of {', '.join(map(str, PERIODS))} days")
    now = now or datetime.now(UTC)
    local = now.astimezone(ZoneInfo(timezone))
    start = datetime.combine(local.date() - timedelta(days=days - 1), datetime.min.time(), ZoneInfo(timezone))
    return start.astimezone(UTC), now


_MESSAGES = """
    SELECT count(*) FILTER (WHERE m.sender = 'remote') AS incoming,
           count(*) FILTER (WHERE m.sender = 'user') AS outgoing,
           count(*) FILTER (WHERE m.sender = 'user' AND m.is_automated) AS automated
    FROM messages m JOIN conversations c ON c.id = m.conversation_id
    WHERE c.user_id = $1 AND m.created_at >= $2 AND m.created_at < $3
      AND NOT (m.sender = 'user' AND coalesce(m.delivery_status, 'sent') = ANY($4::text[]))
"""
_SERIES = """
    SELECT (m.created_at AT TIME ZONE $4)::date AS day,
           count(*) FILTER (WHERE m.sender = 'remote') AS incoming,
           count(*) FILTER (WHERE m.sender = 'user') AS outgoing
    FROM messages m JOIN conversations c ON c.id = m.conversation_id
    WHERE c.user_id = $1 AND m.created_at >= $2 AND m.created_at < $3
      AND NOT (m.sender = 'user' AND coalesce(m.delivery_status, 'sent') = ANY($5::text[]))
    GROUP BY 1 ORDER BY 1
"""
# Response time: from a customer message that starts a wait (the first after a business message) to
# the business's next sent message in that conversation.
_RESPONSE = """
    WITH m AS (
        SELECT m.conversation_id, m.sender, coalesce(m.platform_timestamp, m.created_at) AS at
        FROM messages m JOIN conversations c ON c.id = m.conversation_id
        WHERE c.user_id = $1 AND m.created_at >= $2 AND m.created_at < $3
          AND NOT (m.sender = 'user' AND coalesce(m.delivery_status, 'sent') = ANY($4::text[]))
          AND coalesce(m.kind, 'message') NOT IN ('reaction', 'status')
    ), t AS (
        SELECT conversation_id, sender, at,
               lag(sender) OVER (PARTITION BY conversation_id ORDER BY at) AS previous
        FROM m
    ), waits AS (
        SELECT t.at AS asked,
               (SELECT min(u.at) FROM m u WHERE u.conversation_id = t.conversation_id
                  AND u.sender = 'user' AND u.at > t.at) AS answered
        FROM t WHERE t.sender = 'remote' AND (t.previous IS NULL OR t.previous = 'user')
    )
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM answered - asked)) AS median,
           count(*) AS n
    FROM waits WHERE answered IS NOT NULL
"""


async def compute_stats(user: UserRef, analytics: AnalyticsStore | None, *, days: int = 1,
                        timezone: str = DEFAULT_TIMEZONE, now: datetime | None = None) -> Stats:
    """The business's numbers for the last `days` local days (1 = today)."""
    uid = user_id(user)
    since, until = period(days, timezone, now)
    conn = Tortoise.get_connection("default")
    counts = (await conn.execute_query_dict(_MESSAGES, [uid, since, until, list(NOT_SENT)]))[0]
    series_rows = await conn.execute_query_dict(_SERIES, [uid, since, until, timezone, list(NOT_SENT)])
    response = (await conn.execute_query_dict(_RESPONSE, [uid, since, until, list(NOT_SENT)]))[0]
    quality_rows = await conn.execute_query_dict(
        "SELECT coalesce(quality, 'cold') AS quality, count(*) AS n, count(*) FILTER (WHERE created_at >= $2) AS new "
        "FROM crm_leads WHERE user_id = $1 AND (last_interaction >= $2 OR created_at >= $2) GROUP BY 1",
        [uid, since],
    )
    posts = (await conn.execute_query_dict(
        "SELECT count(*) AS n FROM posts WHERE user_id = $1 AND status = 'published' AND published_at >= $2 "
        "AND published_at < $3", [uid, since, until]))[0]["n"]
    by_day = {r["day"]: r for r in series_rows}
    first = since.astimezone(ZoneInfo(timezone)).date()
    series = tuple(
        DayCount(d, int(by_day[d]["incoming"]) if d in by_day else 0, int(by_day[d]["outgoing"]) if d in by_day else 0)
        for d in (first + timedelta(days=i) for i in range(days))
    )
    by_quality = {q.value: 0 for q in LeadQuality}
    for row in quality_rows:
        by_quality[row["quality"]] = by_quality.get(row["quality"], 0) + int(row["n"])
    return Stats(
        days=days, since=since, until=until, messages_in=int(counts["incoming"]),
        messages_out=int(counts["outgoing"]), automated_out=int(counts["automated"]),
        response_median_seconds=float(response["median"]) if response["median"] is not None else None,
        responses=int(response["n"]), leads_by_quality=by_quality,
        new_leads=sum(int(r["new"]) for r in quality_rows),
        top_intents=await top_intents(analytics, uid, since, until) if analytics is not None else (),
        posts_published=int(posts), series=series,
    )


async def top_intents(analytics: AnalyticsStore, uid: uuid.UUID, since: datetime, until: datetime,
                      *, limit: int = 4) -> tuple[tuple[str, int], ...]:
    """The most frequent intents of classified customer messages (MongoDB `ai_interactions`)."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"user_id": uid, "created_at": {"$gte": since, "$lt": until}}},
        {"$group": {"_id": "$intent", "n": {"$sum": 1}}},
        {"$sort": {"n": -1, "_id": 1}},
        {"$limit": limit},
    ]
    try:
        cursor = await analytics.ai_interactions.aggregate(pipeline)
        rows = await cursor.to_list(length=limit)
    except Exception:  # the numbers from PostgreSQL are still worth showing when MongoDB is down
        log.exception("top intents unavailable for %s", uid)
        return ()
    return tuple((str(r["_id"]), int(r["n"])) for r in rows if r.get("_id"))
