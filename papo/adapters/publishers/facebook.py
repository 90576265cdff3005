"""Facebook Page posts through the Graph API, with the Page access token.

- text (and links): `POST /{page_id}/feed` `{message}` → `{id: "<page>_<post>"}`;
- one photo: `POST /{page_id}/photos` `{url, message}` → `{id, post_id}`;
- several photos: each `POST /{page_id}/photos` `{url, published: false}` (unpublished, harmless), then
  `POST /{page_id}/feed` `{message, attached_media: [{media_fbid}]}`;
- one video: `POST /{page_id}/videos` `{file_url, description, title}` → `{id}`.
The request that creates the post is the commit point: a lost answer after it cannot be checked, so the
pipeline records it as in doubt instead of posting twice.
Engagement: `GET /{post_id}?fields=reactions.summary(total_count).limit(0),comments.summary(total_count)
.limit(0),shares,insights.metric(post_media_view)` (`post_impressions` was retired in November 2025).
"""

from __future__ import annotations

from typing import Any

from papo.adapters.publishers.base import (
    VIDEO,
    Metrics,
    MetricsContext,
    PublishContext,
    PublishRequest,
    PublishResult,
    get_json,
    join,
)
from papo.adapters.senders.base import bearer, post_json
from papo.adapters.senders.errors import InDoubt, PermanentError
from papo.adapters.senders.graph import graph_error
from papo.enums import Platform

METRIC_FIELDS = ("reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0),shares,"
                 "insights.metric(post_media_view)")
IN_DOUBT = ("Facebook may have published this post before the connection dropped; check the Page, then "
            "`papo posts retry` if it is not there")


class FacebookPublisher:
    """Publishes text, photo and video posts to a Facebook Page."""

    platform = Platform.FACEBOOK

    async def _post(self, ctx: PublishContext, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = await post_json(ctx.session, join(ctx.base_url, path), payload, headers=bearer(ctx.token))
        if not answer.ok:
            raise graph_error(answer)
        return answer.body

    async def publish(self, request: PublishRequest, ctx: PublishContext) -> PublishResult:
        """Feed post, photo post, multi-photo post or video post, by the media."""
        if ctx.in_doubt:
            raise InDoubt(IN_DOUBT)
        page = request.platform_account_id
        media = request.media
        if media and media[0].type == VIDEO:
            if len(media) > 1:
                raise PermanentError("a Facebook Page post takes photos or one video, not both")
            payload: dict[str, Any] = {"file_url": media[0].url, "description": request.caption}
            if request.title:
                payload["title"] = request.title
            await ctx.commit()
            body = await self._post(ctx, f"{page}/videos", payload)
            return PublishResult(_id(body), raw=body)
        if len(media) == 1:
            await ctx.commit()
            body = await self._post(ctx, f"{page}/photos", {"url": media[0].url, "message": request.caption})
            return PublishResult(str(body.get("post_id") or body.get("id") or "") or None, raw=body)
        payload = {"message": request.caption}
        if media:
            photos: list[str] = list(ctx.progress.get("photos") or [])
            for item in media[len(photos):]:
                photos.append(_id(await self._post(ctx, f"{page}/photos", {"url": item.url, "published": False})))
                await ctx.save(photos=photos)
            payload["attached_media"] = [{"media_fbid": photo} for photo in photos]
        await ctx.commit()
        body = await self._post(ctx, f"{page}/feed", payload)
        return PublishResult(_id(body), raw=body)

    async def fetch_metrics(self, platform_post_ids: list[str], ctx: MetricsContext) -> dict[str, Metrics]:
        """Reactions + comments + shares, and media views, per post."""
        out: dict[str, Metrics] = {}
        for post_id in platform_post_ids:
            answer = await get_json(ctx.session, join(ctx.base_url, post_id), token=ctx.token,
                                    params={"fields": METRIC_FIELDS})
            if not answer.ok:
                if answer.status == 429 or answer.status >= 500:
                    raise graph_error(answer)
                continue  # e.g. a video id, which has no such fields: skip it, not the round
            body = answer.body
            engagement = (_summary(body.get("reactions")) + _summary(body.get("comments"))
                          + int((body.get("shares") or {}).get("count") or 0))
            views = None
            for metric in (body.get("insights") or {}).get("data") or []:
                values = metric.get("values") or [{}]
                views = int(values[0].get("value") or 0)
            out[post_id] = Metrics(engagement=engagement, views=views)
        return out


def _id(body: dict[str, Any]) -> str:
    value = body.get("id")
    if not value:
        raise PermanentError("Facebook answered without an id")
    return str(value)


def _summary(edge: Any) -> int:
    return int(((edge or {}).get("summary") or {}).get("total_count") or 0) if isinstance(edge, dict) else 0
