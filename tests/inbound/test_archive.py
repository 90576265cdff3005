"""The raw-body archive writes a trickle of webhooks as few large inserts, and loses none of them."""

from __future__ import annotations

import asyncio
import time

from papo.constants import CONSUMER_GROUP, MONGO_RAW_WEBHOOKS, RAW_STREAM
from papo.pipeline.archive import RawArchiver
from papo.runtime import Stores
from papo.streams import codec
from tests.conftest import eventually


async def _add(stores: Stores, n: int) -> None:
    body = {"platform": "whatsapp", "received_at": time.time(), "body": f'{{"n": {n}}}'}
    await stores.redis.xadd(RAW_STREAM, codec.encode({"bodies": [body]}))


async def test_a_trickle_of_raw_bodies_is_archived_in_one_insert(stores: Stores) -> None:
    archiver = RawArchiver(stores, worker_id="archive-test", linger=1.0)
    inserts: list[int] = []
    store = archiver._store

    async def counting(entries: list[tuple[str, dict[str, str]]]) -> None:
        inserts.append(len(entries))
        await store(entries)

    archiver._store = counting  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(archiver.run(stop))
    try:
        await _add(stores, 0)
        await eventually(lambda: _archived(stores, 1))
        for n in range(1, 5):  # arriving one by one while the archiver lingers after the first
            await _add(stores, n)
            await asyncio.sleep(0.05)
        await eventually(lambda: _archived(stores, 5))
        assert inserts == [1, 4]
        assert (await stores.redis.xpending(RAW_STREAM, CONSUMER_GROUP))["pending"] == 0  # all acked
    finally:
        started = time.monotonic()
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert time.monotonic() - started < 1.0  # the linger does not hold up a stop


async def _archived(stores: Stores, count: int) -> bool:
    return await stores.analytics.db[MONGO_RAW_WEBHOOKS].count_documents({}) == count
