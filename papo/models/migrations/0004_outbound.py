"""Outbound (issue 5): the id of each reply Papo sends, and a custom channel's callback URL."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0003_inbound")]

    initial = False

    operations = [
        # Where a custom channel (Kwai) receives Papo's replies; signed with the account's webhook_secret.
        ops.AddField(
            model_name="ConnectedAccount",
            name="callback_url",
            field=fields.TextField(null=True, unique=False),
        ),
        # The deterministic outbound id of a reply Papo sent (or tried to): one row per request, so a
        # redelivered request updates its row instead of adding a second one.
        ops.AddField(
            model_name="Message",
            name="outbound_id",
            field=fields.CharField(null=True, unique=True, max_length=255),
        ),
    ]
