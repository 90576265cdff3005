"""Broadcasts (issue 16, part 2): campaigns, their recipients, and customers who opted out.

`broadcasts` is one campaign: an approved WhatsApp template (a snapshot of its name, language and text, so
editing the template later does not change what a running campaign sends), the variables filled per lead,
the segment it was built from, and its status (scheduled → running → finished, or cancelled).

`broadcast_recipients` has one row per customer, fixed when the campaign is created (the preview the
owner confirmed). Its `state` is claimed before the send: pending → queued (its outbound request is on the
outbound stream under `outbound_id`) → sent | failed | skipped | unknown (in doubt, never resent) →
delivered → read, copied from the `messages` row of that outbound id, which the status webhooks update.
`replied_at` is the first customer message after the send.

`idx_conversations_customer` on conversations (user_id, platform, remote_user_id): finding each lead's
conversation was a scan of the business's conversations per lead.

`opt_outs`: customers who wrote "sair", "parar", "stop", "baja"…, per business, platform and customer;
the row goes when they opt in again. Nobody listed here is ever in a broadcast.

Depends on 0011 on this branch; the handoff work (issue 16, part 1) takes 0012 — at merge, this one
depends on 0012 instead.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

BROADCASTS = """
CREATE TABLE broadcasts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name VARCHAR(255) NOT NULL,
    template_id UUID REFERENCES message_templates (id) ON DELETE SET NULL,
    template_name VARCHAR(255) NOT NULL,
    meta_template_name VARCHAR(512) NOT NULL,
    language VARCHAR(15) NOT NULL,
    content TEXT NOT NULL,
    template_variables JSONB NOT NULL DEFAULT '[]',
    variables JSONB NOT NULL DEFAULT '{}',
    segment JSONB NOT NULL DEFAULT '{}',
    status VARCHAR(20) NOT NULL DEFAULT 'scheduled',
    scheduled_for TIMESTAMPTZ NOT NULL DEFAULT now(),
    total INTEGER NOT NULL DEFAULT 0,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    cancelled_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""

RECIPIENTS = """
CREATE TABLE broadcast_recipients (
    id BIGSERIAL PRIMARY KEY,
    broadcast_id UUID NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lead_id UUID REFERENCES crm_leads (id) ON DELETE SET NULL,
    conversation_id UUID REFERENCES conversations (id) ON DELETE SET NULL,
    account_id UUID REFERENCES connected_accounts (id) ON DELETE SET NULL,
    platform VARCHAR(20) NOT NULL,
    remote_user_id VARCHAR(255) NOT NULL,
    phone VARCHAR(32),
    name VARCHAR(255),
    params JSONB NOT NULL DEFAULT '[]',
    outbound_id VARCHAR(255) NOT NULL UNIQUE,
    state VARCHAR(20) NOT NULL DEFAULT 'pending',
    platform_message_id VARCHAR(255),
    error TEXT,
    queued_at TIMESTAMPTZ,
    sent_at TIMESTAMPTZ,
    delivered_at TIMESTAMPTZ,
    read_at TIMESTAMPTZ,
    replied_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (broadcast_id, platform, remote_user_id)
)
"""

OPT_OUTS = """
CREATE TABLE opt_outs (
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform VARCHAR(20) NOT NULL,
    remote_user_id VARCHAR(255) NOT NULL,
    keyword VARCHAR(50),
    opted_out_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, platform, remote_user_id)
)
"""


class Migration(migrations.Migration):
    dependencies = [("models", "0012_handoff")]

    initial = False

    operations = [
        ops.RunSQL(BROADCASTS, reverse_sql="DROP TABLE IF EXISTS broadcasts"),
        ops.RunSQL("CREATE INDEX idx_broadcasts_user ON broadcasts (user_id, created_at DESC)",
                   reverse_sql="DROP INDEX IF EXISTS idx_broadcasts_user"),
        ops.RunSQL("CREATE INDEX idx_broadcasts_due ON broadcasts (status, scheduled_for)",
                   reverse_sql="DROP INDEX IF EXISTS idx_broadcasts_due"),
        ops.RunSQL(RECIPIENTS, reverse_sql="DROP TABLE IF EXISTS broadcast_recipients"),
        ops.RunSQL("CREATE INDEX idx_broadcast_recipients_state ON broadcast_recipients (broadcast_id, state, id)",
                   reverse_sql="DROP INDEX IF EXISTS idx_broadcast_recipients_state"),
        ops.RunSQL(OPT_OUTS, reverse_sql="DROP TABLE IF EXISTS opt_outs"),
        # A customer's conversations of a business (a broadcast's segment finds each lead's newest one).
        ops.RunSQL("CREATE INDEX idx_conversations_customer ON conversations (user_id, platform, remote_user_id)",
                   reverse_sql="DROP INDEX IF EXISTS idx_conversations_customer"),
    ]
