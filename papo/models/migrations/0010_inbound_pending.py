"""Stages still owed to stored messages (issue 15).

A message is written together with a row here, in the batch's transaction; the understanding stage
marks it `understood` in its own transaction (with the lead it scored), and the row goes once every
stage is done. A worker that dies between the commit and the reply leaves the row: when the entry is
delivered again, the message is found already stored but still owed its stages, and they run then
(understanding only if it had not; automation's claims and the outbound ledger make a repeat safe).
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0009_stream_fences")]

    initial = False

    operations = [
        ops.RunSQL(
            "CREATE TABLE inbound_pending ("
            " message_id UUID PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,"
            " understood BOOLEAN NOT NULL DEFAULT false,"
            " created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            reverse_sql="DROP TABLE IF EXISTS inbound_pending",
        ),
    ]
