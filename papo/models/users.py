"""`users` and `connected_accounts`."""

from tortoise import fields
from tortoise.models import Model

from papo.enums import Plan, Platform
from papo.models.fields import SeedEnumField, created_at, flag, timestamp, updated_at, uuid_pk


class User(Model):
    """A business owner using Papo."""

    id = uuid_pk()
    email = fields.CharField(max_length=255, unique=True)
    name = fields.CharField(max_length=255)
    password_hash = fields.CharField(max_length=255, null=True)
    avatar_url = fields.TextField(null=True)
    plan = SeedEnumField(Plan, null=True, default=Plan.FREE)
    identity_verified = flag(False)
    created_at = created_at()
    updated_at = updated_at()

    class Meta:
        table = "users"


class ConnectedAccount(Model):
    """A platform account (Page, IG account, WhatsApp number, channel…) a user connected.

    `access_token` and `refresh_token` hold ciphertext (see papo.crypto), never the token itself.
    """

    id = uuid_pk()
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="accounts", on_delete=fields.CASCADE, null=True
    )
    platform = SeedEnumField(Platform)
    platform_account_id = fields.CharField(max_length=255)
    access_token = fields.TextField()
    refresh_token = fields.TextField(null=True)
    token_expires_at = timestamp()
    business_name = fields.CharField(max_length=255, null=True)
    business_avatar = fields.TextField(null=True)
    is_verified = flag(False)
    connected_at = created_at()
    updated_at = updated_at()
    # Added by migration 0003: the signing secret of a custom channel (Kwai), encrypted like tokens.
    webhook_secret = fields.TextField(null=True)
    # migration 0004: where a custom channel (Kwai) receives Papo's replies, signed with webhook_secret.
    callback_url = fields.TextField(null=True)  # migration 0004

    class Meta:
        table = "connected_accounts"
        unique_together = (("user", "platform", "platform_account_id"),)
