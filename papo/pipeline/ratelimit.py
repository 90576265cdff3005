"""Token buckets in Redis, shared by every worker: per-account send rates and per-recipient pair limits.

One Lua script checks several buckets and takes a token from each only when all have one, so a send
held back by the customer's pair limit does not spend the account's budget. Time is Redis's own clock
(`TIME`), so workers on different machines agree. A bucket refills at `rate` tokens per second up to
`capacity` (the burst). Keys of one account share a hash tag: one Redis Cluster slot, one script.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from papo.adapters.senders import OutboundKind, OutboundMessage
from papo.batching import AutoPipeline
from papo.constants import bucket_key
from papo.enums import Platform

# KEYS = buckets; ARGV = cost, now_ms (0 = Redis TIME), then rate_per_ms and capacity per bucket.
# Returns 0 when every bucket gave a token, else the milliseconds until all of them can.
_ACQUIRE = """
local cost = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local levels = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[1 + 2 * i])
  local capacity = tonumber(ARGV[2 + 2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or capacity
  local ts = tonumber(state[2]) or now
  if now > ts then
    tokens = math.min(capacity, tokens + (now - ts) * rate)
  end
  levels[i] = tokens
  if tokens < cost then
    wait = math.max(wait, math.ceil((cost - tokens) / rate))
  end
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[1 + 2 * i])
  local capacity = tonumber(ARGV[2 + 2 * i])
  local tokens = levels[i]
  if wait == 0 then
    tokens = tokens - cost
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', now)
  redis.call('PEXPIRE', key, math.ceil(capacity / rate) + 1000)
end
return wait
"""


@dataclass(frozen=True, slots=True)
class Limit:
    """`rate` tokens per second, at most `burst` saved up."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a limit needs rate > 0 and burst >= 1")

    @classmethod
    def per_hour(cls, count: float, burst: float | None = None) -> Limit:
        """`count` per hour (burst defaults to the whole hour's budget)."""
        return cls(count / 3600.0, burst if burst is not None else count)

    @classmethod
    def per_day(cls, count: float, burst: float | None = None) -> Limit:
        """`count` per day."""
        return cls(count / 86400.0, burst if burst is not None else count)


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket to draw from: its Redis key and its limit."""

    key: str
    limit: Limit


def account_bucket(account_id: str, name: str, limit: Limit) -> Bucket:
    """A bucket of one connected account (all of an account's buckets share one hash tag)."""
    return Bucket(bucket_key(account_id, name), limit)


class RateLimiter:
    """Takes tokens from Redis buckets atomically; waits when they are empty."""

    def __init__(self, redis: aioredis.Redis, *, auto: AutoPipeline | None = None) -> None:
        self.redis = redis
        self.auto = auto or AutoPipeline(redis)  # concurrent sends share round trips
        self._sha = hashlib.sha1(_ACQUIRE.encode()).hexdigest()

    async def try_acquire(self, buckets: Sequence[Bucket], *, cost: float = 1.0, now_ms: int = 0) -> float:
        """Take `cost` from every bucket, or none: 0.0 when granted, else the seconds to wait."""
        if not buckets:
            return 0.0
        args: list[float | int] = [cost, now_ms]
        for bucket in buckets:
            args += [bucket.limit.rate / 1000.0, bucket.limit.burst]
        wait_ms = await self.auto.script(_ACQUIRE, self._sha, [b.key for b in buckets], args)
        return int(wait_ms) / 1000.0

    async def acquire(self, buckets: Sequence[Bucket], *, max_wait: float) -> float:
        """Wait until every bucket gives a token; returns the seconds waited, or raises TimeoutError when
        the next wait would exceed `max_wait` in total (the caller then retries later)."""
        waited = 0.0
        while True:
            wait = await self.try_acquire(buckets)
            if wait == 0:
                return waited
            if waited + wait > max_wait:
                raise TimeoutError(f"rate limit: {wait:.2f}s more would exceed the {max_wait:.0f}s limit")
            await asyncio.sleep(wait)
            waited += wait


def campaign_bucket(account_id: str, per_second: float) -> Bucket:
    """Broadcast sends of one account: never more than `per_second` reaching the platform in any one second.

    A bucket lets `burst + rate` through in its first second; 5 % of the budget as burst and 85 % as rate
    keep every one-second window of *acquisitions* at 90 % of the limit, and the last 10 % absorbs the
    jitter of the network and the event loop, which can bunch sends taken over a little more than a
    second into one second of arrivals at the platform.
    """
    burst = max(1.0, per_second * 0.05)
    return account_bucket(account_id, "campaign", Limit(max(0.1, per_second * 0.85), burst))


def send_buckets(request: OutboundMessage, limits: Any) -> list[Bucket]:
    """The buckets one send draws from; `limits` is an OutboundSettings (rates per account and customer)."""
    acc = request.account_id
    per_second = {
        Platform.WHATSAPP: limits.whatsapp_per_second, Platform.INSTAGRAM: limits.instagram_per_second,
        Platform.FACEBOOK: limits.messenger_per_second, Platform.KWAI: limits.kwai_per_second,
    }
    buckets = []
    if request.platform in per_second:
        rate = per_second[request.platform]
        buckets.append(account_bucket(acc, "send", Limit(rate, max(1.0, rate))))
    if request.platform is Platform.YOUTUBE:
        buckets.append(account_bucket(acc, "send", Limit.per_day(limits.youtube_replies_per_day)))
    if request.kind is OutboundKind.PRIVATE_REPLY:
        buckets.append(account_bucket(acc, "private", Limit.per_hour(limits.private_replies_per_hour)))
    if request.campaign_id:
        buckets.append(campaign_bucket(acc, limits.broadcast_per_second))
    if request.platform is Platform.WHATSAPP:
        # WhatsApp's pair limit: about one message per 6 s to the same customer, after a small burst.
        pair = Limit(1.0 / limits.whatsapp_pair_seconds, limits.whatsapp_pair_burst)
        buckets.append(account_bucket(acc, f"pair:{request.recipient_phone or request.recipient_id}", pair))
    return buckets
