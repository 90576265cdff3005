"""A local server speaking the platforms' publishing APIs (Graph/Instagram, Facebook Pages, TikTok Content
Posting, YouTube resumable upload, a Kwai connector, a media host), and helpers to run the real scheduler
and publisher against it."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from papo.crypto import TokenCipher
from papo.enums import Platform
from papo.models import ConnectedAccount, User
from papo.pipeline.publish import run_publisher
from papo.runtime import Stores
from papo.scheduler import run_scheduler
from papo.services.accounts import connect_account
from papo.services.posts import PostOptions
from papo.services.users import create_user
from tests.conftest import TEST_SECRET

IG = "17841400000000001"
PAGE = "106540352242000"
TT = "tt-open-id-42"
YT = "UCpapo000000000000000001"
KW = "kwai-150009988776"
KWAI_SECRET = "kwai-posts-secret-7"
VIDEO_BYTES = bytes(range(256)) * 1000  # 256,000 bytes
IMAGE_BYTES = b"\xff\xd8\xff\xe0" + b"\x00" * 2000


@dataclass
class Call:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class FakeApis:
    """Answers like the documented publishing APIs; `fail(method, path, (status, body)…)` queues answers."""

    server: TestServer | None = None
    calls: list[Call] = field(default_factory=list)
    scripted: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    tiktok_polls: dict[str, int] = field(default_factory=dict)
    privacy_options: list[str] = field(default_factory=lambda: ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS",
                                                                  "SELF_ONLY"])
    processing_polls: int = 1  # IN_PROGRESS / PROCESSING answers before a video is ready
    holds: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)

    def fail(self, method: str, path: str, *answers: tuple[int, dict[str, Any]]) -> None:
        self.scripted.setdefault((method, path), []).extend(answers)

    def hold(self, method: str, path: str) -> asyncio.Event:
        """Requests to (method, path) get no answer until the returned event is set (a slow platform)."""
        return self.holds.setdefault((method, path), asyncio.Event())

    def url(self, path: str = "/") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    @property
    def host(self) -> str:
        """`host:port` of the fake, for PAPO_MEDIA_FETCH_ALLOW_HOSTS (its media host is on a loopback address)."""
        assert self.server is not None
        return f"{self.server.host}:{self.server.port}"

    def to(self, method: str, suffix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.endswith(suffix)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        call = Call(request.method, request.path, dict(request.query), dict(request.headers), body)
        self.calls.append(call)
        if (request.method, request.path) in self.holds:
            await self.holds[(request.method, request.path)].wait()
        scripted = self.scripted.get((request.method, request.path))
        if scripted:
            status, answer = scripted.pop(0)
            return web.json_response(answer, status=status)
        path = request.path
        if path.startswith("/files/"):
            return self.media(request)
        if path.startswith("/kwai/"):
            return web.json_response({"post_id": f"kw_post_{next(self.counter)}"})
        if not request.headers.get("Authorization", "").startswith("Bearer tok-"):
            return web.json_response({"error": {"message": "Invalid OAuth access token.", "code": 190}}, status=401)
        if path.startswith("/v2/"):
            return self.tiktok(call)
        if path.startswith("/upload/"):
            return self.youtube_upload(call)
        if path == "/youtube/v3/videos":
            items = [{"id": vid, "statistics": {"viewCount": "120", "likeCount": "7", "commentCount": "2"}}
                     for vid in call.query["id"].split(",")]
            return web.json_response({"items": items})
        return self.graph(call)

    # ---------------------------------------------------------------- media host (supports Range)

    def media(self, request: web.Request) -> web.Response:
        data = VIDEO_BYTES if request.path.endswith(".mp4") else IMAGE_BYTES
        kind = "video/mp4" if request.path.endswith(".mp4") else "image/jpeg"
        wanted = request.headers.get("Range")
        if wanted:
            start = int(wanted.split("=")[1].split("-")[0])
            return web.Response(body=data[start:], status=206, content_type=kind,
                                headers={"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
        return web.Response(body=data, content_type=kind)

    # ---------------------------------------------------------------- Graph: Instagram + Facebook Pages

    def graph(self, call: Call) -> web.Response:
        n = next(self.counter)
        parts = call.path.strip("/").split("/")
        if call.method == "GET" and len(parts) == 1 and parts[0] in self.containers:
            box = self.containers[parts[0]]
            if box["status"] == "IN_PROGRESS":
                box["polls"] -= 1
                if box["polls"] < 0:
                    box["status"] = "FINISHED"
            return web.json_response({"status_code": box["status"], "status": box["status"], "id": parts[0]})
        if call.method == "GET" and len(parts) == 2 and parts[1] == "insights":
            return web.json_response({"data": [
                {"name": "views", "period": "lifetime", "values": [{"value": 300}]},
                {"name": "total_interactions", "period": "lifetime", "values": [{"value": 25}]}]})
        if call.method == "GET" and len(parts) == 1:
            return web.json_response({"id": parts[0], "reactions": {"data": [], "summary": {"total_count": 10}},
                                      "comments": {"data": [], "summary": {"total_count": 3}},
                                      "shares": {"count": 2},
                                      "insights": {"data": [{"name": "post_media_view", "values": [{"value": 90}]}]}})
        if call.method != "POST" or len(parts) != 2:
            return web.json_response({"error": {"message": "Unknown path", "code": 803}}, status=404)
        owner, edge = parts
        data = call.json
        if edge == "media":
            is_video = data.get("media_type") in ("REELS", "VIDEO")
            cid = f"cont_{n}"
            self.containers[cid] = {"body": data, "status": "IN_PROGRESS" if is_video else "FINISHED",
                                    "polls": self.processing_polls}
            if data.get("media_type") == "CAROUSEL":
                self.containers[cid]["status"] = "FINISHED"
            return web.json_response({"id": cid})
        if edge == "media_publish":
            box = self.containers.get(data.get("creation_id"))
            if box is None or box["status"] != "FINISHED":
                return web.json_response({"error": {"message": "Media ID is not available", "code": 9007,
                                                     "error_subcode": 2207027}}, status=400)
            box["status"] = "PUBLISHED"
            return web.json_response({"id": f"1790{n:010d}"})
        if edge == "feed":
            return web.json_response({"id": f"{owner}_{n}"})
        if edge == "photos":
            if data.get("published") is False:
                return web.json_response({"id": f"photo_{n}"})
            return web.json_response({"id": f"photo_{n}", "post_id": f"{owner}_{n}"})
        if edge == "videos":
            return web.json_response({"id": f"video_{n}"})
        return web.json_response({"error": {"message": "Unknown edge", "code": 803}}, status=404)

    # ---------------------------------------------------------------- TikTok Content Posting API

    def tiktok(self, call: Call) -> web.Response:
        ok = {"code": "ok", "message": "", "log_id": "202611281200000000"}
        if call.path == "/v2/post/publish/creator_info/query/":
            return web.json_response({"data": {"creator_username": "padaria", "privacy_level_options":
                                               self.privacy_options, "comment_disabled": False,
                                               "duet_disabled": True, "stitch_disabled": False,
                                               "max_video_post_duration_sec": 600}, "error": ok})
        if call.path == "/v2/post/publish/video/init/":
            publish_id = f"v_pub_url~v2.{next(self.counter)}"
            self.tiktok_polls[publish_id] = self.processing_polls
            return web.json_response({"data": {"publish_id": publish_id}, "error": ok})
        if call.path == "/v2/post/publish/status/fetch/":
            publish_id = call.json["publish_id"]
            left = self.tiktok_polls.get(publish_id, 0)
            self.tiktok_polls[publish_id] = left - 1
            if left > 0:
                return web.json_response({"data": {"status": "PROCESSING_DOWNLOAD"}, "error": ok})
            return web.json_response({"data": {"status": "PUBLISH_COMPLETE", "publicaly_available_post_id":
                                               [7300000000000000001], "uploaded_bytes": len(VIDEO_BYTES)},
                                      "error": ok})
        if call.path == "/v2/video/query/":
            videos = [{"id": vid, "like_count": 5, "comment_count": 1, "share_count": 1, "view_count": 800}
                      for vid in call.json["filters"]["video_ids"]]
            return web.json_response({"data": {"videos": videos}, "error": ok})
        return web.json_response({"error": {"code": "invalid_params", "message": "unknown"}}, status=404)

    # ---------------------------------------------------------------- YouTube resumable upload

    def youtube_upload(self, call: Call) -> web.Response:
        if call.method == "POST" and call.path == "/upload/youtube/v3/videos":
            sid = f"s{next(self.counter)}"
            self.uploads[sid] = {"size": int(call.headers["X-Upload-Content-Length"]), "data": b"",
                                 "resource": call.json}
            return web.json_response({}, headers={"Location": self.url(f"/upload/session/{sid}")})
        sid = call.path.rsplit("/", 1)[-1]
        upload = self.uploads[sid]
        content_range = call.headers.get("Content-Range", "")
        if not content_range.startswith("bytes */"):
            upload["data"] += call.body
        if len(upload["data"]) >= upload["size"]:
            upload.setdefault("video_id", f"yt{next(self.counter):09d}")
            return web.json_response({"kind": "youtube#video", "id": upload["video_id"],
                                      "snippet": upload["resource"]["snippet"]}, status=200)
        headers = {"Range": f"bytes=0-{len(upload['data']) - 1}"} if upload["data"] else {}
        return web.Response(status=308, headers=headers)


@pytest_asyncio.fixture(loop_scope="session")
async def apis() -> AsyncIterator[FakeApis]:
    fake = FakeApis()
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    fake.server = TestServer(app)
    await fake.server.start_server()
    yield fake
    await fake.server.close()


class Overlay:
    """Settings with extra `posts_*` values (the code reads them with getattr)."""

    def __init__(self, base: Any, **extra: Any) -> None:
        self._base = base
        self._extra = extra

    def __getattr__(self, name: str) -> Any:
        return self._extra[name] if name in self._extra else getattr(self._base, name)


FAST = {"posts_poll_interval": 0.05, "posts_poll_timeout": 5.0, "posts_retry_base": 0.05, "posts_retry_max": 0.2,
        "posts_commit_stale": 0.5, "posts_scheduler_interval": 0.1, "posts_requeue_after": 0.5,
        "worker_lease_ms": 1000, "stream_partitions": 2, "posts_block_ms": 100}


@pytest_asyncio.fixture(loop_scope="session")
async def local(settings: Any, apis: FakeApis) -> Overlay:
    """Settings pointing every publishing API at the fake, with fast polling and retries."""
    base = settings.model_copy(update={name: apis.url("/") for name in
                                       ("graph_api_url", "instagram_api_url", "tiktok_api_url", "youtube_api_url")})
    return Overlay(base, **FAST, media_fetch_allow_hosts=apis.host)


@dataclass
class Shop:
    """A business with one account on each platform."""

    user: User
    accounts: dict[Platform, ConnectedAccount]
    options: PostOptions

    def media(self, apis: FakeApis, name: str) -> str:
        return apis.url(f"/files/{name}")


TOKENS = {Platform.INSTAGRAM: "tok-ig", Platform.FACEBOOK: "tok-fb", Platform.TIKTOK: "tok-tt",
          Platform.YOUTUBE: "tok-yt", Platform.KWAI: "tok-kw", Platform.WHATSAPP: "tok-wa"}
IDS = {Platform.INSTAGRAM: IG, Platform.FACEBOOK: PAGE, Platform.TIKTOK: TT, Platform.YOUTUBE: YT,
       Platform.KWAI: KW, Platform.WHATSAPP: "106540352242922"}


@pytest_asyncio.fixture(loop_scope="session")
async def shop(stores: Stores, apis: FakeApis) -> Shop:
    user = await create_user(email="dona@padaria.com.br", name="Padaria Pão Quente", plan="pro")
    cipher = TokenCipher(TEST_SECRET)
    accounts = {}
    for platform in Platform:
        account, _ = await connect_account(
            user=user, platform=platform, platform_account_id=IDS[platform], access_token=TOKENS[platform],
            cipher=cipher, webhook_secret=KWAI_SECRET if platform is Platform.KWAI else None,
            callback_url=apis.url("/kwai/callback") if platform is Platform.KWAI else None,
            business_name=f"Padaria ({platform})")
        accounts[platform] = account
    return Shop(user, accounts, PostOptions(partitions=2, timezone="America/Sao_Paulo",
                                            media_allow_hosts=frozenset({apis.host})))


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


RoleRunner = Callable[..., Awaitable[None]]


@pytest_asyncio.fixture(loop_scope="session")
async def roles(stores: Stores, local: Overlay, http: aiohttp.ClientSession) -> AsyncIterator[Any]:
    """Start real scheduler / publisher roles as tasks: `roles.scheduler()`, `roles.publisher()`;
    each returns its stop event. Everything still running is stopped at the end."""
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    class Roles:
        async def scheduler(self, settings: Any = None) -> asyncio.Event:
            stop = asyncio.Event()
            running.append((stop, asyncio.create_task(run_scheduler(stores, settings or local, stop))))
            return stop

        async def publisher(self, name: str = "pub-1", settings: Any = None) -> asyncio.Event:
            stop = asyncio.Event()
            task = asyncio.create_task(run_publisher(stores, settings or local, stop, http,
                                                     TokenCipher(TEST_SECRET), name))
            running.append((stop, task))
            return stop

        async def stop_all(self) -> None:
            for stop, _ in running:
                stop.set()
            await asyncio.wait_for(asyncio.gather(*(t for _, t in running)), timeout=20)
            running.clear()

    helper = Roles()
    yield helper
    await helper.stop_all()

