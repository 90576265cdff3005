"""Connected platform accounts; tokens are stored encrypted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from tortoise import Tortoise
from tortoise.transactions import in_transaction

from papo.adapters.oauth.errors import OAuthError
from papo.adapters.waba_lookup import WabaLookup
from papo.crypto import TokenCipher
from papo.enums import Platform
from papo.models import ConnectedAccount, User
from papo.services import ServiceError, plans
from papo.services.subscriptions import CONNECTED

if TYPE_CHECKING:
    from papo.config import Settings


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """A connected account in a list: who owns it and its state, never its tokens or secrets."""

    id: uuid.UUID
    user_id: uuid.UUID | None
    user_email: str | None
    platform: str
    platform_account_id: str
    business_name: str | None
    status: str
    subscription: str | None
    token_expires_at: datetime | None
    connected_at: datetime | None
    disconnected_at: datetime | None


def parse_platform(value: str) -> Platform:
    """A Platform from user input, with a clear error listing the valid ones."""
    try:
        return Platform(value.strip().lower())
    except ValueError:
        allowed = ", ".join(p.value for p in Platform)
        raise ServiceError(f"platform {value!r} is not one of: {allowed}") from None


async def connect_account(
    *,
    user: User,
    platform: str | Platform,
    platform_account_id: str,
    access_token: str,
    cipher: TokenCipher,
    refresh_token: str | None = None,
    token_expires_at: datetime | None = None,
    business_name: str | None = None,
    business_avatar: str | None = None,
    webhook_secret: str | None = None,
    callback_url: str | None = None,
) -> tuple[ConnectedAccount, bool]:
    """Create or update (re-connect) an account; returns (account, created)."""
    platform = parse_platform(platform) if isinstance(platform, str) else platform
    platform_account_id = platform_account_id.strip()
    if not platform_account_id:
        raise ServiceError("the platform account id must not be empty")
    if not access_token.strip():
        raise ServiceError("the access token must not be empty")
    values = {
        "access_token": cipher.encrypt(access_token.strip()),
        "refresh_token": cipher.encrypt(refresh_token) if refresh_token else None,
        "token_expires_at": token_expires_at,
    }
    if business_name is not None:
        values["business_name"] = business_name
    if business_avatar is not None:
        values["business_avatar"] = business_avatar
    if webhook_secret is not None:
        values["webhook_secret"] = cipher.encrypt(webhook_secret)
    if callback_url is not None:
        if not callback_url.startswith(("http://", "https://")):
            raise ServiceError(f"callback URL {callback_url!r} must start with http:// or https://")
        values["callback_url"] = callback_url
    async with in_transaction() as conn:
        account = (
            await ConnectedAccount.select_for_update()
            .filter(user=user, platform=platform, platform_account_id=platform_account_id)
            .first()
        )
        if account is None or getattr(account, "status", CONNECTED) != CONNECTED:
            # A new account, or one coming back: it must fit in the plan (a token refresh always does).
            await plans.ensure_room(conn, user, plans.CONNECTED_ACCOUNTS, excluding=account.id if account else None)
        if account is None:
            account = await ConnectedAccount.create(
                user=user, platform=platform, platform_account_id=platform_account_id, **values
            )
            return account, True
        await account.update_from_dict(values).save()
        return account, False


def access_token(account: ConnectedAccount, cipher: TokenCipher) -> str:
    """The decrypted access token — call only right before using it."""
    return cipher.decrypt(account.access_token)


@dataclass(frozen=True, slots=True)
class WabaFound:
    """The WhatsApp Business Account of a number, as Meta answered: its id, or why there is none."""

    waba_id: str | None
    problem: str | None = None


async def find_waba(settings: Settings, phone_number_id: str, token: str) -> WabaFound:
    """Ask Meta which WABA holds a phone number, with the number's own token (PAPO_GRAPH_API_URL; the app's
    token from PAPO_META_APP_ID/PAPO_META_APP_SECRET for `/debug_token` when both are set)."""
    secret = settings.meta_app_secret.get_secret_value() if settings.meta_app_secret else None
    async with aiohttp.ClientSession() as session:
        lookup = WabaLookup(session, settings.url("graph_api_url"), app_id=settings.meta_app_id, app_secret=secret)
        try:
            waba_id = await lookup.find(phone_number_id, token.strip())
        except OAuthError as exc:
            return WabaFound(None, str(exc))
    if waba_id is None:
        return WabaFound(None, "no WhatsApp Business Account this token reaches lists that number")
    return WabaFound(waba_id)


# Only the columns a list shows: the token, refresh token and webhook secret columns are never read here.
_ACCOUNTS = """
    SELECT a.id, a.user_id, u.email, a.platform, a.platform_account_id, a.business_name,
           coalesce(a.status, 'connected') AS status, a.subscription_state, a.token_expires_at, a.connected_at,
           a.disconnected_at
    FROM connected_accounts a LEFT JOIN users u ON u.id = a.user_id
    WHERE ($1::uuid IS NULL OR a.user_id = $1) AND ($2::text IS NULL OR a.platform = $2)
    ORDER BY u.email NULLS LAST, a.platform, a.platform_account_id
"""


async def list_accounts(user: User | uuid.UUID | None = None, *,
                        platform: str | None = None) -> list[AccountSummary]:
    """Connected accounts (disconnected ones too): one business's when `user` is given, else every one."""
    uid = user.id if isinstance(user, User) else user
    rows = await Tortoise.get_connection("default").execute_query_dict(
        _ACCOUNTS, [uid, parse_platform(platform).value if platform else None])
    return [AccountSummary(
        id=r["id"], user_id=r["user_id"], user_email=r["email"], platform=r["platform"],
        platform_account_id=r["platform_account_id"], business_name=r["business_name"], status=r["status"],
        subscription=r["subscription_state"], token_expires_at=r["token_expires_at"],
        connected_at=r["connected_at"], disconnected_at=r["disconnected_at"]) for r in rows]


# ------------------------------------------------ the worker's reads and writes (lifecycle, poller, publisher)


async def connected_on(*platforms: Platform | str, token_expires_by: datetime | None = None,
                       ) -> AsyncIterator[ConnectedAccount]:
    """The connected accounts on these platforms, one at a time (in no set order); with `token_expires_by`,
    only those whose access token expires then or before."""
    expiring = {"token_expires_at__lte": token_expires_by} if token_expires_by is not None else {}
    async for account in ConnectedAccount.filter(status=CONNECTED, platform__in=[str(p) for p in platforms],
                                                 **expiring):
        yield account


async def connected_account(account_id: uuid.UUID | str) -> ConnectedAccount | None:
    """The account, read afresh, while it is connected; None once it is gone or disconnected."""
    return await ConnectedAccount.get_or_none(id=account_id, status=CONNECTED)


async def store_refreshed_tokens(account_id: uuid.UUID | str, *, access_token: str, expires_at: datetime | None,
                                 refresh_token: str | None = None, details: dict[str, Any] | None = None) -> None:
    """Store a refresh's new tokens (ciphertext) on the account if it is still connected.

    The refresh token and the details are changed only when given: the old refresh token stays when the
    platform sent no new one."""
    values: dict[str, Any] = {"access_token": access_token, "token_expires_at": expires_at}
    if refresh_token is not None:
        values["refresh_token"] = refresh_token
    if details is not None:
        values["details"] = details
    await ConnectedAccount.filter(id=account_id, status=CONNECTED).update(**values)


async def accounts_by_id(account_ids: Collection[uuid.UUID | str]) -> list[ConnectedAccount]:
    """The accounts with these ids, disconnected ones too (an id no longer in the table is left out)."""
    return await ConnectedAccount.filter(id__in=list(account_ids))
