"""The evaluator's immutable inputs and outputs: rules, lead, context, state, actions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from papo.engine.conditions import CompiledCondition, compile_condition
from papo.engine.schemas import ActionData
from papo.engine.validate import REPLY_ACTIONS, validate_rule
from papo.enums import Action as ActionType
from papo.enums import LeadQuality, Platform, RulePlatform, Trigger
from papo.timezones import DEFAULT_TIMEZONE

CAP_WINDOW = timedelta(hours=1)
DEFAULT_REPLY_CAP = 20  # automated replies per conversation per hour: a menu tapper stays under, a bot loop not
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleView:
    """An active rule, validated and compiled, as the evaluator sees it."""

    id: str
    name: str
    trigger: Trigger
    platform: RulePlatform
    action: ActionType
    condition: CompiledCondition
    data: ActionData
    created_at: datetime = EPOCH
    is_active: bool = True
    # Derived once: the evaluator reads these for every candidate of every event.
    is_reply: bool = field(init=False, compare=False)
    priority: int = field(init=False, compare=False)  # lower runs first (action_data.priority, default 100)
    cooldown: int = field(init=False, compare=False)  # seconds before it may act again in a conversation
    order: tuple[int, float, str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # object.__setattr__ is the documented way to finish a frozen dataclass in __post_init__.
        object.__setattr__(self, "is_reply", self.action in REPLY_ACTIONS)
        object.__setattr__(self, "priority", self.data.priority)
        object.__setattr__(self, "cooldown", self.data.cooldown)
        object.__setattr__(self, "order", (self.data.priority, self.created_at.timestamp(), self.id))

    @classmethod
    def from_row(cls, *, id: Any, name: str, trigger: Any, platform: Any, action: Any,
                 condition: Any, action_data: Any, created_at: datetime | None = None,
                 is_active: bool | None = True) -> RuleView:
        """Validate and compile a stored rule; raises RuleError when it is not valid (any more)."""
        valid = validate_rule(trigger, platform, action, condition, action_data)
        return cls(
            id=str(id), name=name, trigger=valid.trigger, platform=valid.platform, action=valid.action,
            condition=compile_condition(valid.condition), data=valid.data,
            created_at=_aware(created_at) if created_at else EPOCH, is_active=is_active is not False,
        )


def _aware(value: datetime) -> datetime:
    # Tortoise returns aware datetimes with USE_TZ; a naive one is taken as UTC rather than local time.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadView:
    """The CRM lead behind an event (as it was before this event's actions)."""

    id: str | None = None
    name: str | None = None
    tags: frozenset[str] = frozenset()  # the lead's and the conversation's tags
    quality: LeadQuality | None = None
    score: float | None = None  # when the CRM keeps one; else the message's classification is used
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateView:
    """A message_templates row."""

    id: str
    name: str
    platform: Platform
    content: str
    variables: tuple[str, ...] = ()
    meta_template_name: str | None = None
    language: str | None = None  # WhatsApp template language code (pt_BR…); see RULES.md
    is_approved: bool = False


@dataclass(frozen=True, slots=True)
class Fired:
    """When a rule last acted in a conversation, and which action that was."""

    at: datetime
    action_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationState:
    """Cooldown and cap state of one conversation, read from Redis (state.py) before evaluating."""

    last_fired: Mapping[str, Fired] = field(default_factory=dict, hash=False)  # rule id → last action
    recent_replies: Mapping[str, datetime] = field(default_factory=dict, hash=False)  # action id → sent at

    def replies_since(self, since: datetime, *, excluding: str) -> int:
        """Automated replies after `since`, not counting `excluding` (a replayed decision)."""
        return sum(1 for aid, at in self.recent_replies.items() if at > since and aid != excluding)

    def after(self, actions: Iterable[Action], at: datetime) -> ConversationState:
        """The state once `actions` were carried out at `at` (what state.claim records, in memory)."""
        fired = dict(self.last_fired)
        replies = {aid: t for aid, t in self.recent_replies.items() if t > at - CAP_WINDOW}
        for action in actions:
            fired[action.rule_id] = Fired(at, action.action_id)
            if action.is_reply:
                replies[action.action_id] = at
        return ConversationState(last_fired=fired, recent_replies=replies)


EMPTY_STATE = ConversationState()


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalContext:
    """Facts about the conversation and business that are not in the event."""

    conversation_id: str = ""  # defaults to the event's conversation_key
    is_first_message: bool = False
    business_name: str | None = None
    timezone: str = DEFAULT_TIMEZONE  # the owner's; business_hours without a timezone use it
    max_replies_per_hour: int | None = DEFAULT_REPLY_CAP  # None = no cap
    state: ConversationState = EMPTY_STATE


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateCall:
    """A resolved template: the row, its parameter values in variable order, and the rendered text."""

    template_id: str
    name: str
    platform: Platform
    meta_template_name: str | None
    language: str | None
    parameters: tuple[str, ...]
    text: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "template_id": self.template_id, "name": self.name, "platform": str(self.platform),
            "meta_template_name": self.meta_template_name, "language": self.language,
            "parameters": list(self.parameters), "text": self.text,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TemplateCall:
        """Inverse of to_dict."""
        return cls(**{**data, "platform": Platform(data["platform"]), "parameters": tuple(data["parameters"])})


def action_id(event_key: str, rule_id: str) -> str:
    """Deterministic id of what `rule_id` does for one inbound event: the same on every retry/replay."""
    return hashlib.sha256(f"{event_key}\x1f{rule_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """One thing to do because a rule matched an event. Reply actions go to the outbound stream."""

    action_id: str
    type: ActionType
    rule_id: str
    rule_name: str
    trigger: Trigger
    event_key: str  # the inbound event's dedupe_key
    platform: Platform
    account_id: str
    conversation_id: str
    remote_user_id: str
    reply_to_id: str | None = None  # the comment (private reply) or message this answers
    priority: int = 100
    cooldown_seconds: int = 0
    text: str | None = None  # send_message text, ai_reply fallback text, notify_owner message
    buttons: tuple[str, ...] = ()
    template: TemplateCall | None = None  # send_template's template
    fallback: TemplateCall | None = None  # send_message's template for when the 24 h window is closed
    tags: tuple[str, ...] = ()
    faq: str | None = None
    hours: float | None = None  # handoff: how long to pause (None: PAPO_HANDOFF_HOURS)

    @property
    def is_reply(self) -> bool:
        """Whether this answers the customer."""
        return self.type in REPLY_ACTIONS

    def describe(self) -> str:
        """One line for people (dry runs, logs): what this action would send or do."""
        if self.type is ActionType.TAG_LEAD:
            return f"tag {', '.join(self.tags)}"
        if self.type is ActionType.NOTIFY_OWNER:
            return f"notify owner: {self.text}"
        if self.type is ActionType.HANDOFF:
            length = f"{self.hours:g} h" if self.hours else "PAPO_HANDOFF_HOURS"
            return f"hand off to the owner: pause automated replies for {length} and alert: {self.text}"
        if self.type is ActionType.AI_REPLY:
            return f"AI reply from the FAQ (fallback without a model: {self.text!r})"
        if self.template is not None:
            return f"send template {self.template.name!r}: {self.template.text}"
        buttons = f" [buttons: {' | '.join(self.buttons)}]" if self.buttons else ""
        fallback = f" (outside the 24 h window: template {self.fallback.name!r})" if self.fallback else ""
        return f"send: {self.text}{buttons}{fallback}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (for the outbound stream), with `v`."""
        return {
            "v": 1, "action_id": self.action_id, "type": str(self.type), "rule_id": self.rule_id,
            "rule_name": self.rule_name, "trigger": str(self.trigger), "event_key": self.event_key,
            "platform": str(self.platform), "account_id": self.account_id,
            "conversation_id": self.conversation_id, "remote_user_id": self.remote_user_id,
            "reply_to_id": self.reply_to_id, "priority": self.priority, "cooldown_seconds": self.cooldown_seconds,
            "text": self.text, "buttons": list(self.buttons),
            "template": self.template.to_dict() if self.template else None,
            "fallback": self.fallback.to_dict() if self.fallback else None,
            "tags": list(self.tags), "faq": self.faq, "hours": self.hours,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Action:
        """Inverse of to_dict (unknown keys from newer producers are ignored)."""
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        values["type"] = ActionType(values["type"])
        values["trigger"] = Trigger(values["trigger"])
        values["platform"] = Platform(values["platform"])
        values["buttons"] = tuple(values.get("buttons") or ())
        values["tags"] = tuple(values.get("tags") or ())
        for name in ("template", "fallback"):
            if values.get(name):
                values[name] = TemplateCall.from_dict(values[name])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Note:
    """Why a rule did not act (skipped) or a remark on an action it produced."""

    rule_id: str
    message: str
    skipped: bool = True


@dataclass(frozen=True, slots=True)
class Decision:
    """The evaluator's full answer: actions to take, and notes explaining the rest."""

    actions: tuple[Action, ...] = ()
    notes: tuple[Note, ...] = ()
    triggers: tuple[Trigger, ...] = ()

    @property
    def reply(self) -> Action | None:
        """The one reply action, if any."""
        return next((a for a in self.actions if a.is_reply), None)
