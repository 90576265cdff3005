"""Coalescing: calls made by concurrent tasks in one loop iteration share one round trip.

A worker handles a batch's conversations concurrently, and a web process serves many requests at once;
each of them would otherwise pay its own Redis, PostgreSQL or MongoDB round trip (a syscall, a wake-up
of the server, a reply to parse). `Coalescer.submit` parks the item and lets the loop run once more;
every item submitted meanwhile goes to one `flush(items)` call, whose results are handed back in order.
Under load N round trips become one; alone, a call waits one loop iteration at most.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """Batches `submit(item)` calls into `flush(items) -> results` (one result per item, same order).

    A result that is an exception instance is raised to that item's caller only; an exception raised
    by `flush` itself reaches every caller of that round.
    """

    def __init__(self, flush: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]], *,
                 max_batch: int = 1000) -> None:
        self._flush_fn = flush
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Queue `item` for the next flush and wait for its result."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._run())
        return await done

    async def _run(self) -> None:
        await asyncio.sleep(0)  # let the other tasks of this loop iteration join
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch:]
            try:
                results = await self._flush_fn([item for item, _ in batch])
            except Exception as exc:  # every caller of this round gets it; the next round still runs
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            except BaseException:  # cancelled (shutdown): so are the callers waiting on this round
                for _, done in batch + self._pending:
                    done.cancel()
                self._pending = []
                raise
            for (_, done), result in zip(batch, results, strict=True):
                if done.done():  # the caller was cancelled
                    continue
                if isinstance(result, BaseException):
                    done.set_exception(result)
                else:
                    done.set_result(result)


Command = tuple[str, tuple[Any, ...], dict[str, Any]]


class AutoPipeline:
    """Redis commands from concurrent tasks sent as one pipeline per loop iteration.

    For hot paths that issue a few independent commands per item (the outbound stage): each call is
    its own command, so atomicity is per command (or per script), exactly as without batching.
    """

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._coalescer: Coalescer[Command, Any] = Coalescer(self._flush)

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run one redis-py command method (`get`, `hset`, `evalsha`…) in the next shared pipeline."""
        return await self._coalescer.submit((name, args, kwargs))

    async def script(self, source: str, sha: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """EVALSHA in the shared pipeline; the script is loaded once if Redis does not know it (restart)."""
        try:
            return await self.call("evalsha", sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.redis.script_load(source)
            return await self.redis.evalsha(sha, len(keys), *keys, *args)

    async def _flush(self, commands: list[Command]) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        for name, args, kwargs in commands:
            getattr(pipe, name)(*args, **kwargs)
        return list(await pipe.execute(raise_on_error=False))

    # The commands the hot paths use, under their redis-py names, so code written against a client
    # (`redis.get(key)`) takes an AutoPipeline as it is.
    async def get(self, name: str) -> Any:
        return await self.call("get", name)

    async def set(self, name: str, value: Any, **kwargs: Any) -> Any:
        return await self.call("set", name, value, **kwargs)

    async def hget(self, name: str, key: str) -> Any:
        return await self.call("hget", name, key)

    async def hgetall(self, name: str) -> Any:
        return await self.call("hgetall", name)

    async def hset(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return await self.call("hset", name, *args, **kwargs)

    async def expire(self, name: str, seconds: int) -> Any:
        return await self.call("expire", name, seconds)
