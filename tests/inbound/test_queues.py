"""The webhook path's queue writes: bounded in time even when Redis stops answering."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from papo.adapters.events import EventKind, InboundEvent
from papo.enums import Platform
from papo.pipeline import queues
from papo.runtime import redis_pool


async def test_a_redis_that_stops_answering_fails_the_flush_in_time(monkeypatch) -> None:
    received = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # takes the command, never answers
        received.set()
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # The web process's own client: no per-read timeout, so only the flush's bound can end the wait.
    client = aioredis.Redis(connection_pool=redis_pool(f"redis://127.0.0.1:{port}/0", socket_timeout=None,
                                                       socket_connect_timeout=5))
    monkeypatch.setattr(queues, "FLUSH_TIMEOUT", 0.3)
    event = InboundEvent(platform=Platform.WHATSAPP, kind=EventKind.MESSAGE, account_id="1",
                         timestamp=datetime.now(UTC), remote_user_id="5511", platform_message_id="wamid.T",
                         text="oi")
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):  # wait_for only keeps a regression from hanging the suite
            await asyncio.wait_for(queues.Queues(client, 4).enqueue([event], platform="whatsapp", raw=b"{}"), 10)
        assert received.is_set() and asyncio.get_running_loop().time() - started < 5  # the flush's own bound
    finally:
        await client.aclose(close_connection_pool=True)
        server.close()
