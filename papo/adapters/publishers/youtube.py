"""YouTube `videos.insert` with the resumable upload protocol (developers.google.com/youtube/v3/guides/
using_resumable_upload_protocol). Papo fetches the post's video (`ctx.media`: from public addresses only, or
Papo's own upload from disk) and streams it to YouTube:

1. `POST {api}/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status` with the video resource
   (`snippet.title/description/tags/categoryId`, `status.privacyStatus`) and `X-Upload-Content-Length` /
   `X-Upload-Content-Type` → the session URL in `Location` (saved at once: an unused session creates nothing);
2. `PUT <session>` with the bytes → 200/201 and the video resource (`id`);
3. after an interruption, `PUT <session>` with `Content-Range: bytes */<size>` → 308 with `Range: bytes=0-N`
   (resume from N+1) or 200/201 (it was complete: the answer carries the id). So a lost answer is never
   in doubt here, and a video is never uploaded twice.
Costs 1,600 quota units of the default 10,000 a day. Engagement: `videos.list?part=statistics` (1 unit per
50 videos).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from papo.adapters.media_fetch import MediaBody
from papo.adapters.publishers.base import (
    Metrics,
    MetricsContext,
    PublishContext,
    PublishRequest,
    PublishResult,
    get_json,
    join,
)
from papo.adapters.senders.base import HttpAnswer, bearer
from papo.adapters.senders.errors import PermanentError, SendError, Transient
from papo.adapters.senders.youtube import youtube_error
from papo.enums import Platform

UPLOAD_PATH = "upload/youtube/v3/videos"
UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300)


def video_resource(request: PublishRequest, options: Mapping[str, Any]) -> dict[str, Any]:
    """The `video` resource sent when starting the session."""
    snippet: dict[str, Any] = {"title": (request.title or "").strip(), "description": request.caption,
                               "categoryId": str(options.get("youtube_category") or "22")}
    if request.hashtags:
        snippet["tags"] = list(request.hashtags)
    status = {"privacyStatus": str(options.get("youtube_privacy") or "public"), "selfDeclaredMadeForKids": False}
    return {"snippet": snippet, "status": status}


class YouTubePublisher:
    """Uploads the post's video to the connected channel."""

    platform = Platform.YOUTUBE

    async def publish(self, request: PublishRequest, ctx: PublishContext) -> PublishResult:
        """Start (or find) the upload session, then send the bytes from where YouTube stopped."""
        if len(request.videos) != 1:
            raise PermanentError("YouTube needs exactly one video")
        source = request.videos[0].url
        session_url = ctx.progress.get("upload_url")
        size = ctx.progress.get("size")
        offset = 0
        if session_url and size:
            done, offset = await self._query(ctx, session_url, int(size))
            if done is not None:
                return done
        if not session_url or offset < 0:  # none yet, or the old one expired: nothing was created with it
            async with ctx.media.open(source, 0) as media:
                size, kind = self._size(media)
                session_url = await self._start(request, ctx, size, kind)
                await ctx.save(upload_url=session_url, size=size, content_type=kind)
                return await self._put(ctx, session_url, media, 0, size, kind)
        async with ctx.media.open(source, offset) as media:
            return await self._put(ctx, str(session_url), media, offset, int(size or 0),
                                   ctx.progress.get("content_type"))

    def _size(self, media: MediaBody) -> tuple[int, str]:
        if media.size is None:
            raise PermanentError("the video's server does not send the file size (Content-Length), which "
                                 "YouTube's resumable upload needs")
        return media.size, media.content_type

    async def _start(self, request: PublishRequest, ctx: PublishContext, size: int, kind: str) -> str:
        headers = {**bearer(ctx.token), "Content-Type": "application/json; charset=UTF-8",
                   "X-Upload-Content-Length": str(size), "X-Upload-Content-Type": kind}
        body = json.dumps(video_resource(request, ctx.options), ensure_ascii=False).encode()
        try:
            async with ctx.session.post(join(ctx.base_url, UPLOAD_PATH), data=body, headers=headers,
                                        params={"uploadType": "resumable", "part": "snippet,status"},
                                        timeout=UPLOAD_TIMEOUT) as resp:
                answer = await HttpAnswer.read(resp)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Transient(f"no answer from YouTube starting the upload ({type(exc).__name__})") from None
        location = answer.headers.get("Location")
        if not answer.ok:
            raise youtube_error(answer)
        if not location:
            raise Transient("YouTube started the upload without a session URL")
        return location

    async def _put(self, ctx: PublishContext, session_url: str, media: MediaBody, offset: int,
                   size: int, kind: str | None) -> PublishResult:
        headers = {**bearer(ctx.token), "Content-Type": kind or "application/octet-stream",
                   "Content-Length": str(size - offset)}
        if offset:
            headers["Content-Range"] = f"bytes {offset}-{size - 1}/{size}"
        try:
            async with ctx.session.put(session_url, data=media.chunks(), headers=headers,
                                       timeout=UPLOAD_TIMEOUT) as resp:
                answer = await HttpAnswer.read(resp)
        except (TimeoutError, aiohttp.ClientError) as exc:
            if isinstance(exc.__cause__, SendError):  # reading the video failed (too large, refused…), not YouTube
                raise exc.__cause__ from None
            raise Transient(f"the upload to YouTube was interrupted ({type(exc).__name__}); it resumes") from None
        return self._finished(answer)

    async def _query(self, ctx: PublishContext, session_url: str, size: int) -> tuple[PublishResult | None, int]:
        """(the result, 0) when complete, (None, next byte) when partial, (None, -1) when the session is gone."""
        headers = {**bearer(ctx.token), "Content-Range": f"bytes */{size}", "Content-Length": "0"}
        try:
            async with ctx.session.put(session_url, data=b"", headers=headers, timeout=UPLOAD_TIMEOUT) as resp:
                answer = await HttpAnswer.read(resp)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Transient(f"no answer from YouTube about the upload ({type(exc).__name__})") from None
        if answer.status == 308:
            received = answer.headers.get("Range", "")
            return None, int(received.rsplit("-", 1)[-1]) + 1 if received else 0
        if answer.status in (404, 410):
            return None, -1
        return self._finished(answer), 0

    def _finished(self, answer: HttpAnswer) -> PublishResult:
        if answer.status in (200, 201) and answer.body.get("id"):
            return PublishResult(str(answer.body["id"]), raw=answer.body)
        if answer.status == 308:
            raise Transient("YouTube has only part of the video; the upload resumes")
        raise youtube_error(answer) if answer.status >= 400 else Transient(f"unexpected answer {answer.status}")

    async def fetch_metrics(self, platform_post_ids: list[str], ctx: MetricsContext) -> dict[str, Metrics]:
        """likes + comments (+ favorites) and views, 50 videos per request (1 quota unit)."""
        out: dict[str, Metrics] = {}
        for start in range(0, len(platform_post_ids), 50):
            ids = platform_post_ids[start:start + 50]
            answer = await get_json(ctx.session, join(ctx.base_url, "youtube/v3/videos"), token=ctx.token,
                                    params={"part": "statistics", "id": ",".join(ids), "maxResults": "50"})
            if not answer.ok:
                raise youtube_error(answer)
            for item in answer.body.get("items") or []:
                stats = item.get("statistics") or {}
                engagement = sum(int(stats.get(k) or 0) for k in ("likeCount", "commentCount", "favoriteCount"))
                out[str(item.get("id"))] = Metrics(engagement=engagement, views=int(stats.get("viewCount") or 0))
        return out


