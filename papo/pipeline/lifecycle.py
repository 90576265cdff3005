"""Account lifecycle (a `papo worker` role): keep subscriptions and tokens alive, notice when access is gone.

Each round (every PAPO_LIFECYCLE_INTERVAL seconds, default 300):
  - registers accounts that never were (connected by hand) and applies the hub verifications that came back;
  - renews YouTube hub leases PAPO_YOUTUBE_LEASE_RENEW_BEFORE seconds (default 1 day) before they end;
  - refreshes TikTok and Google tokens PAPO_TOKEN_REFRESH_BEFORE seconds (default 900) before they expire and
    stores the new ones (TikTok rotates refresh tokens: the newest is kept);
  - re-checks Meta subscriptions daily — sooner when a send reported a token problem — and the owner's
    Meta business verification (users.identity_verified);
  - warns the owner a week before a token that cannot be refreshed expires (Meta user tokens, TikTok
    refresh tokens).
A token refresh refused (`invalid_grant`), a Graph error 190 or an expired token that cannot be renewed
disconnects the account and alerts the owner. One worker runs a round at a time (a Redis lock); every step
is idempotent, so a round cut short is simply redone by the next one. Each account is handled on its own:
one whose step fails (bad data, a bug, a platform's odd answer) is logged and counted in `failed`, and the
round goes on with the others; only a store going down ends the round (the next one retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp

from papo.adapters.events import EventKind, InboundEvent
from papo.adapters.oauth.clients import NotConfigured, google_oauth, tiktok_oauth
from papo.adapters.oauth.errors import OAuthError
from papo.constants import LIFECYCLE_LOCK, TOKEN_REFRESH_LOCK, account_key
from papo.crypto import CryptoError, TokenCipher
from papo.enums import Platform
from papo.resilience import every, is_store_down
from papo.runtime import Stores
from papo.services import accounts as account_rows
from papo.services import subscriptions
from papo.services.account_cache import ACCOUNT_PROBLEM, forget_account
from papo.services.account_index import AccountOwner
from papo.services.connect import disconnect_account, refresh_owner_verification
from papo.services.notify import TOKEN_EXPIRING, notify_owner
from papo.services.subscriptions import FAILED, META_PLATFORMS, PENDING, AccountContext
from papo.services.users import owners_connected_on

if TYPE_CHECKING:
    from papo.config import Settings
    from papo.models import ConnectedAccount

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(hours=1)  # a failed or unverified subscription is tried again after this
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@dataclass(frozen=True, slots=True)
class LifecycleSettings:
    """Timings of the lifecycle job (seconds)."""

    interval: float = 300.0
    refresh_before: float = 900.0
    lease_renew_before: float = 86400.0
    meta_recheck: float = 86400.0
    warn_before: float = 7 * 86400.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LifecycleSettings:
        """Read the optional PAPO_* timings (defaults above)."""
        names = {"interval": "lifecycle_interval", "refresh_before": "token_refresh_before",
                 "lease_renew_before": "youtube_lease_renew_before", "meta_recheck": "meta_recheck_interval",
                 "warn_before": "token_warn_before"}
        return cls(**{field: float(getattr(settings, name)) for field, name in names.items()})


@dataclass(slots=True)
class RoundReport:
    """What one round did."""

    registered: int = 0
    leases_renewed: int = 0
    meta_checked: int = 0
    tokens_refreshed: int = 0
    warned: int = 0
    owners_checked: int = 0
    disconnected: int = 0
    failed: int = 0  # account steps that raised (logged; the round went on)


class AccountLifecycle:
    """The periodic job; `run_once` is one round (tests call it with a chosen `now`)."""

    def __init__(self, stores: Stores, settings: Settings, session: aiohttp.ClientSession, cipher: TokenCipher,
                 *, timings: LifecycleSettings | None = None) -> None:
        self.stores = stores
        self.ctx = AccountContext(settings, stores.redis, session, cipher)
        self.timings = timings or LifecycleSettings.from_settings(settings)

    async def run(self, stop: asyncio.Event) -> None:
        """Run rounds until `stop` is set."""
        await every("account lifecycle round", self.run_once, stop, self.timings.interval, log)

    async def run_once(self, now: datetime | None = None) -> RoundReport | None:
        """One round; None when another worker holds the round lock."""
        now = now or datetime.now(UTC)
        redis, token = self.stores.redis, secrets.token_hex(8)
        if not await redis.set(LIFECYCLE_LOCK, token, nx=True, ex=max(60, int(self.timings.interval))):
            return None
        report = RoundReport()
        try:
            await subscriptions.apply_hub_verifications(redis)
            for step in (self.register_new, self.refresh_tokens, self.renew_leases, self.recheck_meta,
                         self.warn_expiring, self.check_owners):
                try:
                    await step(now, report)
                except Exception as exc:
                    if is_store_down(exc):
                        raise
                    report.failed += 1  # a step's own bug must not stop the steps after it
                    log.exception("lifecycle step %s failed (the round goes on): %s", step.__name__, exc)
        finally:
            await redis.eval(_RELEASE, 1, LIFECYCLE_LOCK, token)
        return report

    @contextlib.contextmanager
    def _isolated(self, step: str, account: Any, report: RoundReport, *, name: str | None = None) -> Iterator[None]:
        """One account's part of a step: an error is logged and counted, and the step goes on to the next.

        `name` says what failed when it is not a connected account (an owner)."""
        try:
            yield
        except Exception as exc:
            if is_store_down(exc):
                raise  # not this account's fault: the round ends and `every` waits for the store
            report.failed += 1
            name = name or f"{account.platform} account {account.platform_account_id}"
            log.warning("lifecycle %s of %s failed (the round goes on): %s: %s", step, name,
                        type(exc).__name__, exc)

    async def _disconnect(self, account: ConnectedAccount, reason: str, report: RoundReport) -> None:
        result = await disconnect_account(self.stores.redis, account.id, reason, notify=True)
        report.disconnected += int(result.changed)

    async def register_new(self, now: datetime, report: RoundReport) -> None:
        """Accounts never registered (connected by hand with `papo account connect`)."""
        async for account in subscriptions.never_registered():
            with self._isolated("registration", account, report):
                result = await subscriptions.register(self.ctx, account, now=now)
                report.registered += 1
                if result.revoked:
                    await self._disconnect(account, f"the platform refused the account's token: {result.error}",
                                           report)

    async def renew_leases(self, now: datetime, report: RoundReport) -> None:
        """YouTube hub leases ending soon (or failed / never verified for an hour): subscribe again."""
        soon = now + timedelta(seconds=self.timings.lease_renew_before)
        async for account in account_rows.connected_on(Platform.YOUTUBE):
            checked = account.subscription_checked_at
            stale = checked is None or checked <= now - RETRY_AFTER
            expires = account.subscription_expires_at
            if (account.subscription_state in (FAILED, PENDING) and stale) or expires is None or expires <= soon:
                with self._isolated("lease renewal", account, report):
                    await subscriptions.register(self.ctx, account, now=now)
                    report.leases_renewed += 1

    async def refresh_tokens(self, now: datetime, report: RoundReport) -> None:
        """TikTok and Google access tokens expiring soon: refresh and store; disconnect when refused."""
        soon = now + timedelta(seconds=self.timings.refresh_before)
        async for account in account_rows.connected_on(Platform.TIKTOK, Platform.YOUTUBE, token_expires_by=soon):
            with self._isolated("token refresh", account, report):
                report.tokens_refreshed += int(await self.refresh_account(account.id, soon, now, report))

    async def refresh_account(self, account_id: Any, due: datetime, now: datetime, report: RoundReport) -> bool:
        """Refresh one account's token if it still expires before `due`; True when new tokens were stored.

        Under a per-account lock and on a fresh read: refresh tokens rotate, so refreshing again with one
        another worker has just spent would be refused — and would wrongly disconnect the account.
        """
        redis, owner = self.stores.redis, secrets.token_hex(8)
        lock = TOKEN_REFRESH_LOCK + str(account_id)
        if not await redis.set(lock, owner, nx=True, ex=120):
            return False
        try:
            account = await account_rows.connected_account(account_id)
            if account is None or account.token_expires_at is None or account.token_expires_at > due:
                return False
            return await self._refresh(account, now, report)
        finally:
            await redis.eval(_RELEASE, 1, lock, owner)

    async def _refresh(self, account: ConnectedAccount, now: datetime, report: RoundReport) -> bool:
        if not account.refresh_token:
            if account.token_expires_at and account.token_expires_at <= now:
                await self._disconnect(account, "the access token expired and there is no refresh token", report)
            return False
        try:
            client = (tiktok_oauth if str(account.platform) == Platform.TIKTOK else google_oauth)(
                self.ctx.settings, self.ctx.session)
            tokens = await client.refresh(self.ctx.cipher.decrypt(account.refresh_token))
        except OAuthError as exc:
            if exc.revoked:
                await self._disconnect(account, f"{account.platform} refused to renew access: {exc.message}", report)
            else:
                log.warning("token refresh of %s account %s failed (will retry): %s", account.platform,
                            account.platform_account_id, exc.describe())
            return False
        except (NotConfigured, CryptoError) as exc:
            log.error("cannot refresh the token of %s account %s: %s", account.platform,
                      account.platform_account_id, exc)
            return False
        cipher, details = self.ctx.cipher, None
        if tokens.refresh_expires_at:
            details = {**(account.details or {}), "refresh_expires_at": tokens.refresh_expires_at.isoformat()}
        await account_rows.store_refreshed_tokens(
            account.id, access_token=cipher.encrypt(tokens.access_token), expires_at=tokens.expires_at,
            refresh_token=cipher.encrypt(tokens.refresh_token) if tokens.refresh_token else None, details=details)
        await forget_account(self.stores.redis, str(account.id))  # senders pick up the new token at once
        log.info("refreshed the token of %s account %s", account.platform, account.platform_account_id)
        return True

    async def recheck_meta(self, now: datetime, report: RoundReport) -> None:
        """Meta subscriptions not checked for a day, or whose token a send reported as refused."""
        due = now - timedelta(seconds=self.timings.meta_recheck)
        accounts = [a async for a in account_rows.connected_on(*META_PLATFORMS)]
        problems = await self._problems(a.id for a in accounts)
        due_ids = {a.id for a in accounts if a.subscription_checked_at is None or a.subscription_checked_at <= due}
        # A refused token reported by a send: check now, with every account sharing its Page or WABA.
        urgent = {subscriptions.installation(a) or ("account", str(a.id)) for a in accounts
                  if (at := problems.get(str(a.id))) and (a.subscription_checked_at is None
                                                          or at > a.subscription_checked_at)}
        memo: dict[tuple[str, str], subscriptions.Registration] = {}
        for account in accounts:
            target = subscriptions.installation(account)
            if account.id not in due_ids and (target or ("account", str(account.id))) not in urgent:
                continue
            with self._isolated("Meta subscription check", account, report):
                if target is not None and target in memo:
                    result = memo[target]
                    await subscriptions.record(account, result, now, None)
                else:
                    result = await subscriptions.check(self.ctx, account, now=now)
                    if target is not None:
                        memo[target] = result
                report.meta_checked += 1
                if result.revoked:
                    await self._disconnect(account, f"Meta refused the account's token: {result.error}", report)

    async def _problems(self, account_ids: Iterable[Any]) -> dict[str, datetime]:
        """When a send last reported each account's token as refused (the outbound pipeline's record)."""
        ids = [str(i) for i in account_ids]
        if not ids:
            return {}
        pipe = self.stores.redis.pipeline(transaction=False)
        for account_id in ids:
            pipe.hget(ACCOUNT_PROBLEM + account_id, "at")
        found = {}
        for account_id, at in zip(ids, await pipe.execute(), strict=True):
            if at:
                with contextlib.suppress(ValueError):
                    found[account_id] = datetime.fromisoformat(at)
        return found

    async def warn_expiring(self, now: datetime, report: RoundReport) -> None:
        """Tokens Papo cannot renew alone: warn a week ahead, disconnect once expired."""
        warn_at = now + timedelta(seconds=self.timings.warn_before)
        async for account in account_rows.connected_on(*META_PLATFORMS, token_expires_by=warn_at):
            expires = account.token_expires_at
            if expires is None:  # the filter excludes it; keeps the type checker honest
                continue
            with self._isolated("expiry warning", account, report):
                if expires <= now:
                    await self._disconnect(account, f"the Meta access token expired on {expires:%Y-%m-%d}", report)
                else:
                    report.warned += await self._warn(account, expires)
        async for account in account_rows.connected_on(Platform.TIKTOK):
            until = (account.details or {}).get("refresh_expires_at")
            with self._isolated("expiry warning", account, report), contextlib.suppress(TypeError, ValueError):
                refresh_ends = datetime.fromisoformat(str(until))
                if now < refresh_ends <= warn_at:
                    report.warned += await self._warn(account, refresh_ends)

    async def _warn(self, account: ConnectedAccount, expires: datetime) -> int:
        name = account.business_name or account.platform_account_id
        entry = await notify_owner(self.stores.redis, account.user_id, TOKEN_EXPIRING, {
            "account_id": str(account.id), "platform": str(account.platform), "name": account.business_name,
            "expires_at": expires.isoformat(),
            "text": f"Papo's access to {account.platform} account {name} ends on {expires:%Y-%m-%d}: "
                    "connect it again before then to keep it working.",
        }, dedupe_key=f"{TOKEN_EXPIRING}:{account.id}:{expires:%Y-%m-%d}")
        return int(entry is not None)

    async def check_owners(self, now: datetime, report: RoundReport) -> None:
        """Daily: users.identity_verified follows each Meta-connected owner's business verification."""
        settings = self.ctx.settings
        if not (settings.meta_app_id and settings.meta_app_secret):
            return  # nothing can be read without the Meta app (accounts connected by hand)
        due = now - timedelta(seconds=self.timings.meta_recheck)
        async for user in owners_connected_on(META_PLATFORMS):
            if user.identity_checked_at is None or user.identity_checked_at <= due:
                with self._isolated("business verification check", user, report, name=f"owner {user.id}"):
                    await refresh_owner_verification(self.ctx, user)
                    report.owners_checked += 1


async def on_inbound(stores: Stores, events: Iterable[InboundEvent], owners: Mapping[str, list[AccountOwner]]) -> int:
    """Inbound worker hook (once per batch): note each account's last event; act on revocations.

    A TikTok `authorization.removed` (kind `system`, detail_type `authorization_removed`) disconnects the
    account and alerts its owner. Returns how many accounts this disconnected (redeliveries change nothing).
    """
    events = list(events)
    keyed = [(event, owners.get(account_key(event.platform, event.account_id), [])) for event in events]
    await subscriptions.note_events(stores.redis, (account for _, found in keyed for account, _user in found))
    disconnected = 0
    for event, found in keyed:
        if event.kind is EventKind.SYSTEM and event.detail_type == "authorization_removed":
            reason = f"{event.platform} says Papo's access was removed ({event.text or 'no reason given'})"
            for account_id, _user in found:
                disconnected += (await disconnect_account(stores.redis, account_id, reason, notify=True)).changed
    return disconnected
