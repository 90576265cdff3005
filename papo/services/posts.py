"""Posts: drafts, the accounts a post goes to, scheduling in the owner's time zone, publish now, cancel,
reschedule, retry the failed platforms only — and queueing due posts exactly once (papo/services/POSTS.md).

A post's accounts are its `post_syncs` rows (one per (post, account), unique): `posts.account_id` only
keeps the first chosen account, for display. The seed's `posts.status` is the contract: a post being
published is still `scheduled`, with `queued_at` set for its current `publish_run`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from tortoise import Tortoise
from tortoise.transactions import in_transaction

from papo.enums import Platform, PostStatus, SyncStatus
from papo.models import ConnectedAccount, Post, PostSync
from papo.services import NotFound, ServiceError, plans
from papo.services.ids import resolve_id
from papo.services.media import allow_hosts, own_base
from papo.services.post_rules import INSTAGRAM_HASHTAGS, Media, PostContent, normalize_hashtags, parse_media, validate
from papo.services.post_views import PostView, SyncView, post_view, post_views
from papo.services.templates import UserRef, user_id
from papo.streams.producer import Item, Producer
from papo.streams.spec import StreamSpec
from papo.timezones import DEFAULT_TIMEZONE, known_zone

if TYPE_CHECKING:
    from papo.config import Settings

POSTS_STREAM = "posts"
PAST_TOLERANCE = timedelta(seconds=60)  # "10:00" typed at 10:00:30 still means now, not an error
NOW = "now"

# Claims due posts: several schedulers skip each other's locked rows, so each post is taken by one.
_CLAIM = """
UPDATE posts SET queued_at = now(), publish_run = publish_run + 1, recheck_at = NULL
WHERE id IN (
    SELECT id FROM posts
    WHERE status = 'scheduled' AND queued_at IS NULL AND COALESCE(recheck_at, scheduled_for) <= now()
      AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))
    ORDER BY COALESCE(recheck_at, scheduled_for)
    LIMIT $1
    FOR UPDATE SKIP LOCKED)
RETURNING id, publish_run, scheduled_for
"""
_QUEUED = """
SELECT id, publish_run, scheduled_for FROM posts
WHERE status = 'scheduled' AND queued_at IS NOT NULL AND queued_at <= now() - $1 * interval '1 second'
ORDER BY queued_at LIMIT $2
"""
_NEXT_DUE = """
SELECT EXTRACT(EPOCH FROM (MIN(COALESCE(recheck_at, scheduled_for)) - now())) AS seconds FROM posts
WHERE status = 'scheduled' AND queued_at IS NULL
"""
# Not started = nothing queued and no platform touched yet: only then may a post change or be cancelled.
_NOT_STARTED = """queued_at IS NULL AND recheck_at IS NULL AND NOT EXISTS (
    SELECT 1 FROM post_syncs s WHERE s.post_id = posts.id AND (s.attempts > 0 OR s.status <> 'pending'))"""


@dataclass(frozen=True, slots=True)
class PostOptions:
    """Settings the post use-cases need; read from Settings with their defaults."""

    partitions: int = 8
    timezone: str = DEFAULT_TIMEZONE
    instagram_max_hashtags: int = INSTAGRAM_HASHTAGS
    media_base: str | None = None  # PAPO_PUBLIC_URL/media: Papo's own uploads, accepted even on a local address
    media_allow_hosts: frozenset[str] = frozenset()  # PAPO_MEDIA_FETCH_ALLOW_HOSTS (tests, development)

    @classmethod
    def from_settings(cls, settings: Settings) -> PostOptions:
        """`stream_partitions`, `timezone`, `posts_instagram_max_hashtags`, the media base and allowed hosts."""
        return cls(partitions=settings.stream_partitions,
                   timezone=settings.timezone,
                   instagram_max_hashtags=settings.posts_instagram_max_hashtags,
                   media_base=own_base(settings), media_allow_hosts=allow_hosts(settings))

    def parse_media(self, values: Sequence[str]) -> tuple[Media, ...]:
        """The post's media from URLs, refusing local hosts (post_rules.parse_media)."""
        return parse_media(values, own_base=self.media_base, allow_hosts=self.media_allow_hosts)


def posts_spec(partitions: int) -> StreamSpec:
    """The publish stream, partitioned by post id."""
    return StreamSpec(POSTS_STREAM, partitions)


# ------------------------------------------------------------------ time


def zone(name: str) -> ZoneInfo:
    """An IANA time zone, or a clear error."""
    found = known_zone(name.strip())
    if found is None:
        raise ServiceError(f"unknown time zone {name!r} (use an IANA name such as {DEFAULT_TIMEZONE})")
    return found


def parse_when(value: str | datetime, timezone: str, *, now: datetime | None = None) -> datetime:
    """A publication time in UTC: an aware ISO-8601 value as is, a naive one read in `timezone`.

    Refuses local times that do not exist (a daylight-saving gap) and times already past.
    """
    tz = zone(timezone)
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ServiceError(f"{value!r} is not an ISO-8601 date-time (e.g. 2026-12-01T10:00 or "
                               "2026-12-01T10:00:00-03:00)") from None
    if moment.tzinfo is None:
        local = moment.replace(tzinfo=tz)
        if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != moment:
            raise ServiceError(f"{moment:%Y-%m-%d %H:%M} does not exist in {timezone} (the clocks skip it)")
        moment = local
    utc = moment.astimezone(UTC)
    current = now or datetime.now(UTC)
    if utc < current - PAST_TOLERANCE:
        shown = utc.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        raise ServiceError(f"{shown} ({timezone}) is in the past; choose a later time or publish now")
    return utc


# ------------------------------------------------------------------ lookups


async def resolve_accounts(user: UserRef, refs: Sequence[str]) -> list[ConnectedAccount]:
    """The user's connected accounts named by Papo's id or the platform's id ('platform:id' when ambiguous)."""
    uid = user_id(user)
    accounts = await ConnectedAccount.filter(user_id=uid).order_by("platform", "platform_account_id")
    found: list[ConnectedAccount] = []
    for raw in refs:
        ref = raw.strip()
        if not ref:
            continue
        platform, _, plain = ref.partition(":") if ":" in ref else ("", "", ref)
        matches = [a for a in accounts if str(a.id) == ref or (
            a.platform_account_id == plain and (not platform or str(a.platform) == platform.lower()))]
        if not matches:
            known = ", ".join(f"{a.platform}:{a.platform_account_id} ({a.id})" for a in accounts) or "none yet"
            raise NotFound(f"no connected account {ref!r} for this business (connected: {known})")
        if len(matches) > 1:
            options = ", ".join(f"{a.platform}:{a.platform_account_id}" for a in matches)
            raise ServiceError(f"{ref!r} matches several accounts ({options}): write platform:id")
        account = matches[0]
        if getattr(account, "status", "connected") not in (None, "connected"):
            raise ServiceError(f"account {account.platform}:{account.platform_account_id} is disconnected; "
                               "connect it again first")
        if account not in found:
            found.append(account)
    return found


async def find_post(user: UserRef, ref: str | uuid.UUID) -> Post:
    """The user's post by id or by a unique prefix of at least 6 characters of it."""
    uid = user_id(user)
    post = await Post.get_or_none(id=await resolve_id("posts", ref, user_id=uid, what="post"), user_id=uid)
    if post is None:
        raise NotFound(f"no post {ref!r} for this business")
    return post


def content_of(post: Post) -> PostContent:
    """What validation checks, from a stored post."""
    types = list(post.media_types or [])
    media = tuple(Media(url, types[i] if i < len(types) else "image") for i, url in enumerate(post.media_urls or []))
    return PostContent(content=post.content, title=post.title, hashtags=tuple(post.hashtags or ()), media=media)


async def _platforms(post: Post, *, only_failed: bool = False) -> list[Platform]:
    query = PostSync.filter(post_id=post.id)
    if only_failed:
        query = query.filter(status=SyncStatus.FAILED)
    return [Platform(s.platform) for s in await query.order_by("created_at")]


# ------------------------------------------------------------------ use-cases


def _scheduling(post: Post) -> AbstractAsyncContextManager[None]:
    """A draft that becomes scheduled counts against the plan's posts a month; moving a scheduled one does not."""
    return _counted(post.user_id, post.status == PostStatus.DRAFT)


@asynccontextmanager
async def _counted(uid: uuid.UUID, counted: bool) -> AsyncIterator[None]:
    """Count one scheduled post (QuotaExceeded at the plan's limit) and give it back if the change fails."""
    if counted:
        await plans.check_quota(uid, plans.SCHEDULED_POSTS)
    try:
        yield
    except BaseException:
        if counted:
            await plans.give_back(uid, plans.SCHEDULED_POSTS)
        raise


async def create_post(
    user: UserRef, *, content: str, options: PostOptions, title: str | None = None, media: Sequence[str] = (),
    hashtags: Sequence[str] = (), accounts: Sequence[str] = (), when: str | datetime | None = None,
    timezone: str | None = None, redis: aioredis.Redis | None = None,
) -> PostView:
    """Create a post: a draft (`when` None), scheduled (`when` a time) or queued now (`when` "now").

    Nothing is stored when a chosen platform cannot take the post (the error names each one).
    """
    uid = user_id(user)
    tz = (timezone or options.timezone).strip()
    zone(tz)
    body = PostContent(content=content.strip(), title=(title or "").strip() or None,
                       hashtags=normalize_hashtags(hashtags), media=options.parse_media(media))
    if title and len(title) > 255:
        raise ServiceError("the title is longer than 255 characters")
    chosen = await resolve_accounts(uid, accounts)
    publish_now = isinstance(when, str) and when.strip().lower() == NOW
    scheduled_for = None
    if when is not None:
        scheduled_for = datetime.now(UTC) if publish_now else parse_when(when, tz)
        validate(body, [Platform(a.platform) for a in chosen], instagram_max_hashtags=options.instagram_max_hashtags)
    elif not body.content and not body.media:
        raise ServiceError("a post needs some text or media")
    async with _counted(uid, when is not None), in_transaction():
        post = await Post.create(
            user_id=uid, account_id=chosen[0].id if chosen else None, title=body.title, content=body.content,
            media_urls=[m.url for m in body.media], media_types=[m.type for m in body.media],
            hashtags=list(body.hashtags), timezone=tz, scheduled_for=scheduled_for,
            status=PostStatus.DRAFT if when is None else PostStatus.SCHEDULED)
        for account in chosen:
            await PostSync.create(post_id=post.id, account_id=account.id, platform=account.platform)
    if publish_now and redis is not None:
        await enqueue_due(redis, partitions=options.partitions, post_ids=[post.id])
    return await post_view(post)


async def set_accounts(user: UserRef, ref: str, accounts: Sequence[str]) -> PostView:
    """Choose the accounts a post goes to (replaces the previous choice) while nothing is published yet."""
    post = await find_post(user, ref)
    chosen = await resolve_accounts(post.user_id, accounts)
    async with in_transaction() as conn:
        rows = await conn.execute_query_dict(
            f"SELECT id FROM posts WHERE id = $1 AND status IN ('draft', 'scheduled') AND {_NOT_STARTED} "
            "FOR UPDATE", [post.id])
        if not rows:
            raise ServiceError("this post is already being published or done: its accounts cannot change")
        keep = {a.id for a in chosen}
        await PostSync.filter(post_id=post.id).exclude(account_id__in=list(keep)).delete()
        have = {s.account_id for s in await PostSync.filter(post_id=post.id)}
        for account in chosen:
            if account.id not in have:
                await PostSync.create(post_id=post.id, account_id=account.id, platform=account.platform)
        await Post.filter(id=post.id).update(account_id=chosen[0].id if chosen else None)
    return await post_view(await find_post(post.user_id, post.id))


async def schedule_post(user: UserRef, ref: str, when: str | datetime, *, options: PostOptions,
                        timezone: str | None = None) -> PostView:
    """Schedule a draft or move a scheduled post (reschedule), after checking every platform takes it."""
    post = await find_post(user, ref)
    tz = (timezone or post.timezone or options.timezone).strip()
    moment = parse_when(when, tz)
    validate(content_of(post), await _platforms(post), instagram_max_hashtags=options.instagram_max_hashtags)
    conn = Tortoise.get_connection("default")
    async with _scheduling(post):
        rows = await conn.execute_query_dict(
            f"UPDATE posts SET status = 'scheduled', scheduled_for = $2, timezone = $3 WHERE id = $1 "
            f"AND status IN ('draft', 'scheduled') AND {_NOT_STARTED} RETURNING id", [post.id, moment, tz])
        if not rows:
            raise ServiceError(f"post {post.id} is {await _state(post.id)}: it can no longer be (re)scheduled")
    return await post_view(await find_post(post.user_id, post.id))


reschedule_post = schedule_post


async def publish_now(redis: aioredis.Redis, user: UserRef, ref: str, *, options: PostOptions) -> PostView:
    """Check every platform takes the post, then queue it for the publisher at once."""
    post = await find_post(user, ref)
    validate(content_of(post), await _platforms(post), instagram_max_hashtags=options.instagram_max_hashtags)
    conn = Tortoise.get_connection("default")
    async with _scheduling(post):
        rows = await conn.execute_query_dict(
            f"UPDATE posts SET status = 'scheduled', scheduled_for = now() WHERE id = $1 "
            f"AND status IN ('draft', 'scheduled') AND {_NOT_STARTED} RETURNING id", [post.id])
        if not rows:
            raise ServiceError(f"post {post.id} is {await _state(post.id)}: it cannot be published again "
                               "(retry publishes only the platforms that failed)")
    await enqueue_due(redis, partitions=options.partitions, post_ids=[post.id])
    return await post_view(await find_post(post.user_id, post.id))


async def cancel_post(user: UserRef, ref: str) -> PostView:
    """Take a scheduled post off the schedule (it becomes a draft again) before publishing starts."""
    post = await find_post(user, ref)
    conn = Tortoise.get_connection("default")
    rows = await conn.execute_query_dict(
        f"UPDATE posts SET status = 'draft', scheduled_for = NULL WHERE id = $1 AND status = 'scheduled' "
        f"AND {_NOT_STARTED} RETURNING id", [post.id])
    if not rows:
        state = await _state(post.id)
        hint = "; nothing to cancel" if state in ("draft", "published", "failed") else ""
        raise ServiceError(f"post {post.id} is {state}: it cannot be cancelled{hint}")
    await plans.give_back(post.user_id, plans.SCHEDULED_POSTS)  # a draft again: it counts when rescheduled
    return await post_view(await find_post(post.user_id, post.id))


async def retry_failed(redis: aioredis.Redis, user: UserRef, ref: str, *, options: PostOptions) -> PostView:
    """Publish again to the platforms that failed only (those that succeeded are never touched)."""
    post = await find_post(user, ref)
    if post.status != PostStatus.FAILED:
        raise ServiceError(f"post {post.id} is {await _state(post.id)}: only a failed post can be retried")
    validate(content_of(post), await _platforms(post, only_failed=True),
             instagram_max_hashtags=options.instagram_max_hashtags)
    async with in_transaction() as conn:
        rows = await conn.execute_query_dict(
            "UPDATE posts SET status = 'scheduled', queued_at = NULL, recheck_at = NULL, published_at = NULL "
            "WHERE id = $1 AND status = 'failed' RETURNING id", [post.id])
        if not rows:
            raise ServiceError(f"post {post.id} changed meanwhile: it is {await _state(post.id)}")
        await conn.execute_query(
            "UPDATE post_syncs SET status = 'pending', error_message = NULL, attempts = 0, progress = NULL, "
            "committing_at = NULL WHERE post_id = $1 AND status = 'failed'", [post.id])
    await enqueue_due(redis, partitions=options.partitions, post_ids=[post.id])
    return await post_view(await find_post(post.user_id, post.id))


async def list_posts(user: UserRef, *, status: str | None = None, limit: int = 50) -> list[PostView]:
    """The user's posts, newest first; `status` filters by draft/scheduled/published/failed."""
    query = Post.filter(user_id=user_id(user))
    if status:
        try:
            query = query.filter(status=PostStatus(status.strip().lower()))
        except ValueError:
            allowed = ", ".join(s.value for s in PostStatus)
            raise ServiceError(f"status {status!r} is not one of: {allowed}") from None
    return await post_views(await query.order_by("-created_at").limit(max(1, min(limit, 500))))


async def get_post(user: UserRef, ref: str) -> PostView:
    """One post with its per-platform results."""
    return await post_view(await find_post(user, ref))


async def watch_results(user: UserRef, ref: str, *, within: float,
                        interval: float = 0.5) -> AsyncIterator[SyncView]:
    """Each account's result of a post as it settles (published or failed), in the order they settle,
    until no account is pending or `within` seconds have passed (the post keeps publishing after that)."""
    post = await find_post(user, ref)
    deadline = time.monotonic() + within
    seen: set[uuid.UUID] = set()
    while True:
        syncs = (await post_view(post)).syncs
        for sync in syncs:
            if sync.status != SyncStatus.PENDING and sync.id not in seen:
                seen.add(sync.id)
                yield sync
        left = deadline - time.monotonic()
        if left <= 0 or all(s.status != SyncStatus.PENDING for s in syncs):
            return
        await asyncio.sleep(min(interval, left))


async def _state(post_id: uuid.UUID) -> str:
    return (await post_view(await Post.get(id=post_id))).state


# ------------------------------------------------------------------ queueing (scheduler, publish now, retry)


def entry_item(post_id: uuid.UUID | str, run: int, scheduled_for: datetime | None) -> Item:
    """The stream item of one run of a post; its dedupe key makes enqueueing it twice harmless."""
    stamp = int(scheduled_for.timestamp()) if scheduled_for else 0
    return Item(str(post_id), {"post_id": str(post_id), "run": int(run), "scheduled_for": stamp},
                dedupe_key=f"post:{post_id}:{run}:{stamp}")


async def enqueue_due(redis: aioredis.Redis, *, partitions: int, limit: int = 100,
                      post_ids: Sequence[uuid.UUID] | None = None) -> list[uuid.UUID]:
    """Claim due posts (each by exactly one caller, even with several schedulers) and queue them.

    The claim commits first; a crash before the append is healed by `requeue_queued`, which offers the
    same entry again — its dedupe key drops it when it did reach the stream.
    """
    conn = Tortoise.get_connection("default")
    rows = await conn.execute_query_dict(_CLAIM, [limit, list(post_ids) if post_ids is not None else None])
    if rows:
        await Producer(redis, posts_spec(partitions)).append_many(
            [entry_item(r["id"], r["publish_run"], r["scheduled_for"]) for r in rows])
    return [r["id"] for r in rows]


async def requeue_queued(redis: aioredis.Redis, *, partitions: int, older_than: float, limit: int = 500) -> int:
    """Offer again the entries of posts queued `older_than` seconds ago and not finished; returns how many
    were really missing from the stream (lost between the claim and the append)."""
    conn = Tortoise.get_connection("default")
    rows = await conn.execute_query_dict(_QUEUED, [older_than, limit])
    if not rows:
        return 0
    added = await Producer(redis, posts_spec(partitions)).append_many(
        [entry_item(r["id"], r["publish_run"], r["scheduled_for"]) for r in rows])
    return sum(1 for entry in added if entry is not None)


async def seconds_to_next_due() -> float | None:
    """Seconds until the next post falls due (<= 0: due now), None when nothing waits."""
    rows = await Tortoise.get_connection("default").execute_query_dict(_NEXT_DUE)
    value = rows[0]["seconds"] if rows else None
    return float(value) if value is not None else None
