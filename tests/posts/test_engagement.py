"""The engagement job: per-platform insights summed into posts.engagement_count / views_count, within budget."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from papo.constants import ENGAGEMENT_LOCK
from papo.crypto import TokenCipher
from papo.models import Post, PostSync
from papo.pipeline.engagement import EngagementSettings, refresh_round, run_engagement
from papo.services.posts import create_post
from tests.conftest import TEST_SECRET
from tests.posts.conftest import IG, PAGE, TT, YT


async def _published(shop, accounts: list[str], ids: dict[str, str]) -> Post:
    view = await create_post(shop.user, content="Bolo", options=shop.options, accounts=accounts)
    await Post.filter(id=view.id).update(status="published", published_at=datetime.now(UTC))
    for sync in await PostSync.filter(post_id=view.id):
        await PostSync.filter(id=sync.id).update(status="published", published_at=datetime.now(UTC),
                                                 platform_post_id=ids[str(sync.platform)])
    return await Post.get(id=view.id)


async def test_a_round_reads_each_platform_and_sums_per_post(stores, apis, shop, local, http) -> None:
    post = await _published(shop, [IG, PAGE, TT, f"youtube:{YT}", "kwai:kwai-150009988776"], {
        "instagram": "17900000001", "facebook": f"{PAGE}_77", "tiktok": "7300000000000000001",
        "youtube": "ytVIDEO0001", "kwai": "kw_post_1"})
    count = await refresh_round(stores, local, EngagementSettings(), http, TokenCipher(TEST_SECRET))
    assert count == 4  # Kwai has no insights API

    numbers = {str(s.platform): (s.engagement_count, s.views_count) for s in await PostSync.filter(post_id=post.id)}
    assert numbers == {"instagram": (25, 300), "facebook": (15, 90), "tiktok": (7, 800), "youtube": (9, 120),
                       "kwai": (0, 0)}
    post = await Post.get(id=post.id)
    assert (post.engagement_count, post.views_count) == (56, 1310)
    [insights] = [c for c in apis.calls if c.path == "/17900000001/insights"]
    assert insights.query == {"metric": "views,total_interactions"}
    [fb] = [c for c in apis.calls if c.path == f"/{PAGE}_77"]
    assert "reactions.summary(total_count)" in fb.query["fields"] and "post_media_view" in fb.query["fields"]
    [yt] = [c for c in apis.calls if c.path == "/youtube/v3/videos"]
    assert yt.query["part"] == "statistics" and yt.query["id"] == "ytVIDEO0001"
    [tt] = [c for c in apis.calls if c.path == "/v2/video/query/"]
    assert tt.json == {"filters": {"video_ids": ["7300000000000000001"]}}

    # Fresh numbers are not asked for again before min_age.
    before = len(apis.calls)
    assert await refresh_round(stores, local, EngagementSettings(), http, TokenCipher(TEST_SECRET)) == 0
    assert len(apis.calls) == before


async def test_the_hourly_budget_per_account_holds_back_extra_calls(stores, apis, shop, local, http) -> None:
    for i in range(3):
        await _published(shop, [IG], {"instagram": f"1790000000{i}"})
    budget = EngagementSettings(calls_per_hour=2)
    assert await refresh_round(stores, local, budget, http, TokenCipher(TEST_SECRET)) == 2  # 2 calls of 3 needed
    assert len([c for c in apis.calls if c.path.endswith("/insights")]) == 2
    assert await refresh_round(stores, local, budget, http, TokenCipher(TEST_SECRET)) == 0  # budget spent
    assert len([c for c in apis.calls if c.path.endswith("/insights")]) == 2
    assert await PostSync.filter(metrics_updated_at=None).count() == 1  # waits for the next hour's tokens


async def test_old_posts_are_left_alone_and_one_worker_runs_a_round(stores, apis, shop, local, http) -> None:
    post = await _published(shop, [PAGE], {"facebook": f"{PAGE}_1"})
    await PostSync.filter(post_id=post.id).update(published_at=datetime.now(UTC) - timedelta(days=40))
    assert await refresh_round(stores, local, EngagementSettings(), http, TokenCipher(TEST_SECRET)) == 0
    await PostSync.filter(post_id=post.id).update(published_at=datetime.now(UTC))
    await stores.redis.set(ENGAGEMENT_LOCK, "another-worker", ex=60)  # another worker has this round
    stop = asyncio.Event()
    task = asyncio.create_task(run_engagement(stores, local, stop, http, TokenCipher(TEST_SECRET), "me"))
    await asyncio.sleep(0.3)
    stop.set()
    await task
    assert (await PostSync.get(post_id=post.id)).metrics_updated_at is None


async def test_rounds_while_redis_is_down_log_one_line_not_a_traceback_each(stores, settings, caplog) -> None:
    import dataclasses
    import logging

    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from papo.stack.process import free_ports

    (dead,) = free_ports(1)  # nothing listens there: Redis "down"
    down = dataclasses.replace(stores, redis=aioredis.Redis(port=dead, retry=Retry(NoBackoff(), 0)))
    local = settings.model_copy(update={"posts_engagement_interval": 0.1})
    caplog.set_level(logging.WARNING)
    stop = asyncio.Event()
    task = asyncio.create_task(run_engagement(down, local, stop, None, TokenCipher(TEST_SECRET), "w1"))
    await asyncio.sleep(1.5)  # a dozen rounds
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    await down.redis.aclose()
    lines = [r.getMessage() for r in caplog.records if r.name == "papo.pipeline.engagement"]
    assert len(lines) == 1 and lines[0].startswith("engagement round: Redis unreachable (ConnectionError"), lines
    assert "Traceback" not in caplog.text
