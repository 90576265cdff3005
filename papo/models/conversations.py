"""`conversations` and `messages`."""

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from papo.enums import ConversationStatus, LeadQuality, MessageType, Platform, Sender
from papo.models.fields import SeedEnumField, created_at, flag, text_array, timestamp, updated_at, uuid_pk
from papo.models.users import ConnectedAccount, User


class Conversation(Model):
    """One customer's history with one connected account."""

    id = uuid_pk()
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="conversations", on_delete=fields.CASCADE, null=True
    )
    account: fields.ForeignKeyNullableRelation[ConnectedAccount] = fields.ForeignKeyField(
        "models.ConnectedAccount", related_name="conversations", on_delete=fields.CASCADE, null=True
    )
    platform_conversation_id = fields.CharField(max_length=255)
    remote_user_id = fields.CharField(max_length=255)
    remote_user_name = fields.CharField(max_length=255, null=True)
    remote_user_avatar = fields.TextField(null=True)
    platform = SeedEnumField(Platform)
    last_message_at = timestamp()
    status = SeedEnumField(ConversationStatus, null=True, default=ConversationStatus.ACTIVE)
    lead_quality = SeedEnumField(LeadQuality, null=True)
    tags = text_array()
    created_at = created_at()
    updated_at = updated_at()
    # migration 0012 (handoff): no automated reply while this is in the future; why it was paused.
    automation_paused_until = fields.DatetimeField(null=True)
    automation_paused_reason = fields.CharField(max_length=20, null=True)

    class Meta:
        table = "conversations"
        # One history per (account, customer): the inbound worker upserts on this (migration 0003).
        unique_together = (("account", "platform_conversation_id"),)
        indexes = (
            Index(fields=("user_id", "platform"), name="idx_user_platform"),
            Index(fields=("last_message_at",), name="idx_last_message"),
        )


class Message(Model):
    """A message in a conversation: `sender` 'remote' is the customer, 'user' the business."""

    id = uuid_pk()
    conversation: fields.ForeignKeyNullableRelation[Conversation] = fields.ForeignKeyField(
        "models.Conversation", related_name="messages", on_delete=fields.CASCADE, null=True
    )
    platform_message_id = fields.CharField(max_length=255, null=True)
    sender = SeedEnumField(Sender)
    message_text = fields.TextField(null=True)
    message_type = SeedEnumField(MessageType, null=True, default=MessageType.TEXT)
    media_url = fields.TextField(null=True)
    is_automated = flag(False)
    automation_rule_id = fields.UUIDField(null=True)
    created_at = created_at()
    # Added by migration 0003 (inbound): what the seed's columns cannot say.
    kind = fields.CharField(max_length=50, null=True)  # message, comment, story_reply, reaction, echo…
    detail_type = fields.CharField(max_length=50, null=True)  # location, sticker, interactive, document…
    media_id = fields.CharField(max_length=255, null=True)
    media_mime = fields.CharField(max_length=100, null=True)
    post_id = fields.CharField(max_length=255, null=True)  # the post/media a comment is on
    reply_to_id = fields.CharField(max_length=255, null=True)  # parent comment or replied-to message
    platform_timestamp = fields.DatetimeField(null=True)  # when the platform says it happened
    delivery_status = fields.CharField(max_length=20, null=True)  # sent, delivered, read, played, failed
    delivery_error = fields.TextField(null=True)
    delivery_updated_at = fields.DatetimeField(null=True)
    edited_at = fields.DatetimeField(null=True)
    deleted_at = fields.DatetimeField(null=True)
    metadata = fields.JSONField(null=True)  # story, referral, postback payload, reaction, location…
    # migration 0004 (outbound): the deterministic id of the reply Papo sent; one row per outbound request.
    outbound_id = fields.CharField(max_length=255, null=True, unique=True)  # migration 0004

    class Meta:
        table = "messages"
        indexes = (
            Index(fields=("conversation_id",), name="idx_conversation"),
            Index(fields=("created_at",), name="idx_created_at"),
        )


class Interaction(Model):
    """A like, follow or story view: lead activity that is not a message (migration 0003)."""

    id = uuid_pk()
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="interactions", on_delete=fields.CASCADE, null=True
    )
    account: fields.ForeignKeyNullableRelation[ConnectedAccount] = fields.ForeignKeyField(
        "models.ConnectedAccount", related_name="interactions", on_delete=fields.CASCADE, null=True
    )
    platform = SeedEnumField(Platform)
    kind = fields.CharField(max_length=50)
    remote_user_id = fields.CharField(max_length=255)
    remote_user_name = fields.CharField(max_length=255, null=True)
    target_id = fields.CharField(max_length=255, null=True)
    dedupe_key = fields.CharField(max_length=255, unique=True)
    occurred_at = timestamp()
    created_at = created_at()

    class Meta:
        table = "interactions"
        indexes = (Index(fields=("user_id", "occurred_at"), name="idx_interactions_user"),)
