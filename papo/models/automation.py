"""`automation_rules` and `message_templates`."""

from tortoise import fields
from tortoise.models import Model

from papo.enums import Action, Platform, RulePlatform, Trigger
from papo.models.fields import SeedEnumField, created_at, flag, text_array, updated_at, uuid_pk
from papo.models.users import User


class AutomationRule(Model):
    """An owner's rule: when `trigger` happens on `platform` and `condition` holds, do `action`."""

    id = uuid_pk()
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="rules", on_delete=fields.CASCADE, null=True
    )
    name = fields.CharField(max_length=255)
    trigger = SeedEnumField(Trigger)
    platform = SeedEnumField(RulePlatform)
    condition = fields.JSONField(null=True)
    action = SeedEnumField(Action)
    action_data = fields.JSONField(null=True)
    is_active = flag(True)
    created_at = created_at()
    updated_at = updated_at()

    class Meta:
        table = "automation_rules"


class MessageTemplate(Model):
    """A reusable message; for WhatsApp, tied to an approved template by `meta_template_name`."""

    id = uuid_pk()
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="templates", on_delete=fields.CASCADE, null=True
    )
    platform = SeedEnumField(Platform)
    name = fields.CharField(max_length=255)
    content = fields.TextField()
    variables = text_array()
    meta_template_name = fields.CharField(max_length=255, null=True)
    language = fields.CharField(max_length=15, null=True)  # WhatsApp's code, e.g. pt_BR (migration 0011)
    is_approved = flag(False)
    created_at = created_at()
    updated_at = updated_at()

    class Meta:
        table = "message_templates"
