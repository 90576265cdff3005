"""Partitioned streams on a real Redis: dedupe, order, leases, takeover of pending entries, dead letters."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from papo.streams import codec
from papo.streams.admin import list_dead, requeue
from papo.streams.consumer import Entry, PartitionedConsumer
from papo.streams.producer import Item, Producer
from papo.streams.spec import StreamSpec


@contextlib.asynccontextmanager
async def running(*consumers: PartitionedConsumer):
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in consumers]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def wait_for(predicate, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def wait_for_async(read, expected, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while (value := await read()) != expected:
        assert asyncio.get_running_loop().time() < deadline, f"still {value!r}, expected {expected!r}"
        await asyncio.sleep(0.02)


def test_codec_refuses_unknown_versions() -> None:
    assert codec.decode(codec.encode({"a": "ã"})) == {"a": "ã"}
    with pytest.raises(codec.CodecError, match="unsupported entry version '9'"):
        codec.decode({"v": "9", "data": "{}"})
    with pytest.raises(codec.CodecError):
        codec.decode({"v": "1", "data": "[1]"})


def test_partitioning_is_stable() -> None:
    spec = StreamSpec("t", 8)
    assert spec.partition_for("whatsapp:123:5511") == spec.partition_for("whatsapp:123:5511")
    assert len({spec.partition_for(f"k{i}") for i in range(200)}) == 8
    assert spec.key(3) == "papo:{t:3}:stream" and spec.seen_key(3, "x").startswith("papo:{t:3}:")


async def test_dedupe_is_atomic_under_concurrency(stores) -> None:
    producer = Producer(stores.redis, StreamSpec("t", 4))
    results = await asyncio.gather(*(producer.append(Item("conv", {"n": 1}, dedupe_key="wamid.X")) for _ in range(50)))
    assert sum(r is not None for r in results) == 1
    assert sum([await stores.redis.xlen(StreamSpec("t", 4).key(p)) for p in range(4)]) == 1


async def test_two_consumers_split_partitions_and_keep_order_per_key(stores) -> None:
    spec = StreamSpec("t", 4)
    producer = Producer(stores.redis, spec)
    await producer.append_many([Item(f"conv{i % 10}", {"conv": i % 10, "n": i}) for i in range(400)])
    seen: dict[int, list[int]] = {}
    owners: dict[int, set[str]] = {}

    def handler_for(name: str):
        async def handle(entries: list[Entry]) -> None:
            await asyncio.sleep(0.001)
            for e in entries:
                seen.setdefault(e.data["conv"], []).append(e.data["n"])
                owners.setdefault(e.partition, set()).add(name)
        return handle

    a = PartitionedConsumer(stores.redis, spec, handler_for("a"), worker_id="a", batch=16, lease_ms=3000)
    b = PartitionedConsumer(stores.redis, spec, handler_for("b"), worker_id="b", batch=16, lease_ms=3000)
    async with running(a, b):
        await wait_for(lambda: a.processed + b.processed == 400)
    assert all(ns == sorted(ns) for ns in seen.values())
    assert sum(len(v) for v in seen.values()) == 400
    assert a.processed > 0 and b.processed > 0  # both did work
    assert all(len(names) == 1 for names in owners.values())  # one owner per partition


async def test_new_owner_processes_what_a_dead_worker_left_pending(stores) -> None:
    spec = StreamSpec("t", 1)
    producer = Producer(stores.redis, spec)
    await producer.append_many([Item("k", {"n": i}) for i in range(10)])
    await stores.redis.xgroup_create(spec.key(0), spec.group, id="0", mkstream=True)
    # A worker read 10 entries and died before acking (its lease expired).
    await stores.redis.xreadgroup(spec.group, spec.consumer_name(0), {spec.key(0): ">"}, count=10)
    got: list[int] = []

    async def handle(entries: list[Entry]) -> None:
        got.extend(e.data["n"] for e in entries)

    consumer = PartitionedConsumer(stores.redis, spec, handle, worker_id="new", lease_ms=3000)
    async with running(consumer):
        await wait_for(lambda: len(got) == 10)
    assert got == list(range(10))
    assert (await stores.redis.xpending(spec.key(0), spec.group))["pending"] == 0


async def test_poison_entry_goes_to_dead_letters_and_the_rest_go_on(stores) -> None:
    spec = StreamSpec("t", 1)
    producer = Producer(stores.redis, spec)
    await producer.append_many([Item("k", {"n": i}) for i in range(5)])
    got: list[int] = []

    async def handle(entries: list[Entry]) -> None:
        for e in entries:
            if e.data["n"] == 2:
                raise RuntimeError("boom on 2")
        got.extend(e.data["n"] for e in entries)

    consumer = PartitionedConsumer(stores.redis, spec, handle, worker_id="w", lease_ms=3000,
                                   max_deliveries=3, retry_delay=0.01)
    async with running(consumer):
        await wait_for(lambda: len(got) == 4)
    assert got == [0, 1, 3, 4]  # order kept around the poison entry
    dead = await list_dead(stores.redis, spec)
    assert len(dead) == 1 and "boom on 2" in dead[0].error
    assert codec.decode(dead[0].fields) == {"n": 2}
    new_id = await requeue(stores.redis, spec, 0, dead[0].id)
    assert new_id is not None and await list_dead(stores.redis, spec) == []
    # What was settled (handled, or dead-lettered) is deleted from the stream; the requeued entry waits.
    [(only_id, fields)] = await stores.redis.xrange(spec.key(0))
    assert only_id == new_id and codec.decode(fields) == {"n": 2}


async def test_settled_entries_leave_the_stream_and_a_failing_one_keeps_itself_and_the_rest(stores) -> None:
    spec = StreamSpec("trim", 1)
    producer = Producer(stores.redis, spec)
    await producer.append_many([Item("k", {"n": i}) for i in range(300)])
    fail_on = asyncio.Event()
    fail_on.set()
    got: list[int] = []

    async def handle(entries: list[Entry]) -> None:
        for e in entries:
            if e.data["n"] == 250 and fail_on.is_set():
                raise ConnectionError("the database went away")  # a store outage: retried, never dead-lettered
        got.extend(e.data["n"] for e in entries)

    consumer = PartitionedConsumer(stores.redis, spec, handle, worker_id="w", lease_ms=3000, batch=50,
                                   retry_delay=0.01)
    async with running(consumer):
        await wait_for(lambda: len(got) == 250)
        await asyncio.sleep(0.2)
        left = [codec.decode(fields)["n"] for _, fields in await stores.redis.xrange(spec.key(0))]
        assert left == list(range(250, 300))  # the stuck entry and everything after it are still there
        fail_on.clear()
        await wait_for(lambda: len(got) == 300)
        await wait_for_async(lambda: stores.redis.xlen(spec.key(0)), 0)
    assert got == list(range(300))
    assert await stores.redis.xpending(spec.key(0), spec.group) == {"pending": 0, "min": None, "max": None,
                                                                     "consumers": []}


async def test_append_survives_a_script_cache_flush(stores) -> None:
    """After a Redis restart the Lua script is gone (NOSCRIPT): the producer reloads it and goes on."""
    producer = Producer(stores.redis, StreamSpec("t", 2))
    assert await producer.append(Item("a", {"n": 1}, dedupe_key="x1")) is not None
    await stores.redis.script_flush()
    assert await producer.append(Item("a", {"n": 2}, dedupe_key="x2")) is not None
    assert await producer.append(Item("a", {"n": 2}, dedupe_key="x2")) is None


async def test_combined_small_batches_of_partitions_share_calls_and_a_poison_entry_stays_its_own(stores) -> None:
    spec = StreamSpec("t", 4)
    producer = Producer(stores.redis, spec)
    poison = 13
    calls: list[set[int]] = []
    got: dict[int, list[int]] = {}

    async def handle(entries: list[Entry]) -> None:
        calls.append({e.partition for e in entries})
        if any(e.data["n"] == poison for e in entries):
            raise RuntimeError(f"boom on {poison}")
        for e in entries:
            got.setdefault(e.data["conv"], []).append(e.data["n"])

    consumer = PartitionedConsumer(stores.redis, spec, handle, worker_id="w", batch=64, lease_ms=3000,
                                   max_deliveries=2, retry_delay=0.01, combine=True)
    async with running(consumer):
        await wait_for(lambda: len(consumer._tasks) == 4)  # every partition is read (blocked) by now
        await asyncio.sleep(0.2)
        # One round trip appends to every partition: their reads wake in the same loop iteration.
        await producer.append_many([Item(f"conv{i % 8}", {"conv": i % 8, "n": i}) for i in range(40)])
        await wait_for(lambda: sum(map(len, got.values())) == 39)
    assert max(len(partitions) for partitions in calls) > 1  # partitions' batches went in one call
    assert all(ns == sorted(ns) for ns in got.values())  # order per key kept
    dead = await list_dead(stores.redis, spec)
    assert [codec.decode(d.fields)["n"] for d in dead] == [poison]  # only the bad entry, not its neighbours
    failures = [await stores.redis.hgetall(spec.failures_key(p)) for p in range(4)]
    assert all(not f for f in failures)


async def test_combining_takes_small_batches_together_and_full_ones_alone(stores) -> None:
    spec = StreamSpec("t", 2)
    calls: list[list[int]] = []

    async def handle(entries: list[Entry]) -> None:
        calls.append(sorted({e.partition for e in entries}))

    consumer = PartitionedConsumer(stores.redis, spec, handle, worker_id="w", batch=4, combine=True)

    def batch(partition: int, size: int) -> list[Entry]:
        return [Entry(f"1-{i}", partition, {"n": i}) for i in range(size)]

    # Two partitions' batches handed over in the same loop iteration.
    assert await asyncio.gather(consumer._process(0, batch(0, 1)), consumer._process(1, batch(1, 1))) == [1, 1]
    assert calls == [[0, 1]]  # small: one call for both
    calls.clear()
    assert await asyncio.gather(consumer._process(0, batch(0, 4)), consumer._process(1, batch(1, 4))) == [4, 4]
    assert sorted(calls) == [[0], [1]]  # full (a backlog): each alone, so one waits on I/O while the other runs
