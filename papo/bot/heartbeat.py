"""The admin bot's heartbeat: after each long poll Telegram answered (in webhook mode: each getWebhookInfo
that says the webhook is ours and delivering), a Redis key with a short TTL.

The bot serves no /metrics of its own; `papo serve` shows `papo_bot_connected` as 1 while the key lives
(papo.constants.BOT_HEARTBEAT). A long poll returns at least every `polling_timeout` (25 s) even when no
one writes, so a bot that polls keeps the key; one that cannot reach Telegram lets it expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.methods import GetUpdates
from redis.exceptions import RedisError

from papo.constants import BOT_HEARTBEAT, BOT_HEARTBEAT_TTL

log = logging.getLogger(__name__)


class Heartbeat(BaseRequestMiddleware):
    """A Bot session middleware: marks the bot alive when a getUpdates call succeeds (at most every `every` s)."""

    def __init__(self, redis: aioredis.Redis, *, ttl: int = BOT_HEARTBEAT_TTL, every: float = 10.0) -> None:
        self.redis = redis
        self.ttl = ttl
        self.every = every
        self._last = float("-inf")

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Any, method: Any) -> Any:
        """Make the call; a getUpdates that answered (no exception) is a beat."""
        response = await make_request(bot, method)
        if isinstance(method, GetUpdates):
            await self.beat()
        return response

    async def beat(self) -> None:
        """Write the heartbeat key, unless written less than `every` seconds ago; a Redis outage only logs."""
        now = time.monotonic()
        if now - self._last < self.every:
            return
        try:
            await self.redis.set(BOT_HEARTBEAT, str(int(time.time())), ex=self.ttl)
        except RedisError as exc:  # the bot keeps working; only the gauge says 0 for a while
            log.debug("bot heartbeat not written: %s", exc)
            return
        self._last = now


async def watch_webhook(bot: Any, heartbeat: Heartbeat, stop: asyncio.Event, *, url: str | None,
                        every: float = 20.0) -> None:
    """In webhook mode Papo makes no calls while no one writes: ask Telegram every `every` s how the webhook
    is doing (getWebhookInfo). A beat when Telegram answers, has our URL (when we set one) and reported no
    delivery error in the last heartbeat TTL; otherwise the key expires and the gauge says 0."""
    while not stop.is_set():
        try:
            info = await bot.get_webhook_info()
        except (TimeoutError, TelegramAPIError, TelegramNetworkError, OSError) as exc:
            log.debug("getWebhookInfo failed: %s", exc)
        else:
            failed_at = info.last_error_date
            failing = failed_at is not None and time.time() - failed_at.timestamp() < heartbeat.ttl
            if (url is None or info.url == url) and not failing:
                await heartbeat.beat()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
