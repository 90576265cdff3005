"""The webhook path's queue writes: chunked, answered per request, healed after a script flush, and bounded
in time even when Redis stops answering."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from papo.adapters.events import EventKind, InboundEvent
from papo.constants import RAW_STREAM
from papo.enums import Platform
from papo.runtime import redis_pool
from papo.services import queues
from papo.streams import codec
from papo.streams.producer import SCRIPT
from papo.streams.wire import PipelinedRedis


async def test_a_redis_that_stops_answering_fails_the_write_in_time_and_loses_the_connection(monkeypatch) -> None:
    received, dropped = asyncio.Event(), asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # takes the command, never answers
        received.set()
        while await reader.read(65536):
            pass
        dropped.set()  # Papo hung up

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.Redis(connection_pool=redis_pool(f"redis://127.0.0.1:{port}/0", socket_timeout=None))
    monkeypatch.setattr(queues, "FLUSH_TIMEOUT", 0.3)
    event = InboundEvent(platform=Platform.WHATSAPP, kind=EventKind.MESSAGE, account_id="1",
                         timestamp=datetime.now(UTC), remote_user_id="5511", platform_message_id="wamid.T",
                         text="oi")
    q = queues.Queues(client, 4)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError, match=r"Redis did not answer within 0\.3 s"):
            # wait_for only keeps a regression from hanging the suite
            await asyncio.wait_for(q.enqueue([event], platform="whatsapp", raw=b"{}"), 10)
        assert received.is_set() and asyncio.get_running_loop().time() - started < 5  # the write's own bound
        await asyncio.wait_for(dropped.wait(), 5)
    finally:
        await q.aclose()
        await client.aclose(close_connection_pool=True)
        server.close()


def _event(n: int) -> InboundEvent:
    return InboundEvent(platform=Platform.WHATSAPP, kind=EventKind.MESSAGE, account_id="1",
                        timestamp=datetime.now(UTC), remote_user_id=f"5511{n % 7}", platform_message_id=f"wamid.{n}",
                        text=f"oi {n}")


async def test_concurrent_requests_go_out_in_chunks_and_each_gets_its_own_answer(stores, monkeypatch) -> None:
    writes, in_flight, most = 0, 0, 0
    send = PipelinedRedis.send

    def counting_send(self: PipelinedRedis, commands):  # type: ignore[no-untyped-def]
        nonlocal writes, in_flight, most
        writes, in_flight = writes + 1, in_flight + 1
        most = max(most, in_flight)
        future = send(self, commands)

        def answered(_: object) -> None:
            nonlocal in_flight
            in_flight -= 1
        future.add_done_callback(answered)
        return future

    # Loaded beforehand: on a Redis that never saw the append script, the first chunk's NOSCRIPT is healed with
    # writes of its own, which this test would count as a third in flight (test_a_script_cache_flush… covers that).
    await stores.redis.script_load(SCRIPT)
    monkeypatch.setattr(PipelinedRedis, "send", counting_send)
    q = queues.Queues(stores.redis, 4, chunk=4)
    try:
        # 40 new events and 10 redeliveries of some of them, all in one loop iteration
        requests = [[_event(n)] for n in range(40)] + [[_event(n)] for n in range(0, 40, 4)]
        results = await asyncio.gather(*(q.enqueue(r, platform="whatsapp", raw=f'{{"n": {i}}}'.encode())
                                         for i, r in enumerate(requests)))
    finally:
        await q.aclose()
    assert writes >= 3 and most == queues.IN_FLIGHT  # chunks went out before the iteration ended, two at most
    new, again = results[:40], results[40:]
    assert all(ids[0] is not None for ids in new) and all(ids == [None] for ids in again)
    for n, ids in enumerate(new):  # each request got the id of its own entry
        partition = q.inbound.spec.partition_for(f"whatsapp:1:5511{n % 7}")
        [(_, fields)] = await stores.redis.xrange(q.inbound.spec.key(partition), ids[0], ids[0])
        assert codec.decode(fields)["platform_message_id"] == f"wamid.{n}"
    archived = [body for _, fields in await stores.redis.xrange(RAW_STREAM)
                for body in codec.decode(fields)["bodies"]]
    assert sorted(int(body["body"][6:-1]) for body in archived) == list(range(50))  # every raw body, once


async def test_a_script_cache_flush_between_requests_is_healed(stores) -> None:
    q = queues.Queues(stores.redis, 2)
    try:
        assert (await q.enqueue([_event(1)], platform="whatsapp", raw=None))[0] is not None
        await stores.redis.script_flush()  # what a Redis restart does
        assert (await q.enqueue([_event(2)], platform="whatsapp", raw=None))[0] is not None
        assert await q.enqueue([_event(2)], platform="whatsapp", raw=None) == [None]
    finally:
        await q.aclose()


async def test_a_request_with_nothing_to_queue_is_answered_at_once(stores) -> None:
    q = queues.Queues(stores.redis, 2)
    try:
        assert await asyncio.wait_for(q.enqueue([], platform="whatsapp", raw=None), 5) == []
    finally:
        await q.aclose()


async def test_accepted_bodies_are_kept_byte_for_byte_in_order_and_share_one_write(stores) -> None:
    """`accept` (the webhook request's one write): concurrent bodies go out together, each is an entry of its
    platform's partition in the order accepted, and a body that is not UTF-8 (an XML feed may be Latin-1) comes
    back exactly."""
    q = queues.Queues(stores.redis, 8)
    latin1 = '<?xml version="1.0" encoding="ISO-8859-1"?><feed>Pão</feed>'.encode("latin-1")
    bodies = [b'{"object": "whatsapp_business_account", "entry": [], "n": %d}' % n for n in range(5)]
    try:
        ids = await asyncio.gather(*(q.accept("whatsapp", body) for body in bodies), q.accept("youtube", latin1))
    finally:
        await q.aclose()
    spec = queues.webhook_spec(8)
    rows = await stores.redis.xrange(spec.key(spec.partition_for("whatsapp")))
    assert [entry_id for entry_id, _ in rows] == ids[:5]
    assert [queues.body_bytes(codec.decode(fields)) for _, fields in rows] == bodies
    [(youtube_id, fields)] = await stores.redis.xrange(spec.key(spec.partition_for("youtube")))
    data = codec.decode(fields)
    assert youtube_id == ids[5] and "body_b64" in data and queues.body_bytes(data) == latin1
    assert data["platform"] == "youtube" and data["received_at"] > 0
