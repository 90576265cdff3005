"""`users` and `connected_accounts`."""

from tortoise import fields
from tortoise.fields.db_defaults import SqlDefault
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
    # migration 0008: the Meta business verification status identity_verified follows ("verified",
    # "pending", "not_verified"…; None = never readable) and when Papo last read it.
    meta_business_verification = fields.CharField(max_length=50, null=True)  # migration 0008
    identity_checked_at = fields.DatetimeField(null=True)  # migration 0008

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
    # migration 0008 (account lifecycle): connected | disconnected. A disconnected account keeps its row
    # and history; its tokens are wiped (see papo.services.connect.WIPED_TOKEN).
    status = fields.CharField(  # migration 0008
        max_length=20, default="connected", db_default=SqlDefault("'connected'"))
    disconnected_at = fields.DatetimeField(null=True)  # migration 0008
    disconnected_reason = fields.TextField(null=True)  # migration 0008
    # migration 0008: platform ids around the account (waba_id, page_id, meta_user_id, open_id, scopes…).
    details = fields.JSONField(null=True)  # migration 0008
    # migration 0008: webhook subscription: subscribed | pending | failed | app | unsubscribed | none.
    subscription_state = fields.CharField(max_length=20, null=True)  # migration 0008
    subscription_error = fields.TextField(null=True)  # migration 0008
    subscription_checked_at = fields.DatetimeField(null=True)  # migration 0008
    subscription_expires_at = fields.DatetimeField(null=True)  # migration 0008 (YouTube hub lease)

    class Meta:
        table = "connected_accounts"
        unique_together = (("user", "platform", "platform_account_id"),)
