"""Webhook subscriptions per connected account: register, re-check, remove; the rows of `papo webhooks status`.

`connected_accounts.subscription_state`:
    subscribed    the platform confirmed the subscription (Meta answered success / the hub verified)
    pending       the YouTube hub accepted the request; its verification call has not come back yet
    failed        the last attempt failed; `subscription_error` says why
    app           TikTok and Kwai: webhooks are set once for the whole app (developer portal / connector)
    unsubscribed  the account was disconnected
    None          never registered (connected by hand): `papo webhooks register --account ID`
A Facebook Page and the Instagram account linked to it share one installation (the Page's), and every
number of a WhatsApp Business Account shares the WABA's: removing one is skipped while another
connected account still depends on it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import redis.asyncio as aioredis
from pymongo.errors import PyMongoError
from tortoise import Tortoise

from papo.adapters.oauth.clients import NotConfigured, meta_subscriptions, youtube_hub
from papo.adapters.oauth.errors import OAuthError
from papo.adapters.oauth.subscriptions import PAGE_FIELDS
from papo.adapters.youtube import topic_channel
from papo.constants import (
    HUB_SUBSCRIBING,
    HUB_UNSUBSCRIBING,
    HUB_VERIFIED,
    LAST_EVENT,
    MONGO_PLATFORM_EVENTS,
    account_key,
)
from papo.crypto import CryptoError, TokenCipher
from papo.enums import Platform
from papo.models import ConnectedAccount
from papo.services import NotFound, account_index

if TYPE_CHECKING:
    from papo.config import Settings

log = logging.getLogger(__name__)

SUBSCRIBED, PENDING, FAILED, APP, UNSUBSCRIBED = "subscribed", "pending", "failed", "app", "unsubscribed"
CONNECTED, DISCONNECTED = "connected", "disconnected"
META_PLATFORMS = (Platform.FACEBOOK, Platform.INSTAGRAM, Platform.WHATSAPP)
APP_LEVEL = (Platform.TIKTOK, Platform.KWAI)
HUB_PENDING_SECONDS = 24 * 3600  # the hub verifies within seconds; an unanswered request lapses after a day
MAX_LEASE = 30 * 24 * 3600  # the most Papo ever asks for (PAPO_YOUTUBE_HUB_LEASE_SECONDS is capped there)

_KEEP_MAX = """
for i = 1, #ARGV, 2 do
  local current = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > current then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1
"""
_DELETE_IF_SAME = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class AccountContext:
    """What talking to the platforms about an account needs."""

    settings: Settings
    redis: aioredis.Redis
    session: aiohttp.ClientSession
    cipher: TokenCipher


@dataclass(frozen=True, slots=True)
class Registration:
    """The outcome of registering or checking one account's subscription."""

    state: str
    error: str | None = None
    revoked: bool = False  # the platform said the token is dead: the account must be disconnected


class MissingDetail(Exception):
    """The account lacks an id the subscription needs (connected by hand without it)."""


async def find_account(ref: str) -> ConnectedAccount:
    """An account by Papo id (UUID) or by platform account id (when exactly one account has it)."""
    ref = ref.strip()
    try:
        found = await ConnectedAccount.get_or_none(id=uuid.UUID(ref))
    except ValueError:
        matches = await ConnectedAccount.filter(platform_account_id=ref).order_by("platform")
        if len(matches) > 1:
            listed = ", ".join(f"{m.id} ({m.platform})" for m in matches)
            raise NotFound(f"{len(matches)} accounts have the platform id {ref}: use the Papo id, one of {listed}"
                           ) from None
        found = matches[0] if matches else None
    if found is None:
        raise NotFound(f"no connected account {ref} (see `papo webhooks status`)")
    return found


def public_callback(settings: Settings, path: str) -> str:
    """An absolute URL under PAPO_PUBLIC_URL (where platforms reach Papo)."""
    if not settings.public_url:
        raise NotConfigured("PAPO_PUBLIC_URL is not set: platforms need it to reach Papo")
    return str(settings.public_url).rstrip("/") + path


def installation(account: ConnectedAccount) -> tuple[str, str] | None:
    """The Meta object whose app installation delivers this account's webhooks: ("page"|"waba", id)."""
    details = account.details or {}
    match str(account.platform):
        case Platform.FACEBOOK:
            return ("page", account.platform_account_id)
        case Platform.INSTAGRAM:
            return ("page", str(details["page_id"])) if details.get("page_id") else None
        case Platform.WHATSAPP:
            return ("waba", str(details["waba_id"])) if details.get("waba_id") else None
    return None


async def _subscribe(ctx: AccountContext, account: ConnectedAccount, now: datetime) -> tuple[str, datetime | None]:
    platform = Platform(str(account.platform))
    if platform in APP_LEVEL:
        return APP, None
    token = ctx.cipher.decrypt(account.access_token)
    if platform is Platform.YOUTUBE:
        settings = ctx.settings
        secret = settings.youtube_hub_secret.get_secret_value() if settings.youtube_hub_secret else None
        if not secret:
            raise NotConfigured("PAPO_YOUTUBE_HUB_SECRET is not set: the hub must sign what it pushes")
        lease = settings.youtube_hub_lease_seconds
        # Before the request: a hub may verify before it answers. Only this request's verification is
        # confirmed at the callback, and with no longer a lease than this one.
        await ctx.redis.set(HUB_SUBSCRIBING + account.platform_account_id, str(lease), ex=HUB_PENDING_SECONDS)
        verified = await youtube_hub(settings, ctx.session).subscribe(
            account.platform_account_id, public_callback(settings, "/webhooks/youtube"),
            secret=secret, lease_seconds=lease)
        return (SUBSCRIBED if verified else PENDING), now + timedelta(seconds=lease)
    target = installation(account)
    if target is None:
        what = "the Page id of this Instagram account" if platform is Platform.INSTAGRAM else "the WABA id"
        how = (" or give it: `papo account connect … --waba-id ID`" if platform is Platform.WHATSAPP else "")
        raise MissingDetail(f"Papo does not know {what}: connect it again with a link "
                            f"(`papo account link` or the admin bot){how}")
    client = meta_subscriptions(ctx.settings, ctx.session)
    if target[0] == "page":
        await client.subscribe_page(target[1], token)
    else:
        await client.subscribe_waba(target[1], token)
    return SUBSCRIBED, None


async def never_registered() -> AsyncIterator[ConnectedAccount]:
    """Connected accounts whose subscription was never registered (connected by hand), one at a time."""
    async for account in ConnectedAccount.filter(status=CONNECTED, subscription_state__isnull=True):
        yield account


async def register(ctx: AccountContext, account: ConnectedAccount, *, now: datetime | None = None) -> Registration:
    """Subscribe the account to the events Papo handles and record the outcome on it."""
    now = now or datetime.now(UTC)
    expires = None
    try:
        state, expires = await _subscribe(ctx, account, now)
        result = Registration(state)
    except OAuthError as exc:
        result = Registration(FAILED, exc.describe(), revoked=exc.revoked)
    except (NotConfigured, MissingDetail, CryptoError) as exc:
        result = Registration(FAILED, str(exc))
    await record(account, result, now, expires)
    if result.error:
        log.warning("subscription of %s account %s failed: %s", account.platform, account.platform_account_id,
                    result.error)
    return result


async def check(ctx: AccountContext, account: ConnectedAccount, *, now: datetime | None = None) -> Registration:
    """Meta: confirm our app is still installed with every field, re-subscribing when not."""
    now = now or datetime.now(UTC)
    target = installation(account)
    if str(account.platform) not in META_PLATFORMS or target is None:
        return await register(ctx, account, now=now)
    try:
        client = meta_subscriptions(ctx.settings, ctx.session)
        token = ctx.cipher.decrypt(account.access_token)
        if target[0] == "page":
            found = await client.page_subscription(target[1], token)
            missing = found.missing(PAGE_FIELDS)
        else:
            missing = (await client.waba_subscription(target[1], token)).missing(("whatsapp",))
    except OAuthError as exc:
        result = Registration(FAILED, exc.describe(), revoked=exc.revoked)
        await record(account, result, now, None)
        return result
    except (NotConfigured, CryptoError) as exc:
        result = Registration(FAILED, str(exc))
        await record(account, result, now, None)
        return result
    if missing:
        log.info("%s %s lost its subscription (%s): subscribing again", account.platform,
                 account.platform_account_id, ",".join(missing))
        return await register(ctx, account, now=now)
    result = Registration(SUBSCRIBED)
    await record(account, result, now, None)
    return result


async def unregister(ctx: AccountContext, account: ConnectedAccount, token: str) -> str | None:
    """Remove the account's subscription (before its token is wiped); an error text, or None when done."""
    platform = str(account.platform)
    try:
        if platform == Platform.YOUTUBE:
            # The hub confirms the unsubscription with a GET, maybe after the account is gone from the index.
            await ctx.redis.set(HUB_UNSUBSCRIBING + account.platform_account_id, "1", ex=24 * 3600)
            await youtube_hub(ctx.settings, ctx.session).unsubscribe(
                account.platform_account_id, public_callback(ctx.settings, "/webhooks/youtube"))
        elif platform in META_PLATFORMS:
            target = installation(account)
            if target is None or await _shared(account, target):
                return None  # another connected account still needs the installation
            client = meta_subscriptions(ctx.settings, ctx.session)
            if target[0] == "page":
                await client.unsubscribe_page(target[1], token)
            else:
                await client.unsubscribe_waba(target[1], token)
    except OAuthError as exc:
        return exc.describe()
    except NotConfigured as exc:
        return str(exc)
    return None


async def _shared(account: ConnectedAccount, target: tuple[str, str]) -> bool:
    others = ConnectedAccount.filter(status=CONNECTED, platform__in=[str(p) for p in META_PLATFORMS]).exclude(
        id=account.id)
    return any([installation(other) == target async for other in others])


async def record(account: ConnectedAccount, result: Registration, now: datetime, expires: datetime | None) -> None:
    """Store a registration outcome on the account (row and instance)."""
    values: dict[str, Any] = {"subscription_state": result.state, "subscription_error": result.error,
                              "subscription_checked_at": now}
    if result.state in (SUBSCRIBED, PENDING) and expires is not None:
        values["subscription_expires_at"] = expires
    if result.state == APP:
        values["subscription_expires_at"] = None
    await ConnectedAccount.filter(id=account.id).update(**values)
    for name, value in values.items():
        setattr(account, name, value)


# ------------------------------------------------------------------ hooks (hot path: Redis only)


async def note_events(redis: aioredis.Redis, account_ids: Iterable[uuid.UUID | str], *,
                      at: float | None = None) -> None:
    """Remember that these accounts just received events (the inbound worker calls this per batch)."""
    ids = list(dict.fromkeys(str(a) for a in account_ids))
    if not ids:
        return
    stamp = f"{at if at is not None else time.time():.3f}"
    await redis.eval(_KEEP_MAX, 1, LAST_EVENT, *[v for i in ids for v in (i, stamp)])


async def hub_intent_refusal(redis: aioredis.Redis, platform: str, query: Mapping[str, str]) -> str | None:
    """Why Papo does not want the (un)subscription a YouTube hub asks it to confirm, or None when it does.

    PubSubHubbub 0.4 §5.3: the subscriber confirms only what it asked for, else answers 404. Papo wants
    the feeds of its connected channels for which it has a subscription request pending (the route is
    anonymous: anyone can call it), and to drop those it unsubscribed from.
    """
    if platform != Platform.YOUTUBE:
        return None
    channel, mode = topic_channel(query.get("hub.topic", "")), query.get("hub.mode")
    if channel is None or mode not in ("subscribe", "unsubscribe"):
        return None  # the adapter has judged the request already
    connected = bool((await account_index.owners(redis, [account_key(platform, channel)]))
                     .get(account_key(platform, channel)))
    if mode == "subscribe" and not connected:
        return f"no connected YouTube channel {channel}: Papo did not ask for this subscription"
    if mode == "subscribe" and not await redis.exists(HUB_SUBSCRIBING + channel):
        return f"Papo has no subscription request pending for YouTube channel {channel}"
    if mode == "unsubscribe" and connected and not await redis.exists(HUB_UNSUBSCRIBING + channel):
        return f"YouTube channel {channel} is connected: Papo did not ask to unsubscribe"
    return None


async def note_hub_verification(redis: aioredis.Redis, platform: str, query: Mapping[str, str]) -> None:
    """Record a YouTube hub verification the webhook handler just answered, with the lease it grants.

    The lease is the hub's when shorter than what Papo asked for, else Papo's: a caller cannot stretch it
    (ten years would silently end renewal) or overflow the expiry date.
    """
    if platform != Platform.YOUTUBE:
        return
    channel, mode = topic_channel(query.get("hub.topic", "")), query.get("hub.mode")
    if channel is None or mode not in ("subscribe", "unsubscribe"):
        return
    lease = 0
    if mode == "subscribe":
        asked = await redis.getdel(HUB_SUBSCRIBING + channel)
        if asked is None:
            return  # a concurrent verification of the same request took it
        lease = clamp_lease(query.get("hub.lease_seconds"), int(asked))
    await redis.hset(HUB_VERIFIED, channel, json.dumps({"mode": mode, "at": time.time(), "lease": lease}))


def clamp_lease(granted: str | int | None, asked: int) -> int:
    """The lease in force: the hub's `hub.lease_seconds` when it is a positive number below `asked`."""
    try:
        lease = int(granted or 0)
    except (TypeError, ValueError):
        lease = 0
    return min(lease, asked, MAX_LEASE) if lease > 0 else min(asked, MAX_LEASE)


async def apply_hub_verifications(redis: aioredis.Redis) -> int:
    """Move recorded hub verifications onto the accounts: subscribed, with the lease the hub granted.

    Each entry on its own: one that cannot be applied is logged and dropped, never left to stop the round.
    """
    applied = 0
    for channel, raw in (await redis.hgetall(HUB_VERIFIED)).items():
        try:
            data = json.loads(raw)
            if data.get("mode") == "subscribe":
                at = datetime.fromtimestamp(float(data["at"]), UTC)
                values: dict[str, Any] = {"subscription_state": SUBSCRIBED, "subscription_error": None,
                                          "subscription_checked_at": at}
                if (lease := int(data.get("lease") or 0)) > 0:  # entries written before the clamp too
                    values["subscription_expires_at"] = at + timedelta(seconds=min(lease, MAX_LEASE))
                applied += await ConnectedAccount.filter(platform=Platform.YOUTUBE, platform_account_id=channel,
                                                         status=CONNECTED).update(**values)
        except (ValueError, TypeError, KeyError, OverflowError, AttributeError) as exc:
            log.warning("dropping the hub verification recorded for YouTube channel %s: %s", channel, exc)
        await redis.eval(_DELETE_IF_SAME, 1, HUB_VERIFIED, channel, raw)
    return applied


# ------------------------------------------------------------------ status


@dataclass(frozen=True, slots=True)
class StatusRow:
    """One line of `papo webhooks status`."""

    account_id: str
    owner: str | None
    platform: str
    platform_account_id: str
    name: str | None
    status: str
    subscription: str | None
    last_event_at: datetime | None
    lease_expires_at: datetime | None
    checked_at: datetime | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (dates as ISO-8601)."""
        return {name: value.isoformat() if isinstance(value, datetime) else value
                for name in self.__slots__ for value in (getattr(self, name),)}


async def last_events(redis: aioredis.Redis, analytics: Any) -> dict[str, datetime]:
    """The newest event per account id: the worker's record, stored messages, account-level events."""
    found: dict[str, datetime] = {}

    def keep(account_id: Any, at: datetime | None) -> None:
        if account_id is not None and at is not None:
            key = str(account_id)
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            found[key] = max(at, found.get(key, at))

    for account_id, stamp in (await redis.hgetall(LAST_EVENT)).items():
        keep(account_id, datetime.fromtimestamp(float(stamp), UTC))
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT account_id, max(last_message_at) AS at FROM conversations GROUP BY account_id")
    for row in rows:
        keep(row["account_id"], row["at"])
    try:
        cursor = await analytics.db[MONGO_PLATFORM_EVENTS].aggregate(
            [{"$group": {"_id": "$account_id", "at": {"$max": "$created_at"}}}])
        async for doc in cursor:
            keep(doc["_id"], doc.get("at"))
    except PyMongoError as exc:  # the status still shows what PostgreSQL and Redis know
        log.warning("cannot read account events from MongoDB: %s", exc)
    return found


async def status(redis: aioredis.Redis, analytics: Any) -> list[StatusRow]:
    """Every account with its subscription state, last event received and lease expiry."""
    await apply_hub_verifications(redis)
    events = await last_events(redis, analytics)
    rows = []
    async for account in ConnectedAccount.all().order_by("platform", "platform_account_id").prefetch_related("user"):
        rows.append(StatusRow(
            account_id=str(account.id), owner=account.user.email if account.user else None,
            platform=str(account.platform), platform_account_id=account.platform_account_id,
            name=account.business_name, status=account.status, subscription=account.subscription_state,
            last_event_at=events.get(str(account.id)), lease_expires_at=account.subscription_expires_at,
            checked_at=account.subscription_checked_at,
            error=account.subscription_error or account.disconnected_reason,
        ))
    return rows
