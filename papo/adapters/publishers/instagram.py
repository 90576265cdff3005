"""Instagram content publishing: media container → (processing) → `media_publish`.

developers.facebook.com/docs/instagram-platform/content-publishing:
- image: `POST /{ig_id}/media` `{image_url, caption}` (JPEG only);
- video: `{media_type: "REELS", video_url, caption, share_to_feed: true}` (single feed videos are reels);
- carousel (≤ 10): one container per item with `is_carousel_item: true` (`media_type: "VIDEO"` for videos),
  then `{media_type: "CAROUSEL", children: [ids], caption}`;
- `GET /{container_id}?fields=status_code,status` until FINISHED (IN_PROGRESS, ERROR, EXPIRED, PUBLISHED);
- `POST /{ig_id}/media_publish` `{creation_id}` → `{id}` (the IG media id). The publish step is the commit:
  an unpublished container is harmless (it expires after 24 h), and a container already PUBLISHED tells an
  in-doubt retry that the post exists.
Insights: `GET /{media_id}/insights?metric=views,total_interactions` (fallback: like_count, comments_count).
"""

from __future__ import annotations

import time
from typing import Any

from papo.adapters.publishers.base import (
    VIDEO,
    Media,
    Metrics,
    MetricsContext,
    PublishContext,
    PublishRequest,
    PublishResult,
    StillProcessing,
    get_json,
    join,
)
from papo.adapters.senders.base import HttpAnswer, bearer, post_json
from papo.adapters.senders.errors import PermanentError, RateLimited, SendError, Transient
from papo.adapters.senders.graph import graph_error
from papo.enums import Platform

# Content publishing errors (…/instagram-platform/content-publishing#troubleshooting), by error_subcode.
RETRY_SUBCODES = frozenset({2207001, 2207003, 2207020, 2207032, 2207027})  # server error, timeouts, not ready
LIMIT_SUBCODES = frozenset({2207042})  # over the account's content publishing limit (24 h rolling)
NOT_READY_CODE = 9007


def instagram_error(answer: HttpAnswer) -> SendError:
    """Graph's mapping, plus the content-publishing codes that mean "wait" or "too many posts today"."""
    found = answer.body.get("error")
    err: dict[str, Any] = found if isinstance(found, dict) else {}
    sub = err.get("error_subcode")
    base = graph_error(answer)
    kwargs: dict[str, Any] = {"code": base.code, "subcode": base.subcode, "http_status": answer.status,
                              "details": base.details}
    if sub in LIMIT_SUBCODES:
        return RateLimited(f"Instagram's daily publishing limit is reached: {base.message}",
                           retry_after=3600.0, **kwargs)
    if sub in RETRY_SUBCODES or err.get("code") == NOT_READY_CODE:
        return Transient(base.message, **kwargs)
    return base


class InstagramPublisher:
    """Publishes images, reels and carousels to an Instagram professional account."""

    platform = Platform.INSTAGRAM

    async def _post(self, ctx: PublishContext, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = await post_json(ctx.session, join(ctx.base_url, path), payload, headers=bearer(ctx.token))
        if not answer.ok:
            raise instagram_error(answer)
        return answer.body

    async def status(self, ctx: PublishContext, container: str) -> tuple[str, str]:
        """(status_code, status text) of a container."""
        answer = await get_json(ctx.session, join(ctx.base_url, container), token=ctx.token,
                                params={"fields": "status_code,status"})
        if not answer.ok:
            raise instagram_error(answer)
        return str(answer.body.get("status_code") or ""), str(answer.body.get("status") or "")

    async def _wait_finished(self, ctx: PublishContext, container: str, what: str) -> str:
        """Poll until FINISHED (or PUBLISHED); ERROR fails; a long wait is StillProcessing (come back later)."""
        deadline = time.monotonic() + ctx.poll_timeout
        while True:
            code, text = await self.status(ctx, container)
            if code in ("FINISHED", "PUBLISHED"):
                return code
            if code == "ERROR":
                raise PermanentError(f"Instagram could not process {what}: {text or 'ERROR'}", code="ERROR")
            if code == "EXPIRED":
                return code
            if time.monotonic() >= deadline:
                raise StillProcessing(f"Instagram is still processing {what}", check_after=60.0)
            await ctx.pause()

    def _item(self, media: Media, *, carousel: bool) -> dict[str, Any]:
        if media.type == VIDEO:
            if carousel:
                return {"media_type": "VIDEO", "video_url": media.url, "is_carousel_item": True}
            return {"media_type": "REELS", "video_url": media.url, "share_to_feed": True}
        item: dict[str, Any] = {"image_url": media.url}
        if carousel:
            item["is_carousel_item"] = True
        return item

    async def _create(self, request: PublishRequest, ctx: PublishContext) -> str:
        """The container to publish (children first for a carousel), checkpointed as it goes."""
        ig = request.platform_account_id
        if len(request.media) == 1:
            payload = {**self._item(request.media[0], carousel=False), "caption": request.caption}
            return str((await self._post(ctx, f"{ig}/media", payload))["id"])
        children: list[str] = list(ctx.progress.get("children") or [])
        for media in request.media[len(children):]:
            child = str((await self._post(ctx, f"{ig}/media", self._item(media, carousel=True)))["id"])
            children.append(child)
            await ctx.save(children=children)
        for media, child in zip(request.media, children, strict=True):
            if media.type == VIDEO and await self._wait_finished(ctx, child, f"video {media.url}") == "EXPIRED":
                await ctx.save(children=[])
                raise Transient("an Instagram carousel item expired before publishing; starting again")
        payload = {"media_type": "CAROUSEL", "children": children, "caption": request.caption}
        return str((await self._post(ctx, f"{ig}/media", payload))["id"])

    async def publish(self, request: PublishRequest, ctx: PublishContext) -> PublishResult:
        """Create (or resume) the container, wait until it is ready, then `media_publish` it."""
        if not request.media:
            raise PermanentError("Instagram needs at least one image or video")
        container = ctx.progress.get("container")
        if container:
            state = await self._wait_finished(ctx, container, "the post")
            if state == "PUBLISHED":  # an earlier attempt published it and its answer was lost
                media_id = ctx.progress.get("media_id")
                return PublishResult(media_id, note=None if media_id else "published; Instagram's answer with "
                                     "the media id was lost, so Papo cannot read its insights")
            if state == "EXPIRED":  # never published: a fresh container is safe
                await ctx.save(container=None, children=[])
                container = None
        if not container:
            container = await self._create(request, ctx)
            await ctx.save(container=container)
            await self._wait_finished(ctx, container, "the post")
        await ctx.throttle("publish")
        await ctx.commit()
        body = await self._post(ctx, f"{request.platform_account_id}/media_publish", {"creation_id": container})
        return PublishResult(str(body["id"]) if body.get("id") else None, raw=body)

    async def fetch_metrics(self, platform_post_ids: list[str], ctx: MetricsContext) -> dict[str, Metrics]:
        """views and total_interactions per media (like_count + comments_count when insights are refused)."""
        out: dict[str, Metrics] = {}
        for media_id in platform_post_ids:
            answer = await get_json(ctx.session, join(ctx.base_url, f"{media_id}/insights"), token=ctx.token,
                                    params={"metric": "views,total_interactions"})
            if answer.ok:
                values = {str(m.get("name")): _value(m) for m in answer.body.get("data") or []}
                out[media_id] = Metrics(engagement=values.get("total_interactions", 0), views=values.get("views"))
                continue
            if answer.status == 429 or answer.status >= 500:
                raise instagram_error(answer)
            basic = await get_json(ctx.session, join(ctx.base_url, media_id), token=ctx.token,
                                   params={"fields": "like_count,comments_count"})
            if basic.ok:
                engagement = int(basic.body.get("like_count") or 0) + int(basic.body.get("comments_count") or 0)
                out[media_id] = Metrics(engagement=engagement)
        return out


def _value(metric: dict[str, Any]) -> int:
    """A metric's lifetime value: `values[0].value`, or `total_value.value`."""
    values = metric.get("values") or []
    if values and isinstance(values[0], dict):
        return int(values[0].get("value") or 0)
    total = metric.get("total_value") or {}
    return int(total.get("value") or 0) if isinstance(total, dict) else 0

