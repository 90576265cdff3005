"""Finding a row by its id or by the first characters of it, as owners type ids in the CLI and the bot."""

from __future__ import annotations

import uuid

from tortoise import Tortoise

from papo.models import User
from papo.services import NotFound, ServiceError

UserRef = User | uuid.UUID | str


def user_id(user: UserRef) -> uuid.UUID:
    """The id of a user given as a model, a UUID or its string."""
    if isinstance(user, User):
        return user.id
    try:
        return user if isinstance(user, uuid.UUID) else uuid.UUID(str(user))
    except ValueError:
        raise ServiceError(f"{user!r} is not a user id") from None


MIN_PREFIX = 6  # shorter prefixes match too many rows to be worth typing
# An erased customer's conversations and lead keep their rows (the stats count them) under this id prefix
# plus their own row id (papo.services.customer_erase); lists of conversations and leads leave them out.
ERASED_PREFIX = "erased:"
NOT_ERASED = "remote_user_id NOT LIKE 'erased:%'"  # SQL: the row is a customer's, not an erased one


def id_prefix(ref: str | uuid.UUID) -> str | None:
    """`ref` as a lower-case id prefix when it can be one (6+ hex digits and dashes), else None."""
    text = str(ref).strip().lower()
    if len(text) < MIN_PREFIX or any(c not in "0123456789abcdef-" for c in text):
        return None
    return text


async def id_with_prefix(table: str, prefix: str, *, user_id: uuid.UUID | None, what: str) -> uuid.UUID | None:
    """The one id in `table` (of this business, if given) that starts with `prefix`; ServiceError if several.

    `table` is one of our own table names, never user input: it is put in the SQL as is.
    """
    sql = f"SELECT id FROM {table} WHERE id::text LIKE $1"
    params: list[object] = [prefix + "%"]
    if user_id is not None:
        sql += " AND user_id = $2"
        params.append(user_id)
    rows = await Tortoise.get_connection("default").execute_query_dict(sql + " LIMIT 2", params)
    if len(rows) > 1:
        raise ServiceError(f"{prefix!r} matches several {what}s; give more of the id")
    return rows[0]["id"] if rows else None


async def resolve_id(table: str, ref: str | uuid.UUID, *, user_id: uuid.UUID, what: str) -> uuid.UUID:
    """The id `ref` names for this business: a whole id as given, else the one id starting with it.

    NotFound when `ref` cannot be an id prefix or nothing of this business starts with it; the caller
    still looks the row up with the business's id, so a whole id of another business finds nothing.
    """
    text = str(ref).strip().lower()
    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    prefix = id_prefix(text)
    if prefix is None:
        raise NotFound(f"no {what} {ref!r} (give its id, or at least its first {MIN_PREFIX} characters)")
    found = await id_with_prefix(table, prefix, user_id=user_id, what=what)
    if found is None:
        raise NotFound(f"no {what} {ref!r} for this business")
    return found
