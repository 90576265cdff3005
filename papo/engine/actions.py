"""Turning a matched rule into an Action: render texts, resolve templates (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from papo.adapters.events import InboundEvent
from papo.ai.base import Classification
from papo.engine.index import RuleIndex
from papo.engine.model import Action, EvalContext, LeadView, Note, RuleView, TemplateCall
from papo.engine.render import BUILTINS, builtin_values, render
from papo.engine.schemas import (
    AiReplyData,
    HandoffData,
    NotifyOwnerData,
    SendMessageData,
    SendTemplateData,
    TagLeadData,
    TemplateRef,
)
from papo.enums import Platform

DEFAULT_NOTIFY = "{rule}: {name} on {platform}: {text}"
DEFAULT_HANDOFF = "{name} ({platform}): {text}"
NOTIFY_TEXT_CHARS = 500


def variables(event: InboundEvent, lead: LeadView | None, context: EvalContext) -> dict[str, str]:
    """Values of the built-in variables for this event."""
    name = (lead.name if lead else None) or event.remote_user_name or event.remote_user_username
    return builtin_values(name=name, business_name=context.business_name, platform=event.platform)


def notify_variables(values: Mapping[str, str], rule: RuleView, event: InboundEvent,
                     classification: Classification | None) -> dict[str, str]:
    """Built-ins plus what only the owner may see: the customer's text and how Papo read it."""
    text = (event.text or "").strip()
    if len(text) > NOTIFY_TEXT_CHARS:
        text = text[:NOTIFY_TEXT_CHARS] + "…"
    out = dict(values)
    out.update(text=text or f"({event.kind})", rule=rule.name, intent="", sentiment="", score="", quality="")
    if classification is not None:
        out.update(intent=str(classification.intent), sentiment=str(classification.sentiment),
                   score=f"{classification.lead_score:.2f}", quality=str(classification.lead_quality))
    return out


def resolve_template(ref: TemplateRef, index: RuleIndex, platform: Platform,
                     values: Mapping[str, str]) -> TemplateCall | str:
    """The template a reference names, with parameters filled; a string says why it cannot be used."""
    template = index.template(template_id=ref.template_id, name=ref.template_name, platform=platform)
    label = ref.template_id or ref.template_name
    if template is None:
        return f"template {label!r} not found"
    if template.meta_template_name and not template.is_approved:
        return f"template {template.name!r} is not approved by Meta"
    given = ref.variables
    if isinstance(given, tuple) and len(given) > len(template.variables):
        return f"template {template.name!r} has {len(template.variables)} variables, {len(given)} values given"
    params: list[str] = []
    for i, var in enumerate(template.variables):
        raw: str | None = None
        if isinstance(given, dict):
            raw = given.get(var)
        elif isinstance(given, tuple) and i < len(given):
            raw = given[i]
        # The owner's text is rendered (it has {variables}); a built-in is taken as is: the customer's name
        # is a value, never rendered as a template.
        value = render(raw, values) if raw is not None else values.get(var, "") if var in BUILTINS else ""
        # WhatsApp refuses empty parameters (error 132000 on count/format): do not even try.
        if not value and template.meta_template_name:
            return f"template {template.name!r}: variable {{{var}}} has no value"
        params.append(value)
    text = render(template.content, {**values, **dict(zip(template.variables, params, strict=True))})
    return TemplateCall(
        template_id=template.id, name=template.name, platform=template.platform,
        meta_template_name=template.meta_template_name, language=template.language,
        parameters=tuple(params), text=text,
    )


def build_action(rule: RuleView, action_id: str, event: InboundEvent, classification: Classification | None,
                 values: Mapping[str, str], index: RuleIndex,
                 context: EvalContext) -> tuple[Action, list[Note]] | str:
    """The Action for a matched rule (`values`: the built-in variables), with remarks; or why it cannot be."""
    notes: list[Note] = []
    fields: dict[str, object] = {}
    data = rule.data
    if isinstance(data, SendMessageData):
        fields.update(text=render(data.text, values), buttons=data.buttons)
        if data.fallback is not None:
            fallback = resolve_template(data.fallback, index, event.platform, values)
            if isinstance(fallback, str):
                notes.append(Note(rule.id, f"fallback unavailable: {fallback}", skipped=False))
            else:
                fields["fallback"] = fallback
    elif isinstance(data, SendTemplateData):
        call = resolve_template(data, index, event.platform, values)
        if isinstance(call, str):
            return call
        fields.update(template=call, text=call.text)
    elif isinstance(data, TagLeadData):
        fields["tags"] = data.tags
    elif isinstance(data, AiReplyData):
        fields.update(faq=data.faq, text=render(data.fallback_text, values) if data.fallback_text else None)
    elif isinstance(data, NotifyOwnerData):
        extra = notify_variables(values, rule, event, classification)
        fields["text"] = render(data.message or DEFAULT_NOTIFY, extra)
    elif isinstance(data, HandoffData):
        extra = notify_variables(values, rule, event, classification)
        fields.update(text=render(data.message or DEFAULT_HANDOFF, extra), hours=data.hours)
    action = Action(
        action_id=action_id, type=rule.action, rule_id=rule.id, rule_name=rule.name, trigger=rule.trigger,
        event_key=event.dedupe_key, platform=event.platform, account_id=event.account_id,
        conversation_id=context.conversation_id or event.conversation_key, remote_user_id=event.remote_user_id,
        reply_to_id=event.platform_message_id, priority=rule.priority, cooldown_seconds=rule.cooldown,
        **fields,  # type: ignore[arg-type]
    )
    return action, notes
