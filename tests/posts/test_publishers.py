"""Each platform's publisher against the local APIs: request shapes, privacy, errors, signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from papo.adapters.errors import DuplicateAdapterError, UnknownPlatformError
from papo.adapters.media_fetch import FetchPolicy, RemoteMedia
from papo.adapters.publishers import IMAGE, VIDEO, Media, PublishContext, PublishRequest, default_publishers
from papo.adapters.publishers.facebook import FacebookPublisher
from papo.adapters.publishers.publisher_registry import PublisherRegistry
from papo.adapters.publishers.tiktok import choose_privacy
from papo.adapters.senders.errors import InvalidRequest, NotSupported, PermanentError, RateLimited
from papo.enums import Platform
from tests.posts.conftest import IG, KWAI_SECRET, PAGE, TT

PUBLISHERS = default_publishers()


def _request(platform: Platform, account: str, media: list[Media], **values: Any) -> PublishRequest:
    defaults: dict[str, Any] = {"sync_id": "sync-1", "post_id": "post-1", "platform": platform,
                                "platform_account_id": account, "content": "Fornada nova", "caption":
                                "Fornada nova\n\n#pao", "hashtags": ("pao",), "media": tuple(media)}
    return PublishRequest(**{**defaults, **values})


def _ctx(http, apis, token: str, **values: Any) -> tuple[PublishContext, list[str], dict[str, Any]]:
    commits: list[str] = []
    saved: dict[str, Any] = {}

    async def mark() -> None:
        commits.append("commit")

    async def checkpoint(new: dict[str, Any]) -> None:
        saved.update(new)

    values.setdefault("media", RemoteMedia(FetchPolicy(allow_hosts=frozenset({apis.host}))))
    ctx = PublishContext(session=http, token=token, base_url=apis.url("/").rstrip("/"), poll_interval=0.01,
                         poll_timeout=2.0, mark_commit=mark, checkpoint=checkpoint, **values)
    return ctx, commits, saved


async def test_instagram_carousel_children_then_parent_then_publish(apis, http) -> None:
    media = [Media(apis.url("/files/a.jpg"), IMAGE), Media(apis.url("/files/b.mp4"), VIDEO),
             Media(apis.url("/files/c.jpg"), IMAGE)]
    ctx, commits, saved = _ctx(http, apis, "tok-ig")
    result = await PUBLISHERS[Platform.INSTAGRAM].publish(_request(Platform.INSTAGRAM, IG, media), ctx)

    created = apis.to("POST", f"/{IG}/media")
    assert [c.json for c in created[:3]] == [
        {"image_url": media[0].url, "is_carousel_item": True},
        {"media_type": "VIDEO", "video_url": media[1].url, "is_carousel_item": True},
        {"image_url": media[2].url, "is_carousel_item": True}]
    children = saved["children"]
    assert created[3].json == {"media_type": "CAROUSEL", "children": children, "caption": "Fornada nova\n\n#pao"}
    assert saved["container"] not in children and commits == ["commit"]
    [publish] = apis.to("POST", f"/{IG}/media_publish")
    assert publish.json == {"creation_id": saved["container"]} and result.platform_post_id.startswith("1790")


async def test_facebook_photo_multi_photo_video_and_text(apis, http) -> None:
    fb = FacebookPublisher()
    ctx, _, saved = _ctx(http, apis, "tok-fb")
    one = await fb.publish(_request(Platform.FACEBOOK, PAGE, [Media(apis.url("/files/a.jpg"), IMAGE)]), ctx)
    [photo] = apis.to("POST", f"/{PAGE}/photos")
    assert photo.json == {"url": apis.url("/files/a.jpg"), "message": "Fornada nova\n\n#pao"}
    assert one.platform_post_id.startswith(f"{PAGE}_")

    two = [Media(apis.url("/files/a.jpg"), IMAGE), Media(apis.url("/files/b.jpg"), IMAGE)]
    await fb.publish(_request(Platform.FACEBOOK, PAGE, two), ctx)
    unpublished = apis.to("POST", f"/{PAGE}/photos")[1:]
    assert [c.json for c in unpublished] == [{"url": m.url, "published": False} for m in two]
    [feed] = apis.to("POST", f"/{PAGE}/feed")
    assert feed.json == {"message": "Fornada nova\n\n#pao",
                         "attached_media": [{"media_fbid": pid} for pid in saved["photos"]]}

    video = await fb.publish(_request(Platform.FACEBOOK, PAGE, [Media(apis.url("/files/v.mp4"), VIDEO)],
                                      title="Tour"), ctx)
    [upload] = apis.to("POST", f"/{PAGE}/videos")
    assert upload.json == {"file_url": apis.url("/files/v.mp4"), "description": "Fornada nova\n\n#pao",
                           "title": "Tour"} and video.platform_post_id.startswith("video_")


def test_tiktok_privacy_is_never_more_public_than_chosen() -> None:
    offered = ["MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
    assert choose_privacy("PUBLIC_TO_EVERYONE", offered) == "MUTUAL_FOLLOW_FRIENDS"
    assert choose_privacy("PUBLIC_TO_EVERYONE", ["SELF_ONLY"]) == "SELF_ONLY"  # unaudited apps
    assert choose_privacy("SELF_ONLY", ["PUBLIC_TO_EVERYONE", "SELF_ONLY"]) == "SELF_ONLY"
    with pytest.raises(PermanentError, match="more public than the chosen SELF_ONLY"):
        choose_privacy("SELF_ONLY", ["PUBLIC_TO_EVERYONE"])


async def test_tiktok_uses_an_offered_privacy_level_and_maps_errors(apis, http) -> None:
    apis.privacy_options = ["SELF_ONLY"]
    ctx, commits, saved = _ctx(http, apis, "tok-tt")
    request = _request(Platform.TIKTOK, TT, [Media(apis.url("/files/v.mp4"), VIDEO)])
    result = await PUBLISHERS[Platform.TIKTOK].publish(request, ctx)
    [init] = apis.to("POST", "/video/init/")
    assert init.json["post_info"]["privacy_level"] == "SELF_ONLY" and saved["privacy_level"] == "SELF_ONLY"
    assert saved["publish_id"].startswith("v_pub_url~v2.") and commits == ["commit"]
    assert result.platform_post_id == "7300000000000000001"

    apis.fail("POST", "/v2/post/publish/video/init/", (429, {"data": {}, "error": {
        "code": "rate_limit_exceeded", "message": "Too many requests", "log_id": "x"}}))
    ctx, _, _ = _ctx(http, apis, "tok-tt")
    with pytest.raises(RateLimited, match="Too many requests"):
        await PUBLISHERS[Platform.TIKTOK].publish(request, ctx)
    apis.fail("POST", "/v2/post/publish/status/fetch/", (200, {"data": {"status": "FAILED", "fail_reason":
                                                                        "file_format_check_failed"},
                                                               "error": {"code": "ok"}}))
    ctx, _, _ = _ctx(http, apis, "tok-tt")
    with pytest.raises(PermanentError, match="file_format_check_failed"):
        await PUBLISHERS[Platform.TIKTOK].publish(request, ctx)


async def test_kwai_posts_are_signed_with_the_account_secret_and_idempotent(apis, http) -> None:
    ctx, commits, _ = _ctx(http, apis, KWAI_SECRET)
    ctx.base_url = apis.url("/kwai/callback")
    media = [Media(apis.url("/files/v.mp4"), VIDEO)]
    result = await PUBLISHERS[Platform.KWAI].publish(_request(Platform.KWAI, "kwai-1", media, title="T"), ctx)
    [call] = apis.to("POST", "/kwai/callback")
    t, v1 = (part.split("=", 1)[1] for part in call.headers["X-Papo-Signature"].split(","))
    expected = hmac.new(KWAI_SECRET.encode(), f"{t}.".encode() + call.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(v1, expected) and call.headers["Idempotency-Key"] == "sync-1"
    body = json.loads(call.body)
    assert body["version"] == 1 and body["account_id"] == "kwai-1"
    assert body["posts"] == [{"id": "sync-1", "type": "post", "post_id": "post-1", "timestamp": int(t),
                              "text": "Fornada nova\n\n#pao", "hashtags": ["pao"], "title": "T",
                              "media": [{"type": "video", "url": media[0].url}]}]
    assert result.platform_post_id.startswith("kw_post_") and commits == []


async def test_whatsapp_refuses_and_the_registry_is_explicit(apis, http) -> None:
    ctx, _, _ = _ctx(http, apis, "tok-wa")
    with pytest.raises(NotSupported, match="WhatsApp has no feed"):
        await PUBLISHERS[Platform.WHATSAPP].publish(_request(Platform.WHATSAPP, "1", []), ctx)
    assert set(PUBLISHERS) == set(Platform)
    registry = PublisherRegistry()
    registry.register(FacebookPublisher())
    with pytest.raises(DuplicateAdapterError):
        registry.register(FacebookPublisher())
    with pytest.raises(UnknownPlatformError, match="no publisher for platform 'orkut'"):
        registry.get_publisher("orkut")


async def test_youtube_refuses_a_media_server_without_a_size_and_maps_quota(apis, http) -> None:
    ctx, _, _ = _ctx(http, apis, "tok-yt")
    request = _request(Platform.YOUTUBE, "UC1", [Media(apis.url("/files/missing.mp4"), VIDEO)], title="T")
    apis.fail("GET", "/files/missing.mp4", (404, {"error": "not found"}))
    with pytest.raises(PermanentError, match=r"cannot fetch the media: its server answered HTTP 404"):
        await PUBLISHERS[Platform.YOUTUBE].publish(request, ctx)
    apis.fail("POST", "/upload/youtube/v3/videos", (403, {"error": {"code": 403, "message": "quota", "errors": [
        {"domain": "youtube.quota", "reason": "quotaExceeded"}]}}))
    with pytest.raises(RateLimited, match="YouTube daily quota exhausted"):
        await PUBLISHERS[Platform.YOUTUBE].publish(request, ctx)
    apis.fail("POST", "/upload/youtube/v3/videos", (400, {"error": {"code": 400, "message": "bad title", "errors": [
        {"domain": "youtube.video", "reason": "invalidTitle"}]}}))
    with pytest.raises(InvalidRequest, match="bad title"):
        await PUBLISHERS[Platform.YOUTUBE].publish(request, ctx)
