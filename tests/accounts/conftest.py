"""Papo's real web app (with the connect routes) next to the fake platforms, and helpers to drive a connect."""

from __future__ import annotations

import html
import inspect
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer, unused_port

from papo import app_keys
from papo.app import create_app
from papo.config import Settings
from papo.crypto import TokenCipher
from papo.handlers import oauth, webhooks
from papo.models import User
from papo.pipeline import persist
from papo.runtime import Stores
from papo.services import account_cache, account_index
from papo.services.connect import connect_link
from papo.services.notify import NOTIFY_STREAM
from papo.services.subscriptions import AccountContext, note_hub_verification
from papo.streams import codec
from tests.accounts.fakes import APP_ID, GOOGLE_ID, GOOGLE_SECRET, FakePlatforms
from tests.conftest import TEST_SECRET

# Wiring the lead adds outside these files (see the report); tests that need it skip until it is there.
HANDSHAKE_HOOK = "note_hub_verification" in inspect.getsource(webhooks.verify_handshake)
INBOUND_HOOK = "on_inbound" in inspect.getsource(persist.InboundPipeline.handle)
INDEX_CONNECTED_ONLY = "status" in inspect.getsource(account_index.rebuild)
OUTBOUND_REFUSES_DISCONNECTED = ".status" in inspect.getsource(account_cache.load_account)


@web.middleware
async def hub_hook(request: web.Request, handler: Any) -> web.StreamResponse:
    """What the one-line hook in handlers/webhooks.verify_handshake does: note a hub verification Papo answered."""
    response = await handler(request)
    if request.method == "GET" and request.path == "/webhooks/youtube" and response.status == 200:
        await note_hub_verification(request.app[app_keys.STORES].redis, "youtube", request.query)
    return response


CONTINUE = re.compile(r'<a class="button" href="([^"]+)"')


def continue_url(text: str) -> str:
    """Where a connect page's "Continuar" button goes (the consent screen)."""
    match = CONTINUE.search(text)
    assert match, text
    return html.unescape(match.group(1))


def browser() -> aiohttp.ClientSession:
    """A browser of its own: it keeps the cookies Papo sets (on 127.0.0.1 too)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


@dataclass
class Papo:
    """A running Papo web app wired to the fake platforms; `browser` is the owner's browser."""

    settings: Settings
    stores: Stores
    fake: FakePlatforms
    server: TestServer
    http: aiohttp.ClientSession
    owner: User
    browser: aiohttp.ClientSession

    @property
    def cipher(self) -> TokenCipher:
        return TokenCipher(TEST_SECRET)

    def ctx(self) -> AccountContext:
        return AccountContext(self.settings, self.stores.redis, self.http, self.cipher)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def link(self, platform: str, **kw: Any) -> str:
        return connect_link(self.settings, self.owner, platform, **kw)

    async def open(self, url: str, *, follow: bool = True,
                   browser: aiohttp.ClientSession | None = None) -> tuple[int, str, aiohttp.ClientResponse]:
        """What a browser (the owner's by default) does with a URL, following redirects across Papo and platforms."""
        async with (browser or self.browser).get(url, allow_redirects=follow) as resp:
            return resp.status, await resp.text(), resp

    async def consent(self, platform: str, *, link: str | None = None,
                      browser: aiohttp.ClientSession | None = None) -> str:
        """Open a link (the owner's by default) and read its page: the consent URL "Continuar" goes to."""
        status, text, _ = await self.open(link or self.link(platform), browser=browser)
        assert status == 200, text
        return continue_url(text)

    async def connect(self, platform: str, *, browser: aiohttp.ClientSession | None = None) -> tuple[int, str]:
        """Open the owner's link, press Continuar, and follow the consent screen back to Papo's callback."""
        status, text, _ = await self.open(await self.consent(platform, browser=browser), browser=browser)
        return status, text

    async def notifications(self) -> list[dict[str, Any]]:
        """Every owner notification queued on the notify stream."""
        entries = await self.stores.redis.xrange(NOTIFY_STREAM)
        return [codec.decode(fields) for _, fields in entries]


@pytest_asyncio.fixture(loop_scope="session")
async def papo(settings: Settings, stores: Stores) -> AsyncIterator[Papo]:
    fake = FakePlatforms()
    await fake.start()
    port = unused_port()
    local = settings.model_copy(update={
        "public_url": f"http://127.0.0.1:{port}",
        "meta_app_id": APP_ID,
        "graph_api_url": fake.url("/graph"),
        "oauth_meta_url": fake.url("/meta/dialog"),
        "tiktok_api_url": fake.url("/tiktok-api"),
        "oauth_tiktok_url": fake.url("/tiktok/auth/"),
        "oauth_google_url": fake.url("/google/auth"),
        "google_client_id": GOOGLE_ID,
        "google_client_secret": GOOGLE_SECRET,
        "google_token_url": fake.url("/google/token"),
        "google_revoke_url": fake.url("/google/revoke"),
        "youtube_api_url": fake.url("/youtube-api"),
        "youtube_hub_url": fake.url("/hub"),
    })
    app = create_app(local, stores.urls, stores=stores)
    if not HANDSHAKE_HOOK:  # until handlers/webhooks.py calls note_hub_verification itself
        app.middlewares.append(hub_hook)
    if not any(r.canonical == "/connect/{platform}" for r in app.router.resources()):
        oauth.setup(app)  # until create_app registers the connect routes itself
    server = TestServer(app, port=port)
    await server.start_server()
    owner = await User.create(email="dona@padaria.com.br", name="Padaria Pão Quente", plan="pro")
    async with aiohttp.ClientSession() as http, browser() as owner_browser:
        yield Papo(local, stores, fake, server, http, owner, owner_browser)
    await server.close()
    await fake.close()

