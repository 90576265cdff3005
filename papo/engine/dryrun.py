"""Dry runs: replay one rule over a history of events with simulated cooldown/cap state (pure).

The service layer loads the history (papo.services.rules.dry_run); this module decides, in order,
what the rule would have done with each event, and why not when it would not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from papo.adapters.events import InboundEvent
from papo.ai.base import Classification
from papo.engine.evaluator import decide
from papo.engine.index import RuleIndex
from papo.engine.model import DEFAULT_TIMEZONE, Action, ConversationState, EvalContext, LeadView, RuleView, TemplateView
from papo.engine.triggers import TEXT_TRIGGERS


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEvent:
    """One stored event with what the evaluator needs besides the rule."""

    row_id: str
    conversation_id: str
    event: InboundEvent
    is_first_message: bool = False
    business_name: str | None = None
    lead: LeadView | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DryRunItem:
    """One event and what the rule would have done with it."""

    row_id: str
    conversation_id: str
    event: InboundEvent
    actions: tuple[Action, ...]
    reason: str | None  # why the rule did not act, when it did not

    @property
    def fired(self) -> bool:
        """Whether the rule would have acted."""
        return bool(self.actions)

    @property
    def text(self) -> str | None:
        """The customer's text."""
        return self.event.text

    def describe(self) -> str:
        """One line for people: what would be sent or done, or why not."""
        if not self.actions:
            return f"no: {self.reason or 'trigger does not apply'}"
        return "yes: " + "; ".join(a.describe() for a in self.actions)


def replay(rule: RuleView, history: Iterable[HistoryEvent], *, templates: Iterable[TemplateView] = (),
           classify: Callable[[str], Classification] | None = None, timezone: str = DEFAULT_TIMEZONE,
           max_replies_per_hour: int | None = 20) -> list[DryRunItem]:
    """What `rule` (active or not) would have done with each event, in platform time order."""
    # Outside the index's gates the rule is checked on every event, so each "no" comes with its reason.
    rule = replace(rule, is_active=True, condition=replace(rule.condition, indexed=False))
    index = RuleIndex.build([rule], templates)
    states: dict[str, ConversationState] = {}
    items = []
    for item in sorted(history, key=lambda h: h.event.timestamp):
        event = item.event
        state = states.get(item.conversation_id, ConversationState())
        context = EvalContext(
            conversation_id=item.conversation_id, is_first_message=item.is_first_message,
            business_name=item.business_name, timezone=timezone, max_replies_per_hour=max_replies_per_hour,
            state=state,
        )
        cls = classify(event.text) if classify and event.text and rule.trigger in TEXT_TRIGGERS else None
        decision = decide(event, cls, item.lead, index, now=event.timestamp, context=context)
        states[item.conversation_id] = state.after(decision.actions, event.timestamp)
        reason = next((n.message for n in decision.notes if n.skipped), None)
        items.append(DryRunItem(row_id=item.row_id, conversation_id=item.conversation_id, event=event,
                                actions=decision.actions, reason=None if decision.actions else reason))
    return items
