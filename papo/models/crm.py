"""`crm_leads`."""

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from papo.enums import LeadQuality, LeadStatus, Platform
from papo.models.fields import SeedEnumField, created_at, text_array, timestamp, updated_at, uuid_pk
from papo.models.users import User


class Lead(Model):
    """A customer as a sales lead of one business, per platform identity."""

    id = uuid_pk()
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="leads", on_delete=fields.CASCADE, null=True
    )
    remote_user_id = fields.CharField(max_length=255)
    remote_user_name = fields.CharField(max_length=255, null=True)
    platform = SeedEnumField(Platform)
    email = fields.CharField(max_length=255, null=True)
    phone = fields.CharField(max_length=20, null=True)
    quality = SeedEnumField(LeadQuality, null=True, default=LeadQuality.COLD)
    status = SeedEnumField(LeadStatus, null=True, default=LeadStatus.NEW)
    tags = text_array()
    last_interaction = timestamp()
    next_followup = timestamp()
    metadata = fields.JSONField(null=True)
    created_at = created_at()
    updated_at = updated_at()

    class Meta:
        table = "crm_leads"
        # One lead per customer identity of a business: the pipeline upserts on it (migration 0005).
        unique_together = (("user", "platform", "remote_user_id"),)
        indexes = (
            Index(fields=("user_id", "quality"), name="idx_user_quality"),
            Index(fields=("next_followup",), name="idx_next_followup"),
        )
