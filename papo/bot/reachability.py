"""Telegram reachability: one log line when the Bot API stops answering, one when it answers again.

aiogram's polling loop retries getUpdates by itself, with its own capped backoff (`BackoffConfig`), and
logs an ERROR and a WARNING on every failed try. Papo configures that backoff (PAPO_TELEGRAM_BACKOFF_MIN
→ PAPO_TELEGRAM_BACKOFF_MAX, 1 s → 60 s, doubling) and reports the state itself: a request middleware on
the bot's session sees every Bot API call (polling, alerts, replies to the owner) and logs only the
changes — "Telegram API unreachable: <reason>; retrying with backoff", then "Telegram API reachable again
after 42.0s" — and `QuietPolling` drops aiogram's per-try lines for those failures.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramServerError
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.utils.backoff import BackoffConfig

from papo.resilience import reason

if TYPE_CHECKING:
    from papo.config import Settings

log = logging.getLogger(__name__)

# The Bot API did not answer (connection refused, timeout) or answered 5xx: retried, reported once.
UNREACHABLE: tuple[type[TelegramAPIError], ...] = (TelegramNetworkError, TelegramServerError)
POLLING_LOGGER = "aiogram.dispatcher"


def polling_backoff(settings: Settings) -> BackoffConfig:
    """aiogram's polling backoff from the settings: doubling from min to max, with a little jitter."""
    low = float(settings.telegram_backoff_min)
    high = max(float(settings.telegram_backoff_max), low * 1.01)  # aiogram wants max > min
    return BackoffConfig(min_delay=low, max_delay=high, factor=2.0, jitter=low / 10)


class TelegramReachability(BaseRequestMiddleware):
    """Watches every Bot API call of one bot and logs when Telegram stops and starts answering."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self.log = logger
        self.since: float | None = None
        self.failures = 0

    @property
    def reachable(self) -> bool:
        """False between a failure and the next answer."""
        return self.since is None

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Response[Any]:
        """Make the call; note whether Telegram answered."""
        try:
            response = await make_request(bot, method)
        except UNREACHABLE as exc:
            self.failed(exc, "unreachable")
            raise
        except TelegramAPIError as exc:
            if isinstance(method, GetUpdates):  # aiogram retries it quietly now: say why polling is stuck
                self.failed(exc, "refuses getUpdates")
            else:  # Telegram answered: it is reachable (the caller handles the refusal)
                self.ok()
            raise
        self.ok()
        return response

    def failed(self, exc: BaseException, what: str = "unreachable") -> None:
        """Record a failed call; logged only when it starts an outage."""
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
            self.log.warning("Telegram API %s: %s; retrying with backoff", what, reason(exc))

    def ok(self) -> None:
        """Record an answer; logs the recovery when an outage was under way."""
        if self.since is not None:
            self.log.warning("Telegram API reachable again after %.1fs (%d failed calls)",
                             time.monotonic() - self.since, self.failures)
            self.since = None
            self.failures = 0


def reachability(bot: Bot) -> TelegramReachability:
    """The bot's reachability middleware, installed on its session on first use."""
    for middleware in bot.session.middleware:
        if isinstance(middleware, TelegramReachability):
            return middleware
    watcher = TelegramReachability()
    bot.session.middleware(watcher)
    return watcher


class QuietPolling(logging.Filter):
    """Drops aiogram's per-try polling lines for Telegram errors (the middleware reports those once).

    aiogram logs "Failed to fetch updates - <error>", then "Sleep for … seconds and try again", on every
    failed getUpdates, and "Connection established" after one succeeds again. Other errors (a bug while
    reading updates) keep aiogram's lines.
    """

    def __init__(self) -> None:
        super().__init__()
        self.quiet = False  # the last failure was a Telegram error: its "Sleep for" and recovery go too

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the lines the middleware replaces."""
        template = str(record.msg)
        if template.startswith("Failed to fetch updates"):
            name = record.args[0] if isinstance(record.args, tuple) and record.args else ""
            self.quiet = str(name).startswith("Telegram")
            return not self.quiet
        if template.startswith(("Sleep for", "Connection established")):
            return not self.quiet
        return True


def quiet_polling_logs() -> None:
    """Install `QuietPolling` on aiogram's dispatcher logger (once per process)."""
    logger = logging.getLogger(POLLING_LOGGER)
    if not any(isinstance(f, QuietPolling) for f in logger.filters):
        logger.addFilter(QuietPolling())
