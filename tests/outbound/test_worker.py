"""The outbound consumer as `papo worker` runs it: enqueue → partitioned stream → sends, each once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest_asyncio

from papo.crypto import TokenCipher
from papo.enums import Platform
from papo.models import Message
from papo.pipeline.send import run_outbound
from papo.services.queues import OutboundQueue, enqueue_outbound
from tests.conftest import TEST_SECRET, eventually
from tests.outbound.conftest import FakePlatform

WABA_NUMBER = "106540352242922"


@pytest_asyncio.fixture(loop_scope="session")
async def outbound_worker(settings, stores, fake: FakePlatform) -> AsyncIterator[None]:
    local = settings.model_copy(update={
        "graph_api_url": fake.url("/"), "youtube_api_url": fake.url("/"), "worker_lease_ms": 3000,
        "outbound_retry_base": 0.01, "outbound_retry_max": 0.05,
    })
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        task = asyncio.create_task(run_outbound(stores, local, stop, session, cipher=TokenCipher(TEST_SECRET),
                                                worker_id="test-out"))
        yield
        stop.set()
        await asyncio.wait_for(task, timeout=20)


async def test_429_then_200_through_the_worker_ends_in_one_message(
    settings, stores, fake, scene, outbound_worker
) -> None:
    s = await scene(Platform.WHATSAPP, phone="5511987654321")
    fake.script(f"/{WABA_NUMBER}/messages", (429, {"error": {"message": "(#130429) Rate limit hit", "code": 130429}}))
    request = s.request(outbound_id="whatsapp:wamid.HBgN999:rule-1")
    assert await enqueue_outbound(stores.redis, request, partitions=settings.stream_partitions)
    assert await enqueue_outbound(stores.redis, request, partitions=settings.stream_partitions) is None

    async def sent() -> bool:
        return await Message.filter(outbound_id=request.outbound_id, delivery_status="sent").exists()

    await eventually(sent)
    await asyncio.sleep(0.3)
    assert len(fake.calls) == 2 and await Message.filter(sender="user").count() == 1


async def test_many_conversations_are_sent_once_each_and_in_order(
    settings, stores, fake, scene, outbound_worker
) -> None:
    scenes = [await scene(Platform.WHATSAPP, remote=f"55119{n:08d}", phone=f"55119{n:08d}",
                          last_inbound=timedelta(minutes=10)) for n in range(20)]
    requests = [s.request(outbound_id=f"out-{i}-{k}", text=f"msg {k}") for i, s in enumerate(scenes) for k in range(3)]
    await OutboundQueue(stores.redis, settings.stream_partitions).enqueue_many(requests)

    async def all_sent() -> bool:
        return await Message.filter(sender="user", delivery_status="sent").count() == len(requests)

    await eventually(all_sent)
    assert len(fake.calls) == len(requests)
    for s in scenes:
        bodies = [c.json["text"]["body"] for c in fake.calls if c.json["to"] == s.phone]
        assert bodies == ["msg 0", "msg 1", "msg 2"]


async def test_a_retried_send_logs_one_warning_per_attempt_and_no_traceback(
    settings, stores, fake, scene, outbound_worker, caplog
) -> None:
    caplog.set_level(logging.DEBUG, logger="papo")
    s = await scene(Platform.WHATSAPP, phone="5511987654321")
    busy = (429, {"error": {"message": "(#130429) Rate limit hit", "code": 130429}})
    down = (500, {"error": {"message": "An unexpected error has occurred.", "code": 2, "is_transient": True}})
    fake.script(f"/{WABA_NUMBER}/messages", busy, down, down, down, down)
    request = s.request(outbound_id="whatsapp:wamid.HBgN500:rule-1")
    assert await enqueue_outbound(stores.redis, request, partitions=settings.stream_partitions)

    async def failed() -> bool:
        return await Message.filter(outbound_id=request.outbound_id, delivery_status="failed").exists()

    await eventually(failed)
    await asyncio.sleep(0.3)
    assert len(fake.calls) == 5  # settings.worker_max_deliveries
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 5, lines  # one per attempt, nothing from the consumer on top
    for n, line in enumerate(lines[:4], start=1):
        assert line.startswith(f"outbound {request.outbound_id} to whatsapp: attempt {n} of 5 failed (")
    assert "(130429: (#130429) Rate limit hit)" in lines[0] and "(2: An unexpected error" in lines[1]
    assert "gave up after 5 attempts: 2: An unexpected error has occurred." in lines[4]
    assert not any(r.exc_info for r in caplog.records) and "Traceback" not in caplog.text
