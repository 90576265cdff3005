"""The Redis token bucket: bursts, refill, waits, and all-or-nothing across buckets."""

from __future__ import annotations

import asyncio
import time

import pytest

from papo.pipeline.ratelimit import Bucket, Limit, RateLimiter, account_bucket

T0 = 1_800_000_000_000  # a fixed "now" in ms, so the arithmetic is exact


async def test_burst_then_wait_then_refill(stores) -> None:
    limiter = RateLimiter(stores.redis)
    bucket = account_bucket("acc-1", "send", Limit(rate=80, burst=80))
    grants = [await limiter.try_acquire([bucket], now_ms=T0) for _ in range(81)]
    assert grants[:80] == [0.0] * 80
    assert grants[80] == pytest.approx(1 / 80, abs=0.001)  # the 81st waits one token's time (12.5 ms)
    assert await limiter.try_acquire([bucket], now_ms=T0 + 13) == 0.0  # refilled by then
    assert await limiter.try_acquire([bucket], now_ms=T0 + 13) > 0


async def test_pair_limit_allows_a_small_burst_then_one_per_six_seconds(stores) -> None:
    limiter = RateLimiter(stores.redis)
    pair = account_bucket("acc-1", "pair:5511987654321", Limit(rate=1 / 6, burst=2))
    assert [await limiter.try_acquire([pair], now_ms=T0) for _ in range(2)] == [0.0, 0.0]
    assert await limiter.try_acquire([pair], now_ms=T0) == pytest.approx(6.0, abs=0.01)
    assert await limiter.try_acquire([pair], now_ms=T0 + 3000) == pytest.approx(3.0, abs=0.01)
    assert await limiter.try_acquire([pair], now_ms=T0 + 6000) == 0.0


async def test_a_send_held_back_by_one_bucket_spends_no_token_of_the_others(stores) -> None:
    limiter = RateLimiter(stores.redis)
    account = account_bucket("acc-2", "send", Limit(rate=1, burst=2))
    pair = account_bucket("acc-2", "pair:55", Limit(rate=1 / 6, burst=1))
    assert await limiter.try_acquire([account, pair], now_ms=T0) == 0.0
    for _ in range(5):
        assert await limiter.try_acquire([account, pair], now_ms=T0) > 0  # the pair bucket is empty…
    other = account_bucket("acc-2", "pair:66", Limit(rate=1 / 6, burst=1))
    assert await limiter.try_acquire([account, other], now_ms=T0) == 0.0  # …so the account still has its token


async def test_private_replies_per_hour(stores) -> None:
    limiter = RateLimiter(stores.redis)
    hourly = account_bucket("acc-3", "private", Limit.per_hour(750))
    for _ in range(750):
        assert await limiter.try_acquire([hourly], now_ms=T0) == 0.0
    assert await limiter.try_acquire([hourly], now_ms=T0) == pytest.approx(4.8, abs=0.01)


async def test_buckets_are_shared_between_limiters_and_use_redis_time(stores) -> None:
    bucket = Bucket("papo:rl:{acc-4}:send", Limit(rate=20, burst=3))
    first, second = RateLimiter(stores.redis), RateLimiter(stores.redis)
    results = await asyncio.gather(*(lim.try_acquire([bucket]) for lim in (first, second) * 3))
    assert results.count(0.0) == 3  # 6 concurrent asks, burst 3: exactly 3 granted
    started = time.monotonic()
    waited = await first.acquire([bucket], max_wait=1.0)
    assert waited > 0 and time.monotonic() - started >= 0.04
    with pytest.raises(TimeoutError):
        await _drain_then_acquire(first)


async def _drain_then_acquire(limiter: RateLimiter) -> None:
    slow = Bucket("papo:rl:{acc-4}:slow", Limit(rate=0.01, burst=1))
    await limiter.try_acquire([slow])
    await limiter.acquire([slow], max_wait=5.0)  # the next token is 100 s away: refuse instead of blocking


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        Limit(rate=0, burst=1)
    assert Limit.per_day(150).rate == pytest.approx(150 / 86400)
