"""The queues Papo writes to, for the web process, the bot and the workers alike (the stages read them).

The webhook stream (verified bodies, one partition per platform, parsed by papo.pipeline.fanout), the
partitioned inbound stream and the raw-body archive (the fan-out, replays, the YouTube poller), and the
partitioned outbound stream (replies, campaigns, the owner's retries).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from papo.adapters.errors import PayloadError
from papo.adapters.events import InboundEvent
from papo.adapters.senders import OutboundMessage
from papo.constants import INBOUND_STREAM, RAW_STREAM, RAW_STREAM_MAXLEN, WEBHOOK_STREAM
from papo.streams import codec
from papo.streams.producer import SCRIPT, Item, Plan, Producer, entry_id
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


def webhook_spec(partitions: int) -> StreamSpec:
    """The stream of verified webhook bodies, routed by platform: one reader per platform at a time keeps
    the bodies of one account (and so of each of its conversations) in the order they arrived."""
    return StreamSpec(WEBHOOK_STREAM, partitions)


def body_fields(raw: bytes) -> dict[str, str]:
    """A raw body as JSON-safe fields: its text when it is UTF-8 (every JSON webhook), else base64."""
    try:
        return {"body": raw.decode()}
    except UnicodeDecodeError:
        return {"body_b64": base64.b64encode(raw).decode()}


def body_bytes(data: dict[str, Any]) -> bytes:
    """The raw body of `body_fields`' fields, byte for byte."""
    if "body_b64" in data:
        return base64.b64decode(data["body_b64"])
    return str(data.get("body", "")).encode()


def event_item(event: InboundEvent) -> Item:
    """An event as the inbound stream's item (routed by conversation, deduplicated by its dedupe key), encoded
    now: PayloadError when it cannot be (nested past what the encoder takes)."""
    data = event.to_dict()
    try:
        encoded = codec.encode_data(data)
    except ValueError as exc:
        raise PayloadError(f"an event of this body cannot be queued: {exc}") from None
    return Item(data["conversation_key"], data, event.dedupe_key, encoded)


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
        self.webhooks = webhook_spec(partitions)
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
        items = [event_item(event) for event in events]
        body = None
        if raw is not None:
            body = {"platform": platform, "received_at": time.time(), "body": raw.decode("utf-8", "replace")}
        return await self._submit((items, body, None))

    async def accept(self, platform: str, raw: bytes) -> str:
        """Queue a verified webhook body for the worker to parse (papo.pipeline.fanout); its entry id.

        This is the webhook request's one write: one XADD to the platform's partition, pipelined with the
        other requests of this loop iteration. Dedupe, owners and archiving happen in the fan-out.
        """
        data = {"platform": platform, "received_at": time.time(), **body_fields(raw)}
        hook = (self.webhooks.key(self.webhooks.partition_for(platform)), codec.encode_data(data))
        ids = await self._submit(([], None, hook))
        assert ids[0] is not None
        return ids[0]

    async def _submit(self, request: tuple[list[Item], dict[str, Any] | None, tuple[str, bytes] | None]
                      ) -> list[str | None]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[str | None]] = loop.create_future()
        self._pending.append((*request, done))
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
            plan = self.inbound.queue_on(buffer, [item for items, _, _, _ in batch for item in items])
            for _, _, hook, _ in batch:  # after the script calls: _resolve finds their replies there
                if hook is not None:
                    buffer.xadd(hook[0], {"v": codec.VERSION, "data": hook[1]})
            bodies = [body for _, body, _, _ in batch if body is not None]
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
            for *_, done in batch:
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


# (events to append, raw body for the archive, (webhook partition, encoded body) to XADD, the caller's future)
_Request = tuple[list[Item], dict[str, Any] | None, tuple[str, bytes] | None, asyncio.Future[list[str | None]]]


def _resolve(batch: list[_Request], plan: Plan, replies: list[Any]) -> None:
    """Hand each request its entry ids (None for duplicates), or the error Redis answered."""
    try:
        ids = Producer.appended_ids(plan, replies)
    except Exception as exc:
        _fail(batch, exc)
        return
    start, hook_reply = 0, len(plan.calls)
    for items, _, hook, done in batch:
        if hook is not None:
            result: list[str | None] = [entry_id(replies[hook_reply])]
            hook_reply += 1
        else:
            result = ids[start:start + len(items)]
        if not done.done():  # its caller may have given up
            done.set_result(result)
        start += len(items)


def _fail(batch: list[_Request], error: BaseException) -> None:
    for *_, done in batch:
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
