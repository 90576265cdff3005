"""A worker SIGKILLed in the middle of 5,000 queued events loses nothing and stores nothing twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from tortoise import Tortoise

from papo.adapters.events import EventKind, InboundEvent
from papo.enums import Platform
from papo.models import Message
from papo.services.queues import Queues
from tests.conftest import TEST_SECRET, eventually

TOTAL, CUSTOMERS = 5000, 50
ACCOUNT = "106540352242922"


def _events() -> list[InboundEvent]:
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    return [
        InboundEvent(
            platform=Platform.WHATSAPP, kind=EventKind.MESSAGE, account_id=ACCOUNT,
            timestamp=start + timedelta(seconds=n), remote_user_id=f"55119{n % CUSTOMERS:08d}",
            platform_message_id=f"wamid.crash{n:05d}", text=f"seq {n}",
        )
        for n in range(TOTAL)
    ]


def _spawn_worker(settings, stores) -> subprocess.Popen:
    env = {
        **os.environ,
        "PAPO_DATABASE_URL": stores.urls.database_url,
        "PAPO_REDIS_URL": stores.urls.redis_url,
        "PAPO_MONGO_URL": stores.urls.mongo_url,
        "PAPO_SECRET_KEY": TEST_SECRET,
        "PAPO_WORKER_LEASE_MS": "2000",
        "PAPO_WORKER_BATCH": "25",
        "PAPO_STREAM_PARTITIONS": str(settings.stream_partitions),
        "PAPO_YOUTUBE_API_URL": "http://127.0.0.1:9/",
        "PAPO_DATA_DIR": str(settings.data_dir),
        "PAPO_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "papo", "worker"], env=env, cwd=settings.data_dir)


async def test_sigkill_mid_stream_then_a_new_worker_stores_everything_once_in_order(
    settings, stores, connect
) -> None:
    await connect("whatsapp", ACCOUNT)
    queues = Queues(stores.redis, settings.stream_partitions)
    await queues.enqueue(_events(), platform="whatsapp", raw=None)
    await queues.aclose()

    first = _spawn_worker(settings, stores)
    try:
        await eventually(lambda: _count_at_least(300), within=60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    at_kill = await Message.all().count()
    assert at_kill < TOTAL, "the worker finished before it could be killed; the test proved nothing"

    second = _spawn_worker(settings, stores)
    try:
        await eventually(lambda: _count_at_least(TOTAL), within=90)
        await asyncio.sleep(1.0)  # nothing extra trickles in
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0  # a graceful stop drains and exits cleanly

    conn = Tortoise.get_connection("default")
    rows = await conn.execute_query_dict(
        "SELECT c.remote_user_id, m.message_text, m.platform_message_id FROM messages m "
        "JOIN conversations c ON c.id = m.conversation_id ORDER BY m.created_at"
    )
    assert len(rows) == TOTAL
    assert len({r["platform_message_id"] for r in rows}) == TOTAL
    by_customer: dict[str, list[int]] = {}
    for r in rows:
        by_customer.setdefault(r["remote_user_id"], []).append(int(r["message_text"].split()[1]))
    assert len(by_customer) == CUSTOMERS
    for seqs in by_customer.values():
        assert seqs == sorted(seqs)
    # Messages committed just before the SIGKILL were still owed their stages: the second worker ran them.
    _, owed = await conn.execute_query("SELECT count(*) AS n FROM inbound_pending")
    assert owed[0]["n"] == 0
    assert await stores.analytics.ai_interactions.count_documents({}) == TOTAL


def _count_at_least(n: int):
    async def check() -> bool:
        return await Message.all().count() >= n
    return check()
