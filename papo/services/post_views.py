"""Read models of posts for the CLI and the admin bot: a post with its per-platform results."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from papo.models import ConnectedAccount, Post, PostSync


@dataclass(frozen=True, slots=True)
class SyncView:
    """The post on one account: pending → published | failed, with the platform's id or the error."""

    id: uuid.UUID
    account_id: uuid.UUID | None
    platform: str
    platform_account_id: str | None
    account_name: str | None
    status: str
    platform_post_id: str | None
    error_message: str | None
    published_at: datetime | None
    attempts: int
    engagement_count: int
    views_count: int


@dataclass(frozen=True, slots=True)
class PostView:
    """A post as the owner sees it. `state` adds "publishing" to the seed's statuses (queued or in progress)."""

    id: uuid.UUID
    user_id: uuid.UUID
    title: str | None
    content: str
    media_urls: tuple[str, ...]
    media_types: tuple[str, ...]
    hashtags: tuple[str, ...]
    status: str
    state: str
    scheduled_for: datetime | None
    timezone: str | None
    published_at: datetime | None
    engagement_count: int
    views_count: int
    created_at: datetime | None
    syncs: tuple[SyncView, ...]

    def local(self, moment: datetime | None) -> str | None:
        """A time in the post's time zone, e.g. '2026-12-01 10:00 (America/Sao_Paulo)'."""
        if moment is None:
            return None
        tz = self.timezone or "UTC"
        return f"{moment.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} ({tz})"

    @property
    def errors(self) -> dict[str, str]:
        """Per-platform errors of the failed platforms ("instagram:1784…" -> message)."""
        return {f"{s.platform}:{s.platform_account_id}": s.error_message or "failed"
                for s in self.syncs if s.status == "failed"}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (ids and times as strings), with the scheduled time also in the owner's zone."""
        def plain(value: Any) -> Any:
            if isinstance(value, uuid.UUID):
                return str(value)
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        data = plain(asdict(self))
        data["scheduled_local"] = self.local(self.scheduled_for)
        return data


def _state(post: Post, syncs: Sequence[PostSync]) -> str:
    status = str(post.status)
    if status == "scheduled" and (post.queued_at or post.recheck_at or any(
            s.attempts or str(s.status) != "pending" for s in syncs)):
        return "publishing"
    return status


def _sync_view(sync: PostSync, account: ConnectedAccount | None) -> SyncView:
    return SyncView(
        id=sync.id, account_id=sync.account_id, platform=str(sync.platform),
        platform_account_id=account.platform_account_id if account else None,
        account_name=account.business_name if account else None, status=str(sync.status),
        platform_post_id=sync.platform_post_id, error_message=sync.error_message, published_at=sync.published_at,
        attempts=sync.attempts or 0, engagement_count=sync.engagement_count or 0, views_count=sync.views_count or 0)


async def post_views(posts: Sequence[Post]) -> list[PostView]:
    """Views of several posts with two queries (syncs, accounts), in the order given."""
    ids = [p.id for p in posts]
    syncs = await PostSync.filter(post_id__in=ids).order_by("created_at", "platform") if ids else []
    account_ids = {s.account_id for s in syncs if s.account_id}
    accounts = {a.id: a for a in await ConnectedAccount.filter(id__in=list(account_ids))} if account_ids else {}
    by_post: dict[uuid.UUID, list[PostSync]] = {}
    for sync in syncs:
        by_post.setdefault(sync.post_id, []).append(sync)
    out = []
    for post in posts:
        mine = by_post.get(post.id, [])
        out.append(PostView(
            id=post.id, user_id=post.user_id, title=post.title, content=post.content,
            media_urls=tuple(post.media_urls or ()), media_types=tuple(post.media_types or ()),
            hashtags=tuple(post.hashtags or ()), status=str(post.status), state=_state(post, mine),
            scheduled_for=post.scheduled_for, timezone=post.timezone, published_at=post.published_at,
            engagement_count=post.engagement_count or 0, views_count=post.views_count or 0,
            created_at=post.created_at,
            syncs=tuple(_sync_view(s, accounts.get(s.account_id)) for s in mine)))
    return out


async def post_view(post: Post) -> PostView:
    """The view of one post."""
    return (await post_views([post]))[0]
