"""Account credentials for sending: a short Redis cache of each connected account's profile (ciphertext
only), and the last problem the platform reported for an account (shown in the admin bot)."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis

from papo.constants import ACCOUNT_CACHE, ACCOUNT_PROBLEM
from papo.crypto import TokenCipher
from papo.enums import Platform
from papo.models import ConnectedAccount
from papo.services import NotFound


@dataclass(frozen=True, slots=True)
class AccountProfile:
    """What sending needs from `connected_accounts`; secrets stay ciphertext until the send itself."""

    id: str
    user_id: str
    platform: str
    platform_account_id: str
    access_token: str  # ciphertext
    webhook_secret: str | None = None  # ciphertext (Kwai signs replies with it)
    callback_url: str | None = None

    def credential(self, cipher: TokenCipher) -> str:
        """The decrypted secret the sender needs (access token; the signing secret for Kwai)."""
        if self.platform == Platform.KWAI:
            if not self.webhook_secret:
                raise NotFound(f"Kwai account {self.platform_account_id} has no webhook secret to sign replies")
            return cipher.decrypt(self.webhook_secret)
        return cipher.decrypt(self.access_token)


async def load_account(redis: aioredis.Redis, account_id: str, *, ttl: int = 300) -> AccountProfile:
    """The account's profile, from a short Redis cache (ciphertext only) or PostgreSQL; NotFound if gone."""
    cached = await redis.get(ACCOUNT_CACHE + account_id)
    if cached:
        return AccountProfile(**json.loads(cached))
    account = await ConnectedAccount.get_or_none(id=uuid.UUID(account_id))
    if account is None:
        raise NotFound(f"connected account {account_id} no longer exists")
    if account.status == "disconnected":
        raise NotFound(f"{account.platform} account {account.platform_account_id} was disconnected "
                       f"({account.disconnected_reason}): connect it again to send through it")
    profile = AccountProfile(
        id=str(account.id), user_id=str(account.user_id), platform=str(account.platform),
        platform_account_id=account.platform_account_id, access_token=account.access_token,
        webhook_secret=account.webhook_secret, callback_url=account.callback_url,
    )
    await redis.set(ACCOUNT_CACHE + account_id, json.dumps(asdict(profile)), ex=ttl)
    return profile


async def forget_account(redis: aioredis.Redis, account_id: str) -> None:
    """Drop the cached profile (after a re-connect, or when the platform refused its token)."""
    await redis.delete(ACCOUNT_CACHE + account_id)


async def report_account_problem(redis: aioredis.Redis, account_id: str, error: str, outbound_id: str) -> None:
    """Remember that an account needs the owner (expired token, missing permission) for the admin bot."""
    await redis.hset(ACCOUNT_PROBLEM + account_id, mapping={
        "error": error[:500], "at": datetime.now(UTC).isoformat(), "outbound_id": outbound_id,
    })


async def account_problem(redis: aioredis.Redis, account_id: str) -> dict[str, str] | None:
    """The last problem reported for an account, or None."""
    return await redis.hgetall(ACCOUNT_PROBLEM + account_id) or None
