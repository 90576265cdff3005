"""Fencing writes in PostgreSQL with the epoch of a stream partition's lease (see streams/consumer.py).

`check` runs first in a batch's transaction: it raises each partition's row to the batch's epoch and
locks it until commit. A newer owner's transaction waits for an older one's to end, and an older one
that comes after a newer one finds the higher epoch and raises `Fenced`, so its whole transaction rolls
back. Rows are locked in partition order, so two transactions never wait on each other in a circle.
"""

from __future__ import annotations

from typing import Any

from papo.streams.consumer import Fenced

_RAISE = (
    "INSERT INTO stream_fences AS f (stream, partition, epoch) "
    "SELECT $1, p, e FROM unnest($2::int[], $3::bigint[]) AS t(p, e) ORDER BY p "
    "ON CONFLICT (stream, partition) DO UPDATE SET epoch = EXCLUDED.epoch WHERE f.epoch <= EXCLUDED.epoch "
    "RETURNING partition"
)


async def check(conn: Any, stream: str, epochs: dict[int, int]) -> None:
    """Raise `Fenced` (rolling back the caller's transaction) if a newer owner wrote through a partition."""
    fenced = {p: e for p, e in epochs.items() if e}
    if not fenced:
        return
    partitions = sorted(fenced)
    # execute_query_dict: Tortoise's execute_query drops the rows of an INSERT … RETURNING.
    rows = await conn.execute_query_dict(_RAISE, [stream, partitions, [fenced[p] for p in partitions]])
    kept = {row["partition"] for row in rows}
    if len(kept) < len(partitions):
        lost = sorted(set(partitions) - kept)
        raise Fenced(f"{stream} partition(s) {lost} written by a newer owner: this batch is not ours any more")
