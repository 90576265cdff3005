"""The webhook path's pipelined Redis connection: replies reach their senders in order, errors stay
per command, AUTH/SELECT on connect, lost connections fail their callers and the next send reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import hiredis
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from papo.streams.wire import PipelinedRedis

Answer = Callable[[list[bytes]], Awaitable[bytes | None]]


async def fake_redis(answer: Answer) -> tuple[asyncio.Server, list[list[list[bytes]]]]:
    """A local server reading RESP commands; `answer` gives the raw reply (None: close the connection).
    Returns the server and, per connection, the commands it received."""
    connections: list[list[list[bytes]]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser, seen = hiredis.Reader(), []
        connections.append(seen)
        while data := await reader.read(65536):
            parser.feed(data)
            while (command := parser.gets()) is not False:
                seen.append(command)
                reply = await answer(command)
                if reply is None:
                    writer.close()
                    return
                writer.write(reply)
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0), connections


def url_of(server: asyncio.Server, path: str = "/0") -> str:
    return f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}{path}"


async def test_replies_reach_their_senders_in_order_and_errors_stay_per_command(stores) -> None:
    wire = PipelinedRedis.like(stores.redis)
    try:
        await stores.redis.set("papo:t:text", "not a number")
        groups = [[("SET", f"papo:t:{i}", f"v{i}"), ("GET", f"papo:t:{i}"), ("INCR", "papo:t:n")] for i in range(60)]
        groups[30].append(("INCR", "papo:t:text"))  # an error reply in the middle of everything
        replies = await asyncio.gather(*(wire.send(group) for group in groups))
        for i, reply in enumerate(replies):
            assert reply[:3] == ["OK", f"v{i}", i + 1]  # sent in this order, so counted in this order
        assert isinstance(replies[30][3], ResponseError) and "not an integer" in str(replies[30][3])
        missing = await wire.execute([("EVALSHA", "0" * 40, 0)])
        assert isinstance(missing[0], NoScriptError)
        assert await wire.execute([]) == []  # nothing to send, nothing to wait for
        assert await wire.execute([("PING",)]) == ["PONG"]  # the connection is still in step
    finally:
        await wire.aclose()


async def test_uses_the_database_of_the_url(stores) -> None:
    other = aioredis.Redis.from_url(stores.urls.redis_url.rsplit("/", 1)[0] + "/9", decode_responses=True)
    wire = PipelinedRedis.like(other)
    try:
        assert await wire.execute([("SET", "papo:t:db", "nine")]) == ["OK"]
        assert await other.get("papo:t:db") == "nine"
        assert await stores.redis.get("papo:t:db") is None
    finally:
        await other.flushdb()
        await other.aclose()
        await wire.aclose()


async def test_auth_and_select_on_connect_and_a_refusal_says_what_failed() -> None:
    password = "s3cret"

    async def answer(command: list[bytes]) -> bytes:
        if command[0] == b"AUTH":
            ok = command[1:] == [b"papo", password.encode()]
            return b"+OK\r\n" if ok else b"-WRONGPASS invalid username-password pair\r\n"
        return b"+PONG\r\n" if command[0] == b"PING" else b"+OK\r\n"

    server, connections = await fake_redis(answer)
    port = server.sockets[0].getsockname()[1]
    good = PipelinedRedis.like(aioredis.Redis.from_url(f"redis://papo:{password}@127.0.0.1:{port}/2"))
    bad = PipelinedRedis.like(aioredis.Redis.from_url(f"redis://papo:wrong@127.0.0.1:{port}/2"))
    try:
        assert await good.execute([("PING",)]) == ["PONG"]
        assert connections[0] == [[b"AUTH", b"papo", password.encode()], [b"SELECT", b"2"], [b"PING"]]
        with pytest.raises(RedisConnectionError, match="Redis refused AUTH: WRONGPASS"):
            await bad.execute([("PING",)])
        assert connections[1] == [[b"AUTH", b"papo", b"wrong"], [b"SELECT", b"2"]]  # PING never sent
    finally:
        await good.aclose()
        await bad.aclose()
        server.close()


async def test_a_lost_connection_fails_its_callers_and_the_next_send_reconnects() -> None:
    calls = 0

    async def answer(command: list[bytes]) -> bytes | None:
        nonlocal calls
        calls += 1
        return None if calls == 1 else b"+PONG\r\n"  # the first connection dies with its first command

    server, connections = await fake_redis(answer)
    wire = PipelinedRedis.like(aioredis.Redis.from_url(url_of(server)))
    try:
        with pytest.raises(RedisConnectionError, match="connection lost"):
            await wire.execute([("PING",)])
        assert await wire.execute([("PING",)]) == ["PONG"]
        assert len(connections) == 2
    finally:
        await wire.aclose()
        server.close()


async def test_nothing_listening_is_a_connection_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    url = url_of(server)
    server.close()
    await server.wait_closed()
    wire = PipelinedRedis.like(aioredis.Redis.from_url(url))
    with pytest.raises(RedisConnectionError, match="cannot connect to Redis"):
        await wire.execute([("PING",)])
    await wire.aclose()


async def test_a_dropped_connection_fails_what_it_left_unanswered_and_the_next_send_reconnects() -> None:
    release = asyncio.Event()

    async def answer(command: list[bytes]) -> bytes:
        if command[0] == b"BLPOP":
            await release.wait()
        return b"+OK\r\n"

    server, connections = await fake_redis(answer)
    wire = PipelinedRedis.like(aioredis.Redis.from_url(url_of(server)))
    try:
        assert await wire.execute([("PING",)]) == ["OK"]
        stuck = wire.send([("BLPOP", "k", 0)])
        await asyncio.sleep(0.1)
        assert not stuck.done()
        wire.drop()
        with pytest.raises(RedisConnectionError, match="connection lost"):
            await stuck
        assert await wire.execute([("PING",)]) == ["OK"]  # on a new connection
        assert len(connections) == 2
    finally:
        release.set()
        await wire.aclose()
        server.close()
