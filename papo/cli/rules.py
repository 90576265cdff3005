"""`papo rules …` and `papo templates …`: the owner's automation from the command line."""

from __future__ import annotations

import argparse
import dataclasses
import uuid
from typing import TYPE_CHECKING, Any

from papo.cli.common import CommandError, positive_int, print_json, run_with_stores

if TYPE_CHECKING:
    from papo.config import Settings


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _print(value: Any) -> None:
    print_json(_jsonable(value))


async def _owner_of_rule(rule_id: str) -> uuid.UUID:
    """The business a rule belongs to, when the command names only the rule (its id or a unique prefix)."""
    from papo.models import AutomationRule
    from papo.services.ids import id_prefix, id_with_prefix

    try:
        rule = await AutomationRule.get_or_none(id=uuid.UUID(rule_id))
    except ValueError:
        prefix = id_prefix(rule_id)
        found = await id_with_prefix("automation_rules", prefix, user_id=None, what="rule") if prefix else None
        rule = await AutomationRule.get_or_none(id=found) if found else None
    if rule is None or rule.user_id is None:
        raise CommandError(f"no rule with id {rule_id!r} (give --user EMAIL to refer to a rule by name)")
    return rule.user_id


async def _user(email: str | None, rule_id: str | None = None) -> Any:
    from papo.services.users import get_user_by_email

    if email:
        return await get_user_by_email(email)
    if rule_id:
        return await _owner_of_rule(rule_id)
    raise CommandError("--user EMAIL is required")


def cmd_rules_add(args: argparse.Namespace) -> int:
    """Create a rule (validated; every problem is named)."""
    from papo.services.rules import create_rule

    async def work(settings: Settings, stores: Any) -> Any:
        return await create_rule(await _user(args.user), name=args.name, trigger=args.trigger,
                                 platform=args.platform, action=args.action, condition=args.condition,
                                 action_data=args.data, is_active=not args.disabled)

    _print(run_with_stores(args, work))
    return 0


def cmd_rules_list(args: argparse.Namespace) -> int:
    """One JSON line per rule of the business."""
    from papo.services.rules import list_rules

    async def work(settings: Settings, stores: Any) -> Any:
        return await list_rules(await _user(args.user))

    for rule in run_with_stores(args, work):
        _print(rule)
    return 0


def _toggle(args: argparse.Namespace, op: str) -> int:
    from papo.services import rules

    async def work(settings: Settings, stores: Any) -> Any:
        user = await _user(args.user, args.rule)
        return await getattr(rules, f"{op}_rule")(user, args.rule)

    _print(run_with_stores(args, work))
    return 0


def cmd_rules_enable(args: argparse.Namespace) -> int:
    """Turn a rule on."""
    return _toggle(args, "enable")


def cmd_rules_disable(args: argparse.Namespace) -> int:
    """Turn a rule off."""
    return _toggle(args, "disable")


def cmd_rules_delete(args: argparse.Namespace) -> int:
    """Delete a rule."""
    return _toggle(args, "delete")


def cmd_rules_test(args: argparse.Namespace) -> int:
    """Dry run: which of the last N stored messages the rule would act on, and what it would send."""
    from papo.services.rules import dry_run

    async def work(settings: Settings, stores: Any) -> Any:
        user = await _user(args.user, args.rule)
        return await dry_run(user, args.rule, last_n=args.last, timezone=settings.timezone)

    result = run_with_stores(args, work)
    for item in result.items:
        print_json({
            "message": item.row_id, "conversation": item.conversation_id, "text": item.event.text,
            "fires": item.fired, "would": [a.describe() for a in item.actions], "reason": item.reason,
        })
    fired = sum(1 for item in result.items if item.fired)
    print(f"{fired} of {len(result.items)} messages would fire the rule (nothing was sent)", flush=True)
    return 0


def cmd_templates_add(args: argparse.Namespace) -> int:
    """Store a message template; variables are found from its {placeholders}."""
    from papo.services.templates import add_template

    async def work(settings: Settings, stores: Any) -> Any:
        return await add_template(await _user(args.user), platform=args.platform, name=args.name,
                                  content=args.content, meta_template_name=args.meta_template_name,
                                  language=args.language, approved=args.approved)

    _print(run_with_stores(args, work))
    return 0


def cmd_templates_list(args: argparse.Namespace) -> int:
    """One JSON line per template."""
    from papo.services.templates import list_templates

    async def work(settings: Settings, stores: Any) -> Any:
        return await list_templates(await _user(args.user), platform=args.platform)

    for template in run_with_stores(args, work):
        _print(template)
    return 0


def cmd_templates_delete(args: argparse.Namespace) -> int:
    """Delete a template (refused while an active rule uses it, unless --force)."""
    from papo.services.templates import TemplateInUse, delete_template

    async def work(settings: Settings, stores: Any) -> Any:
        try:
            return await delete_template(await _user(args.user), args.template, force=args.force)
        except TemplateInUse as exc:
            raise CommandError(f"{exc}, or give --force to delete it anyway") from None

    _print(run_with_stores(args, work))
    return 0


RULE_REF = "the rule's id (or its first 6+ characters, or its name with --user)"


def add_commands(sub: Any, add: Any) -> None:
    """Register `papo rules …` and `papo templates …`."""
    rules = sub.add_parser("rules", help="automation rules", description="The business's automation rules.")
    rules_sub = rules.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    p = add("add", cmd_rules_add, "create a rule (see README: conditions and actions)", rules_sub)
    p.add_argument("--user", required=True, help="the owner's email")
    p.add_argument("--name", required=True)
    p.add_argument("--trigger", required=True,
                   help="message, comment, story_reply, story_mention, postback, referral, follow, like, story_view")
    p.add_argument("--platform", required=True, help="a platform, or any")
    p.add_argument("--condition", default="{}", help='JSON, e.g. {"keywords_any": ["preço"]}')
    p.add_argument("--action", required=True,
                   help="send_message, send_template, tag_lead, ai_reply, notify_owner, handoff")
    p.add_argument("--data", default="{}", help='JSON action data, e.g. {"text": "Oi {first_name}!"}')
    p.add_argument("--disabled", action="store_true", help="store it switched off")
    p = add("list", cmd_rules_list, "list the rules", rules_sub)
    p.add_argument("--user", required=True)
    for name, func, help_ in (("enable", cmd_rules_enable, "switch a rule on"),
                              ("disable", cmd_rules_disable, "switch a rule off"),
                              ("delete", cmd_rules_delete, "delete a rule")):
        p = add(name, func, help_, rules_sub)
        p.add_argument("rule", metavar="RULE_ID", help=RULE_REF)
        p.add_argument("--user", help="the owner's email")
    p = add("test", cmd_rules_test, "dry run over the stored messages: what would fire, what would be sent",
            rules_sub)
    p.add_argument("rule", metavar="RULE_ID", help=RULE_REF)
    p.add_argument("--user", help="the owner's email")
    p.add_argument("--last", type=positive_int, default=20, help="how many recent messages (default 20)")

    templates = sub.add_parser("templates", help="message templates", description="Message templates.")
    templates_sub = templates.add_subparsers(dest="templates_command", metavar="ACTION", required=True)
    p = add("add", cmd_templates_add, "store a template", templates_sub)
    p.add_argument("--user", required=True)
    p.add_argument("--platform", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--content", required=True, help="text with {placeholders}")
    p.add_argument("--meta-template-name", help="WhatsApp: the approved template's name")
    p.add_argument("--language", help="WhatsApp: the template's language code (e.g. pt_BR)")
    p.add_argument("--approved", action="store_true", help="WhatsApp: the template is approved by Meta")
    p = add("list", cmd_templates_list, "list templates", templates_sub)
    p.add_argument("--user", required=True)
    p.add_argument("--platform")
    p = add("delete", cmd_templates_delete, "delete a template", templates_sub)
    p.add_argument("template", metavar="TEMPLATE", help="id or name")
    p.add_argument("--user", required=True)
    p.add_argument("--force", action="store_true", help="even if an active rule uses it")
