"""A pipelined Redis connection for the webhook path: commands go out as soon as they are ready, replies
come back in order.

Redis answers the commands of one connection in the order it received them, so a client can keep
writing while earlier replies are still on their way and match replies to callers by counting. The
webhook path does exactly that (papo.services.queues): a chunk of requests is written the moment it is
complete, synchronously, and Redis works on it while this process parses the next requests. redis-py's
pipelines cannot do that: a pipeline is a coroutine that owns a pooled connection until its replies are
read, so a batch could only start once the loop came back to it, and the process sat idle while Redis
worked (measured: ~15 % of the webhook server's time).

Deliberately small: RESP2 commands packed by hiredis, replies parsed by hiredis, AUTH and SELECT on
connect (the same URL forms as redis-py: redis://, rediss://, unix://). Everything else uses redis-py.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

Command = Sequence[Any]
CONNECT_TIMEOUT = 5.0


class CommandBuffer:
    """Commands collected to be sent together, with the redis-py pipeline methods the producers call."""

    def __init__(self) -> None:
        self.commands: list[Command] = []

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> None:
        self.commands.append(("EVALSHA", sha, numkeys, *keys_and_args))

    def xadd(self, name: str, fields: dict[str, Any], *, maxlen: int | None = None,
             approximate: bool = True) -> None:
        trim = ("MAXLEN", "~" if approximate else "=", maxlen) if maxlen is not None else ()
        self.commands.append(("XADD", name, *trim, "*", *(part for pair in fields.items() for part in pair)))


class _Waiter:
    __slots__ = ("expected", "future", "replies")

    def __init__(self, future: asyncio.Future[list[Any]], expected: int) -> None:
        self.future = future
        self.expected = expected
        self.replies: list[Any] = []


class _Protocol(asyncio.Protocol):
    """Writes packed commands, reads replies, hands each group of replies to its waiter in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader(replyError=ResponseError, encoding="utf-8")
        self.waiting: deque[_Waiter] = deque()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, commands: Sequence[Command]) -> asyncio.Future[list[Any]]:
        future = asyncio.get_running_loop().create_future()
        if not commands:  # no reply will come to count
            future.set_result([])
            return future
        if self.closed or self.transport is None:
            future.set_exception(RedisConnectionError("the Redis connection is closed"))
            return future
        self.waiting.append(_Waiter(future, len(commands)))
        self.transport.write(b"".join([hiredis.pack_command(tuple(command)) for command in commands]))
        return future

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                waiter = self.waiting[0]
                if type(reply) is ResponseError and str(reply).startswith("NOSCRIPT"):
                    reply = NoScriptError(str(reply))
                waiter.replies.append(reply)
                if len(waiter.replies) == waiter.expected:
                    self.waiting.popleft()
                    if not waiter.future.done():  # its caller may have given up (timeout)
                        waiter.future.set_result(waiter.replies)
        except (hiredis.ProtocolError, IndexError) as exc:  # garbage, or a reply nobody asked for
            self._fail(RedisConnectionError(f"unreadable reply from Redis: {exc!r}"))
            if self.transport is not None:
                self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"Redis connection lost: {exc or 'closed'}"))

    def _fail(self, error: Exception) -> None:
        self.closed = True
        while self.waiting:
            future = self.waiting.popleft().future
            if not future.done():
                future.set_exception(error)


class PipelinedRedis:
    """One lazily opened connection; `send` writes at once and returns a future of the replies."""

    def __init__(self, connection_kwargs: dict[str, Any], *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._kwargs = connection_kwargs
        self._ssl = ssl_context
        self._protocol: _Protocol | None = None
        self._backlog: list[tuple[Sequence[Command], asyncio.Future[list[Any]]]] = []
        self._connecting: asyncio.Task[None] | None = None

    @classmethod
    def like(cls, client: aioredis.Redis) -> PipelinedRedis:
        """A connection to the server and database a redis-py client uses (same URL forms and credentials)."""
        pool = client.connection_pool
        kwargs = pool.connection_kwargs
        context = None
        if issubclass(pool.connection_class, SSLConnection):
            context = ssl.create_default_context(cafile=kwargs.get("ssl_ca_certs"))
            if kwargs.get("ssl_cert_reqs") in ("none", ssl.CERT_NONE):
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        return cls(dict(kwargs), ssl_context=context)

    def send(self, commands: Sequence[Command]) -> asyncio.Future[list[Any]]:
        """Write `commands` now (or as soon as the connection is open); the future gets one reply per command.

        Error replies are exception instances in the list (NoScriptError for NOSCRIPT), not raised; a lost
        connection fails the future with redis' ConnectionError.
        """
        if self._protocol is not None and not self._protocol.closed:
            return self._protocol.send(commands)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._backlog.append((commands, future))
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.create_task(self._connect())
        return future

    async def execute(self, commands: Sequence[Command]) -> list[Any]:
        """Send and wait for the replies."""
        return await self.send(commands)

    def drop(self) -> None:
        """Drop the connection: its unanswered callers fail, the next send opens a new one (a caller that
        gave up waiting calls this, as Redis' answers on this connection can no longer be trusted to come)."""
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.abort()
        self._protocol = None

    async def aclose(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        for _, future in self._backlog:
            future.cancel()
        self._backlog = []
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None

    async def _connect(self) -> None:
        try:
            async with asyncio.timeout(self._kwargs.get("socket_connect_timeout") or CONNECT_TIMEOUT):
                protocol = await self._open()
                hello: list[Command] = []
                if self._kwargs.get("password"):
                    username = self._kwargs.get("username")
                    hello.append(("AUTH", username, self._kwargs["password"]) if username
                                 else ("AUTH", self._kwargs["password"]))
                if self._kwargs.get("db"):
                    hello.append(("SELECT", self._kwargs["db"]))
                for command, reply in zip(hello, await protocol.send(hello) if hello else [], strict=True):
                    if isinstance(reply, Exception):
                        protocol.transport.abort()  # type: ignore[union-attr]
                        raise RedisConnectionError(f"Redis refused {command[0]}: {reply}")
        except (OSError, TimeoutError, RedisConnectionError) as exc:
            error = exc if isinstance(exc, RedisConnectionError) else RedisConnectionError(
                f"cannot connect to Redis: {exc!r}")
            backlog, self._backlog = self._backlog, []
            for _, future in backlog:
                if not future.done():
                    future.set_exception(error)
            return
        self._protocol = protocol
        backlog, self._backlog = self._backlog, []
        for commands, future in backlog:
            if not future.done():
                protocol.send(commands).add_done_callback(lambda sent, future=future: _relay(sent, future))

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        if self._kwargs.get("path"):
            _, protocol = await loop.create_unix_connection(_Protocol, self._kwargs["path"])
        else:
            _, protocol = await loop.create_connection(
                _Protocol, self._kwargs.get("host", "localhost"), self._kwargs.get("port", 6379), ssl=self._ssl)
        return protocol


def _relay(source: asyncio.Future[list[Any]], target: asyncio.Future[list[Any]]) -> None:
    if target.done():
        return
    if source.exception() is not None:
        target.set_exception(source.exception())  # type: ignore[arg-type]
    else:
        target.set_result(source.result())
