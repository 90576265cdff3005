"""Post media Papo downloads itself (YouTube) comes from public addresses only (security issue 21, point 3).

The media servers are real local aiohttp servers on 127.0.0.1. A test resolver gives them public-looking
names (`cdn.padaria.test`) that the tests allow explicitly, as PAPO_MEDIA_FETCH_ALLOW_HOSTS would; every
other loopback or internal address must be refused, including after a redirect.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from papo.adapters.media_fetch import FetchPolicy, MediaNotPublic, MediaTooLarge, RemoteMedia, is_public
from papo.adapters.senders.errors import PermanentError, Transient
from papo.bot.locales import Translator
from papo.bot.routers.posts import post_card
from papo.models import PostSync
from papo.services.media import media_source, store_media
from papo.services.posts import create_post, get_post
from tests.conftest import eventually
from tests.posts.conftest import VIDEO_BYTES, YT, Overlay

CDN = "cdn.padaria.test"  # stands for a public host; the test resolver maps it to 127.0.0.1
INTRANET = "intranet.padaria.test"  # a name that resolves to a loopback address and is not allowed
SECRET = b"internal-secret-token"


class TableResolver(AbstractResolver):
    """Resolves the test names to 127.0.0.1 (what a hostile DNS answer would do); nothing else resolves."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host not in (CDN, INTRANET):
            raise OSError(f"{host} does not resolve here")
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": 0}]

    async def close(self) -> None:
        return None


@dataclass
class Servers:
    """A media server (allowed by name) and an internal one that must never be reached."""

    cdn: TestServer
    internal: TestServer
    internal_hits: list[str] = field(default_factory=list)

    def at(self, path: str) -> str:
        return f"http://{CDN}:{self.cdn.port}{path}"

    def policy(self, **values: Any) -> FetchPolicy:
        return FetchPolicy(allow_hosts=frozenset({f"{CDN}:{self.cdn.port}"}), **values)

    def fetcher(self, **values: Any) -> RemoteMedia:
        return RemoteMedia(self.policy(**values), resolver=TableResolver)


@pytest_asyncio.fixture(loop_scope="session")
async def servers() -> AsyncIterator[Servers]:
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def video(request: web.Request) -> web.Response:
        return web.Response(body=VIDEO_BYTES, content_type="video/mp4")

    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "video/mp4", "Content-Length": str(10 * 1024 * 1024)})
        await resp.prepare(request)
        await resp.write(b"\0" * 1024)
        return resp

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "video/mp4"})  # chunked: no size announced
        await resp.prepare(request)
        try:
            for _ in range(10_000):
                await resp.write(b"\0" * 65536)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as it should
        return resp

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response(body=b"late")

    found = Servers(cdn=TestServer(web.Application()), internal=TestServer(web.Application()))

    async def internal(request: web.Request) -> web.Response:
        found.internal_hits.append(request.path)
        return web.Response(status=418, body=SECRET)

    cdn_app = found.cdn.app
    assert cdn_app is not None
    for path, handler in (("/r", redirect), ("/bolo.mp4", video), ("/huge.mp4", huge), ("/endless.mp4", endless),
                          ("/slow.mp4", slow)):
        cdn_app.router.add_get(path, handler)
    assert found.internal.app is not None
    found.internal.app.router.add_route("*", "/{tail:.*}", internal)
    await found.cdn.start_server()
    await found.internal.start_server()
    yield found
    await found.cdn.close()
    await found.internal.close()


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.0.0.8", "172.16.5.4", "192.168.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "239.255.255.250", "255.255.255.255", "198.18.0.1", "::1", "::", "fe80::1", "fc00::1",
    "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1",
    "2130706433", "localhost"])
def test_addresses_that_are_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "151.101.1.69", "2606:4700:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert is_public(address)


async def test_a_loopback_media_url_is_refused_by_default(servers: Servers) -> None:
    with pytest.raises(MediaNotPublic, match=r"^the media URL is not a public address$"):
        async with RemoteMedia().open(f"http://127.0.0.1:{servers.internal.port}/bolo.mp4"):
            pass
    with pytest.raises(MediaNotPublic):  # a name that resolves there is refused at connect time
        async with RemoteMedia(resolver=TableResolver).open(f"http://{INTRANET}:{servers.internal.port}/x.mp4"):
            pass
    assert servers.internal_hits == []


@pytest.mark.parametrize("target", [
    "http://127.0.0.1:{port}/latest", "http://169.254.169.254/latest/meta-data/", "http://[::1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/", "http://2130706433:{port}/", "http://" + INTRANET + ":{port}/admin",
    "file:///etc/passwd", "gopher://127.0.0.1:{port}/"])
async def test_a_public_url_that_redirects_inside_is_refused(servers: Servers, target: str) -> None:
    allowed = servers.fetcher()
    async with allowed.open(servers.at("/bolo.mp4")) as body:  # the allowed host itself is fetched
        assert body.size == len(VIDEO_BYTES) and body.content_type == "video/mp4"
    to = target.format(port=servers.internal.port)
    with pytest.raises(MediaNotPublic):
        async with allowed.open(servers.at(f"/r?to={to}")):
            pass
    assert servers.internal_hits == []


async def test_too_many_redirects_are_refused(servers: Servers) -> None:
    url = servers.at("/bolo.mp4")
    for _ in range(6):
        url = servers.at("/r?to=" + url.replace("?", "%3F").replace("=", "%3D"))
    with pytest.raises(PermanentError, match="redirects more than 5 times"):
        async with servers.fetcher().open(url):
            pass


async def test_a_file_over_the_limit_is_refused_by_its_size_and_while_streaming(servers: Servers) -> None:
    with pytest.raises(MediaTooLarge, match="larger than 1 MB"):
        async with servers.fetcher(max_bytes=1024 * 1024).open(servers.at("/huge.mp4")):
            pass
    received = 0
    with pytest.raises(MediaTooLarge):
        async with servers.fetcher(max_bytes=1024 * 1024).open(servers.at("/endless.mp4")) as body:
            assert body.size is None
            async for chunk in body.chunks():
                received += len(chunk)
    assert received <= 1024 * 1024


async def test_a_slow_media_server_times_out(servers: Servers) -> None:
    started = time.monotonic()
    with pytest.raises(Transient, match="TimeoutError"):
        async with servers.fetcher(timeout=0.5).open(servers.at("/slow.mp4")):
            pass
    assert time.monotonic() - started < 3


async def test_youtube_post_redirected_inside_fails_without_internal_details(
    stores, apis, shop, local, roles, servers: Servers
) -> None:
    """The whole path: the publisher refuses, and what the owner sees names no internal status or body."""
    cdn = f"{servers.cdn.host}:{servers.cdn.port}"  # allowed, as a public CDN would be; the internal port is not
    settings = Overlay(local, media_fetch_allow_hosts=f"{apis.host},{cdn}")
    to = f"http://127.0.0.1:{servers.internal.port}/computeMetadata/v1/"
    # Creating the post checks only the literal host; a redirect shows up at fetch time.
    view = await create_post(shop.user, content="Tour", title="Tour", accounts=[f"youtube:{YT}"],
                             media=[f"video:http://{cdn}/r?to={to}"], when="now", redis=stores.redis,
                             options=dataclasses.replace(shop.options, media_allow_hosts=frozenset({cdn})))
    await roles.publisher(settings=settings)

    async def failed() -> bool:
        return (await get_post(shop.user, str(view.id))).state == "failed"

    await eventually(failed)
    [sync] = await PostSync.filter(post_id=view.id)
    assert sync.error_message == "media_not_public: the media URL is not a public address"
    assert servers.internal_hits == [] and apis.to("POST", "/upload/youtube/v3/videos") == []
    shown = {"pt-BR": "o endereço da mídia não é público", "en": "the media URL is not a public address"}
    for lang, words in shown.items():
        card = post_card(Translator(lang), await get_post(shop.user, str(view.id)), "America/Sao_Paulo")
        assert words in card and "418" not in card and SECRET.decode() not in card and "computeMetadata" not in card


async def test_papos_own_upload_is_read_from_disk_not_over_http(settings, stores) -> None:
    # Nothing listens at this public URL: the bytes can only come from the media folder.
    local = settings.model_copy(update={"public_url": "http://127.0.0.1:9/"})
    stored = await store_media(local, b"\0\0\0\x18ftypmp42" + VIDEO_BYTES, mime="video/mp4")
    async with media_source(local).open(stored.url, 100) as body:
        data = b"".join([chunk async for chunk in body.chunks()])
    assert body.size == stored.size and body.content_type == "video/mp4"
    assert data == (b"\0\0\0\x18ftypmp42" + VIDEO_BYTES)[100:]
    with pytest.raises(MediaNotPublic):  # any other URL on that address is refused, as by default
        async with media_source(local).open("http://127.0.0.1:9/elsewhere.mp4"):
            pass
