"""Fencing for the partitioned inbound stream (issue 15).

One row per stream partition with the epoch of the lease that last wrote through it. A batch's
transaction raises the row to its own epoch first (`services/fences.py`): a worker that stalled past its
lease, and whose partition another worker has written through since, finds a higher epoch there and
rolls back instead of writing after the new owner.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0008_accounts")]

    initial = False

    operations = [
        ops.RunSQL(
            "CREATE TABLE stream_fences ("
            " stream VARCHAR(64) NOT NULL,"
            " partition INT NOT NULL,"
            " epoch BIGINT NOT NULL,"
            " PRIMARY KEY (stream, partition))",
            reverse_sql="DROP TABLE IF EXISTS stream_fences",
        ),
    ]
