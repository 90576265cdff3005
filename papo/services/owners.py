"""Owners in the admin bot: one-time link codes, linked Telegram accounts, and the owner's preferences.

A link code is shown once (`papo admin link`), stored only as its SHA-256, expires after 15 minutes
and is consumed by one atomic UPDATE, so two Telegram accounts racing with the same code cannot both
be linked.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from papo.enums import Plan
from papo.models import ConnectedAccount, OwnerSettings, TelegramLink, User
from papo.services import NotFound, ServiceError, plans
from papo.services.templates import UserRef, user_id
from papo.timezones import DEFAULT_TIMEZONE, known_zone

CODE_TTL = timedelta(minutes=15)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read and typed by people
CODE_LENGTH = 10
LANGUAGES = ("pt-BR", "en", "es")
DEFAULT_LANGUAGE = "pt-BR"
ALERT_KINDS = ("hot_lead", "complaint", "follow_up_due", "post_failed", "token_expiring", "account_disconnected",
               "reply_failed", "rule", "handoff", "broadcast_finished")
_HHMM = re.compile(r"^([01]?\d|2[0-3])[:h]([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class LinkCode:
    """A fresh one-time code: show `code` to the owner; only its hash is stored."""

    code: str
    user_id: uuid.UUID
    expires_at: datetime

    @property
    def start_command(self) -> str:
        """The message to send the bot."""
        return f"/start {self.code}"

    def deep_link(self, bot_username: str | None) -> str | None:
        """The t.me link that opens the bot with the code filled in, when the bot's username is known."""
        return f"https://t.me/{bot_username.lstrip('@')}?start={self.code}" if bot_username else None


@dataclass(frozen=True, slots=True)
class OwnerPrefs:
    """An owner's preferences with defaults applied."""

    language: str = DEFAULT_LANGUAGE
    timezone: str = DEFAULT_TIMEZONE
    alerts: tuple[tuple[str, bool], ...] = ()
    quiet_start: str | None = None
    quiet_end: str | None = None

    def alert_on(self, kind: str) -> bool:
        """Whether alerts of this kind are switched on (every kind is on until switched off)."""
        return dict(self.alerts).get(kind, True)

    def in_quiet_hours(self, now: datetime) -> bool:
        """Whether `now` falls inside the quiet hours (a window past midnight wraps to the next day)."""
        if not self.quiet_start or not self.quiet_end:
            return False
        local = now.astimezone(ZoneInfo(self.timezone)).time()
        start, end = parse_hhmm(self.quiet_start), parse_hhmm(self.quiet_end)
        if start == end:
            return False
        if start < end:
            return start <= local < end
        return local >= start or local < end


@dataclass(frozen=True, slots=True)
class Owner:
    """A linked Telegram account and the business it runs."""

    user_id: uuid.UUID
    business_name: str
    email: str
    telegram_user_id: int
    chat_id: int
    prefs: OwnerPrefs
    businesses: int = 1  # how many businesses the account is linked to (a consultancy's: several)


@dataclass(frozen=True, slots=True)
class LinkResult:
    """The outcome of `/start CODE`."""

    user_id: uuid.UUID
    business_name: str
    moved_from: uuid.UUID | None  # the business this Telegram account was linked to before, if another
    client_of: uuid.UUID | None = None  # linked as this consultancy's client (its other links stay)


def _hash(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def normalize_code(code: str) -> str:
    """A code as typed: case, spaces and dashes do not matter."""
    return re.sub(r"[\s\-]", "", code).upper()


def parse_hhmm(value: str) -> time:
    """A 24-hour `HH:MM` (or `22h00`); ServiceError otherwise."""
    match = _HHMM.match(value.strip())
    if not match:
        raise ServiceError(f"{value!r} is not a time like 22:00")
    return time(int(match.group(1)), int(match.group(2)))


async def create_link_code(user: UserRef, *, ttl: timedelta = CODE_TTL, client_of: UserRef | None = None) -> LinkCode:
    """A new one-time code that links a Telegram account to this business (expires after `ttl`).

    With `client_of` (a consultancy-plan business), the code is for that consultancy's Telegram accounts: it
    links them to this client business as well, instead of moving them.
    """
    uid = user_id(user)
    if not await User.filter(id=uid).exists():
        raise NotFound(f"no user {uid}")
    consultancy = await _consultancy(uid, client_of) if client_of is not None else None
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires = datetime.now(UTC) + ttl
    conn = Tortoise.get_connection("default")
    await conn.execute_query(
        "INSERT INTO telegram_link_codes (id, user_id, code_hash, expires_at, client_of_id) "
        "VALUES ($1, $2, $3, $4, $5)",
        [uuid.uuid4(), uid, _hash(code), expires, consultancy],
    )
    return LinkCode(code=code, user_id=uid, expires_at=expires)


async def _consultancy(client: uuid.UUID, ref: UserRef) -> uuid.UUID:
    """The consultancy a client code is made for; ServiceError unless it is on the consultancy plan."""
    consultancy = await User.get_or_none(id=user_id(ref))
    if consultancy is None:
        raise NotFound(f"no user {user_id(ref)}")
    if consultancy.id == client:
        raise ServiceError("a business cannot be a client of itself")
    if str(consultancy.plan or Plan.FREE) != Plan.CONSULTANCY:
        raise ServiceError(f"{consultancy.email} is on plan {consultancy.plan or Plan.FREE}: only a consultancy-plan "
                           f"business manages clients; `papo user plan --user {consultancy.email} --plan consultancy`")
    return consultancy.id


class NotConsultant(ServiceError):
    """A client code was sent from a Telegram account the consultancy has not linked."""


_UPSERT_LINK = (
    "INSERT INTO telegram_links (id, user_id, telegram_user_id, chat_id, username, display_name, last_seen_at, "
    "selected_at, client_of_id) VALUES ($1, $2, $3, $4, $5, $6, now(), now(), $7) "
    "ON CONFLICT (telegram_user_id, user_id) DO UPDATE SET chat_id = EXCLUDED.chat_id, username = EXCLUDED.username, "
    "display_name = EXCLUDED.display_name, last_seen_at = now(), selected_at = now(), blocked_at = NULL, "
    "client_of_id = EXCLUDED.client_of_id")


async def link(code: str, telegram_user_id: int, chat_id: int, *, username: str | None = None,
               display_name: str | None = None) -> LinkResult:
    """Consume a code and link the Telegram account to its business; ServiceError if unknown, used or expired.

    An ordinary code moves the account (its links to other businesses end). A client code (`client_of`) adds
    the client to a consultancy's account and selects it. A business at its plan's limit of linked admins
    refuses (QuotaExceeded) and the code stays unused.
    """
    if not normalize_code(code):
        raise ServiceError("empty link code")
    async with in_transaction() as conn:
        # One statement: the code is used at most once even when two accounts send it at the same moment.
        rows = await conn.execute_query_dict(
            "UPDATE telegram_link_codes SET used_at = now(), used_by = $2 "
            "WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING user_id, client_of_id",
            [_hash(code), telegram_user_id],
        )
        if not rows:
            raise ServiceError("this link code is unknown, already used or expired")
        uid, consultancy = rows[0]["user_id"], rows[0]["client_of_id"]
        previous = await _selected_link(telegram_user_id)
        moved = previous.user_id if previous is not None and previous.user_id != uid else None
        if consultancy is not None:
            if not await TelegramLink.filter(telegram_user_id=telegram_user_id, user_id=consultancy,
                                             client_of_id__isnull=True).exists():
                raise NotConsultant("this code is for the consultancy's own Telegram accounts: link this account "
                                    "to the consultancy first")
            moved = None
        else:
            await plans.ensure_room(conn, uid, plans.TELEGRAM_ADMINS, excluding=telegram_user_id)
            await conn.execute_query("DELETE FROM telegram_links WHERE telegram_user_id = $1 AND user_id <> $2",
                                     [telegram_user_id, uid])
        await conn.execute_query(_UPSERT_LINK, [uuid.uuid4(), uid, telegram_user_id, chat_id, username, display_name,
                                                consultancy])
    user = await User.get(id=uid)
    return LinkResult(user_id=uid, business_name=user.name, moved_from=moved, client_of=consultancy)


async def unlink(telegram_user_id: int, user: UserRef | None = None) -> bool:
    """Remove a Telegram account's links (only the one to `user` when given); False if there was none."""
    query = TelegramLink.filter(telegram_user_id=telegram_user_id)
    if user is not None:
        query = query.filter(user_id=user_id(user))
    return bool(await query.delete())


async def _selected_link(telegram_user_id: int) -> TelegramLink | None:
    """The link of the business the account selected last (its only one, unless it is a consultancy's)."""
    return await (TelegramLink.filter(telegram_user_id=telegram_user_id)
                  .order_by("-selected_at", "-created_at").first().prefetch_related("user"))


async def owner_for(telegram_user_id: int, *, default_timezone: str = DEFAULT_TIMEZONE) -> Owner | None:
    """The linked account and the business it selected, or None for a stranger."""
    found = await _selected_link(telegram_user_id)
    if found is None:
        return None
    user = found.user
    return Owner(user_id=user.id, business_name=user.name, email=user.email, telegram_user_id=telegram_user_id,
                 chat_id=found.chat_id, prefs=await get_prefs(user.id, default_timezone=default_timezone),
                 businesses=await TelegramLink.filter(telegram_user_id=telegram_user_id).count())


@dataclass(frozen=True, slots=True)
class BusinessChoice:
    """A business a Telegram account may switch to (`/clientes`)."""

    user_id: uuid.UUID
    name: str
    email: str
    selected: bool
    client: bool  # linked as a consultancy's client


async def businesses_of(telegram_user_id: int) -> list[BusinessChoice]:
    """Every business the account is linked to, its own first, then clients by name."""
    links = list(await TelegramLink.filter(telegram_user_id=telegram_user_id).prefetch_related("user"))
    selected = await _selected_link(telegram_user_id)
    choices = [BusinessChoice(link.user_id, link.user.name, link.user.email,
                              selected is not None and link.user_id == selected.user_id, link.client_of_id is not None)
               for link in links]
    return sorted(choices, key=lambda c: (c.client, c.name.casefold(), c.email))


async def select_business(telegram_user_id: int, business: UserRef) -> BusinessChoice:
    """Switch the account to one of its linked businesses; NotFound for any other."""
    uid = user_id(business)
    if not await TelegramLink.filter(telegram_user_id=telegram_user_id, user_id=uid).update(
            selected_at=datetime.now(UTC)):
        raise NotFound("this Telegram account is not linked to that business")
    return next(c for c in await businesses_of(telegram_user_id) if c.user_id == uid)


async def touch_link(telegram_user_id: int, chat_id: int) -> None:
    """Note that the account wrote (clears a 'blocked' mark; follows a changed chat id)."""
    await TelegramLink.filter(telegram_user_id=telegram_user_id).update(
        last_seen_at=datetime.now(UTC), blocked_at=None, chat_id=chat_id)


async def mark_blocked(telegram_user_id: int) -> None:
    """Telegram refused to deliver to this account (it blocked the bot): stop alerting it."""
    await TelegramLink.filter(telegram_user_id=telegram_user_id).update(blocked_at=datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class LinkedChat:
    """Where to deliver a business's alerts."""

    telegram_user_id: int
    chat_id: int
    businesses: int = 1  # a consultancy's account gets every client's alerts: they say whose they are


async def linked_chats(user: UserRef) -> list[LinkedChat]:
    """The chats of the business's linked accounts that have not blocked the bot."""
    rows = await TelegramLink.filter(user_id=user_id(user), blocked_at__isnull=True).order_by("created_at")
    return [LinkedChat(r.telegram_user_id, r.chat_id, await TelegramLink.filter(telegram_user_id=r.telegram_user_id)
                       .count()) for r in rows]


async def business_name(user: UserRef) -> str:
    """A business's name (empty if it is gone)."""
    found = await User.get_or_none(id=user_id(user)).only("id", "name")
    return found.name if found is not None else ""


async def list_links(user: UserRef) -> list[TelegramLink]:
    """Every linked Telegram account of a business (for the CLI)."""
    return list(await TelegramLink.filter(user_id=user_id(user)).order_by("created_at"))


# ------------------------------------------------------------------ preferences


async def get_prefs(user: UserRef, *, default_timezone: str = DEFAULT_TIMEZONE) -> OwnerPrefs:
    """The owner's preferences (defaults when never set)."""
    row = await OwnerSettings.get_or_none(user_id=user_id(user))
    if row is None:
        return OwnerPrefs(timezone=default_timezone)
    alerts = row.alerts if isinstance(row.alerts, dict) else {}
    return OwnerPrefs(
        language=row.language if row.language in LANGUAGES else DEFAULT_LANGUAGE,
        timezone=row.timezone or default_timezone,
        alerts=tuple(sorted((str(k), bool(v)) for k, v in alerts.items())),
        quiet_start=row.quiet_start, quiet_end=row.quiet_end,
    )


async def _update(user: UserRef, **values: Any) -> None:
    uid = user_id(user)
    row, _ = await OwnerSettings.get_or_create(user_id=uid)
    await row.update_from_dict(values).save()


async def set_language(user: UserRef, language: str) -> None:
    """Choose the bot's language: pt-BR, en or es."""
    if language not in LANGUAGES:
        raise ServiceError(f"language {language!r} is not one of: {', '.join(LANGUAGES)}")
    await _update(user, language=language)


async def set_timezone(user: UserRef, timezone: str) -> str:
    """Set the owner's IANA time zone (used for follow-ups, stats days and quiet hours)."""
    name = timezone.strip()
    if known_zone(name) is None:
        raise ServiceError(f"unknown time zone {name!r} (e.g. {DEFAULT_TIMEZONE})")
    await _update(user, timezone=name)
    return name


async def set_alert(user: UserRef, kind: str, on: bool) -> None:
    """Switch one kind of alert on or off."""
    if kind not in ALERT_KINDS:
        raise ServiceError(f"alert {kind!r} is not one of: {', '.join(ALERT_KINDS)}")
    uid = user_id(user)
    row, _ = await OwnerSettings.get_or_create(user_id=uid)
    alerts = dict(row.alerts) if isinstance(row.alerts, dict) else {}
    alerts[kind] = bool(on)
    row.alerts = alerts
    await row.save()


async def set_quiet_hours(user: UserRef, start: str | None, end: str | None) -> tuple[str, str] | None:
    """Set quiet hours (`22:00`–`07:00`), or clear them with None."""
    if start is None or end is None:
        await _update(user, quiet_start=None, quiet_end=None)
        return None
    s, e = parse_hhmm(start), parse_hhmm(end)
    if s == e:
        raise ServiceError("quiet hours must start and end at different times")
    values = (s.strftime("%H:%M"), e.strftime("%H:%M"))
    await _update(user, quiet_start=values[0], quiet_end=values[1])
    return values


@dataclass(frozen=True, slots=True)
class AccountChoice:
    """A connected account the owner can pick (posts)."""

    id: uuid.UUID
    platform: str
    platform_account_id: str
    name: str | None


async def connected_accounts(user: UserRef) -> list[AccountChoice]:
    """The business's connected accounts (disconnected ones left out), by platform."""
    rows = await ConnectedAccount.filter(user_id=user_id(user)).order_by("platform", "platform_account_id")
    return [AccountChoice(r.id, str(r.platform), r.platform_account_id, r.business_name) for r in rows
            if getattr(r, "status", None) in (None, "connected")]
