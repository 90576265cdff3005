"""The queues the web process writes to: the partitioned inbound stream and the raw-body archive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from papo.adapters.events import InboundEvent
from papo.batching import Coalescer
from papo.constants import INBOUND_STREAM, RAW_STREAM, RAW_STREAM_MAXLEN
from papo.streams import codec
from papo.streams.producer import Item, Producer
from papo.streams.spec import StreamSpec

FLUSH_TIMEOUT = 10.0  # seconds: a stuck Redis fails the requests (500, the platforms retry) instead of hanging


def inbound_spec(partitions: int) -> StreamSpec:
    """The inbound stream, partitioned by conversation key."""
    return StreamSpec(INBOUND_STREAM, partitions)


class Queues:
    """Enqueue parsed events (deduplicated) and archive raw bodies.

    Concurrent requests share Redis round trips (papo.batching): under load the requests of one loop
    iteration go out as one pipeline (redis-py's per-call overhead dominated the webhook path).
    """

    def __init__(self, redis: aioredis.Redis, partitions: int) -> None:
        self.redis = redis
        self.inbound = Producer(redis, inbound_spec(partitions))
        self._requests: Coalescer[tuple[list[Item], dict[str, Any] | None], list[str | None]] = Coalescer(self._flush)

    async def enqueue(self, events: Sequence[InboundEvent], *, platform: str, raw: bytes | None) -> list[str | None]:
        """Queue each new event (None for duplicates) and, when given, the raw body for the archive."""
        items = []
        for event in events:
            data = event.to_dict()
            items.append(Item(data["conversation_key"], data, event.dedupe_key))
        body = None
        if raw is not None:
            body = {"platform": platform, "received_at": time.time(), "body": raw.decode("utf-8", "replace")}
        return await self._requests.submit((items, body))

    async def _flush(self, requests: list[tuple[list[Item], dict[str, Any] | None]]) -> list[list[str | None]]:
        """Every pending request's appends (a script call per partition) and raw bodies (one entry) in one
        pipeline."""
        pipe = self.redis.pipeline(transaction=False)
        items = [item for request_items, _ in requests for item in request_items]
        plan = self.inbound.queue_on(pipe, items)  # appends first: execute_appends finds them by position
        bodies = [body for _, body in requests if body is not None]
        if bodies:
            pipe.xadd(RAW_STREAM, codec.encode({"bodies": bodies}), maxlen=RAW_STREAM_MAXLEN, approximate=True)
        async with asyncio.timeout(FLUSH_TIMEOUT):  # the one bound on these round trips (see papo.app)
            ids = (await self.inbound.execute_appends(pipe, plan))[: len(items)]
        results, start = [], 0
        for request_items, _ in requests:
            results.append(ids[start:start + len(request_items)])
            start += len(request_items)
        return results

    async def enqueue_replay(self, events: Sequence[InboundEvent]) -> list[str | None]:
        """Queue events again without the dedupe marker (replays are meant to pass)."""
        return await self.inbound.append_many([Item(e.conversation_key, e.to_dict()) for e in events])
