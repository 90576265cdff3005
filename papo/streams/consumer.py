"""Consuming partitioned streams: one owner per partition (a fenced Redis lease), in order, ack after success.

Why leases: events of one conversation share a partition, and a partition is read by one consumer at a
time, so they are processed in order even with many workers. Every partition has one fixed consumer
name in the group, so a new owner first re-reads the entries a dead owner left pending (the same job
XAUTOCLAIM does for unpartitioned streams) before reading new ones. An entry that keeps failing is
moved to the partition's dead-letter stream after `max_deliveries` tries, with its error, and acked.

Takeover and fencing: a lease lives `lease_ms` (1.5 s by default) and its owner renews it every third of
that, so a killed worker's partitions are owned again within about two seconds. Each acquisition takes
the next number of the partition's epoch counter, and a read is a script that returns entries only
while the caller's lease (worker and epoch) is still the partition's: a worker that stalled past its
lease cannot take one more entry once another owns the partition. What it already holds carries its
epoch (`Entry.epoch`), for stores that fence writes too (the inbound pipeline does, in PostgreSQL).

Faults: a store that goes away never ends `run()`. Reads, acks and lease rounds that fail are retried
with bounded backoff, logged once when the trouble starts and once when it ends; a handler that fails
because a store is unreachable does not count towards dead-lettering (the entry is not bad).
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
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from papo.batching import Coalescer
from papo.resilience import Outage, is_store_down
from papo.streams import codec
from papo.streams.spec import StreamSpec

log = logging.getLogger(__name__)

# KEYS: lease, epoch counter. ARGV: worker id, ttl ms. The caller's epoch if it got (or already held)
# the lease, else 0.
_ACQUIRE = """
local held = redis.call('GET', KEYS[1])
if held then
  local at = string.find(held, '#', 1, true)
  if at and string.sub(held, 1, at - 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.sub(held, at + 1))
  end
  return 0
end
-- Never below the clock in ms: epochs keep rising even if Redis lost the counter (PostgreSQL keeps the
-- highest epoch that wrote, and would refuse every lower one).
local now = redis.call('TIME')
local floor = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local epoch = redis.call('INCR', KEYS[2])
if epoch < floor then
  epoch = floor
  redis.call('SET', KEYS[2], epoch)
end
redis.call('SET', KEYS[1], ARGV[1] .. '#' .. epoch, 'PX', ARGV[2])
return epoch
"""
# Renew only if we still own it; release only our own lease.
_RENEW = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
)
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
# KEYS: lease, stream. ARGV: lease token, group, consumer, count, start id. -1 when the lease is not the
# caller's (fenced); else {entries, last id of the stream when nothing was read ('' otherwise)}.
_READ = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local reply = redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[3], 'COUNT', ARGV[4], 'STREAMS', KEYS[2], ARGV[5])
local items = {}
if reply then items = reply[1][2] end
if #items > 0 then return {items, ''} end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
if #last > 0 then return {items, last[1][1]} end
return {items, '0-0'}
"""


class Fenced(Exception):
    """This worker's lease of a partition is gone: another worker owns it now."""


class Retry(Exception):
    """An expected, retryable failure of a handler (a platform's 429, say): counted like any failure, but
    the handler that raises it logs it (one warning line with its reason and its own attempt count, which
    the final "gave up after N attempts" matches); the consumer adds no line and no traceback (those are
    for bugs)."""


PLAUSIBLE_MS = 1_600_000_000_000  # 2020-09: an entry id below it was not made by a Redis clock


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry: its id, partition, decoded payload, and the reader's lease epoch (0: unfenced)."""

    id: str
    partition: int
    data: dict[str, Any]
    epoch: int = 0

    @property
    def appended_at(self) -> datetime | None:
        """When the entry was appended: Redis stream ids start with the server's clock in milliseconds
        (None for an id that is not such a time, as hand-made ids in tests are)."""
        try:
            ms = int(self.id.split("-", 1)[0])
        except ValueError:
            return None
        return datetime.fromtimestamp(ms / 1000, UTC) if ms > PLAUSIBLE_MS else None


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
        lease_ms: int = 1_500,
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
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._fenced_read = redis.register_script(_READ)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._tokens: dict[int, str] = {}  # partition -> "worker#epoch" of the lease we hold
        self._groups_ready: set[int] = set()
        self._stopping = asyncio.Event()
        self.processed = 0
        self.dead_lettered = 0
        self.takeovers = 0  # partitions acquired (a restart of the consumer counts its first ones too)

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

    async def _renew_all(self) -> None:
        """Renew every lease we hold in one round trip; stop the partitions whose lease is gone."""
        owned = list(self._tasks)
        if not owned:
            return
        pipe = self.redis.pipeline(transaction=False)
        for partition in owned:
            await self._renew(keys=[self.spec.lease_key(partition)], args=[self._tokens[partition], self.lease_ms],
                              client=pipe)  # queues EVALSHA on the pipeline (loaded first if Redis lost it)
        renewed = await pipe.execute()
        for partition, ok in zip(owned, renewed, strict=True):
            task = self._tasks[partition]
            if task.done() or not ok:
                if not task.done():
                    log.warning("lost the lease of %s partition %d", self.spec.name, partition)
                await self._stop_partition(partition)

    async def _balance(self) -> None:
        """Renew owned leases, release extras, take free partitions up to the fair share."""
        share = await self._heartbeat()
        await self._renew_all()
        while len(self._tasks) > share:
            await self._stop_partition(max(self._tasks))
        if len(self._tasks) >= share:
            return
        start = sum(map(ord, self.worker_id)) % self.spec.partitions  # spread first picks across workers
        for offset in range(self.spec.partitions):
            partition = (start + offset) % self.spec.partitions
            if partition in self._tasks:
                continue
            keys = [self.spec.lease_key(partition), self.spec.epoch_key(partition)]
            epoch = await self._acquire(keys=keys, args=[self.worker_id, self.lease_ms])
            if epoch:
                await self._ensure_group(partition)
                self._tokens[partition] = token = f"{self.worker_id}#{epoch}"
                self.takeovers += 1
                self._tasks[partition] = asyncio.create_task(
                    self._run_partition(partition, token, int(epoch)), name=f"{self.spec.name}:{partition}"
                )
                if len(self._tasks) >= share:
                    return

    async def _stop_partition(self, partition: int) -> None:
        """Stop a partition's task and give its lease back (if Redis answers: else it expires)."""
        task = self._tasks.pop(partition)
        token = self._tokens.pop(partition)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # its error was logged where it happened
            await task
        with contextlib.suppress(Exception):  # Redis down: the lease expires on its own
            await self._release(keys=[self.spec.lease_key(partition)], args=[token])

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

    async def _read(self, partition: int, last_id: str, token: str, epoch: int) -> tuple[list[Entry], int, str]:
        """Pending entries first (`last_id` "0"…), then new ones (">"), while `token` holds the lease.

        Returns the entries, how many the stream gave (deleted and undecodable ones are settled here) and,
        when it gave none, the stream's last id (what to wait for new entries after).
        """
        key = self.spec.key(partition)
        reply = await self._fenced_read(
            keys=[self.spec.lease_key(partition), key],
            args=[token, self.spec.group, self.spec.consumer_name(partition), self.batch, last_id],
        )
        if reply == -1:
            raise Fenced(f"{self.spec.name} partition {partition} is owned by another worker now")
        items, stream_last = reply
        entries = []
        for entry_id, flat in items:
            if not flat:  # deleted while pending
                await self.redis.xack(key, self.spec.group, entry_id)
                continue
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            try:
                data = codec.decode(fields)
            except codec.CodecError as exc:
                await self._dead_letter(partition, entry_id, fields, f"undecodable: {exc}")
                continue
            entries.append(Entry(entry_id, partition, data, epoch))
        return entries, len(items), stream_last

    async def _wait_for_new(self, partition: int, after: str) -> None:
        """Block until the stream has an entry after `after` (or `block_ms` passed)."""
        await self.redis.xread({self.spec.key(partition): after}, count=1, block=self.block_ms)

    async def _run_partition(self, partition: int, token: str, epoch: int) -> None:
        """Process one partition until told to stop: its pending history first, then new entries, in order."""
        source = "0"  # "0" = this partition's pending entries (left by us or a dead owner); ">" = new ones
        outage = Outage(log, f"stream {self.spec.name!r} partition {partition}")
        while not self._stopping.is_set():
            try:
                entries, given, stream_last = await self._read(partition, source, token, epoch)
                if not entries:
                    if not given:  # nothing pending (or nothing new): wait for the next entry
                        if source == ">":
                            await self._wait_for_new(partition, stream_last)
                        source = ">"
                    outage.ok()
                    continue
                settled = await self._process(partition, entries)
                outage.ok()
                if settled < len(entries):
                    # Keep order: the failed entry stays pending and is retried first, after a short pause.
                    source = "0"
                    await asyncio.sleep(self.retry_delay)
            except Fenced:
                log.warning("%s partition %d: taken over by another worker; stopping it here", self.spec.name,
                            partition)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a store went away (or a bug): back off, then re-read what is pending
                source = "0"
                await outage.wait(exc, self._stopping)

    async def _handle_together(self, batches: list[list[Entry]]) -> list[None]:
        """One handler call for the batches of several partitions (each keeps its order)."""
        await self.handler([entry for batch in batches for entry in batch])
        return [None] * len(batches)

    async def _process(self, partition: int, entries: list[Entry], *, together: bool = True) -> int:
        """Handle a batch; on failure isolate the bad entry. Returns how many entries were settled.

        A failure because a store is unreachable is raised, not counted: the entry is not bad, and the
        partition retries it (in order) once the store is back.
        """
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
        except Exception as exc:
            if is_store_down(exc):
                raise
            if isinstance(exc, Fenced):
                if together:  # maybe another partition's batch: find out alone
                    return await self._process(partition, entries, together=False)
                raise
            expected = isinstance(exc, Retry)
            # Alone from here on: a bad entry of another partition must not count against ours.
            if len(entries) > 1 or together:
                (log.debug if expected else log.warning)("batch of %d failed on %s (%s); retrying entry by entry",
                                                         len(entries), key, exc)
                settled = 0
                for entry in entries:
                    if await self._process(partition, [entry], together=False) != 1:
                        break
                    settled += 1
                return settled
            entry = entries[0]
            failures = await self.redis.hincrby(self.spec.failures_key(partition), entry.id, 1)
            if expected:
                log.debug("entry %s of %s: %s (delivery %d of %d)", entry.id, key, exc, failures, self.max_deliveries)
            else:
                log.exception("entry %s of %s failed (try %d of %d)", entry.id, key, failures, self.max_deliveries)
            if failures < self.max_deliveries:
                return 0
            error = traceback.format_exc(limit=3)
            await self._dead_letter(partition, entry.id, codec.encode(entry.data), error)
            return 1
        await self._settle(key, entries)
        self.processed += len(entries)
        return len(entries)

    async def _settle(self, key: str, entries: list[Entry]) -> None:
        """Ack a handled batch and delete it and everything before it from the stream, in one round trip.

        A partition is read in order and never past an entry that is not settled (a failed one stays
        pending and is retried first; a dead-lettered one is acked), so every entry up to this batch's last
        is acked. Without the trim a partition would keep every event it ever carried: Redis's memory would
        grow for as long as Papo runs, and an erased customer's messages would stay in it.
        """
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(key, self.spec.group, *(e.id for e in entries))
        pipe.xtrim(key, minid=next_id(entries[-1].id), approximate=False)
        await pipe.execute()

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
        """Own and process partitions until `stop` is set; then finish, release leases, leave.

        Never ends because Redis went away: a failed round is retried with backoff (the partitions we
        hold keep their own retries; their leases lapse if the outage outlasts them, and are taken again,
        by us or another worker, when Redis is back).
        """
        interval = self.lease_ms / 3000
        outage = Outage(log, f"stream {self.spec.name!r} consumer {self.worker_id}")
        try:
            while not stop.is_set():
                wait = interval
                try:
                    await self._balance()
                    outage.ok()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # Redis unreachable (or a bug): the next round tries again
                    wait = min(interval, outage.failed(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
        finally:
            # Drain: let each partition finish its current batch, then cancel what is still running.
            self._stopping.set()
            if self._tasks:
                await asyncio.wait(self._tasks.values(), timeout=self.drain_timeout)
            for partition in list(self._tasks):
                await self._stop_partition(partition)
            with contextlib.suppress(Exception):  # Redis down: our heartbeat ages out of the set
                await self.redis.zrem(self.spec.workers_key, self.worker_id)


def next_id(entry_id: str) -> str:
    """The smallest stream id after `entry_id` ("ms-seq"): XTRIM MINID keeps ids from it on."""
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"
