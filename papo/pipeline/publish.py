"""The publisher: consumes the `posts` stream and publishes each post to each of its accounts, at most once.

Per entry `{post_id, run}` (queued by the scheduler, `publish now` or `retry`): the post's pending
`post_syncs` are published concurrently. Per sync: attempt (counted in PostgreSQL) → the platform's
publisher, which checkpoints its progress and marks the commit point (`committing_at`) right before the
request that creates the post → published (platform_post_id, published_at) or failed (error_message).
429/5xx are retried here with exponential backoff and jitter; permanent errors are recorded at once. A
marker older than `commit_stale` without an answer (a worker died) makes the next attempt "in doubt":
the publisher checks with the platform or refuses to post again. Media still processing on the platform
sends the post back to the scheduler (`recheck_at`) with its checkpoints kept.
When no sync is pending any more: an `analytics_logs` `post_published` event per success, the owner
alerted on failure (`papo.services.notify`, deduplicated per run), and the post `published` (every
platform succeeded) or `failed`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp

from papo import metrics
from papo.adapters.errors import UnknownPlatformError
from papo.adapters.media_fetch import MediaSource, RemoteMedia
from papo.adapters.publishers import (
    PublishContext,
    PublisherRegistry,
    PublishRequest,
    PublishResult,
    StillProcessing,
    default_publishers,
)
from papo.adapters.senders.errors import InDoubt, RateLimited, RetryableError, SendError
from papo.config import Settings
from papo.crypto import CryptoError, TokenCipher
from papo.enums import Platform, PostStatus, SyncStatus
from papo.pipeline.ratelimit import Bucket, Limit, RateLimiter, account_bucket
from papo.resilience import pause
from papo.runtime import Stores
from papo.services import NotFound, post_syncs
from papo.services import account_cache as accounts
from papo.services.accounts import accounts_by_id
from papo.services.media import media_source
from papo.services.notify import POST_FAILED, notify_owner
from papo.services.posts import content_of, posts_spec
from papo.streams.consumer import Entry, PartitionedConsumer, Retry

if TYPE_CHECKING:
    from papo.models import Post, PostSync

log = logging.getLogger(__name__)

OUTCOMES = metrics.Counter("papo_posts_published_total", "Post publications by platform and outcome.")

def window_limit(count: float, seconds: float) -> Limit:
    """A bucket that never lets more than `count` through in any `seconds` window (half burst, half rate)."""
    return Limit(count / (2 * seconds), max(1.0, count / 2))


@dataclasses.dataclass(frozen=True, slots=True)
class PublishSettings:
    """Publisher behaviour; each field `x` is read from the setting `posts_x` (PAPO_POSTS_X) when present."""

    partitions: int = 8
    max_attempts: int = 5
    retry_base: float = 2.0  # seconds before the 2nd attempt; doubles each time (with jitter)
    retry_max: float = 60.0
    poll_interval: float = 3.0  # Instagram container / TikTok status polling
    poll_timeout: float = 120.0  # then the post goes back to the scheduler and is checked again later
    commit_stale: float = 60.0  # a commit marker this old without an answer: its worker died
    recheck_after: float = 120.0  # at most this long before looking again at media still processing
    processing_max_hours: float = 24.0  # media still processing after this: failed
    concurrency: int = 8
    limiter_max_wait: float = 30.0
    instagram_per_day: float = 50.0  # content publishing limit (Meta's pages say 25, 50 or 100)
    tiktok_privacy: str = "PUBLIC_TO_EVERYONE"
    youtube_privacy: str = "public"
    youtube_category: str = "22"  # People & Blogs
    account_cache_ttl: int = 300
    instagram_base: str = "graph_api_url"
    graph_api_url: str = "https://graph.facebook.com/v23.0"
    instagram_api_url: str = "https://graph.instagram.com/v23.0"
    youtube_api_url: str = "https://www.googleapis.com"
    tiktok_api_url: str = "https://open.tiktokapis.com"

    @classmethod
    def from_settings(cls, settings: Settings) -> PublishSettings:
        """`posts_<field>` when defined, the shared base URLs and the stream partitions."""
        values: dict[str, Any] = {f.name: getattr(settings, f"posts_{f.name}") for f in dataclasses.fields(cls)
                                  if f"posts_{f.name}" in Settings.model_fields}
        for name in ("graph_api_url", "instagram_api_url", "youtube_api_url", "tiktok_api_url"):
            values[name] = settings.url(name)
        values.setdefault("partitions", settings.stream_partitions)
        values.setdefault("instagram_base", settings.outbound_instagram_base or "graph_api_url")
        values.setdefault("account_cache_ttl", settings.outbound_account_cache_ttl)
        return cls(**values)

    def limits(self) -> dict[tuple[Platform, str], Limit]:
        """The per-account limits publishers ask for by name (TikTok per token per minute, Instagram per day)."""
        return {
            (Platform.TIKTOK, "creator_info"): window_limit(20, 60),
            (Platform.TIKTOK, "init"): window_limit(6, 60),
            (Platform.TIKTOK, "status"): window_limit(30, 60),
            (Platform.INSTAGRAM, "publish"): window_limit(self.instagram_per_day, 86400),
        }


def base_url_for(settings: PublishSettings, platform: Platform, callback_url: str | None = None) -> str:
    """Where a platform's API lives (Kwai: the account's callback URL)."""
    match platform:
        case Platform.INSTAGRAM:
            use_ig = settings.instagram_base == "instagram_api_url"
            return settings.instagram_api_url if use_ig else settings.graph_api_url
        case Platform.YOUTUBE:
            return settings.youtube_api_url
        case Platform.TIKTOK:
            return settings.tiktok_api_url
        case Platform.KWAI:
            return callback_url or ""
        case _:
            return settings.graph_api_url


@dataclasses.dataclass(slots=True)
class _Recheck:
    after: float


class _CommitTaken(Exception):
    """Another worker set the commit marker between our read and our commit: it owns this attempt."""


class PostPublisher:
    """Handles batches of the posts stream (the PartitionedConsumer calls `handle`)."""

    def __init__(self, stores: Stores, settings: PublishSettings, *, session: aiohttp.ClientSession,
                 cipher: TokenCipher, publishers: PublisherRegistry | None = None, worker_id: str = "papo",
                 media: MediaSource | None = None, stop: asyncio.Event | None = None) -> None:
        self.stores = stores
        self.stop = stop  # set: no new attempt after a backoff (the entry stays pending for the next worker)
        self.redis = stores.redis
        self.settings = settings
        self.session = session
        self.cipher = cipher
        self.publishers = publishers or default_publishers()
        self.media = media or RemoteMedia()  # run_publisher passes media_source(settings)
        self.worker_id = worker_id
        self.spec = posts_spec(settings.partitions)
        self.limiter = RateLimiter(stores.redis)
        self._limits = settings.limits()
        self._slots = asyncio.Semaphore(max(1, settings.concurrency))

    async def handle(self, entries: list[Entry]) -> None:
        """Publish each post of the batch, one after the other (each post's accounts concurrently)."""
        for entry in entries:
            try:
                post_id, run = uuid.UUID(str(entry.data["post_id"])), int(entry.data["run"])
            except (KeyError, TypeError, ValueError):
                log.error("posts entry %s is not a post: %r", entry.id, entry.data)
                continue
            await self.process(post_id, run)

    async def process(self, post_id: uuid.UUID, run: int) -> str:
        """Take one run of a post as far as it goes; returns published | failed | recheck | busy | stale."""
        post = await post_syncs.post_by_id(post_id)
        if post is None or post.status != PostStatus.SCHEDULED or post.publish_run != run or post.queued_at is None:
            return "stale"  # finished, cancelled, or a newer run exists: nothing to do for this entry
        syncs = await post_syncs.pending_syncs(post.id)
        # Every account finishes (or stops) before an error is raised: none is left running on its own.
        outcomes = await asyncio.gather(*(self._guarded(post, sync) for sync in syncs), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        rechecks = [o.after for o in outcomes if isinstance(o, _Recheck)]
        if rechecks:
            when = datetime.now(UTC) + timedelta(seconds=min(rechecks))
            await post_syncs.recheck_later(post.id, run, when)
            log.info("post %s: media still processing; checking again at %s", post.id, when.isoformat())
            return "recheck"
        return await self._finish(post, run)

    async def _guarded(self, post: Post, sync: PostSync) -> str | _Recheck:
        async with self._slots:
            return await self.publish_sync(post, sync)

    # ------------------------------------------------------------ one post on one account

    async def publish_sync(self, post: Post, sync: PostSync) -> str | _Recheck:
        """Publish one (post, account) to a final state, or ask for a recheck later."""
        platform = Platform(sync.platform)
        try:
            profile = await accounts.load_account(self.redis, str(sync.account_id),
                                                  ttl=self.settings.account_cache_ttl)
            publisher = self.publishers.get_publisher(platform)
            token = profile.credential(self.cipher)
        except (NotFound, CryptoError, UnknownPlatformError) as exc:
            return await self._settle(sync, "failed", error=str(exc))
        body = content_of(post)
        request = PublishRequest(
            sync_id=str(sync.id), post_id=str(post.id), platform=platform,
            platform_account_id=profile.platform_account_id, content=body.content, caption=body.caption,
            title=body.title, hashtags=body.hashtags, media=body.media)
        forced_doubt = False
        while True:
            row = await post_syncs.current_sync(sync.id)
            if row.status != SyncStatus.PENDING:
                return str(row.status)
            in_doubt = forced_doubt
            if row.committing_at is not None and not forced_doubt:
                age = (datetime.now(UTC) - row.committing_at).total_seconds()
                if age < self.settings.commit_stale:  # another worker may be in that request right now
                    await asyncio.sleep(min(self.settings.commit_stale - age, self.settings.poll_interval) + 0.01)
                    continue
                in_doubt = True
            attempts = await self._attempt(sync.id)
            committed: list[bool] = []
            ctx = self._context(profile.id, platform, token, profile.callback_url, row.progress, in_doubt,
                                sync.id, committed, row.committing_at)
            try:
                result = await publisher.publish(request, ctx)
            except _CommitTaken:
                continue
            except StillProcessing as exc:
                return await self._still_processing(sync, ctx, exc)
            except InDoubt as exc:
                if in_doubt:  # the publisher cannot tell whether the post exists: the owner decides
                    return await self._settle(sync, "failed", error=exc.describe(), attempts=attempts)
                if committed:  # our own answer was lost after the commit point: ask the platform at once
                    forced_doubt = True
                    continue
                if await self._backoff(sync, attempts, exc):  # lost before the commit point: nothing created
                    continue
                return "failed"
            except RetryableError as exc:
                # 429/5xx: the platform says it did not happen. Publishers only commit on their last
                # creating request (or checkpoint what it returned), so clearing the marker cannot hide a post.
                await post_syncs.clear_commit_marker(sync.id)
                if await self._backoff(sync, attempts, exc):
                    continue
                return "failed"
            except (SendError, CryptoError, NotFound) as exc:
                error = exc.describe() if isinstance(exc, SendError) else str(exc)
                if isinstance(exc, SendError) and exc.account_problem:
                    await accounts.forget_account(self.redis, profile.id)
                    await accounts.report_account_problem(self.redis, profile.id, error, f"post:{sync.id}")
                return await self._settle(sync, "failed", error=error, attempts=attempts)
            return await self._settle(sync, "published", result=result, attempts=attempts)

    def _context(self, account_id: str, platform: Platform, token: str, callback_url: str | None,
                 progress: Any, in_doubt: bool, sync_id: uuid.UUID, committed: list[bool],
                 marker: datetime | None) -> PublishContext:
        s = self.settings

        async def checkpoint(values: dict[str, Any]) -> None:
            await post_syncs.save_progress(sync_id, values)

        async def mark_commit() -> None:
            # Compare-and-set on the marker this attempt started from: of two workers that both read it
            # (a partition changing owner), only one may go on to create the post.
            if not await post_syncs.take_commit_marker(sync_id, marker):
                raise _CommitTaken(str(sync_id))
            committed.append(True)

        async def throttle(name: str) -> None:
            limit = self._limits.get((platform, name))
            if limit is None:
                return
            bucket: Bucket = account_bucket(account_id, f"post:{name}", limit)
            try:
                await self.limiter.acquire([bucket], max_wait=s.limiter_max_wait)
            except TimeoutError as exc:
                raise RateLimited(f"{platform} allows only so many '{name}' calls: {exc}",
                                  retry_after=s.limiter_max_wait) from None

        return PublishContext(
            session=self.session, token=token, base_url=base_url_for(s, platform, callback_url),
            progress=dict(progress or {}), in_doubt=in_doubt, poll_interval=s.poll_interval,
            poll_timeout=s.poll_timeout, checkpoint=checkpoint, mark_commit=mark_commit, throttle=throttle,
            media=self.media,
            options={"tiktok_privacy": s.tiktok_privacy, "youtube_privacy": s.youtube_privacy,
                     "youtube_category": s.youtube_category})

    async def _attempt(self, sync_id: uuid.UUID) -> int:
        return await post_syncs.count_attempt(sync_id)

    async def _backoff(self, sync: PostSync, attempts: int, exc: SendError) -> bool:
        """Sleep before the next attempt (True), or record the failure after the last one (False)."""
        if attempts >= self.settings.max_attempts:
            await self._settle(sync, "failed", error=f"gave up after {attempts} attempts: {exc.describe()}",
                               attempts=attempts)
            return False
        delay = min(self.settings.retry_max, self.settings.retry_base * 2 ** (attempts - 1))
        delay = max(delay / 2 + random.uniform(0, delay / 2), min(exc.retry_after or 0.0, self.settings.retry_max))
        log.warning("post sync %s (%s): attempt %d of %d failed (%s); retrying in %.2fs", sync.id, sync.platform,
                    attempts, self.settings.max_attempts, exc.describe(), delay)
        OUTCOMES.inc(platform=str(sync.platform), outcome="retry")
        await pause(self.stop, delay)
        if self.stop is not None and self.stop.is_set():
            raise Retry(f"stopping: attempt {attempts + 1} of post sync {sync.id} is left to the next worker")
        return True

    async def _still_processing(self, sync: PostSync, ctx: PublishContext, exc: StillProcessing) -> str | _Recheck:
        since = ctx.progress.get("processing_since") or time.time()
        if time.time() - float(since) > self.settings.processing_max_hours * 3600:
            return await self._settle(sync, "failed", error=f"{exc.describe()} after "
                                      f"{self.settings.processing_max_hours:g} h; giving up")
        await ctx.save(processing_since=since)
        await post_syncs.clear_commit_marker(sync.id)  # the answer was recorded (checkpoint)
        return _Recheck(min(exc.check_after, self.settings.recheck_after))

    async def _settle(self, sync: PostSync, status: str, *, error: str | None = None,
                      result: PublishResult | None = None, attempts: int = 0) -> str:
        note = result.note if result is not None else error
        pid = result.platform_post_id if result is not None else None
        if await post_syncs.settle_sync(sync.id, status, pid, note):
            OUTCOMES.inc(platform=str(sync.platform), outcome=status)
            if status == "failed":
                log.warning("post sync %s (%s) failed after %d attempt(s): %s", sync.id, sync.platform, attempts,
                            error)
        return status

    # ------------------------------------------------------------ the post

    async def _finish(self, post: Post, run: int) -> str:
        """Analytics per success, the owner's alert on failure, then the post's final status (once)."""
        syncs = await post_syncs.syncs_of(post.id)
        if any(s.status == SyncStatus.PENDING for s in syncs):
            return "busy"  # another worker still holds one of them; it finishes the post
        for sync in syncs:
            if sync.status == SyncStatus.PUBLISHED and sync.logged_at is None:
                await self.stores.analytics.log_event(
                    user_id=post.user_id, event_type="post_published", platform=str(sync.platform),
                    data={"post_id": str(post.id), "post_sync_id": str(sync.id), "account_id": str(sync.account_id),
                          "platform_post_id": sync.platform_post_id, "attempts": sync.attempts, "title": post.title})
                await post_syncs.mark_logged(sync.id)
        ok = bool(syncs) and all(s.status == SyncStatus.PUBLISHED for s in syncs)
        outcome = "published" if ok else "failed"
        if not ok:
            names = {a.id: f"{a.platform}:{a.platform_account_id}"
                     for a in await accounts_by_id([s.account_id for s in syncs])}
            errors = {names.get(s.account_id, str(s.platform)): s.error_message or "failed"
                      for s in syncs if s.status != SyncStatus.PUBLISHED}
            summary = "; ".join(f"{k}: {v}" for k, v in errors.items()) or "no connected account left to publish to"
            await notify_owner(self.redis, post.user_id, POST_FAILED, {
                "post_id": str(post.id), "title": post.title, "text": (post.content or "")[:200], "error": summary,
                "errors": errors, "published": [str(s.platform) for s in syncs if s.status == SyncStatus.PUBLISHED],
            }, dedupe_key=f"post_failed:{post.id}:{run}")
        if await post_syncs.finish_post(post.id, run, outcome):
            log.info("post %s %s (%d account(s))", post.id, outcome, len(syncs))
        return outcome


def publish_consumer(stores: Stores, publisher: PostPublisher, *, worker_id: str, lease_ms: int = 1_500,
                     max_deliveries: int = 5, block_ms: int = 500) -> PartitionedConsumer:
    """The consumer `papo worker` runs for the posts stream (small batches: a post can take minutes)."""
    return PartitionedConsumer(stores.redis, publisher.spec, publisher.handle, worker_id=worker_id, batch=4,
                               lease_ms=lease_ms, max_deliveries=max_deliveries, drain_timeout=30.0,
                               block_ms=block_ms)


async def run_publisher(stores: Stores, settings: Settings, stop: asyncio.Event, session: aiohttp.ClientSession,
                        cipher: TokenCipher, worker_id: str) -> None:
    """Publish until `stop` is set (what `papo worker` adds to its roles)."""
    publisher = PostPublisher(stores, PublishSettings.from_settings(settings), session=session, cipher=cipher,
                              worker_id=worker_id, media=media_source(settings), stop=stop)
    consumer = publish_consumer(stores, publisher, worker_id=worker_id,
                                lease_ms=settings.worker_lease_ms,
                                max_deliveries=settings.worker_max_deliveries,
                                block_ms=settings.posts_block_ms)
    await consumer.run(stop)
    log.info("publisher %s stopped", worker_id)
