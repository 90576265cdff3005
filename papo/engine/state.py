"""Cooldown and reply-cap state in Redis, read before evaluate() and claimed atomically after it.

Per conversation, two keys share one hash tag (so a Lua script may touch both on Redis Cluster):
  papo:rule-fired:{conv}  hash   rule id → "epoch|action_id" of the rule's last action there
  papo:replies:{conv}     zset   action id → epoch, automated replies of the last hour

The pipeline calls `load_state` → `evaluate(…, context=EvalContext(state=…))` → `claim` for each
action. `claim` re-checks cooldown and cap in one script, so two workers racing on one conversation
cannot both answer; a replayed action id is granted again (the outbound stage dedupes by that id).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from papo.batching import AutoPipeline
from papo.constants import rule_state_keys
from papo.engine.model import CAP_WINDOW, Action, ConversationState, Fired

# Key prefixes (candidates for papo/constants.py; kept here until the owner of that file moves them).
WINDOW_SECONDS = int(CAP_WINDOW.total_seconds())

_CLAIM = """
local rule, aid = ARGV[1], ARGV[2]
local now, cd, reply, cap, window = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1', tonumber(ARGV[6]),
    tonumber(ARGV[7])
local last = redis.call('HGET', KEYS[1], rule)
if last then
  local sep = string.find(last, '|', 1, true)
  if string.sub(last, sep + 1) == aid then return 'replayed' end
  if cd > 0 and now < tonumber(string.sub(last, 1, sep - 1)) + cd then return 'cooling_down' end
end
if reply then
  if redis.call('ZSCORE', KEYS[2], aid) then return 'replayed' end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  if cap >= 0 and redis.call('ZCARD', KEYS[2]) >= cap then return 'capped' end
  redis.call('ZADD', KEYS[2], now, aid)
  redis.call('EXPIRE', KEYS[2], window)
end
redis.call('HSET', KEYS[1], rule, string.format('%.6f', now) .. '|' .. aid)
local keep = math.max(cd, window)
if redis.call('TTL', KEYS[1]) < keep then redis.call('EXPIRE', KEYS[1], keep) end
return 'granted'
"""
_CLAIM_SHA = hashlib.sha1(_CLAIM.encode()).hexdigest()


class Claim(StrEnum):
    """What `claim` decided for one action."""

    GRANTED = "granted"  # go ahead (recorded)
    REPLAYED = "replayed"  # this very action was already claimed: go ahead, outbound dedupes by id
    COOLING_DOWN = "cooling_down"  # another event of this conversation made the rule act meanwhile
    CAPPED = "capped"  # the hourly reply cap filled up meanwhile

    @property
    def proceed(self) -> bool:
        """Whether the action should be carried out."""
        return self in (Claim.GRANTED, Claim.REPLAYED)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _auto(redis: Any) -> AutoPipeline:
    """Commands go through an AutoPipeline: the caller's (shared with concurrent tasks) or a fresh one."""
    return redis if isinstance(redis, AutoPipeline) else AutoPipeline(redis)


async def load_state(redis: Any, conversation_id: str, now: datetime) -> ConversationState:
    """A conversation's cooldowns and its replies of the last hour, in one round trip.

    `redis` is a client or an AutoPipeline (then concurrent callers share that round trip too).
    """
    fired_key, replies_key = rule_state_keys(conversation_id)
    auto = _auto(redis)
    fired_raw, replies_raw = await asyncio.gather(
        auto.hgetall(fired_key),
        auto.call("zrangebyscore", replies_key, f"({now.timestamp() - WINDOW_SECONDS}", "+inf", withscores=True),
    )
    last_fired: dict[str, Fired] = {}
    for rule_id, value in fired_raw.items():
        epoch, _, aid = _text(value).partition("|")
        try:
            last_fired[_text(rule_id)] = Fired(_at(float(epoch)), aid)
        except ValueError:
            continue  # a malformed entry is ignored rather than blocking automation
    recent = {_text(aid): _at(float(score)) for aid, score in replies_raw}
    return ConversationState(last_fired=last_fired, recent_replies=recent)


async def claim(redis: Any, action: Action, now: datetime, *, max_replies_per_hour: int | None) -> Claim:
    """Atomically re-check cooldown and cap for one action and record it when granted."""
    if not action.is_reply and action.cooldown_seconds == 0:
        return Claim.GRANTED  # nothing to enforce or remember (e.g. tag_lead)
    cap = -1 if max_replies_per_hour is None else max_replies_per_hour
    result = await _auto(redis).script(
        _CLAIM, _CLAIM_SHA, list(rule_state_keys(action.conversation_id)),
        [action.rule_id, action.action_id, f"{now.timestamp():.6f}", action.cooldown_seconds,
         "1" if action.is_reply else "0", cap, WINDOW_SECONDS],
    )
    return Claim(_text(result))


async def claim_all(redis: Any, actions: Sequence[Action], now: datetime, *,
                    max_replies_per_hour: int | None) -> list[tuple[Action, Claim]]:
    """`claim` for each action in order; carry out those whose Claim.proceed is true."""
    return [(a, await claim(redis, a, now, max_replies_per_hour=max_replies_per_hour)) for a in actions]
