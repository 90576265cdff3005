"""Scheduled posts through the real scheduler and publisher roles against the local platform APIs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise import Tortoise

from papo.enums import Platform
from papo.models import Post, PostSync
from papo.services import posts
from papo.services.posts import POSTS_STREAM, create_post, enqueue_due, posts_spec
from papo.streams.producer import Producer
from tests.conftest import eventually
from tests.posts.conftest import IG, PAGE, VIDEO_BYTES, YT


async def _status(post_id) -> str:
    return str((await Post.get(id=post_id)).status)


async def _stream_entries(stores, partitions: int = 2) -> int:
    """Entries in the posts stream now (a publisher deletes each one it settles)."""
    spec = posts_spec(partitions)
    return sum([await stores.redis.xlen(spec.key(p)) for p in range(partitions)])


@pytest.fixture
def appended(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The id of every entry appended to the posts stream during the test (duplicates refused are not), as the
    real producer returns them: the stream itself no longer shows an entry once a publisher settled it."""
    ids: list[str] = []
    append_many = Producer.append_many

    async def counting(self: Producer, items: Any) -> list[str | None]:
        got = await append_many(self, items)
        if self.spec.name == POSTS_STREAM:
            ids.extend(i for i in got if i is not None)
        return got

    monkeypatch.setattr(Producer, "append_many", counting)
    return ids


async def test_a_post_scheduled_two_seconds_ahead_goes_out_at_its_time_to_three_platforms(
    stores, apis, shop, roles
) -> None:
    video = shop.media(apis, "bolo.mp4")
    at = datetime.now(UTC) + timedelta(seconds=2)
    view = await create_post(
        shop.user, content="Bolo de pote novo! 🍰", title="Bolo de pote de morango", media=[video],
        hashtags=["#bolo", "confeitaria"], options=shop.options, when=at.isoformat(),
        accounts=[IG, str(shop.accounts[Platform.TIKTOK].id), f"youtube:{YT}"])
    assert view.state == "scheduled" and {s.platform for s in view.syncs} == {"instagram", "tiktok", "youtube"}
    await roles.scheduler()
    await roles.publisher()

    await asyncio.sleep(1.0)
    assert apis.calls == [] and await _status(view.id) == "scheduled"  # not before its time
    await eventually(lambda: _is(view.id, "published"), within=10)

    syncs = await PostSync.filter(post_id=view.id)
    assert all(s.status == "published" and s.published_at >= at for s in syncs)
    caption = "Bolo de pote novo! 🍰\n\n#bolo #confeitaria"
    # Instagram: a REELS container, polled until FINISHED, then media_publish.
    [container] = apis.to("POST", f"/{IG}/media")
    assert container.json == {"media_type": "REELS", "video_url": video, "share_to_feed": True, "caption": caption}
    assert container.headers["Authorization"] == "Bearer tok-ig"
    polls = [c for c in apis.calls if c.method == "GET" and c.path.startswith("/cont_")]
    assert len(polls) >= 2 and polls[0].query == {"fields": "status_code,status"}
    [container_id] = [cid for cid, box in apis.containers.items() if box["body"] == container.json]
    [publish] = apis.to("POST", f"/{IG}/media_publish")
    assert publish.json == {"creation_id": container_id} and apis.containers[container_id]["status"] == "PUBLISHED"
    # TikTok: creator_info → init with PULL_FROM_URL and an offered privacy level → status until complete.
    [info] = apis.to("POST", "/creator_info/query/")
    assert info.headers["Authorization"] == "Bearer tok-tt" and info.headers["Content-Type"].startswith(
        "application/json")
    [init] = apis.to("POST", "/video/init/")
    assert init.json == {"post_info": {"title": caption, "privacy_level": "PUBLIC_TO_EVERYONE",
                                       "disable_comment": False, "disable_duet": True, "disable_stitch": False},
                         "source_info": {"source": "PULL_FROM_URL", "video_url": video}}
    assert len(apis.to("POST", "/status/fetch/")) == 2
    # YouTube: resumable session with the metadata, then the bytes fetched from the media URL.
    [start] = apis.to("POST", "/upload/youtube/v3/videos")
    assert start.query == {"uploadType": "resumable", "part": "snippet,status"}
    assert start.headers["X-Upload-Content-Length"] == str(len(VIDEO_BYTES))
    assert start.headers["X-Upload-Content-Type"] == "video/mp4"
    assert start.json == {"snippet": {"title": "Bolo de pote de morango", "description": caption, "categoryId": "22",
                                      "tags": ["bolo", "confeitaria"]},
                          "status": {"privacyStatus": "public", "selfDeclaredMadeForKids": False}}
    [put] = apis.to("PUT", "")
    assert put.body == VIDEO_BYTES and put.headers["Content-Type"] == "video/mp4"

    by_platform = {s.platform: s for s in syncs}
    assert by_platform[Platform.INSTAGRAM].platform_post_id.startswith("1790")
    assert by_platform[Platform.TIKTOK].platform_post_id == "7300000000000000001"
    assert by_platform[Platform.YOUTUBE].platform_post_id.startswith("yt")
    post = await Post.get(id=view.id)
    assert post.published_at is not None and post.queued_at is None
    events = await stores.analytics.analytics.find({"event_type": "post_published"}).to_list(length=10)
    assert sorted(e["platform"] for e in events) == ["instagram", "tiktok", "youtube"]
    assert {e["data"]["post_id"] for e in events} == {str(view.id)} and events[0]["user_id"] == shop.user.id


async def _is(post_id, status: str) -> bool:
    return await _status(post_id) == status


async def test_a_500_from_one_platform_is_retried_and_then_succeeds(stores, apis, shop, roles) -> None:
    apis.fail("POST", f"/{PAGE}/feed", (500, {"error": {"message": "An unknown error occurred", "code": 1,
                                                        "is_transient": True}}))
    view = await create_post(shop.user, content="Hoje tem pão de queijo quentinho", options=shop.options,
                             accounts=[PAGE, "kwai:kwai-150009988776"], when="now", redis=stores.redis)
    await roles.publisher()
    await eventually(lambda: _is(view.id, "published"))

    feed = apis.to("POST", f"/{PAGE}/feed")
    assert len(feed) == 2 and all(c.json == {"message": "Hoje tem pão de queijo quentinho"} for c in feed)
    sync = await PostSync.get(post_id=view.id, platform="facebook")
    assert sync.status == "published" and sync.attempts == 2 and sync.platform_post_id == f"{PAGE}_2"
    assert sync.error_message is None and sync.committing_at is None
    assert len(apis.to("POST", "/kwai/callback")) == 1


async def test_two_schedulers_at_once_queue_and_publish_a_post_once(stores, apis, shop, roles, appended) -> None:
    view = await create_post(shop.user, content="Promoção de sábado", options=shop.options, accounts=[PAGE],
                             when=(datetime.now(UTC) + timedelta(milliseconds=300)).isoformat())
    await roles.scheduler()
    await roles.scheduler()
    await roles.publisher("pub-1")
    await roles.publisher("pub-2")
    await eventually(lambda: _is(view.id, "published"))
    await asyncio.sleep(0.5)  # room for a duplicate to show up, if there were one
    assert len(apis.to("POST", f"/{PAGE}/feed")) == 1
    assert len(appended) == 1 and await _stream_entries(stores) == 0
    assert (await Post.get(id=view.id)).publish_run == 1


async def test_concurrent_claims_take_each_due_post_exactly_once(stores, shop) -> None:
    created = [await create_post(shop.user, content=f"post {i}", options=shop.options, accounts=[PAGE],
                                 when=(datetime.now(UTC) + timedelta(seconds=1)).isoformat()) for i in range(30)]
    await Post.all().update(scheduled_for=datetime.now(UTC) - timedelta(minutes=5))  # all due
    claims = await asyncio.gather(*(enqueue_due(stores.redis, partitions=2, limit=7) for _ in range(6)))
    claims += [await enqueue_due(stores.redis, partitions=2, limit=100)]
    taken = [pid for batch in claims for pid in batch]
    assert sorted(taken) == sorted(v.id for v in created)  # every post once, none twice
    assert await _stream_entries(stores) == 30


async def test_a_scheduler_that_dies_between_claim_and_append_loses_nothing(stores, apis, shop, roles,
                                                                           appended) -> None:
    view = await create_post(shop.user, content="Fornada das 16h", options=shop.options, accounts=[PAGE],
                             when=(datetime.now(UTC) + timedelta(seconds=1)).isoformat())
    await Post.filter(id=view.id).update(scheduled_for=datetime.now(UTC) - timedelta(seconds=1))
    # The first scheduler claims the post (committed) and dies before appending the stream entry.
    rows = await Tortoise.get_connection("default").execute_query_dict(posts._CLAIM, [10, None])
    assert [r["id"] for r in rows] == [view.id] and await _stream_entries(stores) == 0
    assert (await posts.get_post(shop.user, str(view.id))).state == "publishing"
    # A new scheduler starts: it offers the queued post again, and the publisher publishes it once.
    await roles.scheduler()
    await roles.publisher()
    await eventually(lambda: _is(view.id, "published"))
    await asyncio.sleep(0.7)  # past posts_requeue_after: the periodic re-offer must not duplicate it
    assert len(apis.to("POST", f"/{PAGE}/feed")) == 1 and len(appended) == 1


async def test_posts_that_fell_due_while_no_scheduler_ran_are_all_published(stores, apis, shop, roles) -> None:
    views = [await create_post(shop.user, content=f"Oferta {i}", options=shop.options, accounts=[PAGE],
                               when=(datetime.now(UTC) + timedelta(minutes=10)).isoformat()) for i in range(3)]
    for i, view in enumerate(views):  # their times passed an hour ago, while Papo was down
        await Post.filter(id=view.id).update(scheduled_for=datetime.now(UTC) - timedelta(hours=1, minutes=i))
    await roles.scheduler()
    await roles.publisher()
    for view in views:
        await eventually(lambda v=view: _is(v.id, "published"))
    assert sorted(c.json["message"] for c in apis.to("POST", f"/{PAGE}/feed")) == ["Oferta 0", "Oferta 1", "Oferta 2"]
