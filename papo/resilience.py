"""Riding out outages: bounded backoff with jitter, and one log line per change of state, not per retry.

A store that restarts (Redis, PostgreSQL, MongoDB) or a platform that storms errors is normal for a
service left running for a year. Every long-running loop of Papo catches what went wrong, waits a
little longer each time (capped), and goes on; `Outage` says so once when the trouble starts and once
when it is over, so an operator reads two lines for a one-minute Redis restart, not two hundred.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp
import redis.exceptions
from pymongo.errors import ConnectionFailure

T = TypeVar("T")

try:  # what Tortoise raises when PostgreSQL went away (asyncpg's own errors come through as OSError)
    from tortoise.exceptions import DBConnectionError
except ImportError:  # pragma: no cover — every supported Tortoise has it
    DBConnectionError = OSError  # type: ignore[misc,assignment]

# Errors that mean "a store is unreachable right now": retried quietly. Anything else is a bug and is
# logged with its traceback (still retried: a loop of Papo never ends because one round failed).
STORE_DOWN: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,  # Redis is replaying its AOF after a restart
    ConnectionFailure,
    DBConnectionError,
    ConnectionError,
    OSError,
    TimeoutError,
)

try:
    import asyncpg

    # Class 08 (connection exception) and 57 (operator intervention: shutdown, starting up), and a
    # connection that closed under a query.
    STORE_DOWN += (asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError,
                   asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.exceptions.InterfaceError)
except ImportError:  # pragma: no cover
    pass


# An outside API that cannot be reached (Telegram, a platform): also retried quietly by `Outage`, but not a
# store — the consumer still counts it against the entry (its handler decides what is retryable).
PEER_DOWN: tuple[type[BaseException], ...] = (aiohttp.ClientConnectionError,)
try:
    from aiogram.exceptions import TelegramNetworkError

    PEER_DOWN += (TelegramNetworkError,)
except ImportError:  # pragma: no cover
    pass


def is_store_down(exc: BaseException) -> bool:
    """True for an error that means a store cannot be reached (not a bug in Papo, nor an outside API)."""
    return isinstance(exc, STORE_DOWN) and not isinstance(exc, PEER_DOWN)


def is_expected(exc: BaseException) -> bool:
    """True for an outage (a store or an outside API unreachable), False for a bug."""
    return is_store_down(exc) or isinstance(exc, PEER_DOWN)


class Backoff:
    """Exponential delays with full jitter, from `first` up to `cap` seconds."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first = first
        self.cap = cap
        self.attempt = 0

    def next(self) -> float:
        """The next delay (random in [first/2, bound], the bound doubling per attempt up to `cap`)."""
        bound = min(self.cap, self.first * (2 ** self.attempt))
        if bound < self.cap:  # past the cap the count stops: 2 ** 1024 overflows a float
            self.attempt += 1
        return random.uniform(min(self.first / 2, bound), bound)

    def reset(self) -> None:
        """Start again from `first` (after a success)."""
        self.attempt = 0


class Outage:
    """Tracks one component's health and logs only its changes: "X failing: reason" then "X back after 12 s"."""

    def __init__(self, logger: logging.Logger, what: str, *, backoff: Backoff | None = None) -> None:
        self.log = logger
        self.what = what
        self.backoff = backoff or Backoff()
        self.since: float | None = None
        self.failures = 0

    @property
    def failing(self) -> bool:
        """True between a failure and the next success."""
        return self.since is not None

    def failed(self, exc: BaseException) -> float:
        """Record a failure (logged if it starts an outage, or if it is a bug); return how long to wait."""
        self.failures += 1
        if not is_expected(exc):
            self.log.error("%s failed; retrying", self.what, exc_info=exc)
        elif self.since is None:
            self.log.warning("%s: %s unreachable (%s); retrying with backoff", self.what, _store_name(exc),
                             reason(exc))
        if self.since is None:
            self.since = time.monotonic()
        return self.backoff.next()

    def ok(self) -> None:
        """Record a success; logs the recovery if an outage was under way."""
        if self.since is not None:
            self.log.warning("%s: recovered after %.1f s (%d failed tries)", self.what,
                             time.monotonic() - self.since, self.failures)
            self.since = None
            self.failures = 0
            self.backoff.reset()

    async def wait(self, exc: BaseException, stop: asyncio.Event | None = None) -> None:
        """`failed(exc)`, then sleep the backoff delay (returns early when `stop` is set).

        Once `stop` is set an unreachable store or peer is not logged: it is the stop cutting a call short (a
        cancelled read that closed its connection), and an operator who pressed Ctrl-C should not read of an
        outage that is not one. A bug is still logged.
        """
        if stop is not None and stop.is_set() and is_expected(exc):
            return
        await pause(stop, self.failed(exc))


async def pause(stop: asyncio.Event | None, seconds: float) -> None:
    """Sleep `seconds`, or less when `stop` is set meanwhile."""
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def until_done(what: str, step: Callable[[], Awaitable[T]], logger: logging.Logger, *,
                     stop: asyncio.Event | None = None) -> T | None:
    """Run `step` until it succeeds (a start-up step while a store is down); None if `stop` was set first."""
    outage = Outage(logger, what)
    while stop is None or not stop.is_set():
        try:
            result = await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # retried until the store answers; logged once per state change
            await outage.wait(exc, stop)
            continue
        outage.ok()
        return result
    return None


@contextlib.asynccontextmanager
async def start_steps(logger: logging.Logger,
                      *steps: tuple[str, Callable[[], Awaitable[object]]]) -> AsyncIterator[None]:
    """Run start-up steps, given as (what, step), in the background, each until done, for the block's lifetime.

    For what must happen once but must not hold a role back while a store is down (MongoDB's indexes,
    the account index): the role serves meanwhile, and the step finishes when the store is back.
    """
    tasks = [asyncio.create_task(until_done(what, step, logger), name=what) for what, step in steps]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _store_name(exc: BaseException) -> str:
    module = type(exc).__module__
    if module.startswith("redis"):
        return "Redis"
    if module.startswith(("pymongo", "bson")):
        return "MongoDB"
    if module.startswith(("asyncpg", "tortoise")):
        return "PostgreSQL"
    if module.startswith("aiogram"):
        return "Telegram"
    if module.startswith("aiohttp"):
        return "an outside API"
    return "a store"


def reason(exc: BaseException) -> str:
    """An error in one short line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


async def supervise(what: str, run: Callable[[asyncio.Event], Awaitable[object]], stop: asyncio.Event,
                    logger: logging.Logger) -> None:
    """Run a role until `stop`; if it ever raises, log it and start it again after a backoff.

    The roles handle their own faults; this is the last line, so that one role's unexpected error
    never takes the process's other roles down with it (as `asyncio.gather` would).
    """
    outage = Outage(logger, what, backoff=Backoff(first=1.0, cap=30.0))
    while not stop.is_set():
        try:
            await run(stop)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the role stopped by itself: restart it
            await outage.wait(exc, stop)


def alive_file(role: str) -> Path:
    """Where a role process shows it is alive (its loop touches the file): what container healthchecks read."""
    return Path(tempfile.gettempdir()) / f"papo-{role}.alive"


async def keep_alive(role: str, stop: asyncio.Event, *, every: float = 5.0) -> None:
    """Touch `alive_file(role)` every few seconds while the event loop runs (a stuck loop goes stale)."""
    path = alive_file(role)
    while not stop.is_set():
        with contextlib.suppress(OSError):  # a read-only /tmp must not stop the role
            path.touch()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
    with contextlib.suppress(OSError):
        path.unlink()


async def every(what: str, round_: Callable[[], Awaitable[object]], stop: asyncio.Event, interval: float,
                logger: logging.Logger) -> None:
    """Run `round_` every `interval` seconds until `stop`; a failed round is retried, never fatal.

    While a store is down the next try comes after the backoff (sooner than `interval` when that is
    long), and the outage is logged once; a bug is logged with its traceback at every round. With
    `interval` 0 (a round that blocks on its own read) every failure waits the backoff.
    """
    outage = Outage(logger, what)
    while not stop.is_set():
        wait = interval
        try:
            await round_()
            outage.ok()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad round must not stop the role
            if stop.is_set() and is_expected(exc):  # the stop cut the round short (see Outage.wait)
                break
            delay = outage.failed(exc)
            if not interval:
                wait = delay
            elif is_store_down(exc):
                wait = min(interval, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
