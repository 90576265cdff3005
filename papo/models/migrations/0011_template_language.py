"""The language of a WhatsApp template (issue 20).

Meta identifies an approved template by its name *and* its language code (`pt_BR`, `es_MX`, `en_US`…),
and refuses a send whose language the template was not approved in. The seed table has no such column,
so `papo templates add --language es_MX` was validated and forgotten, and every template went out as
pt_BR. Added, nullable: templates without a WhatsApp name have no language.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0010_inbound_pending")]

    initial = False

    operations = [
        ops.RunSQL(
            "ALTER TABLE message_templates ADD COLUMN IF NOT EXISTS language VARCHAR(15)",
            reverse_sql="ALTER TABLE message_templates DROP COLUMN IF EXISTS language",
        ),
    ]
