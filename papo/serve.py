"""Run the web app until SIGINT/SIGTERM, then drain and close everything in order."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable

from aiohttp import web

from papo import db
from papo.app import create_app
from papo.config import Settings
from papo.runtime import StoreUrls

log = logging.getLogger(__name__)


async def serve_forever(
    settings: Settings,
    urls: StoreUrls,
    *,
    migrate: bool,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve HTTP (and, as they arrive, the other roles) until a stop signal."""
    if migrate:
        await db.migrate(urls.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    runner = web.AppRunner(create_app(settings, urls), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot listen on {settings.host}:{settings.port} ({exc.strerror}); set PAPO_PORT"
            ) from None
        url = f"http://{settings.host}:{settings.port}"
        if on_listening is not None:
            on_listening(url)
        print(f"Papo is up: {url}  (health: {url}/readyz) — Ctrl-C to stop", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()

