"""Session fixtures: real PostgreSQL, Redis and MongoDB, started once per test session.

Set PAPO_TEST_DATABASE_URL / PAPO_TEST_REDIS_URL / PAPO_TEST_MONGO_URL to use existing servers;
whichever is unset comes from the embedded stack in a temporary data directory.
Every test that uses `stores` starts from empty tables, an empty Redis database and no Mongo collections.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from tortoise import Tortoise

from papo import db
from papo.config import Settings
from papo.runtime import Stores, StoreUrls, open_stores

TEST_SECRET = "test-secret-key-0123456789abcdef"
OUTSIDE_APIS = (
    "graph_api_url", "instagram_api_url", "tiktok_api_url", "youtube_api_url", "youtube_hub_url",
    "telegram_api_url", "oauth_meta_url", "oauth_tiktok_url", "oauth_google_url", "google_token_url",
    "google_revoke_url",
)
STORE_FIXTURES = {"stores", "store_urls", "migrated", "settings"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that touches the stores, so CI can rerun exactly those against other servers."""
    for item in items:
        if STORE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stores)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stores: uses the real PostgreSQL/Redis/MongoDB stores")


@pytest.fixture(scope="session")
def store_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreUrls]:
    """The three store URLs for this session (external ones from PAPO_TEST_*, the rest embedded)."""
    given = {
        "database_url": os.environ.get("PAPO_TEST_DATABASE_URL") or None,
        "redis_url": os.environ.get("PAPO_TEST_REDIS_URL") or None,
        "mongo_url": os.environ.get("PAPO_TEST_MONGO_URL") or None,
    }
    if all(given.values()):
        yield StoreUrls(**given)  # type: ignore[arg-type]
        return
    from papo.stack import Stack

    # Not tmp_path_factory: pytest resets /tmp/pytest-of-<user> to 0700, which the PostgreSQL user
    # (a separate user when running as root) could not traverse.
    data_dir = Path(tempfile.mkdtemp(prefix="papo-test-stack-"))
    with Stack(data_dir, **given) as stack:
        info = stack.start()
        yield StoreUrls(info.database_url, info.redis_url, info.mongo_url)
    shutil.rmtree(data_dir, ignore_errors=True)


async def _reset_schema(database_url: str) -> None:
    conn = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def migrated(store_urls: StoreUrls) -> StoreUrls:
    """A database with exactly the committed migrations applied, from an empty schema."""
    await _reset_schema(store_urls.database_url)
    await db.migrate(store_urls.database_url)
    return store_urls


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, store_urls: StoreUrls) -> Settings:
    """Settings pointing at the test stores, with test secrets and local-only URLs."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path_factory.mktemp("papo-data"),
        database_url=store_urls.database_url,
        redis_url=store_urls.redis_url,
        mongo_url=store_urls.mongo_url,
        secret_key=TEST_SECRET,  # type: ignore[arg-type]
        meta_app_secret="test-meta-app-secret",  # type: ignore[arg-type]
        meta_verify_token="test-verify-token",  # type: ignore[arg-type]
        tiktok_client_key="test-tiktok-key",
        tiktok_client_secret="test-tiktok-secret",  # type: ignore[arg-type]
        youtube_hub_secret="test-hub-secret",  # type: ignore[arg-type]
        # Never reach outside this machine: every outside API points at a closed local port unless a
        # test starts a local server speaking that API and points the setting at it.
        **{name: "http://127.0.0.1:9/" for name in OUTSIDE_APIS},
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _session_stores(migrated: StoreUrls, settings: Settings) -> AsyncIterator[Stores]:
    async with open_stores(migrated, settings) as stores:
        await stores.analytics.ensure_indexes()
        yield stores


@pytest_asyncio.fixture(loop_scope="session")
async def stores(_session_stores: Stores) -> AsyncIterator[Stores]:
    """Open stores, emptied before the test: tables truncated, Redis flushed, Mongo collections dropped."""
    conn = Tortoise.get_connection("default")
    _, rows = await conn.execute_query(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'tortoise_migrations'"
    )
    tables = ", ".join(f'"{row["tablename"]}"' for row in rows)
    if tables:
        await conn.execute_script(f"TRUNCATE {tables} CASCADE")
    await _session_stores.redis.flushdb()
    for name in await _session_stores.analytics.db.list_collection_names():
        await _session_stores.analytics.db.drop_collection(name)
    await _session_stores.analytics.ensure_indexes()
    yield _session_stores


@pytest.fixture
def data_path() -> Path:
    """tests/data."""
    return Path(__file__).parent / "data"


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Wait until an async check holds (workers, hubs and schedulers are asynchronous by design)."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
