"""The `post_syncs` (one row per post and account) and posts queries of the worker's publishing and
engagement stages.

Compare-and-set statements: a row settles once, the post finishes once or goes back to the scheduler
only for its own publish run, a commit marker is taken by one worker; the engagement stage keeps each
row's numbers and sums them onto the post.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from tortoise import Tortoise

from papo.enums import SyncStatus
from papo.models import Post, PostSync

_SETTLE = """
UPDATE post_syncs SET status = $2::varchar, platform_post_id = COALESCE($3::varchar, platform_post_id),
    error_message = $4::text, committing_at = NULL,
    published_at = CASE WHEN $2::varchar = 'published' THEN now() ELSE published_at END
WHERE id = $1 AND status = 'pending' RETURNING id
"""
_FINALIZE = """
UPDATE posts SET status = $3::varchar, queued_at = NULL,
    published_at = CASE WHEN $3::varchar = 'published' THEN now() ELSE NULL END
WHERE id = $1 AND publish_run = $2 AND status = 'scheduled'
  AND NOT EXISTS (SELECT 1 FROM post_syncs WHERE post_id = $1 AND status = 'pending')
RETURNING id
"""
_DUE_FOR_METRICS = """
SELECT id, post_id, account_id, platform, platform_post_id FROM post_syncs
WHERE status = 'published' AND platform_post_id IS NOT NULL AND platform = ANY($1::text[])
  AND published_at >= now() - $2 * interval '1 day'
  AND (metrics_updated_at IS NULL OR metrics_updated_at <= now() - $3 * interval '1 second')
ORDER BY metrics_updated_at NULLS FIRST, published_at DESC
LIMIT $4
"""
_SUM_METRICS = """
UPDATE posts p SET engagement_count = s.engagement, views_count = s.views
FROM (SELECT post_id, COALESCE(SUM(engagement_count), 0) AS engagement, COALESCE(SUM(views_count), 0) AS views
      FROM post_syncs WHERE post_id = ANY($1::uuid[]) AND status = 'published' GROUP BY post_id) s
WHERE p.id = s.post_id
"""


def _conn() -> Any:
    return Tortoise.get_connection("default")


# ------------------------------------------------------------ publishing

async def post_by_id(post_id: uuid.UUID) -> Post | None:
    """The post, read afresh (whatever its status); None when it was deleted."""
    return await Post.get_or_none(id=post_id)


async def pending_syncs(post_id: uuid.UUID) -> list[PostSync]:
    """The post's rows still to publish, oldest first."""
    return await PostSync.filter(post_id=post_id, status=SyncStatus.PENDING).order_by("created_at")


async def syncs_of(post_id: uuid.UUID) -> list[PostSync]:
    """Every row of the post, whatever its status, oldest first."""
    return await PostSync.filter(post_id=post_id).order_by("created_at")


async def current_sync(sync_id: uuid.UUID) -> PostSync:
    """The row as it is now (another worker may have moved it on); DoesNotExist when it is gone."""
    return await PostSync.get(id=sync_id)


async def recheck_later(post_id: uuid.UUID, run: int, at: datetime) -> None:
    """Send publish run `run` back to the scheduler, to be queued again at `at` (no-op for a newer run)."""
    await Post.filter(id=post_id, publish_run=run).update(queued_at=None, recheck_at=at)


async def clear_commit_marker(sync_id: uuid.UUID) -> None:
    """Drop the row's commit marker: the platform's answer is known (or said nothing was created)."""
    await PostSync.filter(id=sync_id).update(committing_at=None)


async def mark_logged(sync_id: uuid.UUID) -> None:
    """The row's `post_published` analytics event was written (it is not written again)."""
    await PostSync.filter(id=sync_id).update(logged_at=datetime.now(UTC))


async def save_progress(sync_id: uuid.UUID, values: dict[str, Any]) -> None:
    """Merge a publisher's checkpoint into the row's `progress` (what a later attempt resumes from)."""
    await _conn().execute_query(
        "UPDATE post_syncs SET progress = COALESCE(progress, '{}'::jsonb) || $2::jsonb WHERE id = $1",
        [sync_id, json.dumps(values, default=str)])


async def take_commit_marker(sync_id: uuid.UUID, marker: datetime | None) -> bool:
    """Set `committing_at` if it is still `marker` (what this attempt read); False when another worker did."""
    rows = await _conn().execute_query_dict(
        "UPDATE post_syncs SET committing_at = now() WHERE id = $1 AND status = 'pending' "
        "AND committing_at IS NOT DISTINCT FROM $2 RETURNING id", [sync_id, marker])
    return bool(rows)


async def count_attempt(sync_id: uuid.UUID) -> int:
    """One more attempt on the row; the attempt's number."""
    rows = await _conn().execute_query_dict(
        "UPDATE post_syncs SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts", [sync_id])
    return int(rows[0]["attempts"])


async def settle_sync(sync_id: uuid.UUID, status: str, platform_post_id: str | None, note: str | None) -> bool:
    """Move a pending row to its final status; False when it was settled already."""
    return bool(await _conn().execute_query_dict(_SETTLE, [sync_id, status, platform_post_id, note]))


async def finish_post(post_id: uuid.UUID, run: int, outcome: str) -> bool:
    """The post's final status for publish run `run`, once none of its rows is pending; False otherwise."""
    return bool(await _conn().execute_query_dict(_FINALIZE, [post_id, run, outcome]))


# ------------------------------------------------------------ engagement

async def due_for_metrics(platforms: Sequence[str], *, days: float, min_age: float, limit: int) -> list[dict[str, Any]]:
    """Published rows of the last `days` days whose numbers are older than `min_age` seconds, oldest first."""
    return await _conn().execute_query_dict(_DUE_FOR_METRICS, [list(platforms), days, min_age, limit])


async def note_metrics_unread(sync_id: uuid.UUID, at: datetime) -> None:
    """The platform had no numbers for the row now: try again after `min_age`, not every round."""
    await _conn().execute_query("UPDATE post_syncs SET metrics_updated_at = $2 WHERE id = $1", [sync_id, at])


async def save_metrics(sync_id: uuid.UUID, engagement: int, views: int | None, at: datetime) -> None:
    """The row's fresh numbers (views kept when the platform gave none)."""
    await _conn().execute_query(
        "UPDATE post_syncs SET engagement_count = $2, views_count = COALESCE($3, views_count), "
        "metrics_updated_at = $4 WHERE id = $1", [sync_id, engagement, views, at])


async def sum_post_metrics(post_ids: Collection[uuid.UUID]) -> None:
    """Each post's numbers: the sums of its published rows'."""
    await _conn().execute_query(_SUM_METRICS, [list(post_ids)])
