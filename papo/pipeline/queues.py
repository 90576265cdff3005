"""The queues the web process writes to: the partitioned inbound stream and the raw-body archive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import redis.asyncio as aioredis

from papo.adapters.events import InboundEvent
from papo.constants import INBOUND_STREAM, RAW_STREAM, RAW_STREAM_MAXLEN
from papo.streams import codec
from papo.streams.producer import Item, Producer, entry_id
from papo.streams.spec import StreamSpec


def inbound_spec(partitions: int) -> StreamSpec:
    """The inbound stream, partitioned by conversation key."""
    return StreamSpec(INBOUND_STREAM, partitions)


class Queues:
    """Enqueue parsed events (deduplicated) and archive raw bodies.

    Concurrent requests share Redis round trips: each `enqueue` joins the batch that the next loop
    iteration flushes as one pipeline. Under load that turns N pipelines into one (redis-py's per-call
    overhead dominated the webhook path); alone, a request waits one loop iteration at most.
    """

    def __init__(self, redis: aioredis.Redis, partitions: int) -> None:
        self.redis = redis
        self.inbound = Producer(redis, inbound_spec(partitions))
        self._pending: list[tuple[list[Item], dict[str, str] | None, asyncio.Future[list[str | None]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def enqueue(self, events: Sequence[InboundEvent], *, platform: str, raw: bytes | None) -> list[str | None]:
        """Queue each new event (None for duplicates) and, when given, the raw body for the archive."""
        items = [Item(event.conversation_key, event.to_dict(), event.dedupe_key) for event in events]
        raw_fields = None
        if raw is not None:
            raw_fields = codec.encode({
                "platform": platform,
                "received_at": time.time(),
                "body": raw.decode("utf-8", "replace"),
            })
        done: asyncio.Future[list[str | None]] = asyncio.get_running_loop().create_future()
        self._pending.append((items, raw_fields, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        """Write every pending request in one pipeline per round, until none is left."""
        await asyncio.sleep(0)  # let the requests of this loop iteration join
        while self._pending:
            batch, self._pending = self._pending, []
            pipe = self.redis.pipeline(transaction=False)
            items = [item for request_items, _, _ in batch for item in request_items]
            for item in items:  # appends first: execute_appends matches replies to them by position
                self.inbound.queue_on(pipe, item)
            for _, raw_fields, _ in batch:
                if raw_fields is not None:
                    pipe.xadd(RAW_STREAM, raw_fields, maxlen=RAW_STREAM_MAXLEN, approximate=True)
            try:
                replies = await self.inbound.execute_appends(pipe, items)
            except Exception as exc:  # every request of the round fails (500): the platforms retry
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            start = 0
            for request_items, _, done in batch:
                end = start + len(request_items)
                if not done.done():  # the request may have been cancelled (client went away)
                    done.set_result([entry_id(r) for r in replies[start:end]])
                start = end

    async def enqueue_replay(self, events: Sequence[InboundEvent]) -> list[str | None]:
        """Queue events again without the dedupe marker (replays are meant to pass)."""
        return await self.inbound.append_many([Item(e.conversation_key, e.to_dict()) for e in events])
