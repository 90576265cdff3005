"""Keep `updated_at` current on every UPDATE, including bulk `QuerySet.update()` and raw SQL.

Tortoise's `auto_now` only covers `Model.save()`; a trigger covers every path.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

TABLES = (
    "users",
    "connected_accounts",
    "conversations",
    "posts",
    "crm_leads",
    "automation_rules",
    "message_templates",
)

FUNCTION = """
CREATE OR REPLACE FUNCTION papo_touch_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql
"""


class Migration(migrations.Migration):
    dependencies = [("models", "0001_seed_schema")]

    operations = [
        ops.RunSQL(FUNCTION, reverse_sql="DROP FUNCTION IF EXISTS papo_touch_updated_at()"),
        *(
            ops.RunSQL(
                f"CREATE TRIGGER {table}_touch_updated_at BEFORE UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION papo_touch_updated_at()",
                reverse_sql=f"DROP TRIGGER IF EXISTS {table}_touch_updated_at ON {table}",
            )
            for table in TABLES
        ),
    ]
