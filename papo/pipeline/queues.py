"""The queues the web process writes to: the partitioned inbound stream and the raw-body archive."""

from __future__ import annotations

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
    """Enqueue parsed events (deduplicated) and archive raw bodies, in one Redis round trip."""

    def __init__(self, redis: aioredis.Redis, partitions: int) -> None:
        self.redis = redis
        self.inbound = Producer(redis, inbound_spec(partitions))

    async def enqueue(self, events: Sequence[InboundEvent], *, platform: str, raw: bytes | None) -> list[str | None]:
        """Queue each new event (None for duplicates) and, when given, the raw body for the archive."""
        pipe = self.redis.pipeline(transaction=False)
        items = [Item(event.conversation_key, event.to_dict(), event.dedupe_key) for event in events]
        for item in items:
            self.inbound.queue_on(pipe, item)
        if raw is not None:
            fields = codec.encode({
                "platform": platform,
                "received_at": time.time(),
                "body": raw.decode("utf-8", "replace"),
            })
            pipe.xadd(RAW_STREAM, fields, maxlen=RAW_STREAM_MAXLEN, approximate=True)
        replies = await self.inbound.execute_appends(pipe, items)
        return [entry_id(r) for r in replies[: len(events)]]

    async def enqueue_replay(self, events: Sequence[InboundEvent]) -> list[str | None]:
        """Queue events again without the dedupe marker (replays are meant to pass)."""
        return await self.inbound.append_many([Item(e.conversation_key, e.to_dict()) for e in events])
