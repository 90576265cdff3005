"""The queues Papo writes to, for the web process, the bot and the workers alike (the stages read them).

The partitioned inbound stream and the raw-body archive (the webhooks, replays, the YouTube poller), and
the partitioned outbound stream (replies, campaigns, the owner's retries).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from papo.adapters.errors import PayloadError
from papo.adapters.events import InboundEvent
from papo.adapters.senders import OutboundMessage
from papo.constants import INBOUND_STREAM, RAW_STREAM, RAW_STREAM_MAXLEN
from papo.streams import codec
from papo.streams.producer import SCRIPT, Item, Plan, Producer
from papo.streams.spec import StreamSpec
from papo.streams.wire import CommandBuffer, PipelinedRedis

if TYPE_CHECKING:
    from papo.config import Settings

# Webhook writes: a chunk of this many requests goes out as soon as it is complete, and at most IN_FLIGHT
# writes wait for Redis at once (later requests gather meanwhile and go out together when one is answered).
# Chosen by alternating wrk rounds (64 connections): 32 and 2 beat 16, 24 and 48 requests, and 3 in flight,
# and one write at a time as before (+7 to +16 % webhooks/s in four runs).
OUTBOUND_STREAM = "out"
DEFAULT_PARTITIONS = 8  # Settings.stream_partitions' default: producers and workers must agree

CHUNK = 32
IN_FLIGHT = 2
FLUSH_TIMEOUT = 10.0  # seconds: a stuck Redis fails the requests (500, the platforms retry) instead of hanging


def inbound_spec(partitions: int) -> StreamSpec:
    """The inbound stream, partitioned by conversation key."""
    return StreamSpec(INBOUND_STREAM, partitions)


class Queues:
    """Enqueue parsed events (deduplicated) and archive raw bodies.

    Concurrent requests share Redis writes: the requests of one loop iteration go out together, a chunk
    of `chunk` requests as soon as it is complete, on one pipelined connection (papo.streams.wire), so
    Redis works on a chunk while this process parses the next requests. Each write holds one append
    script call per stream partition and one raw-archive entry.
    """

    def __init__(self, redis: aioredis.Redis, partitions: int, *, chunk: int = CHUNK) -> None:
        self.redis = redis
        self.inbound = Producer(redis, inbound_spec(partitions))
        self.chunk = chunk
        self._wire: PipelinedRedis | None = None
        self._pending: list[_Request] = []
        self._healing: set[asyncio.Task[None]] = set()
        self._in_flight = 0

    async def enqueue(self, events: Sequence[InboundEvent], *, platform: str, raw: bytes | None) -> list[str | None]:
        """Queue each new event (None for duplicates) and, when given, the raw body for the archive.

        Raises PayloadError, before anything is queued, when an event cannot be encoded (nested past what
        the encoder takes): encoding here, per request, keeps one such body from failing the requests
        batched with it.
        """
        items = []
        for event in events:
            data = event.to_dict()
            try:
                encoded = codec.encode_data(data)
            except ValueError as exc:
                raise PayloadError(f"an event of this body cannot be queued: {exc}") from None
            items.append(Item(data["conversation_key"], data, event.dedupe_key, encoded))
        body = None
        if raw is not None:
            body = {"platform": platform, "received_at": time.time(), "body": raw.decode("utf-8", "replace")}
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[str | None]] = loop.create_future()
        self._pending.append((items, body, done))
        if len(self._pending) >= self.chunk:
            self._send()
        elif len(self._pending) == 1:
            loop.call_soon(self._send)  # the other requests of this loop iteration join
        return await done

    async def aclose(self) -> None:
        """Close the webhook path's connection (opened on the first enqueue)."""
        if self._wire is not None:
            await self._wire.aclose()

    def _send(self) -> None:
        """Write the pending requests' appends (first) and raw bodies, now."""
        if not self._pending or self._in_flight >= IN_FLIGHT:
            return  # sent when a write in flight is answered
        batch, self._pending = self._pending, []
        self._in_flight += 1
        try:
            buffer = CommandBuffer()
            plan = self.inbound.queue_on(buffer, [item for items, _, _ in batch for item in items])
            bodies = [body for _, body, _ in batch if body is not None]
            if bodies:
                buffer.xadd(RAW_STREAM, codec.encode({"bodies": bodies}), maxlen=RAW_STREAM_MAXLEN, approximate=True)
            if self._wire is None:
                self._wire = PipelinedRedis.like(self.redis)
            sent = self._wire.send(buffer.commands)
        except Exception as exc:  # a value the packer refuses: these requests fail, the next ones go on
            self._in_flight -= 1
            _fail(batch, exc)
            return
        # The one bound on the webhook's Redis writes: one timer per write, not one per request.
        timer = asyncio.get_running_loop().call_later(FLUSH_TIMEOUT, self._expire, sent)
        sent.add_done_callback(lambda sent: (timer.cancel(), self._deliver(batch, plan, sent)))

    def _expire(self, sent: asyncio.Future[list[Any]]) -> None:
        """A write Redis has not answered in FLUSH_TIMEOUT: its requests fail (500, the platforms retry) and
        the connection is dropped (the next write opens a new one)."""
        if not sent.done():
            sent.set_exception(TimeoutError(f"Redis did not answer within {FLUSH_TIMEOUT:g} s"))
            assert self._wire is not None
            self._wire.drop()  # `sent` is unanswered on the current connection, or still waiting to connect

    def _deliver(self, batch: list[_Request], plan: Plan, sent: asyncio.Future[list[Any]]) -> None:
        self._in_flight -= 1
        if self._pending:
            self._send()
        if sent.cancelled():  # the connection was closed (shutdown): so are the requests waiting on it
            for _, _, done in batch:
                done.cancel()
            return
        if (error := sent.exception()) is not None:
            _fail(batch, error)
            return
        replies = sent.result()
        lost = self.inbound.lost_calls(plan, replies)
        if lost:  # Redis restarted and forgot the script: load it, send those calls again
            task = asyncio.create_task(self._heal(batch, plan, replies, lost))
            self._healing.add(task)
            task.add_done_callback(self._healing.discard)
            return
        _resolve(batch, plan, replies)

    async def _heal(self, batch: list[_Request], plan: Plan, replies: list[Any], lost: list[int]) -> None:
        assert self._wire is not None
        try:
            loaded = await self._wire.execute([("SCRIPT", "LOAD", SCRIPT)])
            if isinstance(loaded[0], Exception):
                raise loaded[0]
            retry = CommandBuffer()
            self.inbound.queue_again(retry, plan, lost)
            for c, reply in zip(lost, await self._wire.execute(retry.commands), strict=True):
                replies[c] = reply
        except Exception as exc:  # every request of the batch fails (500: the platforms retry)
            _fail(batch, exc)
            return
        _resolve(batch, plan, replies)

    async def enqueue_replay(self, events: Sequence[InboundEvent]) -> list[str | None]:
        """Queue events again without the dedupe marker (replays are meant to pass)."""
        return await self.inbound.append_many([Item(e.conversation_key, e.to_dict()) for e in events])


_Request = tuple[list[Item], dict[str, Any] | None, asyncio.Future[list[str | None]]]


def _resolve(batch: list[_Request], plan: Plan, replies: list[Any]) -> None:
    """Hand each request its entry ids (None for duplicates), or the error Redis answered."""
    try:
        ids = Producer.appended_ids(plan, replies)
    except Exception as exc:
        _fail(batch, exc)
        return
    start = 0
    for items, _, done in batch:
        if not done.done():  # its caller may have given up
            done.set_result(ids[start:start + len(items)])
        start += len(items)


def _fail(batch: list[_Request], error: BaseException) -> None:
    for _, _, done in batch:
        if not done.done():
            done.set_exception(error)


def outbound_spec(partitions: int) -> StreamSpec:
    """The outbound stream, partitioned by conversation."""
    return StreamSpec(OUTBOUND_STREAM, partitions)


class OutboundQueue:
    """Appends OutboundMessages; a second request with the same outbound id is dropped (8-day marker)."""

    def __init__(self, redis: aioredis.Redis, partitions: int = DEFAULT_PARTITIONS) -> None:
        self.producer = Producer(redis, outbound_spec(partitions))

    @classmethod
    def from_settings(cls, redis: aioredis.Redis, settings: Settings) -> OutboundQueue:
        """A queue with the partition count the workers use."""
        return cls(redis, settings.stream_partitions)  # the outbound stream has as many as the inbound

    @staticmethod
    def item(request: OutboundMessage) -> Item:
        """The stream item of a request."""
        return Item(request.routing_key, request.to_dict(), request.outbound_id)

    async def enqueue_many(self, requests: Sequence[OutboundMessage]) -> list[str | None]:
        """Append in one round trip; each entry id, or None for an outbound id already queued."""
        return await self.producer.append_many([self.item(r) for r in requests])


async def enqueue_outbound(redis: aioredis.Redis, request: OutboundMessage, *,
                           partitions: int = DEFAULT_PARTITIONS) -> str | None:
    """Queue one request (`partitions` = settings.stream_partitions); None when its id was queued before."""
    return (await OutboundQueue(redis, partitions).enqueue_many([request]))[0]


async def enqueue_again(redis: aioredis.Redis, request: OutboundMessage, *, retry: int,
                        partitions: int = DEFAULT_PARTITIONS) -> str | None:
    """Queue a request whose id was queued before, for the owner's retry number `retry` (the ledger let it go
    back to `retry`); each number is queued once. None when that number was queued already."""
    item = Item(request.routing_key, request.to_dict(), f"{request.outbound_id}:retry:{retry}")
    return (await Producer(redis, outbound_spec(partitions)).append_many([item]))[0]
