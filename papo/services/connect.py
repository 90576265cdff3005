"""Connecting accounts through OAuth: personal links with a signed, single-use, short-lived state; the code
exchange; storing the accounts (tokens encrypted) and registering their webhooks; disconnecting them.

A state (papo.adapters.oauth.state) is signed with HMAC-SHA256 under a key derived from PAPO_SECRET_KEY and
bound to one Papo user and one flow; it lives 10 minutes. It is checked (not spent) when the
owner opens the link, and spent (`SET NX` on its nonce, kept until it expires) when the platform sends
the owner back: a forged, expired or replayed state never reaches a token exchange.

A link is a bearer token, so it must not work for whoever it is forwarded to (issue 21, point 2). Opening
it shows which business the accounts will be connected to (`start`), and that page binds the flow to the
browser showing it: a random secret goes into a cookie scoped to the callback, and the state sent to the
consent screen carries its hash. The callback refuses a browser without the matching cookie before
spending the state (`check_browser`), so a consent URL sent to someone else connects nothing, and the
right browser can still finish. A platform account another business holds is never stored for a second
one: it stays with its holder, who is told and can release it by disconnecting it (`_held_elsewhere`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import redis.asyncio as aioredis

from papo.adapters.oauth.clients import NotConfigured, google_oauth, meta_oauth, tiktok_oauth
from papo.adapters.oauth.errors import OAuthError
from papo.adapters.oauth.facebook_login import WABA_SCOPE
from papo.adapters.oauth.state import BadState, StateClaims, sign_state, verify_state
from papo.constants import (
    ACCOUNT_INDEX,
    ACCOUNT_SECRETS,
    META_DELETION,
    OAUTH_STATE_USED,
    account_key,
    connect_claim_key,
)
from papo.crypto import CryptoError, read_secret_file
from papo.enums import Platform
from papo.models import ConnectedAccount, User
from papo.services import NotFound, ServiceError, account_index, plans, subscriptions
from papo.services.account_cache import forget_account
from papo.services.accounts import connect_account
from papo.services.notify import ACCOUNT_CLAIMED, notify_owner
from papo.services.subscriptions import CONNECTED, DISCONNECTED, META_PLATFORMS, UNSUBSCRIBED, AccountContext

if TYPE_CHECKING:
    from papo.config import Settings

log = logging.getLogger(__name__)

_USED = "this link was already used: ask the admin bot for a new link to connect again"
# What access_token holds once an account is disconnected. The column is NOT NULL in the seed, so it
# cannot be NULL; an *encrypted* empty string would decrypt "fine" and be sent to the platform as a
# blank token. This plain marker is not ciphertext: any code path that still tries to use it fails
# locally with CryptoError before contacting a platform, and it says plainly what happened.
WIPED_TOKEN = "wiped:disconnected"
ACCOUNT_DISCONNECTED = "account_disconnected"
# The cookie that binds a flow to the browser that opened the link's page (see the module docstring).
BROWSER_COOKIE = "papo_connect"
HELD_ELSEWHERE = ("already connected to another Papo business: it stays there until its owner disconnects it "
                  "(we told them); then connect it again")
FLOWS = {"meta": "meta", "facebook": "meta", "instagram": "meta", "whatsapp": "meta",
         "tiktok": "tiktok", "youtube": "youtube", "google": "youtube"}
FLOW_NAMES = {"meta": "Meta (Facebook, Instagram, WhatsApp)", "tiktok": "TikTok", "youtube": "YouTube (Google)"}


class StateError(ServiceError):
    """The state of a connect link or callback is not acceptable; `status` is the HTTP status to answer."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class WrongBrowser(StateError):
    """The callback came back to a browser other than the one that opened the link's page."""

    def __init__(self) -> None:
        super().__init__("this sign-in was not started in this browser: open your own connect link here, check "
                         "the business it names, and press Continue", status=403)


class ConnectError(ServiceError):
    """The platform refused, or granted nothing Papo can use; the message tells the owner what to do."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """One account a connection stored."""

    account_id: str
    platform: str
    platform_account_id: str
    name: str | None
    subscription: str | None
    error: str | None = None
    held: bool = False  # another business holds it: nothing was stored (account_id is empty)
    over_limit: bool = False  # the plan's limit of connected accounts is reached: nothing was stored

    @property
    def stored(self) -> bool:
        """Whether the account was connected."""
        return not (self.held or self.over_limit)


@dataclass(frozen=True, slots=True)
class ConnectOutcome:
    """What a finished connection did."""

    user_email: str
    accounts: tuple[AccountSummary, ...]


@dataclass(frozen=True, slots=True)
class Start:
    """What opening a link shows before the consent screen, and the cookie that binds the browser to it."""

    business: str  # the Papo user's name
    email: str  # their email, masked
    flow_name: str
    url: str  # the consent screen, with the state bound to `secret`
    secret: str  # the cookie's value; the bound state carries only its hash
    cookie_path: str  # the callback's path: the cookie goes nowhere else
    secure: bool  # the public URL is https
    max_age: int  # seconds the state has left


def flow_of(platform: str) -> str:
    """The OAuth flow that connects a platform ("meta" connects Facebook, Instagram and WhatsApp)."""
    flow = FLOWS.get(platform.strip().lower())
    if flow is None:
        raise ServiceError(f"cannot connect {platform!r} with a link: use one of {', '.join(sorted(FLOWS))}"
                           " (Kwai is a custom channel: papo account connect)")
    return flow


def _state_key(settings: Settings) -> bytes:
    secret = settings.secret_key.get_secret_value() if settings.secret_key else read_secret_file(settings.data_dir)
    if not secret:
        raise ServiceError("no PAPO_SECRET_KEY is set (nor generated by `papo up`): connect links cannot be signed")
    return hmac.new(secret.encode(), b"papo-oauth-state-v1", hashlib.sha256).digest()


_BAD_STATE = {
    "incomplete": ("this link is incomplete (it has no valid state): ask the admin bot for a new link", 400),
    "forged": ("this link was not issued by Papo (its signature does not match): ask the admin bot for a new link",
               403),
    "damaged": ("this link is damaged: ask the admin bot for a new link", 400),
}


def make_state(settings: Settings, user_id: uuid.UUID | str, flow: str, *, now: float | None = None) -> str:
    """A signed state for one user and flow, valid PAPO_OAUTH_STATE_TTL seconds (default 600)."""
    ttl = settings.oauth_state_ttl
    claims = StateClaims(str(user_id), flow, secrets.token_urlsafe(12), int((now or time.time()) + ttl))
    return sign_state(_state_key(settings), claims)


def read_state(settings: Settings, state: str | None, flow: str, *, now: float | None = None) -> StateClaims:
    """Check a state's signature, expiry and flow (without spending it)."""
    try:
        claims = verify_state(_state_key(settings), state)
    except BadState as exc:
        message, status = _BAD_STATE[exc.kind]
        raise StateError(message, status=status) from None
    if claims.flow != flow:
        raise StateError(f"this link is for {FLOW_NAMES.get(claims.flow, claims.flow)}, not "
                         f"{FLOW_NAMES.get(flow, flow)}: ask the admin bot for the right one")
    if claims.expires_at < (now or time.time()):
        raise StateError("this link has expired (links work for 10 minutes): ask the admin bot for a new one")
    return claims


async def spend_state(settings: Settings, redis: aioredis.Redis, state: str | None, flow: str, *,
                      now: float | None = None) -> StateClaims:
    """Check a state and mark it used; a second use is refused."""
    claims = read_state(settings, state, flow, now=now)
    await _spend(redis, claims, now=now)
    return claims


async def _spend(redis: aioredis.Redis, claims: StateClaims, *, now: float | None = None) -> None:
    ttl = max(1, int(claims.expires_at - (now or time.time())) + 60)
    if not await redis.set(OAUTH_STATE_USED + claims.nonce, "1", nx=True, ex=ttl):
        raise StateError(_USED, status=403)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_browser(claims: StateClaims, secret: str | None) -> None:
    """Refuse a state not bound to this browser's cookie secret (WrongBrowser)."""
    if claims.browser is None or not secret or not hmac.compare_digest(claims.browser, _digest(secret)):
        raise WrongBrowser


def mask_email(email: str) -> str:
    """An email shown to whoever holds a link: enough to recognise it, not to harvest it."""
    local, at, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if at else f"{email[:1]}***"


def redirect_uri(settings: Settings, flow: str) -> str:
    """The callback URL registered with the platform for a flow."""
    return subscriptions.public_callback(settings, f"/oauth/{flow}/callback")


def connect_link(settings: Settings, user: User, platform: str, *, now: float | None = None) -> str:
    """The owner's personal "Connect an account" link for a platform (valid 10 minutes, once)."""
    flow = flow_of(platform)
    try:
        base = subscriptions.public_callback(settings, f"/connect/{flow}")
    except NotConfigured as exc:
        raise ServiceError(str(exc)) from None
    return f"{base}?state={make_state(settings, user.id, flow, now=now)}"


async def start(settings: Settings, redis: aioredis.Redis, session: aiohttp.ClientSession, flow: str,
                state: str | None, *, now: float | None = None) -> Start:
    """Check a link and bind it to a new browser secret: the page naming the business, then the consent screen."""
    claims = read_state(settings, state, flow, now=now)
    if await redis.exists(OAUTH_STATE_USED + claims.nonce):
        raise StateError(_USED, status=403)
    user = await User.get_or_none(id=uuid.UUID(claims.user_id))
    if user is None:
        raise StateError("the Papo user this link was made for no longer exists", status=403)
    secret = secrets.token_urlsafe(32)
    bound = sign_state(_state_key(settings), replace(claims, browser=_digest(secret)))
    callback = urlsplit(redirect_uri(settings, flow))
    return Start(business=user.name, email=mask_email(user.email), flow_name=FLOW_NAMES[flow],
                 url=authorize_url(settings, session, flow, bound), secret=secret, cookie_path=callback.path,
                 secure=callback.scheme == "https", max_age=max(1, int(claims.expires_at - (now or time.time()))))


def authorize_url(settings: Settings, session: aiohttp.ClientSession, flow: str, state: str | None) -> str:
    """The platform's consent screen for a flow, carrying `state` (the link's, bound to the browser by `start`)."""
    read_state(settings, state, flow)
    try:
        if flow == "meta":
            return meta_oauth(settings, session).authorize_url(redirect_uri(settings, flow), state or "")
        if flow == "tiktok":
            return tiktok_oauth(settings, session).authorize_url(redirect_uri(settings, flow), state or "")
        return google_oauth(settings, session).authorize_url(redirect_uri(settings, flow), state or "")
    except NotConfigured as exc:
        raise ConnectError(f"Papo is not set up for {FLOW_NAMES[flow]} yet ({exc}); tell whoever runs Papo",
                           status=503) from None


async def complete(ctx: AccountContext, flow: str, *, state: str | None, code: str | None, browser: str | None,
                   error: str | None = None, error_description: str | None = None) -> ConnectOutcome:
    """Finish a connection: check the browser, spend the state, exchange the code, store and subscribe.

    `browser` is the secret of the browser's cookie. A wrong or missing one is refused before the state is
    spent: nothing is exchanged or stored, and the browser that opened the link can still finish.
    """
    claims = read_state(ctx.settings, state, flow)
    check_browser(claims, browser)
    await _spend(ctx.redis, claims)
    user = await User.get_or_none(id=uuid.UUID(claims.user_id))
    if user is None:
        raise StateError("the Papo user this link was made for no longer exists", status=403)
    name = FLOW_NAMES[flow]
    if error or not code:
        detail = error_description or error or "no authorization code came back"
        raise ConnectError(f"{name} did not grant access ({detail}); ask the admin bot for a new link to try again")
    try:
        accounts = await {"meta": _meta, "tiktok": _tiktok, "youtube": _youtube}[flow](ctx, user, code)
    except NotConfigured as exc:
        raise ConnectError(f"Papo is not set up for {name} yet ({exc}); tell whoever runs Papo", status=503) from None
    except OAuthError as exc:
        if exc.transient:
            raise ConnectError(f"{name} could not be reached ({exc.message}); ask the admin bot for a new link "
                               "and try again in a few minutes", status=502) from None
        raise ConnectError(f"{name} refused the connection: {exc.message} ({exc.code or exc.http_status}). "
                           "Ask the admin bot for a new link and try again") from None
    log.info("user %s connected %d %s account(s)", user.id, len(accounts), flow)
    return ConnectOutcome(user_email=user.email, accounts=tuple(accounts))


# ------------------------------------------------------------------ the three flows


# Installations already subscribed during one connection (a Page and its Instagram account share one).
_Memo = dict[tuple[str, str], subscriptions.Registration]


async def _store(ctx: AccountContext, user: User, platform: Platform, platform_account_id: str, *, token: str,
                 details: dict[str, Any], name: str | None, avatar: str | None = None, is_verified: bool = False,
                 refresh_token: str | None = None, expires_at: datetime | None = None,
                 memo: _Memo | None = None) -> AccountSummary:
    async with _claiming(ctx.redis, platform, platform_account_id):
        if await _held_elsewhere(ctx.redis, user, platform, platform_account_id):
            return AccountSummary("", str(platform), platform_account_id, name, None, HELD_ELSEWHERE, held=True)
        try:
            account, _ = await connect_account(
                user=user, platform=platform, platform_account_id=platform_account_id, access_token=token,
                cipher=ctx.cipher, refresh_token=refresh_token, token_expires_at=expires_at, business_name=name,
                business_avatar=avatar)
        except plans.QuotaExceeded as exc:  # the others chosen in the same consent may still fit
            log.info("user %s: %s account %s not connected: %s", user.id, platform, platform_account_id, exc)
            return AccountSummary("", str(platform), platform_account_id, name, None, str(exc), over_limit=True)
        values = {"status": CONNECTED, "disconnected_at": None, "disconnected_reason": None,
                  "is_verified": is_verified,
                  "details": {**(account.details or {}), **{k: v for k, v in details.items() if v is not None}}}
        await ConnectedAccount.filter(id=account.id).update(**values)
    account.update_from_dict(values)
    await account_index.add(ctx.redis, account)
    await forget_account(ctx.redis, str(account.id))  # senders must pick up the new token now
    target = subscriptions.installation(account)
    if memo is not None and target is not None and target in memo:
        reg = memo[target]
        await subscriptions.record(account, reg, datetime.now(UTC), None)
    else:
        reg = await subscriptions.register(ctx, account)
        if memo is not None and target is not None:
            memo[target] = reg
    return AccountSummary(str(account.id), str(platform), platform_account_id, name, reg.state, reg.error)


CLAIM_LOCK_MS = 15_000  # far longer than a check and two writes; a crashed holder's lock lapses
CLAIM_WAIT = 10.0
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@asynccontextmanager
async def _claiming(redis: aioredis.Redis, platform: Platform, platform_account_id: str) -> AsyncIterator[None]:
    """One connection at a time checks and stores an account: two businesses finishing at the same
    moment would both find it free and both hold it (the table is unique per business, not per account)."""
    key, token = connect_claim_key(platform, platform_account_id), secrets.token_hex(8)
    deadline = time.monotonic() + CLAIM_WAIT
    while not await redis.set(key, token, nx=True, px=CLAIM_LOCK_MS):
        if time.monotonic() > deadline:
            raise ConnectError("another connection of this account is in progress: try again in a minute",
                               status=409)
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        await redis.eval(_RELEASE, 1, key, token)  # only our own lock: a lapsed one may be another's now


async def _held_elsewhere(redis: aioredis.Redis, user: User, platform: Platform, platform_account_id: str) -> bool:
    """Whether another business holds this account; if so, tell its owner, who alone can release it.

    Connecting is never a move: a second business's consent must not take (or share) an account its
    holder still has. The same business reconnecting updates its own row as before.
    """
    holder = await ConnectedAccount.filter(platform=platform, platform_account_id=platform_account_id,
                                           status=CONNECTED).exclude(user_id=user.id).first()
    if holder is None or holder.user_id is None:
        return False
    log.warning("%s account %s is held by user %s: not connected for user %s", platform, platform_account_id,
                holder.user_id, user.id)
    name = holder.business_name or platform_account_id
    await notify_owner(redis, holder.user_id, ACCOUNT_CLAIMED, {
        "account_id": str(holder.id), "platform": str(platform), "name": holder.business_name,
        "platform_account_id": platform_account_id, "claimant": user.name,
        "text": f"The Papo business {user.name} tried to connect your {platform} account {name}. It stays "
                "connected to you. If you mean to hand it over, disconnect it (Disconnect in the bot, or "
                f"papo account disconnect --account {holder.id}) and they can connect it again.",
    }, dedupe_key=f"{ACCOUNT_CLAIMED}:{holder.id}:{user.id}")  # one alert per claimant (8 days)
    return True


async def _meta(ctx: AccountContext, user: User, code: str) -> list[AccountSummary]:
    oauth = meta_oauth(ctx.settings, ctx.session)
    short = await oauth.exchange_code(code, redirect_uri(ctx.settings, "meta"))
    user_token = await oauth.long_lived(short.access_token)
    info = await oauth.inspect(user_token.access_token)
    pages = await oauth.pages(user_token.access_token)
    wabas = [await oauth.whatsapp_account(user_token.access_token, w) for w in info.targets.get(WABA_SCOPE, ())]
    if not pages and not any(w.phone_numbers for w in wabas):
        raise ConnectError("Meta granted Papo no Facebook Page and no WhatsApp number: connect again and pick at "
                           "least one Page (its Instagram account comes with it) or one WhatsApp account")
    statuses = {w.business_id: w.business_verification_status for w in wabas if w.business_id}
    for business_id in {p.business_id for p in pages if p.business_id} - set(statuses):
        statuses[business_id] = await _readable(oauth.business_verification(user_token.access_token, business_id))
    base = {"meta_user_id": info.user_id}
    memo: _Memo = {}
    stored = []
    for page in pages:
        verified = statuses.get(page.business_id or "") == "verified"
        stored.append(await _store(ctx, user, Platform.FACEBOOK, page.id, token=page.access_token, name=page.name,
                                   avatar=page.avatar, is_verified=verified, memo=memo,
                                   details={**base, "business_id": page.business_id}))
        if page.instagram is not None:
            ig = page.instagram
            stored.append(await _store(ctx, user, Platform.INSTAGRAM, ig.id, token=page.access_token,
                                       name=ig.name or ig.username, avatar=ig.avatar, is_verified=verified, memo=memo,
                                       details={**base, "page_id": page.id, "username": ig.username,
                                                "business_id": page.business_id}))
    for waba in wabas:
        for phone in waba.phone_numbers:
            stored.append(await _store(
                ctx, user, Platform.WHATSAPP, phone.id, token=user_token.access_token, memo=memo,
                expires_at=user_token.expires_at or info.expires_at, name=phone.verified_name or waba.name,
                is_verified=waba.business_verification_status == "verified",
                details={**base, "waba_id": waba.id, "business_id": waba.business_id,
                         "display_phone_number": phone.display_phone_number,
                         "code_verification_status": phone.code_verification_status}))
    if any(a.stored for a in stored):  # accounts not stored (held elsewhere, over the plan) say nothing
        await _set_identity(user, statuses.values())
    return stored


async def _tiktok(ctx: AccountContext, user: User, code: str) -> list[AccountSummary]:
    oauth = tiktok_oauth(ctx.settings, ctx.session)
    tokens = await oauth.exchange_code(code, redirect_uri(ctx.settings, "tiktok"))
    who = await oauth.user_info(tokens.access_token, tokens.scopes)
    refresh_until = tokens.refresh_expires_at.isoformat() if tokens.refresh_expires_at else None
    return [await _store(ctx, user, Platform.TIKTOK, tokens.subject or who.open_id, token=tokens.access_token,
                         refresh_token=tokens.refresh_token, expires_at=tokens.expires_at,
                         name=who.display_name or who.username, avatar=who.avatar, is_verified=who.is_verified,
                         details={"open_id": who.open_id, "union_id": who.union_id, "username": who.username,
                                  "scopes": list(tokens.scopes), "refresh_expires_at": refresh_until})]


async def _youtube(ctx: AccountContext, user: User, code: str) -> list[AccountSummary]:
    oauth = google_oauth(ctx.settings, ctx.session)
    tokens = await oauth.exchange_code(code, redirect_uri(ctx.settings, "youtube"))
    if not tokens.refresh_token:
        raise ConnectError("Google granted no offline access (no refresh token), so Papo would lose the channel "
                           "within the hour: remove Papo at myaccount.google.com/permissions and connect again")
    channel = await oauth.channel(tokens.access_token)
    if channel is None:
        raise ConnectError("this Google account has no YouTube channel: connect again and choose the account "
                           "(or brand account) that owns the channel")
    return [await _store(ctx, user, Platform.YOUTUBE, channel.id, token=tokens.access_token,
                         refresh_token=tokens.refresh_token, expires_at=tokens.expires_at, name=channel.title,
                         avatar=channel.avatar, details={"scopes": list(tokens.scopes)})]


# ------------------------------------------------------------------ owner verification


async def _readable(call: Awaitable[str | None]) -> str | None:
    """The value of a verification lookup, None when Meta does not let Papo read it."""
    try:
        return await call
    except OAuthError as exc:
        log.info("business verification not readable: %s", exc.describe())
        return None


async def _set_identity(user: User, statuses: Iterable[str | None], *, now: datetime | None = None) -> None:
    """users.identity_verified follows the Meta business verification status, when any was readable."""
    readable = [str(s).lower() for s in statuses if s]
    values: dict[str, Any] = {"identity_checked_at": now or datetime.now(UTC)}
    if readable:
        verified = "verified" in readable
        values |= {"identity_verified": verified, "meta_business_verification": "verified" if verified else readable[0]}
    await User.filter(id=user.id).update(**values)
    user.update_from_dict(values)


async def refresh_owner_verification(ctx: AccountContext, user: User) -> bool | None:
    """Re-read the owner's Meta business verification through their connected accounts (daily job)."""
    oauth = meta_oauth(ctx.settings, ctx.session)
    statuses: dict[str, str | None] = {}
    accounts = ConnectedAccount.filter(user_id=user.id, status=CONNECTED, platform__in=[str(p) for p in META_PLATFORMS])
    async for account in accounts:
        details = account.details or {}
        business = str(details.get("business_id") or details.get("waba_id") or "")
        if not business or business in statuses:
            continue
        try:
            token = ctx.cipher.decrypt(account.access_token)
        except CryptoError:
            continue
        if str(account.platform) == Platform.WHATSAPP and details.get("waba_id"):
            statuses[business] = await _readable(oauth.waba_verification(token, str(details["waba_id"])))
        elif details.get("business_id"):
            statuses[business] = await _readable(oauth.business_verification(token, business))
    await _set_identity(user, statuses.values())
    return user.identity_verified if any(statuses.values()) else None


# ------------------------------------------------------------------ disconnecting


@dataclass(frozen=True, slots=True)
class Disconnection:
    """What disconnecting one account did; `changed` is False when it was already disconnected."""

    account_id: str
    platform: str
    platform_account_id: str
    changed: bool
    notes: tuple[str, ...] = ()


async def reindex(redis: aioredis.Redis, platform: str, platform_account_id: str) -> None:
    """Rewrite one platform account's entry of the webhook account index from its *connected* rows."""
    key = account_key(platform, platform_account_id)
    rows = [a async for a in ConnectedAccount.filter(platform=platform, platform_account_id=platform_account_id,
                                                       status=CONNECTED).order_by("connected_at")]
    pipe = redis.pipeline(transaction=True)
    if rows:
        pipe.hset(ACCOUNT_INDEX, key, json.dumps([[str(a.id), str(a.user_id)] for a in rows]))
    else:
        pipe.hdel(ACCOUNT_INDEX, key)
    secret = next((a.webhook_secret for a in rows if a.webhook_secret), None)
    if secret:
        pipe.hset(ACCOUNT_SECRETS, key, secret)
    else:
        pipe.hdel(ACCOUNT_SECRETS, key)
    await pipe.execute()


async def disconnect_account(redis: aioredis.Redis, account_id: uuid.UUID | str, reason: str, *,
                             ctx: AccountContext | None = None, notify: bool = False) -> Disconnection:
    """Mark an account disconnected, wipe its tokens, keep its history; alert the owner when `notify`.

    With `ctx` (the owner asked), first unsubscribe its webhooks and revoke its tokens at the platform
    while they still work; without it (the platform revoked access already) nothing is called outside.
    """
    account = await ConnectedAccount.get_or_none(id=uuid.UUID(str(account_id)))
    if account is None:
        raise NotFound(f"no connected account {account_id}")
    if account.status == DISCONNECTED:
        return Disconnection(str(account.id), str(account.platform), account.platform_account_id, False)
    notes = await _tell_platform(ctx, account) if ctx is not None else []
    now = datetime.now(UTC)
    changed = await ConnectedAccount.filter(id=account.id, status=CONNECTED).update(
        status=DISCONNECTED, disconnected_at=now, disconnected_reason=reason[:1000], access_token=WIPED_TOKEN,
        refresh_token=None, token_expires_at=None, webhook_secret=None, subscription_state=UNSUBSCRIBED,
        subscription_expires_at=None, subscription_error=None)
    if not changed:  # another process disconnected it meanwhile: it did the rest
        return Disconnection(str(account.id), str(account.platform), account.platform_account_id, False)
    await reindex(redis, str(account.platform), account.platform_account_id)
    await forget_account(redis, str(account.id))
    log.warning("%s account %s disconnected: %s", account.platform, account.platform_account_id, reason)
    if notify and account.user_id:
        await notify_owner(redis, account.user_id, ACCOUNT_DISCONNECTED, {
            "account_id": str(account.id), "platform": str(account.platform), "name": account.business_name,
            "platform_account_id": account.platform_account_id, "error": reason,
            "text": f"{account.platform} account {account.business_name or account.platform_account_id} was "
                    f"disconnected: {reason}. Connect it again to keep receiving and answering messages.",
        }, dedupe_key=f"{ACCOUNT_DISCONNECTED}:{account.id}:{int(now.timestamp())}")
    return Disconnection(str(account.id), str(account.platform), account.platform_account_id, True, tuple(notes))


async def owner_disconnect(ctx: AccountContext, user_id: uuid.UUID | str, account_id: uuid.UUID | str) -> Disconnection:
    """The owner's "Disconnect" (admin bot): only their own account; unsubscribes and revokes first."""
    if not await ConnectedAccount.filter(id=uuid.UUID(str(account_id)), user_id=uuid.UUID(str(user_id))).exists():
        raise NotFound("this account is not connected to your business")
    return await disconnect_account(ctx.redis, account_id, "disconnected by the owner", ctx=ctx)


async def _tell_platform(ctx: AccountContext, account: ConnectedAccount) -> list[str]:
    """Unsubscribe and revoke while the token works; what failed is reported, never blocking."""
    try:
        token = ctx.cipher.decrypt(account.access_token)
    except CryptoError as exc:
        return [f"could not read the stored token ({exc}); nothing was unsubscribed at the platform"]
    notes = []
    if error := await subscriptions.unregister(ctx, account, token):
        notes.append(f"unsubscribe failed: {error}")
    try:
        if str(account.platform) == Platform.TIKTOK:
            await tiktok_oauth(ctx.settings, ctx.session).revoke(token)
        elif str(account.platform) == Platform.YOUTUBE:
            refresh = ctx.cipher.decrypt(account.refresh_token) if account.refresh_token else None
            await google_oauth(ctx.settings, ctx.session).revoke(refresh or token)
    except (OAuthError, NotConfigured, CryptoError) as exc:
        notes.append(f"token revocation failed: {exc}")
    return notes


async def meta_deauthorized(redis: aioredis.Redis, meta_user_id: str, reason: str) -> list[Disconnection]:
    """Meta says a person removed the app: disconnect every account connected through their login."""
    done = []
    accounts = ConnectedAccount.filter(status=CONNECTED, platform__in=[str(p) for p in META_PLATFORMS])
    async for account in accounts:
        if str((account.details or {}).get("meta_user_id")) == str(meta_user_id):
            done.append(await disconnect_account(redis, account.id, reason, notify=True))
    return done


DELETION_TTL = 90 * 24 * 3600


async def record_deletion(redis: aioredis.Redis, meta_user_id: str, done: list[Disconnection]) -> str:
    """Remember a Meta data-deletion request's outcome; the confirmation code Meta shows the person."""
    code = secrets.token_hex(8)
    await redis.set(META_DELETION + code, json.dumps({
        "meta_user_id": meta_user_id, "accounts": len(done), "at": datetime.now(UTC).isoformat(),
    }), ex=DELETION_TTL)
    return code


async def deletion_status(redis: aioredis.Redis, code: str) -> dict[str, Any] | None:
    """The outcome of a data-deletion request, by its confirmation code (None if unknown or expired)."""
    raw = await redis.get(META_DELETION + code) if code else None
    return json.loads(raw) if raw else None
