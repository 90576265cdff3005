"""The Publisher contract: publish one post to one account, and read its engagement (protocol work only).

Publishing is resumable. A publisher saves checkpoints (`ctx.save`: a container id, a publish_id, an
upload URL) and calls `ctx.commit()` right before the one request that creates the post on the platform.
When a later attempt finds that marker without a recorded answer (`ctx.in_doubt`), the publisher either
checks with the platform (Instagram container status, YouTube upload status, TikTok publish status),
resends safely (Kwai, idempotency key) or raises InDoubt — it never blindly posts a second time.
Errors are the outbound error tree (papo.adapters.senders.errors): RetryableError for 429/5xx,
PermanentError subclasses otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import aiohttp

from papo.adapters.media_fetch import MediaSource, RemoteMedia
from papo.adapters.senders.base import HttpAnswer, bearer
from papo.adapters.senders.errors import RetryableError, Transient
from papo.enums import Platform

READ_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=30)

IMAGE = "image"
VIDEO = "video"


@dataclass(frozen=True, slots=True)
class Media:
    """One media item of a post: a public URL the platform (or Papo, for YouTube, through `ctx.media`) fetches."""

    url: str
    type: str  # "image" | "video"


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishRequest:
    """One post for one account: `sync_id` names it everywhere (idempotency keys, logs)."""

    sync_id: str
    post_id: str
    platform: Platform
    platform_account_id: str
    content: str
    caption: str  # content + hashtags, what most platforms show
    title: str | None = None
    hashtags: tuple[str, ...] = ()
    media: tuple[Media, ...] = ()

    @property
    def videos(self) -> tuple[Media, ...]:
        """The video items."""
        return tuple(m for m in self.media if m.type == VIDEO)


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What the platform answered: the post's id there (None when it was lost), and a note for the owner."""

    platform_post_id: str | None
    note: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


class StillProcessing(RetryableError):
    """The platform accepted the media but is still processing it: look again in `check_after` seconds.

    Not a failure: the pipeline keeps the checkpoint and comes back, without creating the post again.
    """

    def __init__(self, message: str, *, check_after: float = 60.0) -> None:
        super().__init__(message, code="processing")
        self.check_after = check_after


async def _no_throttle(name: str) -> None:
    return None


async def _no_op(values: dict[str, Any] | None = None) -> None:
    return None


@dataclass(slots=True, kw_only=True)
class PublishContext:
    """What a publisher gets from the pipeline: credentials, checkpoints, the commit marker, rate limits."""

    session: aiohttp.ClientSession
    token: str
    base_url: str
    progress: dict[str, Any] = field(default_factory=dict)
    in_doubt: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    poll_interval: float = 3.0
    poll_timeout: float = 300.0
    checkpoint: Callable[[dict[str, Any]], Awaitable[None]] = _no_op
    mark_commit: Callable[[], Awaitable[None]] = _no_op
    throttle: Callable[[str], Awaitable[None]] = _no_throttle
    media: MediaSource = field(default_factory=RemoteMedia)  # for publishers that upload the bytes themselves

    async def save(self, **values: Any) -> None:
        """Persist checkpoints at once (a restart resumes from them)."""
        self.progress.update(values)
        await self.checkpoint(values)

    async def commit(self) -> None:
        """Say the next request creates the post: an answer lost after it makes the outcome in doubt."""
        await self.mark_commit()

    async def pause(self) -> None:
        """Wait one polling interval."""
        await asyncio.sleep(self.poll_interval)


@dataclass(frozen=True, slots=True)
class Metrics:
    """Engagement (likes + comments + shares + saves, as the platform counts them) and views."""

    engagement: int
    views: int | None = None


@dataclass(slots=True, kw_only=True)
class MetricsContext:
    """Credentials for reading insights of one account's posts."""

    session: aiohttp.ClientSession
    token: str
    base_url: str
    platform_account_id: str


@runtime_checkable
class Publisher(Protocol):
    """Publishes posts to one platform and reads their engagement."""

    platform: Platform

    async def publish(self, request: PublishRequest, ctx: PublishContext) -> PublishResult:
        """Publish (or resume publishing) one post; raise a SendError subclass when it cannot."""
        ...

    async def fetch_metrics(self, platform_post_ids: list[str], ctx: MetricsContext) -> dict[str, Metrics]:
        """Current engagement of the given posts (ids missing from the answer could not be read)."""
        ...


# ------------------------------------------------------------------ HTTP helpers (reads are always safe to retry)


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


async def get_json(session: aiohttp.ClientSession, url: str, *, token: str | None = None,
                   params: Mapping[str, str] | None = None) -> HttpAnswer:
    """GET a JSON document; any network failure is Transient (a read changes nothing)."""
    headers = bearer(token) if token else {}
    try:
        async with session.get(url, params=params, headers=headers, timeout=READ_TIMEOUT) as resp:
            return await HttpAnswer.read(resp)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise Transient(f"no answer from {_host(url)} ({type(exc).__name__})") from None


def join(base_url: str, path: str) -> str:
    """`base_url` + '/' + `path`, without doubled slashes."""
    return f"{base_url.rstrip('/')}/{path.lstrip('/')}"
