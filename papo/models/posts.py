"""`posts` and `post_syncs`."""

from tortoise import fields
from tortoise.fields.db_defaults import SqlDefault
from tortoise.indexes import Index
from tortoise.models import Model

from papo.enums import Platform, PostStatus, SyncStatus
from papo.models.fields import SeedEnumField, count, created_at, text_array, timestamp, updated_at, uuid_pk
from papo.models.users import ConnectedAccount, User


class Post(Model):
    """A post the owner writes once and publishes to several platforms."""

    id = uuid_pk()
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="posts", on_delete=fields.CASCADE, null=True
    )
    account: fields.ForeignKeyNullableRelation[ConnectedAccount] = fields.ForeignKeyField(
        "models.ConnectedAccount", related_name="posts", on_delete=fields.SET_NULL, null=True
    )
    title = fields.CharField(max_length=255, null=True)
    content = fields.TextField()
    media_urls = text_array()
    hashtags = text_array()
    status = SeedEnumField(PostStatus, null=True, default=PostStatus.DRAFT)
    published_at = timestamp()
    scheduled_for = timestamp()
    engagement_count = count()
    views_count = count()
    created_at = created_at()
    updated_at = updated_at()
    # migration 0006: publishing state (see papo/services/POSTS.md). The seed's status stays the contract:
    # a post being published is still 'scheduled', with `queued_at` set for its current run.
    timezone = fields.CharField(max_length=64, null=True)  # migration 0006: the zone the time was entered in
    media_types = text_array()  # migration 0006: 'image' | 'video' for each media_urls item
    publish_run = fields.IntField(default=0, db_default=SqlDefault("0"))  # migration 0006: +1 per queueing
    queued_at = timestamp()  # migration 0006: when the current run was queued (NULL: waiting for its time)
    recheck_at = timestamp()  # migration 0006: look again then (a platform still processing the media)

    class Meta:
        table = "posts"
        indexes = (
            Index(fields=("user_id", "status"), name="idx_user_status"),
            Index(fields=("scheduled_for",), name="idx_scheduled_for"),
        )


class PostSync(Model):
    """A post's publication on one connected account."""

    id = uuid_pk()
    post: fields.ForeignKeyNullableRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="syncs", on_delete=fields.CASCADE, null=True
    )
    account: fields.ForeignKeyNullableRelation[ConnectedAccount] = fields.ForeignKeyField(
        "models.ConnectedAccount", related_name="post_syncs", on_delete=fields.CASCADE, null=True
    )
    platform_post_id = fields.CharField(max_length=255, null=True)
    platform = SeedEnumField(Platform)
    status = SeedEnumField(SyncStatus, null=True, default=SyncStatus.PENDING)
    error_message = fields.TextField(null=True)
    published_at = timestamp()
    created_at = created_at()
    # migration 0006: publishing progress, so a restart resumes instead of publishing twice.
    attempts = fields.IntField(default=0, db_default=SqlDefault("0"))  # migration 0006
    progress = fields.JSONField(null=True)  # migration 0006: checkpoints (container id, publish_id, upload URL…)
    committing_at = timestamp()  # migration 0006: set just before the call that creates the post on the platform
    logged_at = timestamp()  # migration 0006: the analytics_logs post_published event was written
    engagement_count = count()  # migration 0006: this platform's share of posts.engagement_count
    views_count = count()  # migration 0006
    metrics_updated_at = timestamp()  # migration 0006

    class Meta:
        table = "post_syncs"
        unique_together = (("post", "account"),)
