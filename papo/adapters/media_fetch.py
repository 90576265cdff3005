"""Fetching a post's media from the owner's URL, from public addresses only (security issue 21, point 3).

Papo itself downloads a post's video for YouTube (the other platforms fetch media URLs themselves). The
URL is the owner's, so without care it could point Papo at its own network — `http://127.0.0.1:6379`, the
cloud metadata service at 169.254.169.254 — directly or through a public name that redirects or resolves
there (server-side request forgery). So a fetch:

- takes only http and https, and at most MAX_REDIRECTS redirects, each hop checked like the first;
- connects only to public addresses: the session's resolver refuses a name when any of its addresses is not
  public (private, loopback, link-local, CGNAT, multicast, reserved, an IPv4 address inside IPv6 …), and the
  connection goes to exactly the addresses checked, with no second lookup (so DNS rebinding gains nothing).
  aiohttp does not call the resolver for a literal IP, so each hop's host is also checked before its request;
- refuses a file over `max_bytes` (by its Content-Length, and by counting while reading) and stops after
  `timeout` seconds in all.
A refusal says only "the media URL is not a public address": nothing from inside is shown to the owner.
`allow_hosts` (PAPO_MEDIA_FETCH_ALLOW_HOSTS) lets tests and development fetch from a local server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from papo.adapters.senders.errors import PermanentError, Transient

MB = 1024 * 1024
MAX_BYTES = 2048 * MB
TIMEOUT = 1800.0
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 256 * 1024
NOT_PUBLIC = "the media URL is not a public address"
NOT_PUBLIC_CODE = "media_not_public"  # the bot shows this error in the owner's language
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 addresses reached through a NAT64 gateway


class MediaNotPublic(PermanentError):
    """The media URL leads to an address that is not public (or not http/https): it is never fetched."""

    def __init__(self) -> None:
        super().__init__(NOT_PUBLIC, code=NOT_PUBLIC_CODE)


class MediaTooLarge(PermanentError):
    """The media file is larger than Papo fetches."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the media file is larger than {limit / MB:.0f} MB, the most Papo fetches "
                         "(PAPO_MEDIA_FETCH_MAX_BYTES)", code="media_too_large")


class _NotPublicAddress(OSError):
    """Raised by the resolver; aiohttp wraps it in ClientConnectorDNSError."""


def is_public(address: str) -> bool:
    """Whether Papo may connect to this IP address: globally reachable, and no local IPv4 address in disguise."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone ("%eth0") only happens link-local
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and ip in NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None and not is_public(str(inner)):
            return False
    # is_global alone lets multicast through (224.0.0.0/4 is "global"); the others are spelled out for clarity.
    return ip.is_global and not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                                 or ip.is_reserved or ip.is_unspecified)


def literal_ip(host: str) -> bool:
    """Whether a URL host is an IP address, including the old numeric forms (`2130706433`, `127.1`, `0x7f.1`)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return all(part.isdigit() or part.lower().startswith("0x") for part in host.rstrip(".").split("."))
    return True


def local_host(host: str) -> bool:
    """A host that is plainly not public without a lookup: `localhost` names, or a non-public literal IP."""
    name = host.lower().rstrip(".").strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    return literal_ip(name) and not is_public(name)


def host_allowed(allow_hosts: frozenset[str], host: str, port: int | None) -> bool:
    """Whether `host` or `host:port` is in the allow-list (hosts that may be private: tests, development)."""
    name = host.lower().rstrip(".").strip("[]")
    shown = f"[{name}]" if ":" in name else name
    return name in allow_hosts or shown in allow_hosts or f"{shown}:{port}" in allow_hosts


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchPolicy:
    """Limits of a media fetch; `allow_hosts` are `host` or `host:port` entries that may be private."""

    max_bytes: int = MAX_BYTES
    timeout: float = TIMEOUT  # the whole fetch, the body included
    connect_timeout: float = 10.0
    read_timeout: float = 60.0  # the longest wait for the next bytes
    allow_hosts: frozenset[str] = frozenset()


class PublicResolver(AbstractResolver):
    """Resolves with `inner` and refuses a name when any of its addresses is not public."""

    def __init__(self, policy: FetchPolicy, inner: AbstractResolver) -> None:
        self._policy = policy
        self._inner = inner

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        """The addresses of `host`, all of them public (or the host allowed); _NotPublicAddress otherwise."""
        found = await self._inner.resolve(host, port, family)
        if not host_allowed(self._policy.allow_hosts, host, port) and not all(is_public(r["host"]) for r in found):
            raise _NotPublicAddress(f"{host} has an address that is not public")
        return found

    async def close(self) -> None:
        """Close the inner resolver."""
        await self._inner.close()


class MediaBody(Protocol):
    """An opened media file: its whole size (None when unknown), its type, its bytes from the offset asked for."""

    @property
    def size(self) -> int | None:
        """The whole file's size in bytes."""
        ...

    @property
    def content_type(self) -> str:
        """The file's MIME type."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The bytes from the requested offset to the end."""
        ...


class MediaSource(Protocol):
    """Where publishers that upload bytes themselves (YouTube) get a post's media."""

    def open(self, url: str, offset: int = 0) -> AbstractAsyncContextManager[MediaBody]:
        """The media at `url`, from byte `offset`; a SendError subclass when it cannot be fetched."""
        ...


def check_url(url: URL, policy: FetchPolicy) -> None:
    """Refuse a hop that is not http(s) or whose host is a literal address that is not public."""
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise MediaNotPublic()
    host = url.raw_host
    if literal_ip(host) and not host_allowed(policy.allow_hosts, host, url.port) and not is_public(host):
        raise MediaNotPublic()


class _HttpBody:
    """A media server's answer, counted against the size limit while it is read."""

    def __init__(self, resp: aiohttp.ClientResponse, offset: int, policy: FetchPolicy) -> None:
        self._resp = resp
        self._policy = policy
        self.content_type = resp.headers.get("Content-Type", "application/octet-stream").split(";")[0].strip()
        partial = resp.status == 206
        self._skip = 0 if partial else offset  # the server ignored our Range: drop what we already have
        self._start = offset if partial else 0
        self.size = _total_size(resp) if partial else resp.content_length
        if self.size is not None and self.size > policy.max_bytes:
            raise MediaTooLarge(policy.max_bytes)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The bytes from the offset; MediaTooLarge past the limit, Transient when the download breaks."""
        position, skip = self._start, self._skip
        try:
            async for chunk in self._resp.content.iter_chunked(CHUNK):
                position += len(chunk)
                if position > self._policy.max_bytes:
                    raise MediaTooLarge(self._policy.max_bytes)
                if skip:
                    cut = min(skip, len(chunk))
                    chunk, skip = chunk[cut:], skip - cut
                if chunk:
                    yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Transient(f"the media download was interrupted ({type(exc).__name__})") from None


def _total_size(resp: aiohttp.ClientResponse) -> int | None:
    """The whole size from `Content-Range: bytes a-b/total`, None when the server does not say."""
    total = resp.headers.get("Content-Range", "").rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None


class RemoteMedia:
    """Fetches media over HTTP from public addresses only (see the module docstring)."""

    def __init__(self, policy: FetchPolicy | None = None, *,
                 resolver: Callable[[], AbstractResolver] = DefaultResolver) -> None:
        self.policy = policy or FetchPolicy()
        self._resolver = resolver  # a factory: a resolver belongs to the loop it is made on

    @asynccontextmanager
    async def open(self, url: str, offset: int = 0) -> AsyncIterator[MediaBody]:
        """The media at `url` from byte `offset` (one session per fetch: it shares nothing with API calls)."""
        deadline = asyncio.get_running_loop().time() + self.policy.timeout
        resolver = PublicResolver(self.policy, self._resolver())
        connector = aiohttp.TCPConnector(resolver=resolver, limit=4)
        try:
            # trust_env=False: a proxy from the environment would resolve (and reach) hosts unchecked.
            async with aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=False) as session:
                resp = await self._follow(session, url, offset, deadline)
                try:
                    if resp.status >= 400:
                        error = Transient if resp.status >= 500 else PermanentError
                        raise error(f"cannot fetch the media: its server answered HTTP {resp.status}",
                                    http_status=resp.status)
                    yield _HttpBody(resp, offset, self.policy)
                finally:
                    resp.release()
        finally:
            await resolver.close()

    async def _follow(self, session: aiohttp.ClientSession, url: str, offset: int,
                      deadline: float) -> aiohttp.ClientResponse:
        """GET `url`, following redirects by hand so that every hop is checked."""
        # identity: the byte count must be the file's, as Content-Length says (and no decompression bomb).
        headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={offset}-"} if offset else {})}
        try:
            target = URL(url)
        except ValueError:
            raise MediaNotPublic() from None
        loop = asyncio.get_running_loop()
        for _ in range(MAX_REDIRECTS + 1):
            check_url(target, self.policy)
            timeout = aiohttp.ClientTimeout(total=max(0.01, deadline - loop.time()),
                                            sock_connect=self.policy.connect_timeout,
                                            sock_read=self.policy.read_timeout)
            try:
                resp = await session.get(target, headers=headers, allow_redirects=False, timeout=timeout)
            except aiohttp.ClientConnectorError as exc:
                if isinstance(exc.os_error, _NotPublicAddress):
                    raise MediaNotPublic() from None
                raise Transient(f"cannot reach the media server ({type(exc).__name__})") from None
            except aiohttp.InvalidURL:
                raise MediaNotPublic() from None
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise Transient(f"no answer from the media server ({type(exc).__name__})") from None
            location = resp.headers.get("Location")
            if resp.status not in REDIRECTS or not location:
                return resp
            resp.release()
            try:
                target = resp.url.join(URL(location))
            except ValueError:
                raise MediaNotPublic() from None
        raise PermanentError(f"the media URL redirects more than {MAX_REDIRECTS} times", code="media_redirects")
