"""Dead letters: list them, put them back in their partition's stream."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from papo.streams.spec import StreamSpec


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An entry that failed `max_deliveries` times."""

    stream: str
    partition: int
    id: str
    source_id: str
    error: str
    fields: dict[str, str]


async def list_dead(redis: aioredis.Redis, spec: StreamSpec, *, limit: int = 100) -> list[DeadLetter]:
    """Dead letters of every partition, oldest first within a partition."""
    found: list[DeadLetter] = []
    for partition in range(spec.partitions):
        for entry_id, fields in await redis.xrange(spec.dead_key(partition), count=limit):
            found.append(DeadLetter(
                stream=spec.name,
                partition=partition,
                id=entry_id,
                source_id=fields.get("source_id", ""),
                error=fields.get("error", ""),
                fields={k: v for k, v in fields.items() if k in ("v", "data")},
            ))
    return found[:limit]


async def requeue(redis: aioredis.Redis, spec: StreamSpec, partition: int, dead_id: str) -> str | None:
    """Append a dead letter back to its partition's stream and remove it; the new entry id, or None."""
    entries = await redis.xrange(spec.dead_key(partition), min=dead_id, max=dead_id)
    if not entries:
        return None
    _, fields = entries[0]
    pipe = redis.pipeline(transaction=True)
    pipe.xadd(spec.key(partition), {"v": fields["v"], "data": fields["data"]})
    pipe.xdel(spec.dead_key(partition), dead_id)
    new_id, _ = await pipe.execute()
    return new_id
