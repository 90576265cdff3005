"""Connected platform accounts; tokens are stored encrypted."""

from __future__ import annotations

from datetime import datetime

from tortoise.transactions import in_transaction

from papo.crypto import TokenCipher
from papo.enums import Platform
from papo.models import ConnectedAccount, User
from papo.services import ServiceError, plans
from papo.services.subscriptions import CONNECTED


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
