"""The YouTube comment poller against a local server speaking commentThreads.list."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from papo.crypto import TokenCipher
from papo.models import Message
from papo.pipeline.youtube_poller import YouTubePoller
from papo.services.queues import Queues
from tests.conftest import TEST_SECRET, eventually

THREADS = json.loads((Path(__file__).parent.parent / "data/webhooks/youtube/comment_threads.json").read_text())
CHANNEL = "UCx9k2Lr7nQvB3mT5yHw8ZpA"


@pytest_asyncio.fixture(loop_scope="session")
async def youtube_api():
    calls: list[dict] = []

    async def comment_threads(request: web.Request) -> web.Response:
        calls.append({"query": dict(request.query), "auth": request.headers.get("Authorization")})
        if request.query.get("allThreadsRelatedToChannelId") != CHANNEL:
            return web.json_response({"error": {"code": 404, "message": "channel not found"}}, status=404)
        page = dict(THREADS)
        page.pop("nextPageToken", None)
        return web.json_response(page)

    app = web.Application()
    app.router.add_get("/youtube/v3/commentThreads", comment_threads)
    server = TestServer(app)
    await server.start_server()
    yield server, calls
    await server.close()


async def test_poller_feeds_new_comments_once(worker, settings, stores, connect, youtube_api) -> None:
    server, calls = youtube_api
    await connect("youtube", CHANNEL)
    local = settings.model_copy(update={"youtube_api_url": str(server.make_url("/"))})
    queues = Queues(stores.redis, settings.stream_partitions)
    async with aiohttp.ClientSession() as session:
        poller = YouTubePoller(stores, local, queues, TokenCipher(TEST_SECRET), session)
        queued = await poller.poll_all()
        assert queued >= 2
        await eventually(lambda: Message.filter(kind="comment").count())
        await eventually(_count_is(queued))
        first = await Message.filter(platform_message_id="UgzDE2tasfmrYLyNkGt4AaABAg").prefetch_related(
            "conversation").first()
        assert first.message_text == "Vocês vendem a forminha? Onde compro?"
        assert first.post_id == "dQw4Xw9WgXc" and first.conversation.remote_user_id == "UCm4R1n4C0sTaQ8vZ2kL7pXw"
        assert calls[0]["auth"] == "Bearer tok-test" and calls[0]["query"]["part"] == "snippet,replies"

        await stores.redis.delete(f"papo:youtube:lock:{CHANNEL}")
        assert await poller.poll_all() == 0  # nothing newer than what was seen
        assert len(calls) == 2
    await queues.aclose()


def _count_is(n: int):
    async def check() -> bool:
        return await Message.filter(kind="comment").count() == n
    return check
