"""A local fake of the platforms' send APIs (Graph, YouTube, a Kwai connector) and outbound helpers."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from papo.adapters.senders import OutboundKind, OutboundMessage
from papo.crypto import TokenCipher
from papo.enums import Platform
from papo.models import ConnectedAccount, Conversation, Message, User
from papo.pipeline.send import OutboundPipeline, OutboundSettings, RetryLater
from papo.runtime import Stores
from papo.services.accounts import connect_account
from papo.services.users import create_user
from papo.streams.consumer import Entry
from tests.conftest import TEST_SECRET

KWAI_SECRET = "kwai-outbound-secret-42"
TOKENS = {
    Platform.WHATSAPP: "tok-wa", Platform.INSTAGRAM: "tok-ig", Platform.FACEBOOK: "tok-fb",
    Platform.YOUTUBE: "tok-yt", Platform.TIKTOK: "tok-tt", Platform.KWAI: "tok-kw",
}


@dataclass
class Call:
    """One request the fake platform received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived (rate checks)

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class FakePlatform:
    """Answers like the documented APIs; `script(path, (status, body), …)` queues answers for a path."""

    server: TestServer | None = None
    calls: list[Call] = field(default_factory=list)
    scripts: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    throttle_every: int = 0  # answer every Nth WhatsApp send with 130429 (Cloud API throughput), 0 = never
    _whatsapp_sends: itertools.count = field(default_factory=lambda: itertools.count(1))

    def script(self, path: str, *answers: tuple[int, dict[str, Any]]) -> None:
        self.scripts.setdefault(path, []).extend(answers)

    def url(self, path: str = "/") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    def calls_to(self, suffix: str) -> list[Call]:
        return [c for c in self.calls if c.path.endswith(suffix)]

    def peak_per_second(self, suffix: str = "/messages") -> int:
        """The most requests to `suffix` that arrived within any one-second window."""
        times = sorted(c.at for c in self.calls_to(suffix))
        peak, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            peak = max(peak, end - start + 1)
        return peak

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        call = Call(request.path, dict(request.query), dict(request.headers), body)
        self.calls.append(call)
        if self.scripts.get(request.path):
            status, answer = self.scripts[request.path].pop(0)
            return web.json_response(answer, status=status)
        n = next(self.counter)
        path = request.path
        if path.startswith("/slow/"):  # takes the request, then answers too late
            await asyncio.sleep(1)
        if path.startswith("/kwai/"):
            return web.json_response({"message_id": f"kw_msg_{n}"})
        if not request.headers.get("Authorization", "").startswith("Bearer tok-"):
            return web.json_response({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException",
                                                 "code": 190}}, status=401)
        if path == "/youtube/v3/comments":
            parent = call.json["snippet"]["parentId"]
            return web.json_response({"kind": "youtube#comment", "id": f"{parent}.reply{n}",
                                      "snippet": call.json["snippet"]})
        if path.endswith("/messages"):
            data = call.json
            if data.get("messaging_product") == "whatsapp":
                if self.throttle_every and next(self._whatsapp_sends) % self.throttle_every == 0:
                    return web.json_response({"error": {
                        "message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429,
                        "error_data": {"messaging_product": "whatsapp",
                                       "details": "Cloud API message throughput has been reached."}}}, status=400)
                to = data.get("to") or data.get("recipient")
                return web.json_response({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                                          "messages": [{"id": f"wamid.FAKE{n:04d}"}]})
            recipient = data["recipient"].get("id") or "igsid-from-comment"
            return web.json_response({"recipient_id": recipient, "message_id": f"m_FAKE{n:04d}"})
        if path.endswith(("/comments", "/replies")):
            return web.json_response({"id": f"reply_{n}"})
        return web.json_response({"error": {"message": "Unknown path", "code": 803}}, status=404)


@pytest_asyncio.fixture(loop_scope="session")
async def fake() -> AsyncIterator[FakePlatform]:
    platform = FakePlatform()
    app = web.Application()
    app.router.add_post("/{tail:.*}", platform.handle)
    platform.server = TestServer(app)
    await platform.server.start_server()
    yield platform
    await platform.server.close()


def outbound_settings(settings: Any, fake: FakePlatform, **overrides: Any) -> OutboundSettings:
    """Outbound settings pointing every API at the fake, with fast retries."""
    local = settings.model_copy(update={name: fake.url("/") for name in
                                        ("graph_api_url", "instagram_api_url", "youtube_api_url", "tiktok_api_url")})
    base = OutboundSettings.from_settings(local)
    return dataclasses.replace(base, **{"retry_base": 0.01, "retry_max": 0.05, **overrides})


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


MakePipeline = Callable[..., OutboundPipeline]


@pytest_asyncio.fixture(loop_scope="session")
async def make_pipeline(stores: Stores, settings: Any, fake: FakePlatform, http: aiohttp.ClientSession) -> MakePipeline:
    def _make(**overrides: Any) -> OutboundPipeline:
        return OutboundPipeline(stores, outbound_settings(settings, fake, **overrides), session=http,
                                cipher=TokenCipher(TEST_SECRET), worker_id="test")

    return _make


@dataclass
class Scene:
    """A business, one connected account and one customer conversation."""

    user: User
    account: ConnectedAccount
    conversation: Conversation
    platform: Platform
    remote: str
    phone: str | None = None

    def request(self, outbound_id: str | None = None, **values: Any) -> OutboundMessage:
        """An OutboundMessage for this conversation (automated by a rule unless told otherwise)."""
        defaults: dict[str, Any] = {
            "outbound_id": outbound_id or f"whatsapp:wamid.in{uuid.uuid4().hex[:8]}:rule",
            "platform": self.platform, "user_id": str(self.user.id), "account_id": str(self.account.id),
            "platform_account_id": self.account.platform_account_id,
            "conversation_id": str(self.conversation.id), "recipient_id": self.remote,
            "recipient_phone": self.phone, "kind": OutboundKind.REPLY, "text": "Olá! Já te respondo.",
            "automation_rule_id": str(uuid.uuid4()),
        }
        return OutboundMessage(**{**defaults, **values})


MakeScene = Callable[..., Awaitable[Scene]]


@pytest_asyncio.fixture(loop_scope="session")
async def scene(stores: Stores) -> MakeScene:
    users: dict[str, User] = {}

    async def _scene(platform: Platform, *, account_id: str = "106540352242922", remote: str = "5511987654321",
                     phone: str | None = None, last_inbound: timedelta | None = timedelta(hours=1),
                     inbound_kind: str = "message", callback_url: str | None = None) -> Scene:
        if "owner" not in users:
            users["owner"] = await create_user(email="dona@padaria.com.br", name="Padaria Pão Quente", plan="pro")
        user = users["owner"]
        account, _ = await connect_account(
            user=user, platform=platform, platform_account_id=account_id, access_token=TOKENS[platform],
            cipher=TokenCipher(TEST_SECRET), webhook_secret=KWAI_SECRET if platform is Platform.KWAI else None,
        )
        if callback_url:
            account.callback_url = callback_url
            await account.save()
        conversation = await Conversation.create(user=user, account=account, platform_conversation_id=remote,
                                                 remote_user_id=remote, platform=platform, remote_user_name="Bruna")
        if last_inbound is not None:
            # created_at is "now" (when Papo stored it); platform_timestamp is the platform's own clock.
            await Message.create(conversation=conversation, sender="remote", message_text="quero saber o preço",
                                 platform_message_id=f"in-{uuid.uuid4().hex[:8]}", kind=inbound_kind,
                                 platform_timestamp=datetime.now(UTC) - last_inbound)
        return Scene(user, account, conversation, platform, remote, phone)

    return _scene


def entry_for(request: OutboundMessage, entry_id: str = "1-0", partition: int = 0) -> Entry:
    """A stream entry carrying a request (as the consumer hands it to the pipeline)."""
    return Entry(entry_id, partition, request.to_dict())


async def deliver(pipeline: OutboundPipeline, request: OutboundMessage, *, entry_id: str = "1-0",
                  max_deliveries: int = 20) -> int:
    """Hand the entry to the pipeline like the consumer does, redelivering after RetryLater."""
    for delivery in range(1, max_deliveries + 1):
        try:
            await pipeline.handle([entry_for(request, entry_id)])
            return delivery
        except RetryLater:
            continue
    raise AssertionError("never settled")


async def sent_rows(**filters: Any) -> list[Message]:
    """Messages Papo sent (sender 'user')."""
    return await Message.filter(sender="user", **filters).order_by("created_at")
