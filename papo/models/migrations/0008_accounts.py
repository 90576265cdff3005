"""Account connections (issue 8): lifecycle of connected accounts, their webhook subscriptions, and the
owner's Meta business verification status."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.db_defaults import SqlDefault
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0007_bot")]

    initial = False

    operations = [
        # connected | disconnected. Existing rows were all usable: they start connected.
        ops.AddField(
            model_name="ConnectedAccount",
            name="status",
            field=fields.CharField(default="connected", db_default=SqlDefault("'connected'"), max_length=20),
        ),
        ops.AddField(
            model_name="ConnectedAccount",
            name="disconnected_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="ConnectedAccount",
            name="disconnected_reason",
            field=fields.TextField(null=True, unique=False),
        ),
        # Platform ids around the account: waba_id, page_id, meta_user_id, business_id, scopes…
        ops.AddField(
            model_name="ConnectedAccount",
            name="details",
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads),
        ),
        # Webhook subscription: state, last error, last check, and the YouTube hub lease's expiry.
        ops.AddField(
            model_name="ConnectedAccount",
            name="subscription_state",
            field=fields.CharField(null=True, max_length=20),
        ),
        ops.AddField(
            model_name="ConnectedAccount",
            name="subscription_error",
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name="ConnectedAccount",
            name="subscription_checked_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="ConnectedAccount",
            name="subscription_expires_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        # What users.identity_verified follows: the owner's Meta business verification status.
        ops.AddField(
            model_name="User",
            name="meta_business_verification",
            field=fields.CharField(null=True, max_length=50),
        ),
        ops.AddField(
            model_name="User",
            name="identity_checked_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
