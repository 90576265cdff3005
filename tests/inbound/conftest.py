"""A real web app and a real in-process worker on the test stores, plus helpers to connect accounts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from papo import metrics
from papo.adapters.adapter_registry import default_registry, get_adapter
from papo.adapters.simulate import signed_headers
from papo.app import create_app
from papo.config import Settings
from papo.crypto import TokenCipher
from papo.enums import Platform
from papo.models import ConnectedAccount, User
from papo.pipeline.fanout import WebhookFanout
from papo.runtime import Stores
from papo.services import account_index
from papo.services.accounts import connect_account
from papo.services.queues import webhook_spec
from papo.streams import codec
from papo.streams.consumer import Entry
from papo.worker import run_roles
from tests.conftest import TEST_SECRET

KWAI_SECRET = "kwai-account-secret-123"


def secret_for(settings: Settings, platform: str) -> str:
    """The secret the test server expects for a platform's signatures."""
    match platform:
        case "tiktok":
            return settings.tiktok_client_secret.get_secret_value()  # type: ignore[union-attr]
        case "youtube":
            return settings.youtube_hub_secret.get_secret_value()  # type: ignore[union-attr]
        case "kwai":
            return KWAI_SECRET
        case _:
            return settings.meta_app_secret.get_secret_value()  # type: ignore[union-attr]


def sign(settings: Settings, platform: str, body: bytes) -> dict[str, str]:
    """Headers that sign `body` exactly as the platform would."""
    return signed_headers(Platform(platform), body, secret_for(settings, platform), time.time())


@pytest_asyncio.fixture(loop_scope="session")
async def web(settings: Settings, stores: Stores) -> AsyncIterator[TestClient]:
    """A real aiohttp server running Papo's app."""
    client = TestClient(TestServer(create_app(settings, stores.urls, stores=stores)))
    await client.start_server()
    yield client
    await client.close()


@pytest_asyncio.fixture(loop_scope="session")
async def worker(settings: Settings, stores: Stores) -> AsyncIterator[None]:
    """The worker roles running in this loop until the test ends."""
    stop = asyncio.Event()
    fast = settings.model_copy(update={"worker_lease_ms": 3000, "worker_batch": 64})
    task = asyncio.create_task(run_roles(stores, fast, stop, name="test-worker"))
    yield
    stop.set()
    await asyncio.wait_for(task, timeout=20)


@pytest_asyncio.fixture(loop_scope="session")
async def owner(stores: Stores) -> User:
    return await User.create(email="dona@padaria.com.br", name="Padaria Pão Quente", plan="pro")


Connect = Callable[..., Awaitable[ConnectedAccount]]


@pytest_asyncio.fixture(loop_scope="session")
async def connect(stores: Stores, owner: User) -> Connect:
    """Connect a platform account for the owner (and index it, as the CLI does)."""

    async def _connect(platform: str, account_id: str, *, user: User | None = None) -> ConnectedAccount:
        account, _ = await connect_account(
            user=user or owner, platform=platform, platform_account_id=account_id, access_token="tok-test",
            cipher=TokenCipher(TEST_SECRET), webhook_secret=KWAI_SECRET if platform == "kwai" else None,
        )
        await account_index.add(stores.redis, account)
        return account

    return _connect


async def connect_fixture_accounts(connect: Connect, platform: str, body: bytes) -> None:
    """Connect every business account a payload is addressed to."""
    for account in {e.account_id for e in get_adapter(platform).parse(body)}:
        await connect(platform, account)


OUTCOMES = ("queued", "duplicate", "unknown_account", "malformed")


async def outcomes(stores: Stores, platform: str) -> dict[str, int]:
    """What the worker's fan-out made of this platform's webhook events so far (papo_webhook_events_total)."""
    fields = await stores.redis.hgetall(metrics.WEBHOOK_EVENTS.key)
    return {o: int(metrics.WEBHOOK_EVENTS.parse(fields, platform=platform, outcome=o)) for o in OUTCOMES}


async def fan_out(stores: Stores, settings: Settings) -> int:
    """Run the worker's fan-out stage once over every body on the webhook stream, as the worker's consumer would
    hand them over (for tests without a running worker), then delete them. Returns how many bodies it took."""
    spec = webhook_spec(settings.stream_partitions)
    stage = WebhookFanout(stores.redis, default_registry(),
                          settings.stream_partitions)
    taken = 0
    for partition in range(spec.partitions):
        rows = await stores.redis.xrange(spec.key(partition))
        if rows:
            await stage.handle([Entry(entry_id, partition, codec.decode(fields)) for entry_id, fields in rows])
            await stores.redis.xdel(spec.key(partition), *(entry_id for entry_id, _ in rows))
            taken += len(rows)
    return taken

