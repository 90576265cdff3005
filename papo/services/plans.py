"""Plans and quotas: what each plan allows (one table), monthly counters, and the checks at each place.

Two kinds of limit:

* **current** counts — connected accounts, active rules, linked Telegram admins — are counted from the
  tables themselves. `ensure_room(conn, …)` runs inside the caller's transaction under a per-business
  advisory lock, so two requests racing for the last slot are serialised: the second one counts the
  first one's row and is refused.
* **monthly** counts — AI (OpenAI) classifications and answers, scheduled posts, broadcast recipients —
  are counters in the `plan_usage` table (migration 0016), one row per business, metric and calendar
  month **in UTC** (`YYYY-MM`; a month starts at 00:00 UTC on the 1st). `take()` adds to a counter with
  one `INSERT … ON CONFLICT DO UPDATE … WHERE used + n <= limit`: PostgreSQL checks and adds in one
  statement under the row lock, so concurrent requests can never together pass a limit.

Everything received is always stored: a limit only stops an extra (an OpenAI call falls back to the
local classifier; an `ai_reply` sends the rule's fallback text).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient

from papo.enums import Plan
from papo.models import User
from papo.services import NotFound, ServiceError
from papo.services.ids import UserRef, user_id
from papo.services.notify import QUOTA_REACHED, notify_owner

# Metric names: the fields of Limits, and what `check_quota` / `papo user usage` speak of.
CONNECTED_ACCOUNTS = "connected_accounts"
ACTIVE_RULES = "active_rules"
AI_CALLS = "ai_calls"
SCHEDULED_POSTS = "scheduled_posts"
BROADCAST_RECIPIENTS = "broadcast_recipients"
TELEGRAM_ADMINS = "telegram_admins"
MONTHLY = (AI_CALLS, SCHEDULED_POSTS, BROADCAST_RECIPIENTS)
CURRENT = (CONNECTED_ACCOUNTS, ACTIVE_RULES, TELEGRAM_ADMINS)

# How the CLI names each limit (singular, plural); monthly ones add "a month".
LABELS = {
    CONNECTED_ACCOUNTS: ("connected account", "connected accounts"),
    ACTIVE_RULES: ("active rule", "active rules"),
    AI_CALLS: ("AI classification or answer a month", "AI classifications or answers a month"),
    SCHEDULED_POSTS: ("scheduled post a month", "scheduled posts a month"),
    BROADCAST_RECIPIENTS: ("broadcast recipient a month", "broadcast recipients a month"),
    TELEGRAM_ADMINS: ("linked Telegram admin", "linked Telegram admins"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What one plan allows."""

    connected_accounts: int
    active_rules: int
    ai_calls: int  # OpenAI classifications + ai_reply answers, per month
    scheduled_posts: int  # per month
    broadcast_recipients: int  # per month
    telegram_admins: int

    def of(self, metric: str) -> int:
        """The limit of one metric."""
        return int(getattr(self, check_metric(metric)))


# The one table of limits (the README's "Plans and quotas" table says the same).
PLANS: dict[Plan, Limits] = {
    Plan.FREE: Limits(connected_accounts=1, active_rules=3, ai_calls=100, scheduled_posts=10,
                      broadcast_recipients=0, telegram_admins=1),
    Plan.STARTER: Limits(connected_accounts=3, active_rules=15, ai_calls=2_000, scheduled_posts=100,
                         broadcast_recipients=1_000, telegram_admins=3),
    Plan.PRO: Limits(connected_accounts=10, active_rules=100, ai_calls=20_000, scheduled_posts=1_000,
                     broadcast_recipients=20_000, telegram_admins=10),
    Plan.CONSULTANCY: Limits(connected_accounts=30, active_rules=300, ai_calls=60_000, scheduled_posts=3_000,
                             broadcast_recipients=60_000, telegram_admins=20),
}
METRICS = tuple(f.name for f in fields(Limits))
NEXT_PLAN = {Plan.FREE: Plan.STARTER, Plan.STARTER: Plan.PRO, Plan.PRO: Plan.CONSULTANCY}


def check_metric(metric: str) -> str:
    """A known metric name, or ServiceError listing them."""
    if metric not in LABELS:
        raise ServiceError(f"unknown quota {metric!r}: one of {', '.join(LABELS)}")
    return metric


def parse_plan(value: str | Plan | None) -> Plan:
    """A Plan from user input (None, as the nullable seed column allows, is free)."""
    if value is None:
        return Plan.FREE
    try:
        return Plan(str(value).strip().lower())
    except ValueError:
        raise ServiceError(f"plan {value!r} is not one of: {', '.join(p.value for p in Plan)}") from None


def limits_for(plan: str | Plan | None) -> Limits:
    """The limits of a plan."""
    return PLANS[parse_plan(plan)]


def current_month(now: datetime | None = None) -> str:
    """The counters' month, `YYYY-MM` in UTC."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m")


def label(metric: str, count: int) -> str:
    """`1 connected account`, `3 active rules`."""
    one, many = LABELS[metric]
    return f"{count} {one if count == 1 else many}"


class QuotaExceeded(ServiceError):
    """A plan's limit refused something; the message says which and how to upgrade."""

    def __init__(self, *, plan: Plan, metric: str, limit: int, used: int, email: str) -> None:
        self.plan, self.metric, self.limit, self.used, self.email = plan, metric, limit, used, email
        self.next_plan = NEXT_PLAN.get(plan)
        upgrade = (f"upgrade with `papo user plan --user {email} --plan {self.next_plan}`" if self.next_plan
                   else "this is the largest plan")
        super().__init__(f"plan {plan} allows {label(metric, limit)} ({used} in use); {upgrade}")


@dataclass(frozen=True, slots=True)
class Business:
    """Who a quota is checked for."""

    id: uuid.UUID
    email: str
    plan: Plan

    @property
    def limits(self) -> Limits:
        """The business's limits."""
        return PLANS[self.plan]


async def business(user: UserRef, conn: BaseDBAsyncClient | None = None) -> Business:
    """The business and its plan (NotFound if it does not exist)."""
    uid = user_id(user)
    db = conn or Tortoise.get_connection("default")
    rows = await db.execute_query_dict("SELECT email, plan FROM users WHERE id = $1", [uid])
    if not rows:
        raise NotFound(f"no user {uid}")
    return Business(uid, rows[0]["email"], parse_plan(rows[0]["plan"]))


# ------------------------------------------------------------------ monthly counters

_TAKE = """
INSERT INTO plan_usage (user_id, metric, month, used) VALUES ($1, $2, $3, $4)
ON CONFLICT (user_id, metric, month) DO UPDATE SET used = plan_usage.used + EXCLUDED.used, updated_at = now()
WHERE plan_usage.used + EXCLUDED.used <= $5
RETURNING used
"""


async def used_this_month(user: UserRef, metric: str, *, month: str | None = None) -> int:
    """How much of a monthly quota the business used this month."""
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT used FROM plan_usage WHERE user_id = $1 AND metric = $2 AND month = $3",
        [user_id(user), check_metric(metric), month or current_month()])
    return int(rows[0]["used"]) if rows else 0


async def try_take(user: UserRef, metric: str, n: int = 1, *, month: str | None = None) -> bool:
    """Count `n` against a monthly quota if they all fit (atomically); False, counting nothing, if not."""
    if metric not in MONTHLY:
        raise ServiceError(f"{metric!r} is not a monthly quota: one of {', '.join(MONTHLY)}")
    if n < 0:
        raise ServiceError("a quota is taken in non-negative amounts")
    found = await business(user)
    limit = found.limits.of(metric)
    if n > limit:
        return False
    rows = await Tortoise.get_connection("default").execute_query_dict(
        _TAKE, [found.id, metric, month or current_month(), n, limit])
    return bool(rows)


async def check_quota(user: UserRef, metric: str, n: int = 1) -> int:
    """Count `n` against a monthly quota, or raise QuotaExceeded (counting nothing); returns what is left.

    For the pieces that spend a quota (scheduled posts, broadcast recipients): call it before doing the work,
    and `give_back` what was not done after all.
    """
    if not await try_take(user, metric, n):
        found = await business(user)
        raise QuotaExceeded(plan=found.plan, metric=metric, limit=found.limits.of(metric),
                            used=await used_this_month(found.id, metric), email=found.email)
    return await remaining(user, metric)


async def give_back(user: UserRef, metric: str, n: int = 1, *, month: str | None = None) -> None:
    """Return `n` taken in `month` (default this month) that were not used after all (a failed call, a
    cancelled send): to the month they were counted in, so a cancel never lends this month's allowance."""
    await Tortoise.get_connection("default").execute_query(
        "UPDATE plan_usage SET used = GREATEST(used - $4, 0), updated_at = now() "
        "WHERE user_id = $1 AND metric = $2 AND month = $3",
        [user_id(user), check_metric(metric), month or current_month(), n])


async def remaining(user: UserRef, metric: str) -> int:
    """How much of a monthly quota is left this month."""
    found = await business(user)
    return max(found.limits.of(metric) - await used_this_month(found.id, metric), 0)


async def first_refusal(user: UserRef, metric: str) -> bool:
    """True exactly once per business, metric and month: when the owner should be told an extra stopped."""
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "INSERT INTO plan_usage (user_id, metric, month, used, alerted_at) VALUES ($1, $2, $3, 0, now()) "
        "ON CONFLICT (user_id, metric, month) DO UPDATE SET alerted_at = now() "
        "WHERE plan_usage.alerted_at IS NULL RETURNING 1", [user_id(user), check_metric(metric), current_month()])
    return bool(rows)


async def alert_stopped(redis: aioredis.Redis, user: UserRef, metric: str) -> bool:
    """Tell the owner (once a month per limit) that an automatic extra stopped at the plan's limit."""
    if not await first_refusal(user, metric):
        return False
    found = await business(user)
    month = current_month()
    await notify_owner(redis, found.id, QUOTA_REACHED, {
        "metric": metric, "plan": str(found.plan), "limit": found.limits.of(metric), "month": month,
        "next_plan": str(NEXT_PLAN.get(found.plan) or ""), "email": found.email,
    }, dedupe_key=f"{QUOTA_REACHED}:{found.id}:{metric}:{month}")
    return True


@dataclass(frozen=True, slots=True)
class AiBudget:
    """A business's AI calls this month, as the classifier and `ai_reply` spend them (papo.ai Budget)."""

    redis: aioredis.Redis
    user_id: uuid.UUID

    async def take(self) -> bool:
        """Count one model call; False (and the month's one owner alert) when the plan has none left."""
        if await try_take(self.user_id, AI_CALLS):
            return True
        await alert_stopped(self.redis, self.user_id, AI_CALLS)
        return False

    async def give_back(self) -> None:
        """The call failed and the local classifier answered: it does not count."""
        await give_back(self.user_id, AI_CALLS)


# ------------------------------------------------------------------ current counts

_COUNTS = {
    CONNECTED_ACCOUNTS: "SELECT count(*) AS n FROM connected_accounts WHERE user_id = $1 AND status = 'connected' "
                        "AND id::text <> $2",
    ACTIVE_RULES: "SELECT count(*) AS n FROM automation_rules WHERE user_id = $1 AND is_active AND id::text <> $2",
    # Accounts linked as a consultancy's (client_of set) run the business for the consultancy: not counted.
    TELEGRAM_ADMINS: "SELECT count(*) AS n FROM telegram_links WHERE user_id = $1 AND client_of_id IS NULL "
                     "AND telegram_user_id::text <> $2",
}


async def count_current(conn: BaseDBAsyncClient, user: UserRef, metric: str, *, excluding: Any = None) -> int:
    """How many the business has now (`excluding` one row: the one being re-connected or re-enabled)."""
    rows = await conn.execute_query_dict(_COUNTS[metric], [user_id(user), str(excluding or "")])
    return int(rows[0]["n"])


async def ensure_room(conn: BaseDBAsyncClient, user: UserRef, metric: str, *, excluding: Any = None) -> None:
    """Inside the caller's transaction: lock the business's count of `metric`, QuotaExceeded when full.

    The advisory lock lasts until the caller's transaction ends, after its insert or update: a concurrent
    request waits here and then counts that row.
    """
    if metric not in CURRENT:
        raise ServiceError(f"{metric!r} is not a count limit: one of {', '.join(CURRENT)}")
    uid = user_id(user)
    await conn.execute_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [f"plan:{uid}:{metric}"])
    found = await business(uid, conn)
    limit = found.limits.of(metric)
    used = await count_current(conn, uid, metric, excluding=excluding)
    if used + 1 > limit:
        raise QuotaExceeded(plan=found.plan, metric=metric, limit=limit, used=used, email=found.email)


# ------------------------------------------------------------------ plan changes and usage


@dataclass(frozen=True, slots=True)
class UsageLine:
    """One limit and how much of it is used."""

    metric: str
    used: int
    limit: int
    monthly: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON for the CLI."""
        return {"metric": self.metric, "used": self.used, "limit": self.limit,
                "period": "month" if self.monthly else "now"}


@dataclass(frozen=True, slots=True)
class Usage:
    """A business's plan, and each limit with its use."""

    email: str
    plan: Plan
    month: str
    lines: tuple[UsageLine, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON for the CLI."""
        return {"email": self.email, "plan": str(self.plan), "month": self.month,
                "usage": {line.metric: line.to_dict() for line in self.lines}}


async def usage(user: UserRef) -> Usage:
    """Usage against limits, every metric."""
    found = await business(user)
    conn = Tortoise.get_connection("default")
    month = current_month()
    lines = []
    for metric in METRICS:
        monthly = metric in MONTHLY
        used = (await used_this_month(found.id, metric, month=month) if monthly
                else await count_current(conn, found.id, metric))
        lines.append(UsageLine(metric, used, found.limits.of(metric), monthly))
    return Usage(found.email, found.plan, month, tuple(lines))


async def set_plan(user: UserRef, plan: str | Plan) -> Usage:
    """Change a business's plan; what it has beyond the new limits stays, only new additions are refused."""
    chosen = parse_plan(plan)
    if not await User.filter(id=user_id(user)).update(plan=chosen):
        raise NotFound(f"no user {user_id(user)}")
    return await usage(user)
