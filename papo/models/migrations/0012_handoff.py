"""Human handoff and opening hours (issue 16, part 1).

`conversations.automation_paused_until`: while it is in the future, no automated reply goes to that
conversation (the owner is talking to the customer); `automation_paused_reason` says why (owner_reply,
owner_app, rule, manual). `owner_settings` gets the business's opening hours (a JSON list of
`{"days": [0..6], "start": "HH:MM", "end": "HH:MM"}`), its holidays (a JSON list of ISO dates) and the
"away" text sent once per closed period. All nullable: nothing changes for a business that sets none.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0011_template_language")]

    initial = False

    operations = [
        ops.RunSQL(
            "ALTER TABLE conversations ADD COLUMN IF NOT EXISTS automation_paused_until TIMESTAMPTZ, "
            "ADD COLUMN IF NOT EXISTS automation_paused_reason VARCHAR(20)",
            reverse_sql="ALTER TABLE conversations DROP COLUMN IF EXISTS automation_paused_until, "
                        "DROP COLUMN IF EXISTS automation_paused_reason",
        ),
        ops.RunSQL(
            "ALTER TABLE owner_settings ADD COLUMN IF NOT EXISTS business_hours JSONB, "
            "ADD COLUMN IF NOT EXISTS holidays JSONB, ADD COLUMN IF NOT EXISTS away_text TEXT",
            reverse_sql="ALTER TABLE owner_settings DROP COLUMN IF EXISTS business_hours, "
                        "DROP COLUMN IF EXISTS holidays, DROP COLUMN IF EXISTS away_text",
        ),
    ]
