"""Cooldown and cap state in Redis: load, atomic claims, replays, races (real Redis)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from papo.constants import rule_state_keys
from papo.engine import EvalContext, evaluate
from papo.engine.state import Claim, claim, claim_all, load_state
from tests.engine.helpers import NOW, event, rule

CONV = "7d3c9a8e-0000-4000-8000-00000000c0de"


def ctx(state=None, cap=20) -> EvalContext:
    from papo.engine import ConversationState
    return EvalContext(conversation_id=CONV, max_replies_per_hour=cap, state=state or ConversationState())


async def test_load_claim_and_cooldown_round_trip(stores) -> None:
    redis = stores.redis
    rules = [rule("price"), rule("tag", action="tag_lead"), rule("notify", action="notify_owner")]
    first = evaluate(event("preço?"), None, None, rules, now=NOW, context=ctx())
    assert [a.rule_name for a in first] == ["notify", "price", "tag"]
    results = await claim_all(redis, first, NOW, max_replies_per_hour=20)
    assert [r for _, r in results] == [Claim.GRANTED] * 3

    state = await load_state(redis, CONV, NOW + timedelta(minutes=5))
    assert set(state.last_fired) == {"price", "notify"}  # tag_lead (cooldown 0) is not recorded
    assert state.last_fired["price"].action_id == first[1].action_id
    assert abs((state.last_fired["price"].at - NOW).total_seconds()) < 1e-3
    assert list(state.recent_replies) == [first[1].action_id]

    later = NOW + timedelta(minutes=5)
    second = evaluate(event("preço?"), None, None, rules, now=later, context=ctx(state))
    assert [a.rule_name for a in second] == ["tag"]  # reply and notification cooling down
    after_cooldown = NOW + timedelta(hours=1, seconds=1)
    third = evaluate(event("preço?"), None, None, rules, now=after_cooldown,
                     context=ctx(await load_state(redis, CONV, after_cooldown)))
    assert [a.rule_name for a in third] == ["notify", "price", "tag"]
    fired_key, replies_key = rule_state_keys(CONV)
    assert fired_key.endswith("{" + CONV + "}") and replies_key.endswith("{" + CONV + "}")
    assert 0 < await redis.ttl(fired_key) <= 3600 and 0 < await redis.ttl(replies_key) <= 3600


async def test_a_replayed_action_is_granted_again_and_counted_once(stores) -> None:
    redis = stores.redis
    [action] = evaluate(event("oi"), None, None, [rule("hi")], now=NOW, context=ctx())
    assert await claim(redis, action, NOW, max_replies_per_hour=1) is Claim.GRANTED
    assert await claim(redis, action, NOW + timedelta(seconds=3), max_replies_per_hour=1) is Claim.REPLAYED
    assert Claim.REPLAYED.proceed and not Claim.CAPPED.proceed
    state = await load_state(redis, CONV, NOW)
    assert len(state.recent_replies) == 1


async def test_cap_is_enforced_atomically(stores) -> None:
    redis = stores.redis
    r = rule("loop", data={"text": "ok", "cooldown_seconds": 0})
    actions = [evaluate(event(f"m{i}"), None, None, [r], now=NOW, context=ctx())[0] for i in range(12)]
    results = await asyncio.gather(*(claim(redis, a, NOW, max_replies_per_hour=5) for a in actions))
    assert results.count(Claim.GRANTED) == 5 and results.count(Claim.CAPPED) == 7
    granted = [a for a, r in zip(actions, results, strict=True) if r is Claim.GRANTED]
    capped = [a for a, r in zip(actions, results, strict=True) if r is Claim.CAPPED]
    assert await claim(redis, granted[0], NOW, max_replies_per_hour=5) is Claim.REPLAYED  # even when full
    # An hour later the window has moved on.
    assert await claim(redis, capped[0], NOW + timedelta(hours=1, seconds=1),
                       max_replies_per_hour=5) is Claim.GRANTED


async def test_racing_workers_cannot_both_answer_through_one_rule(stores) -> None:
    redis = stores.redis
    r = rule("price")
    # Two events of one conversation evaluated against the same (empty) state by two workers.
    a = evaluate(event("preço?"), None, None, [r], now=NOW, context=ctx())[0]
    b = evaluate(event("preço!!"), None, None, [r], now=NOW, context=ctx())[0]
    results = await asyncio.gather(claim(redis, a, NOW, max_replies_per_hour=20),
                                   claim(redis, b, NOW, max_replies_per_hour=20))
    assert sorted(results) == sorted([Claim.GRANTED, Claim.COOLING_DOWN])


async def test_state_of_an_unknown_conversation_is_empty(stores) -> None:
    state = await load_state(stores.redis, "nobody", NOW)
    assert state.last_fired == {} and state.recent_replies == {}
