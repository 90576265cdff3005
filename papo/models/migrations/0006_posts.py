"""Posts (issue 7): publishing state on `posts` and resumable progress and metrics on `post_syncs`.

The seed columns stay the contract; these only add what scheduling exactly once and publishing at most
once per (post, account) need (papo/services/POSTS.md).
"""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.contrib.postgres.fields import ArrayField
from tortoise.fields.db_defaults import SqlDefault
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0005_crm")]

    initial = False

    operations = [
        # posts: the owner's time zone, each media item's type, and the publishing run.
        ops.AddField(
            model_name="Post",
            name="timezone",
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name="Post",
            name="media_types",
            field=ArrayField(null=True, default=list, db_default=SqlDefault("ARRAY[]::TEXT[]"), element_type="TEXT"),
        ),
        # +1 each time the post is queued; the stream entry carries it, so a stale entry is recognised.
        ops.AddField(
            model_name="Post",
            name="publish_run",
            field=fields.IntField(default=0, db_default=SqlDefault("0")),
        ),
        ops.AddField(
            model_name="Post",
            name="queued_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="Post",
            name="recheck_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        # post_syncs: attempts, checkpoints and the "about to create it on the platform" marker.
        ops.AddField(
            model_name="PostSync",
            name="attempts",
            field=fields.IntField(default=0, db_default=SqlDefault("0")),
        ),
        ops.AddField(
            model_name="PostSync",
            name="progress",
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads),
        ),
        ops.AddField(
            model_name="PostSync",
            name="committing_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="PostSync",
            name="logged_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        # post_syncs: each platform's share of posts.engagement_count / views_count.
        ops.AddField(
            model_name="PostSync",
            name="engagement_count",
            field=fields.IntField(null=True, default=0, db_default=SqlDefault("0")),
        ),
        ops.AddField(
            model_name="PostSync",
            name="views_count",
            field=fields.IntField(null=True, default=0, db_default=SqlDefault("0")),
        ),
        ops.AddField(
            model_name="PostSync",
            name="metrics_updated_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
