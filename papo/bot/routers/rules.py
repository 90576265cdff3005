"""Rules: the list with on/off toggles, a rule's card, dry runs, deletion. Creation is in rule_wizard.py."""

from __future__ import annotations

import uuid

from aiogram import F
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup
from aiogram.utils.callback_answer import CallbackAnswer

from papo.bot import views
from papo.bot.keyboards import Nav, RuleAct, back, button, pager, rows, short
from papo.bot.locales import Translator
from papo.bot.routers.common import Event, linked_router, need_id, show
from papo.services import ServiceError, rules
from papo.services.owners import Owner
from papo.services.rules import DryRun, RuleInfo

router = linked_router("rules")
PER_PAGE = 8
DRY_RUN_MESSAGES = 20
DRY_RUN_SHOWN = 5


@router.message(Command("rules"))
@router.callback_query(Nav.filter(F.to == "rules"))
async def list_command(event: Event, owner: Owner, t: Translator, state: FSMContext) -> None:
    """Every rule, with an on/off switch each."""
    await state.clear()
    await show_list(event, owner, t, 0)


@router.callback_query(RuleAct.filter(F.act == "list"))
async def list_page(query: CallbackQuery, callback_data: RuleAct, owner: Owner, t: Translator) -> None:
    """Another page of rules."""
    await show_list(query, owner, t, callback_data.page)


async def show_list(event: Event, owner: Owner, t: Translator, page: int) -> None:
    """One page of rules in evaluation order."""
    found = await rules.list_rules(owner.user_id)
    pages = max(1, -(-len(found) // PER_PAGE))
    page = min(max(0, page), pages - 1)
    lines = []
    for rule in found[page * PER_PAGE:(page + 1) * PER_PAGE]:
        rid = short(rule.id)
        lines.append([button(views.rule_line(rule), RuleAct(act="open", id=rid, page=page)),
                      button(t("rule.turn_off") if rule.is_active else t("rule.turn_on"),
                             RuleAct(act="toggle", id=rid, page=page))])
    markup = rows(*lines, pager(page, pages, lambda n: RuleAct(act="list", page=n)),
                  [button(t("rule.new"), RuleAct(act="new"))], [back(t, Nav(to="menu"))])
    active = sum(1 for r in found if r.is_active)
    await show(event, t("rule.title", total=len(found), active=active) if found else t("rule.none"), markup)


@router.callback_query(RuleAct.filter(F.act == "toggle"))
async def toggle(query: CallbackQuery, callback_data: RuleAct, owner: Owner, t: Translator,
                 callback_answer: CallbackAnswer) -> None:
    """Turn a rule on or off from the list (turning on re-validates it)."""
    rule = await rules.get_rule(owner.user_id, need_id(callback_data.id))
    try:
        changed = await rules.set_rule_active(owner.user_id, rule.id, not rule.is_active)
    except ServiceError as exc:
        callback_answer.text, callback_answer.show_alert = views.plain(views.problem(t, exc))[:200], True
        return
    callback_answer.text = t("rule.now_on" if changed.is_active else "rule.now_off", name=changed.name)
    await show_list(query, owner, t, callback_data.page)


def card_markup(t: Translator, rule: RuleInfo, page: int = 0) -> InlineKeyboardMarkup:
    """A rule's buttons."""
    rid = short(rule.id)
    return rows([button(t("rule.turn_off") if rule.is_active else t("rule.turn_on"), RuleAct(act="flip", id=rid)),
                  button(t("rule.dry_run"), RuleAct(act="dry", id=rid))],
                 [button(t("rule.delete"), RuleAct(act="del", id=rid))],
                 [back(t, RuleAct(act="list", page=page))])


@router.callback_query(RuleAct.filter(F.act == "open"))
async def open_(query: CallbackQuery, callback_data: RuleAct, owner: Owner, t: Translator) -> None:
    """A rule's card."""
    rule = await rules.get_rule(owner.user_id, need_id(callback_data.id))
    await show(query, views.rule_card(t, rule), card_markup(t, rule, callback_data.page))


@router.callback_query(RuleAct.filter(F.act == "flip"))
async def flip(query: CallbackQuery, callback_data: RuleAct, owner: Owner, t: Translator) -> None:
    """Turn a rule on or off from its card."""
    rule = await rules.get_rule(owner.user_id, need_id(callback_data.id))
    changed = await rules.set_rule_active(owner.user_id, rule.id, not rule.is_active)
    await show(query, views.rule_card(t, changed), card_markup(t, changed))


def dry_run_text(t: Translator, result: DryRun) -> str:
    """What a dry run found: how often it would have acted, and a few examples."""
    if not result.items:
        return t("rule.dry_none")
    lines = [t("rule.dry_summary", fired=result.fired, total=len(result.items))]
    for item in list(result.items)[-DRY_RUN_SHOWN:]:
        lines.append(t("rule.dry_item", text=views.snippet(item.text or "—", 50), result=item.describe()[:200]))
    return "\n".join(lines)


async def run_dry(owner: Owner, t: Translator, rule_id: uuid.UUID) -> str:
    """The dry run's text, or why there is none."""
    try:
        result = await rules.dry_run(owner.user_id, rule_id, last_n=DRY_RUN_MESSAGES, timezone=owner.prefs.timezone)
    except ServiceError as exc:
        return t("error", message=str(exc))
    return dry_run_text(t, result)


@router.callback_query(RuleAct.filter(F.act == "dry"))
async def dry(query: CallbackQuery, callback_data: RuleAct, owner: Owner, t: Translator) -> None:
    """What the rule would have done with the last messages (nothing is sent)."""
    rule = await rules.get_rule(owner.user_id, need_id(callback_data.id))
    text = views.rule_card(t, rule) + "\n\n" + await run_dry(owner, t, rule.id)
    await show(query, text, card_markup(t, rule))


@router.callback_query(RuleAct.filter(F.act == "del"))
async def ask_delete(query: CallbackQuery, callback_data: RuleAct, owner: Owner, t: Translator) -> None:
    """Confirm before deleting."""
    rule = await rules.get_rule(owner.user_id, need_id(callback_data.id))
    await show(query, t("rule.confirm_delete", name=rule.name),
               rows([button(t("btn.yes_delete"), RuleAct(act="delok", id=callback_data.id)),
                     back(t, RuleAct(act="open", id=callback_data.id))]))


@router.callback_query(RuleAct.filter(F.act == "delok"))
async def delete(query: CallbackQuery, callback_data: RuleAct, owner: Owner, t: Translator,
                 callback_answer: CallbackAnswer) -> None:
    """Delete the rule."""
    gone = await rules.delete_rule(owner.user_id, need_id(callback_data.id))
    callback_answer.text = t("rule.deleted", name=gone.name)
    await show_list(query, owner, t, 0)
