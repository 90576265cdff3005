"""The admin bot (issue 6): linked Telegram accounts, one-time link codes, owner settings."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise.fields.db_defaults import SqlDefault
from uuid import uuid4
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("models", "0006_posts")]

    initial = False

    operations = [
        ops.CreateModel(
            name='OwnerSettings',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True, db_default=SqlDefault('gen_random_uuid()'))),
                ('user', fields.OneToOneField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='owner_settings', on_delete=OnDelete.CASCADE)),
                ('language', fields.CharField(default='pt-BR', max_length=10)),
                ('timezone', fields.CharField(null=True, max_length=64)),
                ('alerts', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('quiet_start', fields.CharField(null=True, max_length=5)),
                ('quiet_end', fields.CharField(null=True, max_length=5)),
                ('created_at', fields.DatetimeField(null=True, db_default=SqlDefault('now()'), auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(null=True, db_default=SqlDefault('now()'), auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'owner_settings', 'app': 'models', 'pk_attr': 'id', 'table_description': "A business owner's bot preferences: language, time zone, alert switches, quiet hours."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TelegramLink',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True, db_default=SqlDefault('gen_random_uuid()'))),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='telegram_links', on_delete=OnDelete.CASCADE)),
                ('telegram_user_id', fields.BigIntField(unique=True)),
                ('chat_id', fields.BigIntField()),
                ('username', fields.CharField(null=True, max_length=255)),
                ('display_name', fields.CharField(null=True, max_length=255)),
                ('created_at', fields.DatetimeField(null=True, db_default=SqlDefault('now()'), auto_now=False, auto_now_add=True)),
                ('last_seen_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('blocked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'telegram_links', 'app': 'models', 'indexes': [Index(fields=['user_id'], name='idx_telegram_links_user')], 'pk_attr': 'id', 'table_description': 'A Telegram account allowed to run a business from the admin bot; a business may link several.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TelegramLinkCode',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True, db_default=SqlDefault('gen_random_uuid()'))),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='telegram_link_codes', on_delete=OnDelete.CASCADE)),
                ('code_hash', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('used_by', fields.BigIntField(null=True)),
                ('created_at', fields.DatetimeField(null=True, db_default=SqlDefault('now()'), auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'telegram_link_codes', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A one-time code (stored hashed) that links the Telegram account sending `/start CODE`.'},
            bases=['Model'],
        ),
    ]
