"""TikTok Content Posting API, Direct Post of a video pulled from a URL.

developers.tiktok.com/doc/content-posting-api-reference-direct-post:
1. `POST /v2/post/publish/creator_info/query/` → `data.privacy_level_options`, `comment_disabled`,
   `duet_disabled`, `stitch_disabled` (20 requests/min per token);
2. `POST /v2/post/publish/video/init/` `{post_info: {title, privacy_level, disable_comment, disable_duet,
   disable_stitch}, source_info: {source: "PULL_FROM_URL", video_url}}` → `data.publish_id` (6/min) —
   `privacy_level` must be one creator_info returned (unaudited apps get SELF_ONLY only);
3. `POST /v2/post/publish/status/fetch/` `{publish_id}` (30/min) until PUBLISH_COMPLETE (or FAILED with
   `fail_reason`); `publicaly_available_post_id` (sic) carries the post id once moderation is done.
Answers are `{"data": …, "error": {"code": "ok" | …, "message", "log_id"}}`. The init call is the commit:
with a `publish_id` saved, a retry only polls; without one after a lost answer, it is in doubt.
The URL's domain must be verified in the TikTok app (`url_ownership_unverified` otherwise).
Engagement: `POST /v2/video/query/?fields=id,like_count,comment_count,share_count,view_count`.
"""

from __future__ import annotations

import time
from typing import Any

from papo.adapters.publishers.base import (
    Metrics,
    MetricsContext,
    PublishContext,
    PublishRequest,
    PublishResult,
    StillProcessing,
    join,
)
from papo.adapters.senders.base import HttpAnswer, bearer, post_json
from papo.adapters.senders.errors import (
    InDoubt,
    InvalidRequest,
    InvalidToken,
    PermanentError,
    PermissionDenied,
    RateLimited,
    SendError,
    Transient,
)
from papo.enums import Platform

CREATOR_INFO = "v2/post/publish/creator_info/query/"
VIDEO_INIT = "v2/post/publish/video/init/"
STATUS_FETCH = "v2/post/publish/status/fetch/"
VIDEO_QUERY = "v2/video/query/"
# Most public first: never publish more publicly than the owner chose.
PRIVACY_ORDER = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY")
JSON_UTF8 = {"Content-Type": "application/json; charset=UTF-8"}
RATE_CODES = frozenset({"rate_limit_exceeded", "spam_risk_too_many_posts", "spam_risk_too_many_pending_share"})
TOKEN_CODES = frozenset({"access_token_invalid", "token_not_authorized_for_specified_action"})
SCOPE_CODES = frozenset({"scope_not_authorized", "scope_permission_missed"})
IN_DOUBT = ("TikTok may have received this video before the connection dropped (no publish_id came back); "
            "check the TikTok account, then `papo posts retry` if it is not there")


def tiktok_error(answer: HttpAnswer) -> SendError:
    """The SendError for a TikTok answer whose `error.code` is not "ok"."""
    found = answer.body.get("error")
    err: dict[str, Any] = found if isinstance(found, dict) else {}
    code = str(err.get("code") or answer.status)
    message = str(err.get("message") or f"HTTP {answer.status}")
    kwargs: dict[str, Any] = {"code": code, "http_status": answer.status, "retry_after": answer.retry_after(),
                              "details": err or answer.text[:500]}
    if code in RATE_CODES or answer.status == 429:
        return RateLimited(message, **kwargs)
    if code in TOKEN_CODES or answer.status == 401:
        return InvalidToken(message, **kwargs)
    if code in SCOPE_CODES or answer.status == 403:
        return PermissionDenied(message, **kwargs)
    if code == "internal_error" or answer.status >= 500:
        return Transient(message, **kwargs)
    if answer.status == 400 or code.startswith(("invalid_", "privacy_level", "url_ownership")):
        return InvalidRequest(message, **kwargs)
    return PermanentError(message, **kwargs)


def choose_privacy(wanted: str, offered: list[str]) -> str:
    """The owner's level if offered, else the next more private one offered (SELF_ONLY for unaudited apps)."""
    if not offered:
        raise PermanentError("TikTok offered no privacy level for this account (creator_info)")
    start = PRIVACY_ORDER.index(wanted) if wanted in PRIVACY_ORDER else 0
    for level in PRIVACY_ORDER[start:]:
        if level in offered:
            return level
    raise PermanentError(f"TikTok offers only {', '.join(offered)} for this account, more public than the "
                         f"chosen {wanted}")


class TikTokPublisher:
    """Posts videos with the Content Posting API (Direct Post, PULL_FROM_URL)."""

    platform = Platform.TIKTOK

    async def _call(self, ctx: PublishContext, path: str, payload: dict[str, Any],
                    params: dict[str, str] | None = None) -> dict[str, Any]:
        answer = await post_json(ctx.session, join(ctx.base_url, path), payload,
                                 headers={**bearer(ctx.token), **JSON_UTF8}, params=params)
        err = answer.body.get("error")
        if not answer.ok or (isinstance(err, dict) and err.get("code") not in (None, "ok")):
            raise tiktok_error(answer)
        data = answer.body.get("data")
        return data if isinstance(data, dict) else {}

    async def publish(self, request: PublishRequest, ctx: PublishContext) -> PublishResult:
        """creator_info → init (commit) → poll the status until TikTok finishes."""
        if len(request.videos) != 1:
            raise PermanentError("TikTok needs exactly one video")
        publish_id = ctx.progress.get("publish_id")
        if not publish_id:
            if ctx.in_doubt:
                raise InDoubt(IN_DOUBT)
            await ctx.throttle("creator_info")
            info = await self._call(ctx, CREATOR_INFO, {})
            privacy = choose_privacy(str(ctx.options.get("tiktok_privacy") or PRIVACY_ORDER[0]),
                                     [str(p) for p in info.get("privacy_level_options") or []])
            post_info = {
                "title": request.caption, "privacy_level": privacy,
                "disable_comment": bool(info.get("comment_disabled")),
                "disable_duet": bool(info.get("duet_disabled")),
                "disable_stitch": bool(info.get("stitch_disabled")),
            }
            await ctx.throttle("init")
            await ctx.commit()
            data = await self._call(ctx, VIDEO_INIT, {
                "post_info": post_info,
                "source_info": {"source": "PULL_FROM_URL", "video_url": request.videos[0].url},
            })
            publish_id = str(data.get("publish_id") or "")
            if not publish_id:
                raise InDoubt("TikTok accepted the video but sent no publish_id")
            await ctx.save(publish_id=publish_id, privacy_level=privacy)
        return await self._wait(ctx, publish_id)

    async def _wait(self, ctx: PublishContext, publish_id: str) -> PublishResult:
        deadline = time.monotonic() + ctx.poll_timeout
        while True:
            await ctx.throttle("status")
            data = await self._call(ctx, STATUS_FETCH, {"publish_id": publish_id})
            status = str(data.get("status") or "")
            if status == "PUBLISH_COMPLETE":
                ids = data.get("publicaly_available_post_id") or data.get("publicly_available_post_id") or []
                if ids:
                    return PublishResult(str(ids[0]), raw=data)
                return PublishResult(publish_id, note="published; TikTok gives no public post id for a private "
                                     "post (the publish_id is kept instead)", raw=data)
            if status == "FAILED":
                raise PermanentError(f"TikTok could not publish the video: {data.get('fail_reason') or 'FAILED'}",
                                     code=str(data.get("fail_reason") or "FAILED"))
            if status == "SEND_TO_USER_INBOX":
                return PublishResult(publish_id, note="sent to the creator's TikTok inbox to finish", raw=data)
            if time.monotonic() >= deadline:
                raise StillProcessing(f"TikTok is still processing the video ({status or 'no status yet'})",
                                      check_after=120.0)
            await ctx.pause()

    async def fetch_metrics(self, platform_post_ids: list[str], ctx: MetricsContext) -> dict[str, Metrics]:
        """Likes + comments + shares and views, 20 videos per request."""
        out: dict[str, Metrics] = {}
        for start in range(0, len(platform_post_ids), 20):
            ids = platform_post_ids[start:start + 20]
            answer = await post_json(ctx.session, join(ctx.base_url, VIDEO_QUERY), {"filters": {"video_ids": ids}},
                                     headers={**bearer(ctx.token), **JSON_UTF8},
                                     params={"fields": "id,like_count,comment_count,share_count,view_count"})
            err = answer.body.get("error")
            if not answer.ok or (isinstance(err, dict) and err.get("code") not in (None, "ok")):
                raise tiktok_error(answer)
            for video in (answer.body.get("data") or {}).get("videos") or []:
                engagement = sum(int(video.get(k) or 0) for k in ("like_count", "comment_count", "share_count"))
                out[str(video.get("id"))] = Metrics(engagement=engagement, views=int(video.get("view_count") or 0))
        return out
