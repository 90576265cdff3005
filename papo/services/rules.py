"""Automation rules of a business: create, list, enable, disable, delete, load, and dry-run them.

Rules are validated with the engine's schemas (papo.engine); template references are checked against
the business's templates. `dry_run` replays a rule over stored messages and sends nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import Tortoise
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from papo.engine import LeadView, RuleError, RuleIndex, RuleView
from papo.engine.dryrun import DryRunItem, HistoryEvent, replay
from papo.engine.model import DEFAULT_TIMEZONE
from papo.engine.render import BUILTINS
from papo.engine.schemas import SendMessageData, SendTemplateData, TemplateRef
from papo.engine.stored import event_from_stored
from papo.engine.text import fold
from papo.engine.validate import ValidRule, rule_warnings, validate_rule
from papo.enums import LeadQuality, RulePlatform, Sender, Trigger
from papo.models import AutomationRule, Conversation, Interaction, Lead, Message, MessageTemplate
from papo.services import NotFound, ServiceError, plans
from papo.services.ids import id_prefix, id_with_prefix
from papo.services.templates import TemplateInfo, UserRef, template_views, user_id

log = logging.getLogger(__name__)

# Stored messages each trigger can come from (dry runs pick the last N of these; see triggers.py).
_TAPS = ("interactive", "button", "quick_reply")
_KINDS: dict[Trigger, Q] = {
    Trigger.MESSAGE: Q(kind="message") | Q(kind__isnull=True),  # no kind: stored before `kind` existed
    Trigger.COMMENT: Q(kind="comment"),
    Trigger.STORY_REPLY: Q(kind="story_reply"),
    Trigger.STORY_MENTION: Q(kind="story_mention"),
    Trigger.POSTBACK: Q(kind="postback") | Q(kind="message", detail_type__in=_TAPS),
    # A message from an ad carries the referral in `metadata`; plain messages among them do not fire.
    Trigger.REFERRAL: Q(kind="referral") | Q(kind="message"),
}
MAX_DRY_RUN = 500


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """A stored rule as the CLI and bot show it, with warnings (or why it no longer validates)."""

    id: uuid.UUID
    name: str
    trigger: str
    platform: str
    action: str
    condition: dict[str, Any]
    action_data: dict[str, Any]
    is_active: bool
    created_at: datetime | None
    priority: int
    warnings: tuple[str, ...] = ()
    error: str | None = None

    @classmethod
    def of(cls, row: AutomationRule) -> RuleInfo:
        """From a row, re-validated (a rule stored by an older version may not pass any more)."""
        data = row.action_data if isinstance(row.action_data, dict) else {}
        try:
            valid = validate_rule(row.trigger, row.platform, row.action, row.condition, row.action_data)
            warnings, error = tuple(rule_warnings(valid)), None
        except RuleError as exc:
            warnings, error = (), str(exc)
        return cls(
            id=row.id, name=row.name, trigger=str(row.trigger), platform=str(row.platform), action=str(row.action),
            condition=dict(row.condition or {}), action_data=dict(data), is_active=bool(row.is_active),
            created_at=row.created_at, priority=int(data.get("priority", 100)) if error is None else 100,
            warnings=warnings, error=error,
        )


def _json(value: Any, field: str) -> Any:
    """Accept a dict or a JSON string (the CLI passes strings)."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return {}
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ServiceError(f"{field}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


async def _check_templates(uid: uuid.UUID, valid: ValidRule) -> list[str]:
    """Problems with the templates a rule refers to (existence, platform, variables)."""
    refs: list[tuple[str, TemplateRef]] = []
    if isinstance(valid.data, SendTemplateData):
        refs.append(("action_data", valid.data))
    elif isinstance(valid.data, SendMessageData) and valid.data.fallback is not None:
        refs.append(("action_data.fallback", valid.data.fallback))
    problems = []
    for where, ref in refs:
        rows = await MessageTemplate.filter(user_id=uid)
        if ref.template_id:
            found = [r for r in rows if str(r.id) == ref.template_id]
        else:
            found = [r for r in rows if fold(r.name) == fold(ref.template_name or "")]
        if valid.platform is not RulePlatform.ANY:
            found = [r for r in found if str(r.platform) == valid.platform.value] or found
        if not found:
            problems.append(f"{where}: no template {ref.template_id or ref.template_name!r} (add it first)")
            continue
        template = found[0]
        if valid.platform is not RulePlatform.ANY and str(template.platform) != valid.platform.value:
            problems.append(f"{where}: template {template.name!r} is for {template.platform}, "
                            f"the rule for {valid.platform}")
        variables = list(template.variables or ())
        given = ref.variables
        if isinstance(given, tuple) and len(given) > len(variables):
            problems.append(f"{where}.variables: template {template.name!r} has {len(variables)} variables, "
                            f"{len(given)} values given")
        for i, var in enumerate(variables):
            has = (isinstance(given, dict) and var in given) or (isinstance(given, tuple) and i < len(given))
            if not has and var not in BUILTINS:
                problems.append(f"{where}.variables: template {template.name!r} needs a value for {{{var}}}")
    return problems


async def create_rule(user: UserRef, *, name: str, trigger: str, platform: str, action: str,
                      condition: Mapping[str, Any] | str | None = None,
                      action_data: Mapping[str, Any] | str | None = None, is_active: bool = True) -> RuleInfo:
    """Validate and store a rule; ServiceError lists every problem. RuleInfo.warnings says what may surprise."""
    uid = user_id(user)
    name = name.strip()
    if not name or len(name) > 255:
        raise ServiceError("name: must be 1 to 255 characters")
    try:
        valid = validate_rule(trigger, platform, action, _json(condition, "condition"),
                              _json(action_data, "action_data"))
    except RuleError as exc:
        raise ServiceError("; ".join(exc.problems)) from None
    problems = await _check_templates(uid, valid)
    if problems:
        raise ServiceError("; ".join(problems))
    for other in await AutomationRule.filter(user_id=uid).only("id", "name"):
        if fold(other.name) == fold(name):  # names are how owners refer to rules in the bot and CLI
            raise ServiceError(f"a rule named {other.name!r} already exists")
    async with in_transaction() as conn:
        if is_active:  # an active rule must fit in the plan; a disabled one is only a draft
            await plans.ensure_room(conn, uid, plans.ACTIVE_RULES)
        row = await AutomationRule.create(
            user_id=uid, name=name, trigger=valid.trigger, platform=valid.platform, action=valid.action,
            condition=valid.condition_json(), action_data=valid.data_json(), is_active=is_active,
        )
    return RuleInfo.of(row)


async def list_rules(user: UserRef, *, active: bool | None = None, trigger: str | None = None,
                     platform: str | None = None) -> list[RuleInfo]:
    """A business's rules in evaluation order (priority, then creation)."""
    query = AutomationRule.filter(user_id=user_id(user))
    if active is not None:
        query = query.filter(is_active=active)
    if trigger is not None:
        query = query.filter(trigger=trigger.strip().lower())
    if platform is not None:
        query = query.filter(platform=platform.strip().lower())
    infos = [RuleInfo.of(row) for row in await query.order_by("created_at", "id")]
    return sorted(infos, key=lambda r: r.priority)  # stable: creation order within a priority


async def _rule_row(uid: uuid.UUID, ref: str | uuid.UUID) -> AutomationRule:
    """A rule by id, by its (unique) name, or by a unique prefix of its id (6+ characters, as for posts)."""
    text = str(ref).strip()
    try:
        row = await AutomationRule.get_or_none(id=uuid.UUID(text), user_id=uid)
    except ValueError:
        row = next((r for r in await AutomationRule.filter(user_id=uid) if fold(r.name) == fold(text)), None)
        prefix = id_prefix(text)
        if row is None and prefix is not None:
            found = await id_with_prefix("automation_rules", prefix, user_id=uid, what="rule")
            row = await AutomationRule.get_or_none(id=found) if found else None
    if row is None:
        raise NotFound(f"no rule {text!r}")
    return row


async def get_rule(user: UserRef, ref: str | uuid.UUID) -> RuleInfo:
    """One rule by id or name."""
    return RuleInfo.of(await _rule_row(user_id(user), ref))


async def set_rule_active(user: UserRef, ref: str | uuid.UUID, active: bool) -> RuleInfo:
    """Enable or disable a rule; enabling re-validates it (templates may have changed)."""
    uid = user_id(user)
    row = await _rule_row(uid, ref)
    if active:
        info = RuleInfo.of(row)
        if info.error:
            raise ServiceError(f"rule {row.name!r} is not valid any more: {info.error}")
        valid = validate_rule(row.trigger, row.platform, row.action, row.condition, row.action_data)
        problems = await _check_templates(uid, valid)
        if problems:
            raise ServiceError(f"rule {row.name!r}: " + "; ".join(problems))
    async with in_transaction() as conn:
        if active and not row.is_active:
            await plans.ensure_room(conn, uid, plans.ACTIVE_RULES, excluding=row.id)
        row.is_active = active
        await row.save(update_fields=["is_active", "updated_at"])
    return RuleInfo.of(row)


async def enable_rule(user: UserRef, ref: str | uuid.UUID) -> RuleInfo:
    """Enable a rule."""
    return await set_rule_active(user, ref, True)


async def disable_rule(user: UserRef, ref: str | uuid.UUID) -> RuleInfo:
    """Disable a rule."""
    return await set_rule_active(user, ref, False)


async def delete_rule(user: UserRef, ref: str | uuid.UUID) -> RuleInfo:
    """Delete a rule; returns what was deleted."""
    row = await _rule_row(user_id(user), ref)
    info = RuleInfo.of(row)
    await row.delete()
    return info


def rule_view(row: AutomationRule, *, force_active: bool = False) -> RuleView:
    """The evaluator's view of a stored rule (RuleError when it does not validate)."""
    return RuleView.from_row(
        id=row.id, name=row.name, trigger=row.trigger, platform=row.platform, action=row.action,
        condition=row.condition, action_data=row.action_data, created_at=row.created_at,
        is_active=True if force_active else row.is_active,
    )


async def load_index(user: UserRef) -> RuleIndex:
    """The business's active rules and templates, indexed (invalid stored rules are logged and skipped)."""
    uid = user_id(user)
    views = []
    for row in await AutomationRule.filter(user_id=uid, is_active=True):
        try:
            views.append(rule_view(row))
        except RuleError as exc:
            log.warning("rule %s (%s) of user %s skipped: %s", row.id, row.name, uid, exc)
    return RuleIndex.build(views, await template_views(uid))


async def rules_version(user: UserRef) -> str:
    """A fingerprint that changes whenever the business's rules or templates change (a load_index cache key)."""
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM automation_rules "
        "WHERE user_id = $1) || '/' || (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') "
        "FROM message_templates WHERE user_id = $1) AS v",
        [user_id(user)],
    )
    return str(rows[0]["v"])


# --- dry run -------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DryRun:
    """A rule and its verdict on each of the last messages."""

    rule: RuleInfo
    items: tuple[DryRunItem, ...]

    @property
    def fired(self) -> int:
        """How many of the messages the rule would have acted on."""
        return sum(1 for item in self.items if item.fired)


async def _first_messages(conversation_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Ids of the first customer message of each conversation."""
    if not conversation_ids:
        return set()
    rows = await Tortoise.get_connection("default").execute_query_dict(
        "SELECT DISTINCT ON (conversation_id) id FROM messages WHERE conversation_id = ANY($1::uuid[]) "
        "AND sender = 'remote' ORDER BY conversation_id, created_at, id",
        [conversation_ids],
    )
    return {row["id"] for row in rows}


async def _leads(uid: uuid.UUID, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Lead]:
    if not keys:
        return {}
    rows = await Lead.filter(user_id=uid, remote_user_id__in=[k[1] for k in keys])
    return {(str(r.platform), r.remote_user_id): r for r in rows}


def _lead_view(lead: Lead | None, conversation: Conversation | None) -> LeadView | None:
    tags = set((conversation.tags or []) if conversation else [])
    if lead is None:
        return LeadView(name=conversation.remote_user_name, tags=frozenset(tags)) if conversation else None
    tags.update(lead.tags or [])
    return LeadView(id=str(lead.id), name=lead.remote_user_name, tags=frozenset(tags),
                    quality=LeadQuality(lead.quality) if lead.quality else None, email=lead.email, phone=lead.phone)


async def dry_run(user: UserRef, ref: str | uuid.UUID, *, last_n: int = 20, timezone: str | None = None,
                  max_replies_per_hour: int | None = 20) -> DryRun:
    """What a stored rule (active or not) would have done with the last N fitting messages; sends nothing.

    Messages are replayed oldest first with a simulated cooldown/cap state, so a dry run also shows
    replies a cooldown would have suppressed.
    """
    from papo.ai.local import default_classifier  # loads the model only when a dry run needs it

    uid = user_id(user)
    if not 1 <= last_n <= MAX_DRY_RUN:
        raise ServiceError(f"last: must be between 1 and {MAX_DRY_RUN}")
    row = await _rule_row(uid, ref)
    info = RuleInfo.of(row)
    if info.error:
        raise ServiceError(f"rule {row.name!r} is not valid: {info.error}")
    view = rule_view(row, force_active=True)
    rows = await _stored_events(uid, view, last_n)
    first = await _first_messages(list({c.id for _, c, _ in rows if c is not None}))
    leads = await _leads(uid, {(e.platform.value, e.remote_user_id) for _, _, e in rows})
    history = [
        HistoryEvent(
            row_id=str(row_id), conversation_id=str(conv.id) if conv else event.conversation_key, event=event,
            is_first_message=row_id in first, business_name=_business_name(conv),
            lead=_lead_view(leads.get((event.platform.value, event.remote_user_id)), conv),
        )
        for row_id, conv, event in rows
    ]
    items = replay(view, history, templates=await template_views(uid), classify=default_classifier().predict,
                   timezone=timezone or DEFAULT_TIMEZONE, max_replies_per_hour=max_replies_per_hour)
    return DryRun(info, tuple(items))


def _business_name(conv: Conversation | None) -> str | None:
    """The account's business name, else the owner's name (both prefetched)."""
    if conv is None:
        return None
    return getattr(conv.account, "business_name", None) or getattr(conv.user, "name", None)


async def _stored_events(uid: uuid.UUID, view: RuleView, last_n: int) -> list[tuple[uuid.UUID, Any, Any]]:
    """(row id, conversation or None, InboundEvent) of the last N fitting rows, oldest first."""
    platform = None if view.platform is RulePlatform.ANY else view.platform.value
    if view.trigger in _KINDS:
        query = Message.filter(_KINDS[view.trigger], conversation__user_id=uid, sender=Sender.REMOTE)
        if platform:
            query = query.filter(conversation__platform=platform)
        msgs = await query.order_by("-created_at").limit(last_n).prefetch_related(
            "conversation", "conversation__account", "conversation__user")
        out = []
        for m in reversed(msgs):
            conv = m.conversation
            if conv is None:  # the FK is nullable in the seed; such a row has no customer to answer
                continue
            event = event_from_stored(
                platform=str(conv.platform), account_id=conv.account.platform_account_id if conv.account else "",
                remote_user_id=conv.remote_user_id, remote_user_name=conv.remote_user_name, kind=m.kind,
                text=m.message_text, is_business=False, platform_message_id=m.platform_message_id,
                message_type=str(m.message_type) if m.message_type else None, detail_type=m.detail_type,
                post_id=m.post_id, media_id=m.media_id, reply_to_id=m.reply_to_id,
                at=m.platform_timestamp or m.created_at, metadata=m.metadata,
            )
            out.append((m.id, conv, event))
        return out
    return await _stored_interactions(uid, view, platform, last_n)


async def _stored_interactions(uid: uuid.UUID, view: RuleView, platform: str | None,
                               last_n: int) -> list[tuple[uuid.UUID, Any, Any]]:
    """Likes, follows and story views (interactions, not messages) as events."""
    query = Interaction.filter(user_id=uid, kind=view.trigger.value)
    if platform:
        query = query.filter(platform=platform)
    out = []
    for it in reversed(await query.order_by("-occurred_at").limit(last_n).prefetch_related("account")):
        event = event_from_stored(
            platform=str(it.platform), account_id=it.account.platform_account_id if it.account else "",
            remote_user_id=it.remote_user_id, remote_user_name=it.remote_user_name, kind=it.kind, text=None,
            is_business=False, platform_message_id=it.dedupe_key, message_type=None, detail_type=None,
            post_id=it.target_id, media_id=None, reply_to_id=None, at=it.occurred_at or it.created_at,
            metadata=None,
        )
        out.append((it.id, None, event))
    return out


__all__ = [
    "DryRun", "DryRunItem", "RuleInfo", "TemplateInfo", "create_rule", "delete_rule", "disable_rule", "dry_run",
    "enable_rule", "get_rule", "list_rules", "load_index", "rule_view", "rules_version", "set_rule_active",
]
