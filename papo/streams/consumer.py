"""Consuming partitioned streams: one owner per partition (a Redis lease), in order, ack after success.

Why leases: events of one conversation share a partition, and a partition is read by one consumer at a
time, so they are processed in order even with many workers. Every partition has one fixed consumer
name in the group, so a new owner first re-reads the entries a dead owner left pending (the same job
XAUTOCLAIM does for unpartitioned streams) before reading new ones. An entry that keeps failing is
moved to the partition's dead-letter stream after `max_deliveries` tries, with its error, and acked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from papo.batching import Coalescer
from papo.streams import codec
from papo.streams.spec import StreamSpec

log = logging.getLogger(__name__)

# Renew only if we still own it; release only our own lease.
_RENEW = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
)
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry: its id, partition and decoded payload."""

    id: str
    partition: int
    data: dict[str, Any]


Handler = Callable[[list[Entry]], Awaitable[None]]


class PartitionedConsumer:
    """Runs `handler` over batches of one partition at a time, for every partition this worker owns."""

    def __init__(
        self,
        redis: aioredis.Redis,
        spec: StreamSpec,
        handler: Handler,
        *,
        worker_id: str,
        batch: int = 256,
        block_ms: int = 500,
        lease_ms: int = 15_000,
        max_deliveries: int = 5,
        retry_delay: float = 0.5,
        drain_timeout: float = 10.0,
        combine: bool = False,
    ) -> None:
        self.redis = redis
        self.spec = spec
        self.handler = handler
        self.worker_id = worker_id
        self.batch = batch
        self.block_ms = block_ms
        self.lease_ms = lease_ms
        self.max_deliveries = max_deliveries
        self.retry_delay = retry_delay
        self.drain_timeout = drain_timeout
        # `combine`: small batches that this worker's partitions read in one loop iteration go to the handler
        # together, so its round trips (SQL, Redis, MongoDB) are paid once for all of them. Large batches
        # (a backlog) already amortise their round trips and run alone, concurrently: one partition waits
        # on the database while another computes.
        self._combiner: Coalescer[list[Entry], None] | None = Coalescer(self._handle_together) if combine else None
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._groups_ready: set[int] = set()
        self._stopping = asyncio.Event()
        self.processed = 0
        self.dead_lettered = 0

    # ------------------------------------------------------------ ownership

    async def _heartbeat(self) -> int:
        """Announce this worker; return how many partitions it may own (fair share)."""
        now = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.spec.workers_key, {self.worker_id: now})
        pipe.zremrangebyscore(self.spec.workers_key, 0, now - self.lease_ms)
        pipe.zcard(self.spec.workers_key)
        *_, live = await pipe.execute()
        return math.ceil(self.spec.partitions / max(1, live))

    async def _balance(self) -> None:
        """Renew owned leases, release extras, take free partitions up to the fair share."""
        share = await self._heartbeat()
        for partition in list(self._tasks):
            task = self._tasks[partition]
            lease = self.spec.lease_key(partition)
            renewed = await self._renew(keys=[lease], args=[self.worker_id, self.lease_ms])
            if task.done() or not renewed:
                if not task.done():
                    log.warning("lost the lease of %s partition %d", self.spec.name, partition)
                await self._stop_partition(partition)
        while len(self._tasks) > share:
            await self._stop_partition(max(self._tasks))
        if len(self._tasks) >= share:
            return
        start = sum(map(ord, self.worker_id)) % self.spec.partitions  # spread first picks across workers
        for offset in range(self.spec.partitions):
            partition = (start + offset) % self.spec.partitions
            if partition in self._tasks:
                continue
            if await self.redis.set(self.spec.lease_key(partition), self.worker_id, nx=True, px=self.lease_ms):
                await self._ensure_group(partition)
                self._tasks[partition] = asyncio.create_task(
                    self._run_partition(partition), name=f"{self.spec.name}:{partition}"
                )
                if len(self._tasks) >= share:
                    return

    async def _stop_partition(self, partition: int) -> None:
        task = self._tasks.pop(partition)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self._release(keys=[self.spec.lease_key(partition)], args=[self.worker_id])

    async def _ensure_group(self, partition: int) -> None:
        if partition in self._groups_ready:
            return
        try:
            await self.redis.xgroup_create(self.spec.key(partition), self.spec.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups_ready.add(partition)

    # ------------------------------------------------------------ processing

    async def _read(self, partition: int, last_id: str) -> list[Entry]:
        """Pending entries first (`last_id` "0"…), then new ones (">")."""
        block = None if last_id != ">" else self.block_ms
        reply = await self.redis.xreadgroup(
            self.spec.group,
            self.spec.consumer_name(partition),
            {self.spec.key(partition): last_id},
            count=self.batch,
            block=block,
        )
        entries = []
        for _stream, items in reply or []:
            for entry_id, fields in items:
                if fields is None:  # deleted while pending
                    await self.redis.xack(self.spec.key(partition), self.spec.group, entry_id)
                    continue
                try:
                    data = codec.decode(fields)
                except codec.CodecError as exc:
                    await self._dead_letter(partition, entry_id, fields, f"undecodable: {exc}")
                    continue
                entries.append(Entry(entry_id, partition, data))
        return entries

    async def _run_partition(self, partition: int) -> None:
        """Process one partition until told to stop: its pending history first, then new entries, in order."""
        source = "0"  # "0" = this partition's pending entries (left by us or a dead owner); ">" = new ones
        while not self._stopping.is_set():
            entries = await self._read(partition, source)
            if not entries:
                source = ">"
                continue
            if await self._process(partition, entries) < len(entries):
                # Keep order: the failed entry stays pending and is retried first, after a short pause.
                source = "0"
                await asyncio.sleep(self.retry_delay)

    async def _handle_together(self, batches: list[list[Entry]]) -> list[None]:
        """One handler call for the batches of several partitions (each keeps its order)."""
        await self.handler([entry for batch in batches for entry in batch])
        return [None] * len(batches)

    async def _process(self, partition: int, entries: list[Entry], *, together: bool = True) -> int:
        """Handle a batch; on failure isolate the bad entry. Returns how many entries were settled."""
        key = self.spec.key(partition)
        together = together and self._combiner is not None and len(entries) < max(2, self.batch // 2)
        try:
            if together:
                assert self._combiner is not None
                await self._combiner.submit(entries)
            else:
                await self.handler(entries)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Alone from here on: a bad entry of another partition must not count against ours.
            if len(entries) > 1 or together:
                log.warning("batch of %d failed on %s; retrying entry by entry", len(entries), key)
                settled = 0
                for entry in entries:
                    if await self._process(partition, [entry], together=False) != 1:
                        break
                    settled += 1
                return settled
            entry = entries[0]
            failures = await self.redis.hincrby(self.spec.failures_key(partition), entry.id, 1)
            log.exception("entry %s of %s failed (try %d of %d)", entry.id, key, failures, self.max_deliveries)
            if failures < self.max_deliveries:
                return 0
            error = traceback.format_exc(limit=3)
            await self._dead_letter(partition, entry.id, codec.encode(entry.data), error)
            return 1
        await self.redis.xack(key, self.spec.group, *(e.id for e in entries))
        self.processed += len(entries)
        return len(entries)

    async def _dead_letter(self, partition: int, entry_id: str, fields: dict[str, str], error: str) -> None:
        """Move an entry aside with its error, and ack it so the partition moves on."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(self.spec.dead_key(partition), {**fields, "error": error[-4000:], "source_id": entry_id})
        pipe.xack(self.spec.key(partition), self.spec.group, entry_id)
        pipe.hdel(self.spec.failures_key(partition), entry_id)
        await pipe.execute()
        self.dead_lettered += 1
        log.error("entry %s of %s moved to dead letters: %s", entry_id, self.spec.key(partition), error[-300:])

    # ------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        """Own and process partitions until `stop` is set; then finish, release leases, leave."""
        interval = self.lease_ms / 3000
        try:
            while not stop.is_set():
                await self._balance()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
        finally:
            # Drain: let each partition finish its current batch, then cancel what is still running.
            self._stopping.set()
            if self._tasks:
                await asyncio.wait(self._tasks.values(), timeout=self.drain_timeout)
            for partition in list(self._tasks):
                await self._stop_partition(partition)
            await self.redis.zrem(self.spec.workers_key, self.worker_id)
