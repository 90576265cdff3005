from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from papo.enums import Platform
from papo.models.fields import SeedEnumField
from tortoise.fields.base import OnDelete
from tortoise.fields.db_defaults import SqlDefault
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0002_updated_at_triggers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Interaction',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True, db_default=SqlDefault('gen_random_uuid()'))),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='interactions', on_delete=OnDelete.CASCADE)),
                ('account', fields.ForeignKeyField('models.ConnectedAccount', source_field='account_id', null=True, db_constraint=True, to_field='id', related_name='interactions', on_delete=OnDelete.CASCADE)),
                ('platform', SeedEnumField(description='', enum_type=Platform)),
                ('kind', fields.CharField(max_length=50)),
                ('remote_user_id', fields.CharField(max_length=255)),
                ('remote_user_name', fields.CharField(null=True, max_length=255)),
                ('target_id', fields.CharField(null=True, max_length=255)),
                ('dedupe_key', fields.CharField(unique=True, max_length=255)),
                ('occurred_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(null=True, db_default=SqlDefault('now()'), auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'interactions', 'app': 'models', 'indexes': [Index(fields=['user_id', 'occurred_at'], name='idx_interactions_user')], 'pk_attr': 'id', 'table_description': 'A like, follow or story view: lead activity that is not a message (migration 0003).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='ConnectedAccount',
            name='webhook_secret',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddConstraint(
            model_name='Conversation',
            constraint=UniqueConstraint(fields=('account', 'platform_conversation_id'), name=None),
        ),
        ops.AddField(
            model_name='Message',
            name='deleted_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Message',
            name='delivery_error',
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name='Message',
            name='delivery_status',
            field=fields.CharField(null=True, max_length=20),
        ),
        ops.AddField(
            model_name='Message',
            name='delivery_updated_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Message',
            name='detail_type',
            field=fields.CharField(null=True, max_length=50),
        ),
        ops.AddField(
            model_name='Message',
            name='edited_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Message',
            name='kind',
            field=fields.CharField(null=True, max_length=50),
        ),
        ops.AddField(
            model_name='Message',
            name='media_id',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='Message',
            name='media_mime',
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddField(
            model_name='Message',
            name='metadata',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Message',
            name='platform_timestamp',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Message',
            name='post_id',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='Message',
            name='reply_to_id',
            field=fields.CharField(null=True, max_length=255),
        ),
    ]

# A message is stored once per conversation even when a webhook is delivered twice; Papo's own sends
# (no platform id yet) stay possible, hence the partial index.
Migration.operations.append(
    ops.RunSQL(
        "CREATE UNIQUE INDEX uniq_messages_platform_id ON messages (conversation_id, platform_message_id) "
        "WHERE platform_message_id IS NOT NULL",
        reverse_sql="DROP INDEX IF EXISTS uniq_messages_platform_id",
    )
)
Migration.operations.append(
    ops.RunSQL(
        "CREATE INDEX idx_messages_platform_id ON messages (platform_message_id) "
        "WHERE platform_message_id IS NOT NULL",
        reverse_sql="DROP INDEX IF EXISTS idx_messages_platform_id",
    )
)
