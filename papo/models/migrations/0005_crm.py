"""One CRM lead per (business user, platform, customer): the pipeline upserts leads on this key."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint


class Migration(migrations.Migration):
    dependencies = [("models", "0004_outbound")]

    initial = False

    operations = [
        ops.AddConstraint(
            model_name="Lead",
            constraint=UniqueConstraint(fields=("user", "platform", "remote_user_id"), name=None),
        ),
    ]
