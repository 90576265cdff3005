"""The publisher: per-platform results, retrying the failed platforms only, restarts that never post twice."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

from papo.adapters.publishers import PublisherRegistry, PublishResult
from papo.adapters.senders.errors import InDoubt
from papo.crypto import TokenCipher
from papo.enums import Platform
from papo.models import Post, PostSync
from papo.pipeline.publish import PostPublisher, PublishSettings
from papo.services.account_cache import account_problem
from papo.services.media import media_source
from papo.services.notify import NOTIFY_STREAM
from papo.services.posts import create_post, enqueue_due, get_post, retry_failed
from tests.conftest import TEST_SECRET, eventually
from tests.posts.conftest import IG, PAGE, TT, VIDEO_BYTES, YT, Overlay


async def _notifications(stores) -> list[dict]:
    return [json.loads(fields["data"]) for _, fields in await stores.redis.xrange(NOTIFY_STREAM)]


def _publisher(stores, local, http, **overrides) -> PostPublisher:
    settings = dataclasses.replace(PublishSettings.from_settings(local), **overrides)
    return PostPublisher(stores, settings, session=http, cipher=TokenCipher(TEST_SECRET), worker_id="test",
                         media=media_source(local))


async def _queued(stores, shop, **kwargs):
    view = await create_post(shop.user, options=shop.options, when="now", redis=None, **kwargs)
    [post_id] = await enqueue_due(stores.redis, partitions=2, post_ids=[view.id])
    return await Post.get(id=post_id)


async def test_a_failed_platform_is_recorded_the_owner_alerted_and_retry_touches_only_it(
    stores, apis, shop, roles
) -> None:
    apis.fail("POST", "/v2/post/publish/video/init/", (400, {"data": {}, "error": {
        "code": "url_ownership_unverified", "message": "Please verify the ownership of the URL prefix.",
        "log_id": "x"}}))
    video = shop.media(apis, "receita.mp4")
    view = await create_post(shop.user, content="Receita nova", title="Receita", media=[video],
                             options=shop.options, accounts=[IG, TT], when="now", redis=stores.redis)
    await roles.publisher()
    await eventually(lambda: _status_is(view.id, "failed"))

    failed = await get_post(shop.user, str(view.id))
    assert failed.errors == {f"tiktok:{TT}": "url_ownership_unverified: Please verify the ownership of the URL prefix."}
    assert {s.platform: s.status for s in failed.syncs} == {"instagram": "published", "tiktok": "failed"}
    [alert] = await _notifications(stores)
    assert alert["kind"] == "post_failed" and alert["user_id"] == str(shop.user.id)
    assert alert["payload"]["post_id"] == str(view.id) and alert["payload"]["published"] == ["instagram"]
    assert "url_ownership_unverified" in alert["payload"]["error"]
    assert len(apis.to("POST", "/video/init/")) == 1  # a permanent error is not retried

    await retry_failed(stores.redis, shop.user, str(view.id), options=shop.options)
    await eventually(lambda: _status_is(view.id, "published"))
    assert len(apis.to("POST", f"/{IG}/media")) == 1 and len(apis.to("POST", "/media_publish")) == 1  # untouched
    assert len(apis.to("POST", "/video/init/")) == 2
    tiktok = await PostSync.get(post_id=view.id, platform="tiktok")
    assert tiktok.status == "published" and tiktok.error_message is None and tiktok.attempts == 1
    events = await stores.analytics.analytics.find({"event_type": "post_published"}).to_list(length=10)
    assert sorted(e["platform"] for e in events) == ["instagram", "tiktok"]  # one per success, never twice
    assert len(await _notifications(stores)) == 1


async def _status_is(post_id, status: str) -> bool:
    return str((await Post.get(id=post_id)).status) == status


async def test_retries_stop_after_max_attempts_with_the_last_error(stores, apis, shop, local, http) -> None:
    busy = (503, {"error": {"message": "Service temporarily unavailable", "code": 2, "is_transient": True}})
    apis.fail("POST", f"/{PAGE}/feed", busy, busy, busy)
    post = await _queued(stores, shop, content="Liquidação", accounts=[PAGE])
    assert await _publisher(stores, local, http, max_attempts=3).process(post.id, post.publish_run) == "failed"
    sync = await PostSync.get(post_id=post.id)
    assert sync.status == "failed" and sync.attempts == 3
    assert sync.error_message == "gave up after 3 attempts: 2: Service temporarily unavailable"
    assert len(apis.to("POST", f"/{PAGE}/feed")) == 3


async def test_an_expired_token_fails_the_account_and_reports_it(stores, apis, shop, local, http) -> None:
    apis.fail("POST", f"/{PAGE}/feed", (401, {"error": {"message": "Error validating access token: Session has "
                                                         "expired", "type": "OAuthException", "code": 190}}))
    post = await _queued(stores, shop, content="Oi", accounts=[PAGE])
    assert await _publisher(stores, local, http).process(post.id, post.publish_run) == "failed"
    problem = await account_problem(stores.redis, str(shop.accounts[Platform.FACEBOOK].id))
    assert problem is not None and "Session has expired" in problem["error"]
    assert problem["outbound_id"].startswith("post:")


async def test_after_a_crash_instagram_is_asked_instead_of_publishing_again(stores, apis, shop, local, http) -> None:
    image = shop.media(apis, "bolo.jpg")
    post = await _queued(stores, shop, content="Bolo", media=[image], accounts=[IG])
    # A worker created and published the container, then died before recording Instagram's answer.
    apis.containers["cont_crash"] = {"body": {}, "status": "PUBLISHED", "polls": 0}
    await PostSync.filter(post_id=post.id).update(
        progress={"container": "cont_crash"}, attempts=1, committing_at=datetime.now(UTC) - timedelta(minutes=5))
    assert await _publisher(stores, local, http).process(post.id, post.publish_run) == "published"
    assert apis.to("POST", "/media_publish") == [] and apis.to("POST", f"/{IG}/media") == []
    sync = await PostSync.get(post_id=post.id)
    assert sync.status == "published" and "answer with the media id was lost" in sync.error_message


async def test_after_a_crash_a_finished_instagram_container_is_published_once(stores, apis, shop, local, http) -> None:
    post = await _queued(stores, shop, content="Bolo", media=[shop.media(apis, "bolo.jpg")], accounts=[IG])
    apis.containers["cont_ready"] = {"body": {}, "status": "FINISHED", "polls": 0}
    await PostSync.filter(post_id=post.id).update(
        progress={"container": "cont_ready"}, attempts=1, committing_at=datetime.now(UTC) - timedelta(minutes=5))
    assert await _publisher(stores, local, http).process(post.id, post.publish_run) == "published"
    [publish] = apis.to("POST", "/media_publish")
    assert publish.json == {"creation_id": "cont_ready"} and apis.to("POST", f"/{IG}/media") == []


async def test_a_facebook_post_in_doubt_is_not_posted_again(stores, apis, shop, local, http) -> None:
    post = await _queued(stores, shop, content="Oi", accounts=[PAGE])
    await PostSync.filter(post_id=post.id).update(attempts=1, committing_at=datetime.now(UTC) - timedelta(minutes=5))
    assert await _publisher(stores, local, http).process(post.id, post.publish_run) == "failed"
    assert apis.to("POST", f"/{PAGE}/feed") == []
    sync = await PostSync.get(post_id=post.id)
    assert sync.error_message.startswith("Facebook may have published this post") and sync.attempts == 2
    assert "papo posts retry" in sync.error_message


async def test_a_fresh_commit_marker_is_waited_for_not_taken_over(stores, apis, shop, local, http) -> None:
    post = await _queued(stores, shop, content="Oi", accounts=[PAGE])
    await PostSync.filter(post_id=post.id).update(attempts=1, committing_at=datetime.now(UTC))
    publisher = _publisher(stores, local, http, commit_stale=0.3)
    started = datetime.now(UTC)
    assert await publisher.process(post.id, post.publish_run) == "failed"  # in doubt only once the marker is stale
    assert (datetime.now(UTC) - started).total_seconds() >= 0.25


async def test_tiktok_resumes_polling_with_its_saved_publish_id(stores, apis, shop, local, http) -> None:
    post = await _queued(stores, shop, content="Vídeo", media=[shop.media(apis, "v.mp4")], accounts=[TT])
    apis.tiktok_polls["v_pub_url~v2.saved"] = 0
    await PostSync.filter(post_id=post.id).update(progress={"publish_id": "v_pub_url~v2.saved"}, attempts=1,
                                                  committing_at=datetime.now(UTC) - timedelta(minutes=5))
    assert await _publisher(stores, local, http).process(post.id, post.publish_run) == "published"
    assert apis.to("POST", "/video/init/") == [] and apis.to("POST", "/creator_info/query/") == []
    [fetch] = apis.to("POST", "/status/fetch/")
    assert fetch.json == {"publish_id": "v_pub_url~v2.saved"}


async def test_youtube_resumes_an_interrupted_upload_from_where_it_stopped(stores, apis, shop, local, http) -> None:
    post = await _queued(stores, shop, content="Tour pela padaria", title="Tour", media=[shop.media(apis, "t.mp4")],
                         accounts=[f"youtube:{YT}"])
    # An earlier attempt started the session and sent the first 100,000 bytes before the worker died.
    apis.uploads["s-old"] = {"size": len(VIDEO_BYTES), "data": VIDEO_BYTES[:100_000], "resource": {"snippet": {}}}
    await PostSync.filter(post_id=post.id).update(attempts=1, progress={
        "upload_url": apis.url("/upload/session/s-old"), "size": len(VIDEO_BYTES), "content_type": "video/mp4"})
    assert await _publisher(stores, local, http).process(post.id, post.publish_run) == "published"
    assert apis.to("POST", "/upload/youtube/v3/videos") == []  # no second session, no second video
    query, rest = apis.to("PUT", "/s-old")
    assert query.headers["Content-Range"] == f"bytes */{len(VIDEO_BYTES)}" and query.body == b""
    assert rest.headers["Content-Range"] == f"bytes 100000-{len(VIDEO_BYTES) - 1}/{len(VIDEO_BYTES)}"
    assert apis.uploads["s-old"]["data"] == VIDEO_BYTES
    [media] = [c for c in apis.calls if c.path == "/files/t.mp4"]
    assert media.headers["Range"] == "bytes=100000-"


async def test_media_still_processing_goes_back_to_the_scheduler_and_is_published_once(
    stores, apis, shop, local, roles
) -> None:
    apis.processing_polls = 12  # ~0.6 s of IN_PROGRESS, longer than one attempt may poll
    slow = Overlay(local, posts_poll_timeout=0.2, posts_recheck_after=0.2)
    view = await create_post(shop.user, content="Reel", media=[shop.media(apis, "reel.mp4")], accounts=[IG],
                             options=shop.options, when="now", redis=stores.redis)
    await roles.scheduler(slow)
    await roles.publisher(settings=slow)
    await eventually(lambda: _status_is(view.id, "published"))
    post = await Post.get(id=view.id)
    assert post.publish_run >= 2 and post.recheck_at is None  # it came back at least once
    assert len(apis.to("POST", f"/{IG}/media")) == 1 and len(apis.to("POST", "/media_publish")) == 1


async def test_only_one_of_two_racing_workers_passes_the_commit_point(stores, apis, shop, local, http) -> None:
    created: list[str] = []

    class Racing:
        """Another worker sets the commit marker just before this one tries to."""

        platform = Platform.FACEBOOK

        async def publish(self, request, ctx):
            if ctx.in_doubt:
                raise InDoubt("cannot tell")
            await PostSync.filter(id=request.sync_id).update(committing_at=datetime.now(UTC))
            await ctx.commit()
            created.append(request.sync_id)  # never reached: the other worker owns the commit
            return PublishResult("never")

        async def fetch_metrics(self, ids, ctx):
            return {}

    registry = PublisherRegistry()
    registry.register(Racing())
    post = await _queued(stores, shop, content="Oi", accounts=[PAGE])
    publisher = PostPublisher(stores, dataclasses.replace(PublishSettings.from_settings(local), commit_stale=0.3),
                              session=http, cipher=TokenCipher(TEST_SECRET), publishers=registry)
    assert await publisher.process(post.id, post.publish_run) == "failed"
    sync = await PostSync.get(post_id=post.id)
    assert created == [] and sync.error_message == "cannot tell"
