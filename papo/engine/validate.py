"""validate_rule(): one call that checks a whole rule and says everything that is wrong with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from papo.engine.errors import RuleError, problems
from papo.engine.schemas import (
    ActionData,
    AiReplyData,
    Condition,
    HandoffData,
    NotifyOwnerData,
    SendMessageData,
    SendTemplateData,
    TagLeadData,
)
from papo.engine.triggers import MEDIA_TRIGGERS, PAYLOAD_TRIGGERS, TEXT_TRIGGERS, platforms_for, trigger_possible
from papo.enums import Action, Platform, RulePlatform, Trigger

ACTION_MODELS: dict[Action, type[ActionData]] = {
    Action.SEND_MESSAGE: SendMessageData,
    Action.SEND_TEMPLATE: SendTemplateData,
    Action.TAG_LEAD: TagLeadData,
    Action.AI_REPLY: AiReplyData,
    Action.NOTIFY_OWNER: NotifyOwnerData,
    Action.HANDOFF: HandoffData,
}
REPLY_ACTIONS = frozenset({Action.SEND_MESSAGE, Action.SEND_TEMPLATE, Action.AI_REPLY})
_TEXT_KEYS = ("keywords_any", "keywords_all", "regex", "intent_in", "sentiment_in", "language_in")
# Platforms whose send APIs have quick-reply buttons (WhatsApp interactive, Meta quick replies, Kwai's
# custom channel passes them through).
BUTTON_PLATFORMS = frozenset({Platform.WHATSAPP, Platform.INSTAGRAM, Platform.FACEBOOK, Platform.KWAI})


@dataclass(frozen=True, slots=True)
class ValidRule:
    """A rule that passed validation, with its parsed condition and action data."""

    trigger: Trigger
    platform: RulePlatform
    action: Action
    condition: Condition
    data: ActionData

    def condition_json(self) -> dict[str, Any]:
        """The condition as it should be stored: normalised, only the keys that were given."""
        return self.condition.model_dump(mode="json", exclude_unset=True)

    def data_json(self) -> dict[str, Any]:
        """The action data as it should be stored."""
        return self.data.model_dump(mode="json", exclude_unset=True)

    @property
    def is_reply(self) -> bool:
        """Whether the action answers the customer (at most one per event)."""
        return self.action in REPLY_ACTIONS


def _enum(kind: type[Any], value: Any, field: str, errors: list[str]) -> Any:
    try:
        return kind(str(value).strip().lower())
    except ValueError:
        errors.append(f"{field}: {value!r} is not one of: {', '.join(m.value for m in kind)}")
        return None


def _object(value: Any, field: str, errors: list[str]) -> dict[str, Any] | None:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append(f"{field}: must be a JSON object")
        return None
    return value


def validate_rule(trigger: Any, platform: Any, action: Any, condition: Any, action_data: Any) -> ValidRule:
    """Parse and check a rule; raises RuleError listing every problem, each naming its field."""
    errors: list[str] = []
    trig = _enum(Trigger, trigger, "trigger", errors)
    plat = _enum(RulePlatform, platform, "platform", errors)
    act = _enum(Action, action, "action", errors)
    cond_raw = _object(condition, "condition", errors)
    data_raw = _object(action_data, "action_data", errors)
    cond: Condition | None = None
    data: ActionData | None = None
    if cond_raw is not None:
        try:
            cond = Condition.model_validate(cond_raw)
        except ValidationError as exc:
            errors.extend(problems(exc, "condition", Condition))
    if act is not None and data_raw is not None:
        model = ACTION_MODELS[act]
        try:
            data = model.model_validate(data_raw)
        except ValidationError as exc:
            errors.extend(problems(exc, "action_data", model))
    if cond is not None and trig is not None:
        errors.extend(_fits_trigger(cond, trig))
    if errors or trig is None or plat is None or act is None or cond is None or data is None:
        raise RuleError(errors)
    return ValidRule(trig, plat, act, cond, data)


def _fits_trigger(cond: Condition, trigger: Trigger) -> list[str]:
    """Conditions that can never hold for this trigger are errors: the rule would never fire."""
    out = []
    if trigger not in TEXT_TRIGGERS:
        for key in _TEXT_KEYS:
            if getattr(cond, key) is not None:
                out.append(f"condition.{key}: a {trigger} event has no text to check")
    if cond.media_id is not None and trigger not in MEDIA_TRIGGERS:
        allowed = ", ".join(sorted(MEDIA_TRIGGERS))
        out.append(f"condition.media_id: only applies to these triggers: {allowed}")
    if cond.payload_in is not None and trigger not in PAYLOAD_TRIGGERS:
        allowed = ", ".join(sorted(PAYLOAD_TRIGGERS))
        out.append(f"condition.payload_in: only applies to these triggers: {allowed}")
    return out


def rule_warnings(rule: ValidRule) -> list[str]:
    """Things that are allowed but probably not what the owner wants (shown, not refused)."""
    out = []
    if not trigger_possible(rule.trigger, rule.platform):
        able = ", ".join(platforms_for(rule.trigger)) or "no platform"
        where = "any platform" if rule.platform is RulePlatform.ANY else str(rule.platform)
        out.append(f"{where} never reports {rule.trigger} events (only: {able}); this rule will not fire")
    if isinstance(rule.data, SendMessageData) and rule.data.buttons:
        if rule.platform is RulePlatform.ANY:
            out.append("buttons are dropped on platforms without quick replies (TikTok, YouTube)")
        elif Platform(rule.platform.value) not in BUTTON_PLATFORMS:
            out.append(f"{rule.platform} has no quick-reply buttons; they will be dropped")
    if rule.trigger is Trigger.COMMENT and rule.is_reply and rule.platform in (
        RulePlatform.INSTAGRAM, RulePlatform.FACEBOOK, RulePlatform.ANY
    ):
        out.append("on Instagram and Facebook a comment is answered by one private reply (DM), within 7 days")
    return out
