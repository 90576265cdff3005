"""Engagement: refresh `engagement_count` and `views_count` of published posts from each platform's insights.

One worker per round (a Redis lock that lasts the interval, so many workers still make one round per
interval). A round reads the published `post_syncs` of the last `days` days whose numbers are older than
`min_age`, oldest first, asks each account's publisher in as few requests as the API allows (YouTube 50
videos per call, TikTok 20), and spends a per-account hourly budget of insight calls (a Redis token bucket,
well under Meta's 200 calls per user per hour) — an account over budget waits for the next round. Each
sync keeps its own numbers; the post's are their sums. Kwai has no insights API and is skipped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp

from papo.adapters.errors import UnknownPlatformError
from papo.adapters.publishers import MetricsContext, PublisherRegistry, default_publishers
from papo.adapters.senders.errors import SendError
from papo.constants import ENGAGEMENT_LOCK
from papo.crypto import CryptoError, TokenCipher
from papo.enums import Platform
from papo.pipeline.publish import PublishSettings, base_url_for
from papo.pipeline.ratelimit import Limit, RateLimiter, account_bucket
from papo.resilience import every
from papo.runtime import Stores
from papo.services import NotFound, post_syncs
from papo.services import account_cache as accounts

if TYPE_CHECKING:
    from papo.config import Settings

log = logging.getLogger(__name__)

INSIGHT_PLATFORMS = (Platform.INSTAGRAM, Platform.FACEBOOK, Platform.TIKTOK, Platform.YOUTUBE)
PER_REQUEST = {Platform.YOUTUBE: 50, Platform.TIKTOK: 20}  # ids per call; Graph reads one post per call

@dataclasses.dataclass(frozen=True, slots=True)
class EngagementSettings:
    """Each field `x` is read from the setting `posts_engagement_x` when present."""

    interval: float = 900.0  # seconds between rounds (across all workers)
    min_age: float = 3600.0  # refresh one post at most this often
    days: float = 30.0  # only posts published in the last `days`
    batch: int = 200  # syncs per round
    calls_per_hour: float = 60.0  # insight requests per account per hour

    @classmethod
    def from_settings(cls, settings: Settings) -> EngagementSettings:
        """`posts_engagement_<field>` when defined."""
        return cls(**{f.name: getattr(settings, f"posts_engagement_{f.name}") for f in dataclasses.fields(cls)})


async def refresh_round(stores: Stores, publish_settings: PublishSettings | Settings, settings: EngagementSettings,
                        session: aiohttp.ClientSession, cipher: TokenCipher,
                        publishers: PublisherRegistry | None = None) -> int:
    """One round: returns how many syncs got fresh numbers."""
    base = publish_settings if isinstance(publish_settings, PublishSettings) else \
        PublishSettings.from_settings(publish_settings)
    registry = publishers or default_publishers()
    rows = await post_syncs.due_for_metrics([str(p) for p in INSIGHT_PLATFORMS], days=settings.days,
                                            min_age=settings.min_age, limit=settings.batch)
    by_account: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_account[row["account_id"]].append(row)
    limiter = RateLimiter(stores.redis)
    refreshed = 0
    touched: set[uuid.UUID] = set()
    for account_id, syncs in by_account.items():
        platform = Platform(syncs[0]["platform"])
        per_call = PER_REQUEST.get(platform, 1)
        budget = max(1, int(settings.calls_per_hour))
        syncs = syncs[:budget * per_call]  # never more calls than an hour's budget in one round
        calls = math.ceil(len(syncs) / per_call)
        bucket = account_bucket(str(account_id), "insights", Limit.per_hour(budget))
        if await limiter.try_acquire([bucket], cost=calls) > 0:
            log.info("engagement: account %s is over its insights budget; next round", account_id)
            continue
        try:
            profile = await accounts.load_account(stores.redis, str(account_id), ttl=base.account_cache_ttl)
            ctx = MetricsContext(session=session, token=profile.credential(cipher),
                                 base_url=base_url_for(base, platform), platform_account_id=profile.platform_account_id)
            found = await registry.get_publisher(platform).fetch_metrics([s["platform_post_id"] for s in syncs], ctx)
        except (SendError, NotFound, CryptoError, UnknownPlatformError) as exc:
            error = exc.describe() if isinstance(exc, SendError) else str(exc)
            log.warning("engagement: account %s (%s): %s", account_id, platform, error)
            found = {}
        now = datetime.now(UTC)
        for sync in syncs:
            numbers = found.get(sync["platform_post_id"])
            if numbers is None:  # not readable now: try again after min_age, not every round
                await post_syncs.note_metrics_unread(sync["id"], now)
                continue
            await post_syncs.save_metrics(sync["id"], numbers.engagement, numbers.views, now)
            refreshed += 1
            touched.add(sync["post_id"])
    if touched:
        await post_syncs.sum_post_metrics(touched)
    return refreshed


async def run_engagement(stores: Stores, settings: Settings, stop: asyncio.Event, session: aiohttp.ClientSession,
                         cipher: TokenCipher, worker_id: str) -> None:
    """Refresh engagement every `posts_engagement_interval` seconds until `stop` (one worker per round).

    A round that fails because a store is down is logged once per outage (`every`), a bug at every round.
    """
    config = EngagementSettings.from_settings(settings)

    async def round_() -> None:
        if await stores.redis.set(ENGAGEMENT_LOCK, worker_id, nx=True, ex=max(1, int(config.interval))):
            count = await refresh_round(stores, settings, config, session, cipher)
            if count:
                log.info("engagement: refreshed %d post publication(s)", count)

    await every("engagement round", round_, stop, min(config.interval, 60.0), log)
