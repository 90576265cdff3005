"""Appending to partitioned streams, with an atomic dedupe marker (SET NX + XADD in one script)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from papo.streams import codec
from papo.streams.spec import StreamSpec

# One call appends several items to one partition. KEYS[1] = the partition's stream, KEYS[1 + i] = item i's
# dedupe marker ("" = no dedupe); ARGV[1] = ttl seconds, ARGV[2] = version, ARGV[2 + i] = item i's data.
# Returns, per item, its entry id, or false for a duplicate. The markers share the partition's hash tag,
# so this is valid on Redis Cluster too. Marker and append happen together in the script, so an event is
# never marked seen without being queued.
SCRIPT = """
local out = {}
for i = 2, #KEYS do
  if KEYS[i] ~= '' and not redis.call('SET', KEYS[i], '1', 'NX', 'EX', tonumber(ARGV[1])) then
    out[i - 1] = false
  else
    out[i - 1] = redis.call('XADD', KEYS[1], '*', 'v', ARGV[2], 'data', ARGV[i + 1])
  end
end
return out
"""

DEDUPE_TTL = 8 * 24 * 3600  # Meta retries for up to 36 h, some WhatsApp guides say 7 days: keep 8.


class Item(NamedTuple):
    """One payload to append: routed by `routing_key`, deduplicated by `dedupe_key` when given."""

    routing_key: str
    data: dict[str, Any]
    dedupe_key: str | None = None
    encoded: bytes | None = None  # `data` already encoded (codec.encode_data), by a caller that must know early


class Producer:
    """Appends items to a partitioned stream."""

    def __init__(self, redis: aioredis.Redis, spec: StreamSpec, *, dedupe_ttl: int = DEDUPE_TTL) -> None:
        self.redis = redis
        self.spec = spec
        self.dedupe_ttl = dedupe_ttl
        self._sha = hashlib.sha1(SCRIPT.encode()).hexdigest()

    def queue_on(self, pipe: Any, items: Sequence[Item]) -> Plan:
        """Add the appends of `items` to a caller's pipeline: one script call per partition they fall in.

        EVALSHA directly: redis-py's Script objects would add a SCRIPT EXISTS round trip to every
        pipeline. Run the pipeline with `execute_appends` so a NOSCRIPT (Redis restarted) is healed.
        """
        groups: dict[int, list[int]] = {}
        for i, item in enumerate(items):
            groups.setdefault(self.spec.partition_for(item.routing_key), []).append(i)
        plan = Plan(items, list(groups.items()))
        for partition, positions in plan.calls:
            self._queue_call(pipe, partition, [items[i] for i in positions])
        return plan

    def _queue_call(self, pipe: Any, partition: int, items: list[Item]) -> None:
        seen_prefix = self.spec.seen_prefix(partition)
        seen = [f"{seen_prefix}{item.dedupe_key}" if item.dedupe_key else "" for item in items]
        data = [item.encoded or codec.encode_data(item.data) for item in items]
        pipe.evalsha(self._sha, 1 + len(items), self.spec.key(partition), *seen, self.dedupe_ttl, codec.VERSION,
                     *data)

    async def execute_appends(self, pipe: Any, plan: Plan) -> list[Any]:
        """Execute a pipeline holding a plan's appends (first) and other commands; reload a lost script.

        Returns the pipeline's replies with the appends' replaced by one entry id (or None) per item.
        """
        replies = await pipe.execute(raise_on_error=False)
        lost = self.lost_calls(plan, replies)
        if lost:
            await self.redis.script_load(SCRIPT)
            retry = self.redis.pipeline(transaction=False)
            self.queue_again(retry, plan, lost)
            for c, reply in zip(lost, await retry.execute(), strict=True):
                replies[c] = reply
        return [*self.appended_ids(plan, replies), *replies[len(plan.calls):]]

    @staticmethod
    def lost_calls(plan: Plan, replies: Sequence[Any]) -> list[int]:
        """The plan's script calls that Redis answered NOSCRIPT (it restarted since it last saw the script)."""
        return [c for c, reply in enumerate(replies[: len(plan.calls)]) if isinstance(reply, NoScriptError)]

    def queue_again(self, pipe: Any, plan: Plan, calls: Sequence[int]) -> None:
        """Queue some of a plan's script calls again (after SCRIPT LOAD)."""
        for c in calls:
            partition, positions = plan.calls[c]
            self._queue_call(pipe, partition, [plan.items[i] for i in positions])

    @staticmethod
    def appended_ids(plan: Plan, replies: Sequence[Any]) -> list[str | None]:
        """One entry id (None for a duplicate) per item of the plan; an error reply anywhere is raised."""
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        ids: list[str | None] = [None] * len(plan.items)
        for (_, positions), reply in zip(plan.calls, replies[: len(plan.calls)], strict=True):
            for i, one in zip(positions, reply, strict=True):
                ids[i] = entry_id(one)
        return ids

    async def append_many(self, items: Sequence[Item]) -> list[str | None]:
        """Append items in one round trip; returns each entry id, or None for a duplicate."""
        if not items:
            return []
        pipe = self.redis.pipeline(transaction=False)
        return (await self.execute_appends(pipe, self.queue_on(pipe, items)))[: len(items)]

    async def append(self, item: Item) -> str | None:
        """Append one item; None when it was a duplicate."""
        return (await self.append_many([item]))[0]


@dataclass(frozen=True, slots=True)
class Plan:
    """The appends queued on a pipeline: per script call, its partition and the positions of its items."""

    items: Sequence[Item]
    calls: list[tuple[int, list[int]]]


def entry_id(reply: Any) -> str | None:
    """A script reply as an entry id (None when the item was a duplicate)."""
    if type(reply) is str:  # decode_responses clients: the usual case, first
        return reply
    if reply is None or reply is False:
        return None
    return reply.decode() if isinstance(reply, bytes) else str(reply)
