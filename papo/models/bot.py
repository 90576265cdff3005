"""The admin bot's tables: linked Telegram accounts, one-time link codes, owner settings (migration 0007)."""

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from papo.models.fields import created_at, updated_at, uuid_pk
from papo.models.users import User


class TelegramLink(Model):
    """A Telegram account allowed to run a business from the admin bot; a business may link several."""

    id = uuid_pk()
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="telegram_links", on_delete=fields.CASCADE
    )
    # Unique per business (migration 0016): an account runs one business, except a consultancy's accounts,
    # which are linked to each client too and show the one selected last (`selected_at`).
    telegram_user_id = fields.BigIntField()
    chat_id = fields.BigIntField()
    username = fields.CharField(max_length=255, null=True)
    display_name = fields.CharField(max_length=255, null=True)
    created_at = created_at()
    last_seen_at = fields.DatetimeField(null=True)
    # Set when Telegram says the account blocked the bot: alerts skip it until it writes again.
    blocked_at = fields.DatetimeField(null=True)
    selected_at = fields.DatetimeField(null=True)  # migration 0016: the business the account looks at
    # migration 0016: the consultancy this link was made for (`papo admin link --client-of`); None = own.
    client_of: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="client_links", on_delete=fields.CASCADE, null=True)

    class Meta:
        table = "telegram_links"
        unique_together = (("telegram_user_id", "user"),)
        indexes = (Index(fields=("user_id",), name="idx_telegram_links_user"),)


class TelegramLinkCode(Model):
    """A one-time code (stored hashed) that links the Telegram account sending `/start CODE`."""

    id = uuid_pk()
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="telegram_link_codes", on_delete=fields.CASCADE
    )
    code_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    used_by = fields.BigIntField(null=True)  # the Telegram user id that used it
    created_at = created_at()
    # migration 0016: a code for a consultancy's Telegram accounts, linking them to this client business.
    client_of: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="client_link_codes", on_delete=fields.CASCADE, null=True)

    class Meta:
        table = "telegram_link_codes"


class OwnerSettings(Model):
    """A business owner's bot preferences: language, time zone, alert switches, quiet hours."""

    id = uuid_pk()
    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name="owner_settings", on_delete=fields.CASCADE
    )
    language = fields.CharField(max_length=10, default="pt-BR")
    timezone = fields.CharField(max_length=64, null=True)  # None: PAPO_TIMEZONE
    alerts = fields.JSONField(default=dict)  # alert kind -> false to switch it off; absent = on
    quiet_start = fields.CharField(max_length=5, null=True)  # "HH:MM" in the owner's time zone
    quiet_end = fields.CharField(max_length=5, null=True)
    # migration 0012: opening hours [{"days": [0..6], "start": "HH:MM", "end": "HH:MM"}], holidays
    # ["2026-12-25", …] and the away text sent outside them (papo/services/hours.py).
    business_hours = fields.JSONField(null=True)
    holidays = fields.JSONField(null=True)
    away_text = fields.TextField(null=True)
    created_at = created_at()
    updated_at = updated_at()

    class Meta:
        table = "owner_settings"
