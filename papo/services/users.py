"""Business users."""

from __future__ import annotations

import re

from tortoise.exceptions import IntegrityError

from papo.enums import Plan
from papo.models import User
from papo.services import NotFound, ServiceError
from papo.services.plans import parse_plan

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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
