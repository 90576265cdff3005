"""Business users."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime

from tortoise import Tortoise
from tortoise.exceptions import IntegrityError

from papo.enums import Plan, Platform
from papo.models import User
from papo.services import NotFound, ServiceError
from papo.services.plans import parse_plan
from papo.services.subscriptions import CONNECTED

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class UserSummary:
    """A business in the list of users, with how much it has in Papo."""

    id: uuid.UUID
    email: str
    name: str
    plan: str
    accounts: int  # connected now (disconnected ones are not counted)
    conversations: int
    leads: int
    created_at: datetime | None


async def create_user(*, email: str, name: str, plan: str | Plan = Plan.FREE) -> User:
    """Create a business user; the email is unique (case-insensitively normalised to lower case)."""
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise ServiceError(f"{email!r} is not a valid email address")
    if not name.strip():
        raise ServiceError("name must not be empty")
    if await User.filter(email=email).exists():
        raise ServiceError(f"a user with email {email} already exists")
    try:
        return await User.create(email=email, name=name.strip(), plan=parse_plan(plan))
    except IntegrityError:  # a concurrent create won the race
        raise ServiceError(f"a user with email {email} already exists") from None


async def get_user_by_email(email: str) -> User:
    """The user with this email, or NotFound."""
    user = await User.get_or_none(email=email.strip().lower())
    if user is None:
        raise NotFound(f"no user with email {email.strip().lower()}")
    return user


_USERS = """
    SELECT u.id, u.email, u.name, coalesce(u.plan, 'free') AS plan, u.created_at,
           (SELECT count(*) FROM connected_accounts a
             WHERE a.user_id = u.id AND coalesce(a.status, 'connected') = 'connected') AS accounts,
           (SELECT count(*) FROM conversations c WHERE c.user_id = u.id) AS conversations,
           (SELECT count(*) FROM crm_leads l WHERE l.user_id = u.id) AS leads
    FROM users u ORDER BY u.created_at, u.email
"""


async def list_users() -> list[UserSummary]:
    """Every business user, oldest first, with its connected accounts, conversations and leads counted."""
    rows = await Tortoise.get_connection("default").execute_query_dict(_USERS)
    return [UserSummary(id=r["id"], email=r["email"], name=r["name"], plan=r["plan"], accounts=r["accounts"],
                        conversations=r["conversations"], leads=r["leads"], created_at=r["created_at"])
            for r in rows]


async def owners_connected_on(platforms: Iterable[Platform | str]) -> AsyncIterator[User]:
    """The users with a connected account on one of these platforms, each once, one at a time."""
    owners = User.filter(accounts__status=CONNECTED, accounts__platform__in=[str(p) for p in platforms])
    async for user in owners.distinct():
        yield user
