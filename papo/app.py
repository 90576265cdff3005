"""`create_app(settings, urls)`: the composition root of the web process."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import ClientSession, ClientTimeout, web

from papo import app_keys
from papo.config import Settings
from papo.handlers import errors, health, oauth, webhooks
from papo.handlers import media as media_handler
from papo.handlers import metrics as metrics_handler
from papo.resilience import start_steps
from papo.runtime import Stores, StoreUrls, open_stores
from papo.services import account_index
from papo.services.queues import Queues

log = logging.getLogger(__name__)


async def _stores_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the three stores for the app's lifetime (MongoDB's indexes made once it answers)."""
    async with open_stores(app[app_keys.STORE_URLS], app[app_keys.SETTINGS]) as stores, \
            start_steps(log, ("MongoDB indexes", stores.analytics.ensure_indexes)):
        app[app_keys.STORES] = stores
        yield


async def _queues_ctx(app: web.Application) -> AsyncIterator[None]:
    """The producers webhooks write to, and a fresh account index (connects made while we were down).

    A store that is down at start must not stop the server (readyz reports it): the index is rebuilt
    in the background until Redis answers.
    """
    stores = app[app_keys.STORES]
    # Webhook appends go through the queues' own pipelined connection; Queues bounds each write in time.
    app[app_keys.QUEUES] = queues = Queues(stores.redis, app[app_keys.SETTINGS].stream_partitions)
    async with start_steps(log, ("account index rebuild", lambda: account_index.rebuild(stores.redis))):
        yield
    await queues.aclose()


async def _http_ctx(app: web.Application) -> AsyncIterator[None]:
    """One outgoing HTTP session per app (platform APIs)."""
    async with ClientSession(timeout=ClientTimeout(total=30)) as session:
        app[app_keys.HTTP] = session
        yield


def create_app(settings: Settings, urls: StoreUrls, *, stores: Stores | None = None) -> web.Application:
    """Build the aiohttp application; resources open on startup and close on cleanup.

    Pass `stores` to share stores the caller already opened (and will close) — tests and `papo up`
    running several roles in one process do.
    """
    app = web.Application(middlewares=[errors.error_middleware], client_max_size=settings.webhook_max_body)
    app[app_keys.SETTINGS] = settings
    app[app_keys.STORE_URLS] = urls
    if stores is None:
        app.cleanup_ctx.append(_stores_ctx)
    else:
        app[app_keys.STORES] = stores
    app.cleanup_ctx.append(_queues_ctx)
    app.cleanup_ctx.append(_http_ctx)
    health.setup(app)
    metrics_handler.setup(app)
    webhooks.setup(app)
    oauth.setup(app)
    media_handler.setup(app)
    if settings.telegram_token is not None and settings.telegram_mode == "webhook":
        from papo.bot.dispatcher import setup_webhook

        setup_webhook(app, settings, stores_key=app_keys.STORES)  # after _stores_ctx: it needs the stores
    return app
