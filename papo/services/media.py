"""Photos and videos the owner uploads for posts: stored under `<PAPO_DATA_DIR>/media/`, served at
`PAPO_PUBLIC_URL/media/<name>` (`papo/handlers/media.py`), because the platforms fetch media by URL.

Names are unguessable (`secrets.token_urlsafe(24)` + extension): the URL is the only way to a file, and
nothing in it comes from the uploader. The content is checked against the type's signature, so what is
served as a JPEG or an MP4 really is one.

When Papo needs a post's bytes itself (YouTube), `media_source` reads its own uploads from this folder, and
fetches any other URL from public addresses only (`papo/adapters/media_fetch.py`).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from papo.adapters.media_fetch import CHUNK, NOT_PUBLIC_CODE, FetchPolicy, MediaBody, MediaSource, RemoteMedia
from papo.adapters.senders.errors import PermanentError
from papo.services import ServiceError

if TYPE_CHECKING:
    from papo.config import Settings

MB = 1024 * 1024
IMAGE, VIDEO = "image", "video"
# extension -> (Content-Type, kind)
TYPES: dict[str, tuple[str, str]] = {
    "jpg": ("image/jpeg", IMAGE), "jpeg": ("image/jpeg", IMAGE), "png": ("image/png", IMAGE),
    "webp": ("image/webp", IMAGE), "mp4": ("video/mp4", VIDEO), "mov": ("video/quicktime", VIDEO),
}
_BY_MIME = {"image/jpeg": "jpg", "image/jpg": "jpg", "image/pjpeg": "jpg", "image/png": "png", "image/webp": "webp",
            "video/mp4": "mp4", "video/quicktime": "mov"}
# token_urlsafe(24) is exactly 32 characters of A-Z a-z 0-9 - _; nothing else is ever served.
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{32}\.(?:jpg|jpeg|png|webp|mp4|mov)$")
ALLOWED = "JPG, PNG, WEBP, MP4, MOV"


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """A stored upload and the public URL the platforms fetch it from."""

    name: str
    url: str
    kind: str
    content_type: str
    size: int

    @property
    def ref(self) -> str:
        """The post media entry (`image:URL` / `video:URL`, as `post_rules.parse_media` reads it)."""
        return f"{self.kind}:{self.url}"


def media_dir(settings: Settings) -> Path:
    """Where uploads live: `<PAPO_DATA_DIR>/media`."""
    return Path(settings.data_dir) / "media"


def max_bytes(settings: Settings) -> int:
    """The upload size limit (PAPO_MEDIA_MAX_BYTES, 50 MB by default)."""
    return settings.media_max_bytes


def public_base(settings: Settings) -> str:
    """`PAPO_PUBLIC_URL/media`; ServiceError when no public URL is set (platforms could not fetch the file)."""
    public = settings.public_url
    if not public:
        raise ServiceError("PAPO_PUBLIC_URL is not set: platforms fetch post media by URL, so an uploaded file "
                           "needs Papo's public address; set it, or use public https:// links")
    return str(public).rstrip("/") + "/media"


def extension_for(*, mime: str | None = None, filename: str | None = None) -> str:
    """The stored extension for a MIME type or a file name; ServiceError for anything not allowed."""
    if mime:
        ext = _BY_MIME.get(mime.split(";")[0].strip().lower())
        if ext:
            return ext
    if filename and "." in filename:
        ext = filename.rsplit(".", 1)[1].lower()
        if ext in TYPES:
            return ext
    raise ServiceError(f"file type {mime or filename or 'unknown'!r} is not accepted (allowed: {ALLOWED})")


def _looks_like(ext: str, data: bytes) -> bool:
    """Whether the bytes start like the type claims (so a page can never be served as an image)."""
    if ext in ("jpg", "jpeg"):
        return data.startswith(b"\xff\xd8\xff")
    if ext == "png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if ext == "webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return data[4:8] == b"ftyp"  # mp4 and mov: ISO base media files open with an ftyp box


def _write(folder: Path, name: str, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}.part"
    partial.write_bytes(data)
    os.replace(partial, folder / name)  # atomic: a half-written file is never served


async def store_media(settings: Settings, data: bytes, *, mime: str | None = None,
                      filename: str | None = None) -> StoredMedia:
    """Store an uploaded photo or video; its public URL. Refuses a missing PAPO_PUBLIC_URL, type or size."""
    base = public_base(settings)
    ext = extension_for(mime=mime, filename=filename)
    limit = max_bytes(settings)
    if not data:
        raise ServiceError("the file is empty")
    if len(data) > limit:
        raise ServiceError(f"the file has {len(data) / MB:.1f} MB; the limit is {limit / MB:.0f} MB")
    content_type, kind = TYPES[ext]
    if not _looks_like(ext, data):
        raise ServiceError(f"the file is not a valid {ext.upper()} (its content does not match its type)")
    name = f"{secrets.token_urlsafe(24)}.{ext}"
    await asyncio.to_thread(_write, media_dir(settings), name, data)
    return StoredMedia(name=name, url=f"{base}/{name}", kind=kind, content_type=content_type, size=len(data))


def find_media(settings: Settings, name: str) -> tuple[Path, str] | None:
    """The stored file behind a public name and its Content-Type; None for any other name."""
    if not NAME_RE.fullmatch(name):
        return None
    path = media_dir(settings) / name
    if not path.is_file():
        return None
    return path, TYPES[name.rsplit(".", 1)[1]][0]


async def sweep_media(settings: Settings, *, now: float | None = None) -> list[str]:
    """Delete uploads that no post uses and that are older than PAPO_MEDIA_KEEP_HOURS (drafts the owner
    abandoned in the bot, photos sent by mistake); the names deleted. A post in any state keeps its files."""
    from tortoise import Tortoise

    folder = media_dir(settings)
    if not folder.is_dir():
        return []
    cutoff = (now if now is not None else time.time()) - settings.media_keep_hours * 3600
    old = [p for p in await asyncio.to_thread(lambda: list(folder.iterdir()))
           if NAME_RE.fullmatch(p.name) and p.stat().st_mtime < cutoff]
    if not old:
        return []
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT DISTINCT url FROM posts, unnest(media_urls) AS url WHERE url LIKE '%/media/%'")
    used = {str(row["url"]).rsplit("/", 1)[-1] for row in rows}
    deleted = []
    for path in old:
        if path.name not in used:
            await asyncio.to_thread(path.unlink, True)
            deleted.append(path.name)
    return deleted


# ------------------------------------------------------------------ post media Papo reads itself


def allow_hosts(settings: Settings) -> frozenset[str]:
    """PAPO_MEDIA_FETCH_ALLOW_HOSTS as a set (lower case): hosts that may be private, for tests and development."""
    raw = settings.media_fetch_allow_hosts
    return frozenset(part.strip().lower() for part in raw.split(",") if part.strip())


def own_base(settings: Settings) -> str | None:
    """`PAPO_PUBLIC_URL/media`, None when no public URL is set."""
    return public_base(settings) if settings.public_url else None


def fetch_policy(settings: Settings) -> FetchPolicy:
    """The media fetch limits from the settings."""
    return FetchPolicy(max_bytes=settings.media_fetch_max_bytes,
                       timeout=settings.media_fetch_timeout,
                       allow_hosts=allow_hosts(settings))


@dataclass(slots=True)
class _StoredBody:
    """One of Papo's uploads, read from disk."""

    path: Path
    offset: int
    size: int
    content_type: str

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes from the offset."""
        with self.path.open("rb") as file:
            file.seek(self.offset)
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                yield chunk


class PapoMedia:
    """Papo's own uploads come from the media folder (no HTTP: a local PAPO_PUBLIC_URL works, and nothing is
    fetched from Papo's own address); any other URL goes to `remote`."""

    def __init__(self, settings: Settings, remote: MediaSource) -> None:
        self._settings = settings
        self._base = own_base(settings)
        self._remote = remote

    def open(self, url: str, offset: int = 0) -> AbstractAsyncContextManager[MediaBody]:
        """The media at `url` from byte `offset`."""
        if self._base and url.startswith(self._base + "/"):
            return self._stored(url.removeprefix(self._base + "/"), offset)
        return self._remote.open(url, offset)

    @asynccontextmanager
    async def _stored(self, name: str, offset: int) -> AsyncIterator[MediaBody]:
        found = find_media(self._settings, name)
        if found is None:
            raise PermanentError("the uploaded file is no longer stored (PAPO_DATA_DIR/media): upload it again",
                                 code="media_missing")
        path, content_type = found
        yield _StoredBody(path, offset, path.stat().st_size, content_type)


def not_public_error(error: str | None) -> bool:
    """Whether a recorded publishing error is a refused media URL (the bot words it in the owner's language)."""
    return (error or "").startswith(NOT_PUBLIC_CODE + ":")


def media_source(settings: Settings) -> MediaSource:
    """Where publishers get a post's bytes: Papo's uploads from disk, other URLs from public addresses only."""
    return PapoMedia(settings, RemoteMedia(fetch_policy(settings)))
