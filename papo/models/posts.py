"""`posts` and `post_syncs`."""

from tortoise import fields
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

    class Meta:
        table = "post_syncs"
        unique_together = (("post", "account"),)
