"""Server + worker (inbound, understanding, automation, outbound) against a fake platform API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio

from papo.config import Settings
from papo.runtime import Stores
from papo.worker import run_roles
from tests.inbound.conftest import connect, owner, web  # noqa: F401 - fixtures shared with the inbound tests
from tests.outbound.conftest import fake  # noqa: F401 - the fake Graph/YouTube/Kwai API


@pytest_asyncio.fixture(loop_scope="session")
async def automation_worker(settings: Settings, stores: Stores, fake) -> AsyncIterator[Settings]:  # noqa: F811
    """Every worker role running in this loop, with platform APIs pointed at the fake server."""
    local = settings.model_copy(update={
        "worker_lease_ms": 3000, "worker_batch": 64,
        "graph_api_url": fake.url("/"), "instagram_api_url": fake.url("/"), "youtube_api_url": fake.url("/"),
        "outbound_retry_base": 0.05, "outbound_retry_max": 0.2,
    })
    stop = asyncio.Event()
    task = asyncio.create_task(run_roles(stores, local, stop, name="automation-worker"))
    yield local
    stop.set()
    await asyncio.wait_for(task, timeout=30)
