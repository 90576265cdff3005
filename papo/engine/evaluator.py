"""evaluate(): which actions an inbound event causes — a pure function, no I/O.

Order (RULES.md): the event's triggers (most specific first) select candidate rules from the index;
candidates run by priority (lower first), then trigger specificity, then creation time. Every matching
tag_lead / notify_owner rule acts; the reply slot (send_message, send_template, ai_reply) goes to the
first matching reply rule — if that rule is cooling down or the conversation's hourly cap is reached,
no reply is sent for this event, and no later rule takes its place.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from papo.adapters.events import InboundEvent
from papo.ai.base import Classification
from papo.engine.actions import build_action, variables
from papo.engine.conditions import Facts, check
from papo.engine.index import RuleIndex
from papo.engine.model import (
    CAP_WINDOW,
    DEFAULT_TIMEZONE,
    Action,
    Decision,
    EvalContext,
    LeadView,
    Note,
    RuleView,
    action_id,
)
from papo.engine.text import MAX_TEXT, fold_tag, padded, tokens
from papo.engine.triggers import triggers_for
from papo.enums import Action as ActionType
from papo.timezones import known_zone

_DEFAULT_CONTEXT = EvalContext()


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    # An owner setting that zoneinfo does not know must not stop automation; the default is Brazil's.
    return known_zone(name) or ZoneInfo(DEFAULT_TIMEZONE)


def _media_ids(event: InboundEvent) -> frozenset[str]:
    ids = {i for i in (event.post_id, event.story_id) if i}
    # Facebook post ids are "PAGEID_POSTID"; owners copy the second part from the post's URL.
    ids.update(i.rsplit("_", 1)[1] for i in list(ids) if "_" in i)
    return frozenset(ids)


def _payload(event: InboundEvent) -> str | None:
    if event.postback_payload:
        return event.postback_payload
    referral = event.referral or {}
    value = referral.get("ref") or referral.get("source_id")
    return str(value) if value is not None else None


def facts_for(event: InboundEvent, classification: Classification | None, lead: LeadView | None,
              context: EvalContext) -> Facts:
    """Everything conditions look at, computed once per event."""
    text = (event.text or "")[:MAX_TEXT]
    words = tokens(text)
    quality = lead.quality if lead and lead.quality else (classification.lead_quality if classification else None)
    score = lead.score if lead and lead.score is not None else (classification.lead_score if classification else None)
    return Facts(
        text=text, words=padded(words), token_set=frozenset(words),
        intent=classification.intent if classification else None,
        sentiment=classification.sentiment if classification else None,
        language=classification.language if classification else None,
        quality=quality, score=score,
        tags=frozenset(fold_tag(t) for t in lead.tags) if lead else frozenset(),
        first_message=context.is_first_message, at=event.timestamp, owner_zone=_zone(context.timezone),
        media_ids=_media_ids(event), payload=_payload(event),
    )


def _blocked(rule: RuleView, aid: str, now: datetime, context: EvalContext) -> str | None:
    """Why cooldown or cap stop this rule now, or None."""
    state = context.state
    fired = state.last_fired.get(rule.id)
    if fired is not None and rule.cooldown and now < fired.at + timedelta(seconds=rule.cooldown):
        ago = int((now - fired.at).total_seconds())
        return f"cooling down: acted in this conversation {ago} s ago (cooldown {rule.cooldown} s)"
    cap = context.max_replies_per_hour
    if rule.is_reply and cap is not None:
        sent = state.replies_since(now - CAP_WINDOW, excluding=aid)
        if sent >= cap:
            return f"reply cap reached: {sent} automated replies in the last hour (cap {cap})"
    return None


def _replayed(rule: RuleView, aid: str, context: EvalContext) -> bool:
    # The same event was already decided (a redelivery, or a retry after a crash): decide the same way
    # again; the outbound stage sends each action_id at most once.
    fired = context.state.last_fired.get(rule.id)
    return aid in context.state.recent_replies or (fired is not None and fired.action_id == aid)


def decide(event: InboundEvent, classification: Classification | None, lead: LeadView | None,
           rules: RuleIndex | Iterable[RuleView], *, now: datetime,
           context: EvalContext = _DEFAULT_CONTEXT, explain: bool = True) -> Decision:
    """The actions an event causes, with notes on every candidate rule that did not act (unless not `explain`)."""
    if now.tzinfo is None:
        raise ValueError("evaluate(now=…) must be timezone-aware")
    triggers = triggers_for(event)
    if not triggers:
        return Decision()
    index = rules if isinstance(rules, RuleIndex) else RuleIndex.build(rules)
    facts = facts_for(event, classification, lead, context)
    values = variables(event, lead, context)
    actions: list[Action] = []
    notes: list[Note] = []
    reply_taken = False
    for rule in index.candidates(triggers, event.platform, facts.token_set, facts.intent):
        if reply_taken and rule.is_reply:
            continue
        why = check(rule.condition, facts)
        if why is not None:
            if explain:
                notes.append(Note(rule.id, why))
            continue
        aid = action_id(event.dedupe_key, rule.id)
        blocked = None if _replayed(rule, aid, context) else _blocked(rule, aid, now, context)
        if blocked is not None:
            notes.append(Note(rule.id, blocked))
            # The first matching reply rule owns the reply slot even when it may not answer now: a
            # lower-priority catch-all must not answer what the cooling-down rule was meant for.
            reply_taken = reply_taken or rule.is_reply
            continue
        built = build_action(rule, aid, event, classification, values, index, context)
        if isinstance(built, str):
            notes.append(Note(rule.id, built))  # misconfigured (e.g. template deleted): the next rule may reply
            continue
        action, remarks = built
        actions.append(action)
        notes.extend(remarks)
        reply_taken = reply_taken or rule.is_reply
    return _handed_off(Decision(tuple(actions), tuple(notes), triggers))


def _handed_off(decision: Decision) -> Decision:
    """A handoff takes the conversation out of the bot's hands at once: no automated reply to this event."""
    if not any(a.type is ActionType.HANDOFF for a in decision.actions):
        return decision
    dropped = [a for a in decision.actions if a.is_reply]
    notes = [Note(a.rule_id, "not sent: a handoff rule passed this conversation to the owner") for a in dropped]
    return Decision(tuple(a for a in decision.actions if not a.is_reply), (*decision.notes, *notes),
                    decision.triggers)


def evaluate(event: InboundEvent, classification: Classification | None, lead: LeadView | None,
             rules: RuleIndex | Iterable[RuleView], *, now: datetime,
             context: EvalContext = _DEFAULT_CONTEXT) -> list[Action]:
    """The actions an inbound event causes (pure): all matching tags/notifications, at most one reply."""
    return list(decide(event, classification, lead, rules, now=now, context=context, explain=False).actions)
