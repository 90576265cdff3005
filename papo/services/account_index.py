"""The Redis index of connected accounts, so the webhook handler can drop unknown accounts without SQL."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from typing import NamedTuple

import redis.asyncio as aioredis

from papo.constants import ACCOUNT_INDEX, ACCOUNT_SECRETS, account_key
from papo.models import ConnectedAccount


class AccountOwner(NamedTuple):
    """One business that connected a platform account (stored in the index as `[account_id, user_id]`)."""

    account_id: uuid.UUID  # the connected account
    user_id: uuid.UUID  # the business user who connected it


async def rebuild(redis: aioredis.Redis) -> int:
    """Rewrite the whole index from PostgreSQL (at start-up of the web and worker roles)."""
    owners: dict[str, list[list[str]]] = {}
    secrets: dict[str, str] = {}
    async for account in ConnectedAccount.filter(status="connected").order_by("connected_at"):
        key = account_key(str(account.platform), account.platform_account_id)
        owners.setdefault(key, []).append([str(account.id), str(account.user_id)])
        if account.webhook_secret:
            secrets[key] = account.webhook_secret
    pipe = redis.pipeline(transaction=True)
    pipe.delete(ACCOUNT_INDEX, ACCOUNT_SECRETS)
    if owners:
        pipe.hset(ACCOUNT_INDEX, mapping={k: json.dumps(v) for k, v in owners.items()})
    if secrets:
        pipe.hset(ACCOUNT_SECRETS, mapping=secrets)
    await pipe.execute()
    return len(owners)


async def add(redis: aioredis.Redis, account: ConnectedAccount) -> None:
    """Index one (new or re-connected) account."""
    key = account_key(str(account.platform), account.platform_account_id)
    rows = [
        [str(a.id), str(a.user_id)]
        async for a in ConnectedAccount.filter(platform=account.platform, status="connected",
                                               platform_account_id=account.platform_account_id)
    ]
    await redis.hset(ACCOUNT_INDEX, key, json.dumps(rows))
    if account.webhook_secret:
        await redis.hset(ACCOUNT_SECRETS, key, account.webhook_secret)


async def owners(redis: aioredis.Redis, keys: Iterable[str]) -> dict[str, list[AccountOwner]]:
    """The owners of each platform account key; unknown accounts map to an empty list."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    values = await redis.hmget(ACCOUNT_INDEX, keys)
    return {
        key: [AccountOwner(uuid.UUID(a), uuid.UUID(u)) for a, u in json.loads(value)] if value else []
        for key, value in zip(keys, values, strict=True)
    }


async def signing_secret(redis: aioredis.Redis, key: str) -> str | None:
    """The encrypted signing secret of a custom-channel account, or None."""
    return await redis.hget(ACCOUNT_SECRETS, key)


class CachedOwners:
    """Owner lookups with a short in-process memory of *known* accounts (the webhook hot path).

    Unknown accounts are always asked again, so a newly connected account is accepted at once; a
    disconnected one may still be accepted for up to `ttl` seconds (the worker checks again).
    """

    def __init__(self, redis: aioredis.Redis, ttl: float = 10.0) -> None:
        self.redis = redis
        self.ttl = ttl
        self._known: dict[str, tuple[float, list[AccountOwner]]] = {}

    async def owners(self, keys: Iterable[str]) -> dict[str, list[AccountOwner]]:
        """Like `owners()`, one Redis round trip only for keys not known recently."""
        now = time.monotonic()
        result: dict[str, list[AccountOwner]] = {}
        missing = []
        for key in dict.fromkeys(keys):
            hit = self._known.get(key)
            if hit is not None and hit[0] > now:
                result[key] = hit[1]
            else:
                missing.append(key)
        if missing:
            for key, found in (await owners(self.redis, missing)).items():
                result[key] = found
                if found:
                    self._known[key] = (now + self.ttl, found)
                else:
                    self._known.pop(key, None)
        return result
