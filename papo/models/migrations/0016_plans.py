"""Plans and quotas, and consultancies (issue 16, part 3).

* `plan_usage`: the monthly counters of each business (AI calls, scheduled posts, broadcast recipients),
  one row per business, metric and UTC month; `alerted_at` marks the one owner alert of that month.
* `telegram_links`: a Telegram account may now be linked to several businesses (a consultancy's accounts
  run its clients too), so `telegram_user_id` is unique per business instead of alone. `selected_at`
  says which business the account is looking at in the bot (the latest one); `client_of_id` names the
  consultancy a link was made for (`papo admin link --client-of`).
* `telegram_link_codes.client_of_id`: a code made for a consultancy's accounts.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0013_broadcasts")]

    initial = False

    operations = [
        ops.RunSQL(
            """
            CREATE TABLE IF NOT EXISTS plan_usage (
                user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                metric VARCHAR(40) NOT NULL,
                month CHAR(7) NOT NULL,
                used BIGINT NOT NULL DEFAULT 0 CHECK (used >= 0),
                alerted_at TIMESTAMPTZ NULL,
                updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                PRIMARY KEY (user_id, metric, month)
            )
            """,
            reverse_sql="DROP TABLE IF EXISTS plan_usage",
        ),
        ops.RunSQL(
            """
            ALTER TABLE telegram_links DROP CONSTRAINT IF EXISTS telegram_links_telegram_user_id_key;
            CREATE UNIQUE INDEX IF NOT EXISTS uq_telegram_links_account_business
                ON telegram_links (telegram_user_id, user_id);
            ALTER TABLE telegram_links ADD COLUMN IF NOT EXISTS selected_at TIMESTAMPTZ NULL;
            UPDATE telegram_links SET selected_at = COALESCE(created_at, now()) WHERE selected_at IS NULL;
            ALTER TABLE telegram_links ADD COLUMN IF NOT EXISTS client_of_id UUID NULL
                REFERENCES users (id) ON DELETE CASCADE;
            ALTER TABLE telegram_link_codes ADD COLUMN IF NOT EXISTS client_of_id UUID NULL
                REFERENCES users (id) ON DELETE CASCADE;
            """,
            reverse_sql="""
            ALTER TABLE telegram_link_codes DROP COLUMN IF EXISTS client_of_id;
            ALTER TABLE telegram_links DROP COLUMN IF EXISTS client_of_id;
            ALTER TABLE telegram_links DROP COLUMN IF EXISTS selected_at;
            DROP INDEX IF EXISTS uq_telegram_links_account_business;
            ALTER TABLE telegram_links ADD CONSTRAINT telegram_links_telegram_user_id_key UNIQUE (telegram_user_id);
            """,
        ),
    ]
