"""Run Papo's roles in one process until SIGINT/SIGTERM, then stop taking webhooks, drain, close."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Iterable

from aiohttp import web

from papo import db
from papo.app import create_app
from papo.config import Settings
from papo.resilience import start_steps
from papo.runtime import StoreUrls, open_stores, stop_on_signals, tune_gc

log = logging.getLogger(__name__)


async def serve_forever(
    settings: Settings,
    urls: StoreUrls,
    *,
    migrate: bool,
    roles: Iterable[str] = ("web",),
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve HTTP and run the other roles asked for ("worker") on shared stores until a stop signal."""
    roles = set(roles)
    if migrate:
        await db.migrate(urls.database_url)
    stop = asyncio.Event()
    stop_on_signals(stop)

    pool = 10 + (settings.stream_partitions + 6 if "worker" in roles else 0) + (2 if "scheduler" in roles else 0)
    async with open_stores(urls, settings, pool_max=pool) as stores, \
            start_steps(log, ("MongoDB indexes", stores.analytics.ensure_indexes)):
        runner = web.AppRunner(create_app(settings, urls, stores=stores), access_log=None)
        await runner.setup()
        background: list[asyncio.Task[None]] = []
        try:
            site = web.TCPSite(runner, settings.host, settings.port)
            try:
                await site.start()
            except OSError as exc:
                raise OSError(
                    exc.errno, f"cannot listen on {settings.host}:{settings.port} ({exc.strerror}); set PAPO_PORT"
                ) from None
            if "worker" in roles:
                from papo.worker import run_roles

                background.append(asyncio.create_task(run_roles(stores, settings, stop), name="worker"))
            if "bot" in roles and settings.telegram_token is not None and settings.telegram_mode == "polling":
                from papo.bot.dispatcher import supervise_polling

                background.append(asyncio.create_task(supervise_polling(stores, settings, stop), name="bot"))
            if "scheduler" in roles:
                from papo.scheduler import run_scheduler

                background.append(asyncio.create_task(run_scheduler(stores, settings, stop), name="scheduler"))
            tune_gc()
            url = f"http://{settings.host}:{settings.port}"
            if on_listening is not None:
                on_listening(url)
            print(f"Papo is up: {url}  (health: {url}/readyz) — Ctrl-C to stop", file=sys.stderr, flush=True)
            await _wait(stop, background)
        finally:
            stop.set()
            await runner.cleanup()  # no new webhooks from here on
            if background:
                await asyncio.gather(*background, return_exceptions=True)  # workers drain their batches


async def _wait(stop: asyncio.Event, background: list[asyncio.Task[None]]) -> None:
    """Until a stop signal, or until a role dies (then re-raise its error)."""
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *background], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    for task in done:
        if task is not waiter and task.exception() is not None:
            log.error("role %s stopped with an error", task.get_name())
            raise task.exception()  # type: ignore[misc]
