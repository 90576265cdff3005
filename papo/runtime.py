"""Where the stores are: environment URLs, a running `papo up` (stack.json), or a temporary embedded stack."""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import hiredis
import redis.asyncio as aioredis
from pymongo import AsyncMongoClient
from tortoise import Tortoise

from papo import db
from papo.analytics import AnalyticsStore, open_mongo
from papo.config import ConfigError, Settings
from papo.crypto import TokenCipher, read_secret_file

REDIS_POOL_SIZE = 64


class _HiredisPacking:
    """Commands packed by hiredis (C) instead of redis-py's Python packer, which asyncio connections use.

    Same wire bytes; on the webhook path the Python packer was a fifth of the Redis client's time.
    """

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str):  # 'SCRIPT LOAD' is two arguments, as redis-py splits them
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError:  # a value hiredis does not take: redis-py's packer, and its error message
            return super().pack_command(*args)  # type: ignore[misc]


def redis_pool(url: str, *, max_connections: int = REDIS_POOL_SIZE, **kwargs: Any) -> aioredis.BlockingConnectionPool:
    """A blocking pool (a burst waits briefly for a connection instead of failing with "Too many connections",
    as redis-py's default pool does) whose connections pack commands with hiredis."""
    pool = aioredis.BlockingConnectionPool.from_url(url, decode_responses=True, max_connections=max_connections,
                                                    timeout=10, **kwargs)
    base = pool.connection_class
    pool.connection_class = type(f"Hiredis{base.__name__}", (_HiredisPacking, base), {})
    return pool


GC_YOUNG_THRESHOLD = 10_000
T = TypeVar("T")


def tune_gc() -> None:
    """Garbage-collector settings for a long-running server process, called once start-up is done.

    Everything built so far (modules, app, stores) lives as long as the process: `gc.freeze()` keeps it
    out of full collections, which otherwise stall the loop for tens of ms under load. And the work of a
    request or an event is short-lived containers that reference counting frees: the default threshold
    of 700 net allocations ran a young-generation collection every few requests, each walking the
    objects of every request in flight (~7 µs a webhook, measured). Collect after 10,000 instead; the
    older generations keep their default ratios.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop for PAPO_EVENT_LOOP: uvloop's when asked or, for "auto", when installed.

    bench/ingest.py --loop both measures the web role on each against a bare handler on the same loop.
    """
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ConfigError("PAPO_EVENT_LOOP=uvloop but uvloop is not installed: pip install uvloop") from None
        return None
    return uvloop.new_event_loop


def run_role(settings: Settings, main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run for a long-running role, on the configured event loop."""
    with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
        return runner.run(main)


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGINT/SIGTERM set `stop`, and "Stopping…" is said at once: while the roles drain, not after.

    Every long-running command installs it before its roles start, so that from the signal on nothing
    new begins (no new batch, poll or round: each loop checks `stop`) and the operator knows the wait
    that follows is the drain. A second signal during the drain stops at once: KeyboardInterrupt out of the
    loop, which cancels what still runs (the `finally` blocks still run: `papo up` stops its stores). Nothing
    is lost by it: what was not acknowledged is claimed again at the next start, with the guarantees a crash
    has (the chaos runs SIGKILL workers mid-send).
    """
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            print(f"Stopping now ({sig.name} again): the work in hand is taken up again at the next start",
                  file=sys.stderr, flush=True)
            raise KeyboardInterrupt
        print(f"Stopping… ({sig.name}: finishing the work in hand; {sig.name} again to stop at once)",
              file=sys.stderr, flush=True)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)


class StoresUnavailable(Exception):
    """A store cannot be reached or is not configured; the message says which and what to do."""


@dataclass(frozen=True, slots=True)
class StoreUrls:
    """The three store URLs one process uses."""

    database_url: str
    redis_url: str
    mongo_url: str


@dataclass(slots=True)
class Stores:
    """Open clients for the three stores (PostgreSQL itself is Tortoise's global connection)."""

    urls: StoreUrls
    redis: aioredis.Redis
    mongo: AsyncMongoClient
    analytics: AnalyticsStore


def configured_urls(settings: Settings) -> StoreUrls | None:
    """The URLs from the environment, or from a running `papo up` on the same data dir."""
    from papo.stack import read_running_stack

    env = (settings.database_url, settings.redis_url, settings.mongo_url)
    if all(env):
        return StoreUrls(*env)  # type: ignore[arg-type]
    running = read_running_stack(settings.data_dir)
    if running is None:
        return None
    return StoreUrls(
        database_url=settings.database_url or running.database_url,
        redis_url=settings.redis_url or running.redis_url,
        mongo_url=settings.mongo_url or running.mongo_url,
    )


@contextmanager
def command_stores(settings: Settings, *, note: bool = True) -> Iterator[StoreUrls]:
    """Store URLs for a one-shot command; starts the embedded stack for the command if nothing runs."""
    urls = configured_urls(settings)
    if urls is not None:
        yield urls
        return
    from papo.stack import Stack

    if note:
        print(f"(no running `papo up` in {settings.data_dir}: starting the embedded stores for this command)",
              file=sys.stderr)
    with Stack(
        settings.data_dir,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        mongo_url=settings.mongo_url,
    ) as stack:
        info = stack.start()
        yield StoreUrls(info.database_url, info.redis_url, info.mongo_url)


@asynccontextmanager
async def open_stores(urls: StoreUrls, settings: Settings, *, pool_max: int = 20) -> AsyncIterator[Stores]:
    """Open PostgreSQL (Tortoise), Redis and MongoDB; close them all on exit."""
    await db.init_db(urls.database_url, pool_max=pool_max)
    redis = aioredis.Redis(connection_pool=redis_pool(urls.redis_url))
    mongo = open_mongo(urls.mongo_url)
    try:
        analytics = AnalyticsStore(mongo, settings.mongo_database, redis=redis)
        yield Stores(urls=urls, redis=redis, mongo=mongo, analytics=analytics)
    finally:
        await mongo.close()
        await redis.aclose(close_connection_pool=True)
        await db.close_db()


async def check_stores(stores: Stores) -> dict[str, Exception | None]:
    """Ping each store; None means it answered, else the error it raised (TimeoutError after 2 s)."""
    import asyncio

    async def pg() -> None:
        await Tortoise.get_connection("default").execute_query("SELECT 1")

    async def rd() -> None:
        await stores.redis.ping()

    async def mg() -> None:
        await stores.analytics.ping()

    results: dict[str, Exception | None] = {}
    for name, probe in (("postgresql", pg), ("redis", rd), ("mongodb", mg)):
        try:
            await asyncio.wait_for(probe(), timeout=2.0)
            results[name] = None
        except Exception as exc:  # any failure means "not ready"
            results[name] = exc
    return results


def configured_key(settings: Settings) -> str | None:
    """The key tokens are encrypted with: PAPO_SECRET_KEY, else the key `papo up` generated in the data dir."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    return read_secret_file(settings.data_dir)


def token_cipher(settings: Settings) -> TokenCipher:
    """The cipher for platform tokens (`configured_key`)."""
    key = configured_key(settings)
    if key is None:
        raise StoresUnavailable(
            "no PAPO_SECRET_KEY is set and none was generated in "
            f"{settings.data_dir}: set PAPO_SECRET_KEY or run `papo up` once"
        )
    previous = settings.secret_key_previous
    return TokenCipher(key, previous=(previous.get_secret_value(),) if previous else ())
