"""Appending to partitioned streams, with an atomic dedupe marker (SET NX + XADD in one script)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from papo.streams import codec
from papo.streams.spec import StreamSpec

# KEYS[1] = dedupe marker ("" = no dedupe), KEYS[2] = stream; ARGV = ttl seconds, version, data.
# Both keys share the partition's hash tag, so this is valid on Redis Cluster too. Doing the marker and
# the append in one script means an event is never marked seen without being queued.
_APPEND = """
if KEYS[1] ~= '' then
  if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', tonumber(ARGV[1])) then
    return false
  end
end
return redis.call('XADD', KEYS[2], '*', 'v', ARGV[2], 'data', ARGV[3])
"""

DEDUPE_TTL = 8 * 24 * 3600  # Meta retries for up to 36 h, some WhatsApp guides say 7 days: keep 8.


@dataclass(frozen=True, slots=True)
class Item:
    """One payload to append: routed by `routing_key`, deduplicated by `dedupe_key` when given."""

    routing_key: str
    data: dict[str, Any]
    dedupe_key: str | None = None


class Producer:
    """Appends items to a partitioned stream."""

    def __init__(self, redis: aioredis.Redis, spec: StreamSpec, *, dedupe_ttl: int = DEDUPE_TTL) -> None:
        self.redis = redis
        self.spec = spec
        self.dedupe_ttl = dedupe_ttl
        self._sha = hashlib.sha1(_APPEND.encode()).hexdigest()

    def queue_on(self, pipe: Any, item: Item) -> None:
        """Add one append to a caller's pipeline (so several writes share one round trip).

        EVALSHA directly: redis-py's Script objects would add a SCRIPT EXISTS round trip to every
        pipeline. Run the pipeline with `execute_appends` so a NOSCRIPT (Redis restarted) is healed.
        """
        partition = self.spec.partition_for(item.routing_key)
        seen = self.spec.seen_key(partition, item.dedupe_key) if item.dedupe_key else ""
        fields = codec.encode(item.data)
        pipe.evalsha(self._sha, 2, seen, self.spec.key(partition), self.dedupe_ttl, fields["v"], fields["data"])

    async def execute_appends(self, pipe: Any, items: Sequence[Item]) -> list[Any]:
        """Execute a pipeline holding `items`' appends (first) and other commands; reload a lost script."""
        replies = await pipe.execute(raise_on_error=False)
        lost = [i for i, r in enumerate(replies[: len(items)]) if isinstance(r, NoScriptError)]
        if lost:
            await self.redis.script_load(_APPEND)
            retry = self.redis.pipeline(transaction=False)
            for i in lost:
                self.queue_on(retry, items[i])
            for i, reply in zip(lost, await retry.execute(), strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    async def append_many(self, items: Sequence[Item]) -> list[str | None]:
        """Append items in one round trip; returns each entry id, or None for a duplicate."""
        if not items:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for item in items:
            self.queue_on(pipe, item)
        return [entry_id(r) for r in await self.execute_appends(pipe, items)]

    async def append(self, item: Item) -> str | None:
        """Append one item; None when it was a duplicate."""
        return (await self.append_many([item]))[0]


def entry_id(reply: Any) -> str | None:
    """A script reply as an entry id (None when the item was a duplicate)."""
    if reply is None or reply is False:
        return None
    return reply.decode() if isinstance(reply, bytes) else str(reply)
