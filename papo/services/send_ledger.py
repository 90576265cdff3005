"""The send ledger: at most one send per outbound id, and the outcome it had.

The ledger is a Redis hash `papo:sent:<outbound_id>` whose `state` moves
    (none) ──claim──▶ sending ──▶ sent | failed | skipped | unknown        (terminal)
                         └──────▶ retry ──claim──▶ sending …             (a retryable error: not sent)
                                   gave_up ──claim──▶ sending …          (retries exhausted; requeue allowed)
         failed | gave_up ──reopen──▶ retry ──claim──▶ sending …      (the owner pressed "try again")
`claim` is one atomic script, so two workers can never both move an id to `sending`. An id found in
`sending` was claimed by a worker that stopped before it learnt the API's answer: it is reported
("unknown"), never resent automatically. `recorded` / `logged` flags let a redelivery finish the
PostgreSQL / MongoDB records of an outcome without calling the platform again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis.asyncio as aioredis

from papo.adapters.senders.message import OutboundMessage
from papo.batching import AutoPipeline
from papo.constants import SENT_KEY

LEDGER_TTL = 30 * 24 * 3600  # far beyond any redelivery or dead-letter requeue of one request

CLAIMABLE = ("retry", "gave_up")
_CLAIM = """
local state = redis.call('HGET', KEYS[1], 'state')
if (not state) or state == 'retry' or state == 'gave_up' then
  redis.call('HSET', KEYS[1], 'state', 'sending', 'owner', ARGV[1], 'started', ARGV[2])
  local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return {'claimed', attempts}
end
return {state, tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')}
"""
# The owner's "retry" on a reply that certainly did not go out: one press wins. Only `failed` / `gave_up`
# move back to `retry` (a second press finds `retry`, `sending` or `sent` and gets nothing); the request
# stored at failure comes back with the number of this retry (the queue's dedupe key). The attempts start
# over: a retry the owner asked for gets the whole backoff budget again.
RETRYABLE = ("failed", "gave_up")
_REOPEN = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'failed' and state ~= 'gave_up' then
  return {state or '', false, 0, ''}
end
local request = redis.call('HGET', KEYS[1], 'request')
if not request then
  return {state, false, 0, ''}
end
redis.call('HSET', KEYS[1], 'state', 'retry', 'recorded', '0', 'logged', '0', 'attempts', '0')
redis.call('HDEL', KEYS[1], 'dead_entry')
local n = redis.call('HINCRBY', KEYS[1], 'owner_retries', 1)
redis.call('EXPIRE', KEYS[1], ARGV[1])
return {'retry', request, n, state}
"""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one outbound request ended; what `messages` and `analytics_logs` record."""

    status: str  # sent | failed | skipped | unknown (messages.delivery_status)
    platform_message_id: str | None = None
    error: str | None = None
    text: str | None = None  # the text actually sent (the template preview when a template went out)
    template: str | None = None
    fallback_used: bool = False
    recipient: str | None = None
    attempts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Compact JSON for the ledger."""
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        """Back from to_json()."""
        return cls(**json.loads(text))


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """The ledger hash of one outbound id."""

    state: str
    attempts: int
    outcome: Outcome | None
    recorded: bool
    logged: bool
    dead_entry: str | None = None  # the stream entry moved to the dead letters when it gave up


@dataclass(frozen=True, slots=True)
class Reopened:
    """What `SendLedger.reopen` did: `request` (and the retry's number) when this call won the retry."""

    ok: bool
    state: str | None
    request: OutboundMessage | None = None
    number: int = 0  # how many times the owner had it sent again, this one included
    state_before: str = "failed"


def _text(value: Any) -> str:
    """A Lua reply as text (False/nil is "")."""
    if value is None or value is False:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


class SendLedger:
    """`papo:sent:<outbound_id>`: claims an id before the API call and remembers its outcome."""

    def __init__(self, redis: aioredis.Redis, *, ttl: int = LEDGER_TTL, auto: AutoPipeline | None = None) -> None:
        self.redis = redis
        self.ttl = ttl
        self.auto = auto or AutoPipeline(redis)  # a batch's requests share round trips
        self._claim_sha = hashlib.sha1(_CLAIM.encode()).hexdigest()

    async def get(self, outbound_id: str) -> LedgerEntry | None:
        """The entry, or None when the id was never claimed."""
        data = await self.auto.hgetall(SENT_KEY + outbound_id)
        if not data or "state" not in data:
            return None
        return LedgerEntry(
            state=data["state"],
            attempts=int(data.get("attempts", 0)),
            outcome=Outcome.from_json(data["outcome"]) if data.get("outcome") else None,
            recorded=data.get("recorded") == "1",
            logged=data.get("logged") == "1",
            dead_entry=data.get("dead_entry"),
        )

    async def claim(self, outbound_id: str, owner: str) -> tuple[bool, str, int]:
        """Atomically move the id to `sending`: (claimed, state found or 'sending', attempts)."""
        state, attempts = await self.auto.script(_CLAIM, self._claim_sha, [SENT_KEY + outbound_id],
                                                 [owner, time.time(), self.ttl])
        state = state.decode() if isinstance(state, bytes) else str(state)
        return state == "claimed", ("sending" if state == "claimed" else state), int(attempts)

    async def settle(self, outbound_id: str, state: str, outcome: Outcome | None = None, **extra: str) -> None:
        """Write the state (and outcome) the moment it is known, before any slower record."""
        mapping: dict[str, str] = {"state": state, "settled": str(time.time()), **extra}
        if outcome is not None:
            mapping["outcome"] = outcome.to_json()
        # Two commands queued together: they go out in this order in one pipeline.
        await asyncio.gather(self.auto.hset(SENT_KEY + outbound_id, mapping=mapping),
                             self.auto.expire(SENT_KEY + outbound_id, self.ttl))

    async def flag(self, outbound_id: str, *names: str) -> None:
        """Mark record steps done (`recorded`, `logged`)."""
        if names:
            await self.auto.hset(SENT_KEY + outbound_id, mapping=dict.fromkeys(names, "1"))

    async def note_retry(self, outbound_id: str) -> int:
        """Count an attempt that never reached the platform (our own limiter said wait too long)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(SENT_KEY + outbound_id, "attempts", 1)
        pipe.hsetnx(SENT_KEY + outbound_id, "state", "retry")
        pipe.expire(SENT_KEY + outbound_id, self.ttl)
        attempts, *_ = await pipe.execute()
        return int(attempts)

    async def reopen(self, outbound_id: str) -> Reopened:
        """The owner asked to send a failed reply again: atomically `failed`/`gave_up` → `retry`, once per press."""
        state, request, number, before = (_text(v) for v in await self.redis.eval(
            _REOPEN, 1, SENT_KEY + outbound_id, self.ttl))
        if state != "retry" or not request:
            return Reopened(False, state or None)
        return Reopened(True, state, OutboundMessage.from_dict(json.loads(request)), int(number), before)

    async def undo_reopen(self, outbound_id: str, state: str) -> None:
        """Put a reopened id back to its failed state (queueing its retry failed, nothing was sent)."""
        await self.redis.hset(SENT_KEY + outbound_id, mapping={"state": state, "recorded": "1", "logged": "1"})

    async def release(self, outbound_id: str) -> bool:
        """Operator action: allow an `unknown`/`failed`/`gave_up` id to be sent again (then requeue it)."""
        key = SENT_KEY + outbound_id
        if await self.redis.hget(key, "state") not in ("unknown", "failed", "gave_up", "sending"):
            return False
        await self.redis.hset(key, mapping={"state": "retry", "recorded": "0", "logged": "0"})
        return True
