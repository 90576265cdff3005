"""Guided rule creation: trigger → platform → conditions → action → text or template → name → dry run → save.

Each step is checked with the engine's own validation (`validate_rule`), so a condition that can
never hold, or a text with an unknown `{variable}`, is refused at the step that introduced it. The
rule is stored switched off, dry-run, and only switched on when the owner saves it.
"""

from __future__ import annotations

from typing import Any

from aiogram import F
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from papo.bot import views
from papo.bot.filters import TextInput
from papo.bot.keyboards import RuleAct, RuleWiz, back, button, grid, rows, short
from papo.bot.locales import Translator
from papo.bot.routers.common import Event, linked_router, need_id, show
from papo.bot.routers.rules import card_markup, run_dry, show_list
from papo.engine import RuleError, trigger_possible, validate_rule
from papo.engine.render import BUILTINS
from papo.engine.triggers import TEXT_TRIGGERS, platforms_for
from papo.enums import Action, Intent, LeadQuality, RulePlatform, Sentiment, Trigger
from papo.services import ServiceError, rules, templates
from papo.services.owners import Owner

router = linked_router("rule_wizard")
TOGGLES = {"intent": ("intent_in", Intent), "sentiment": ("sentiment_in", Sentiment),
           "quality": ("quality_in", LeadQuality)}


class RuleStates(StatesGroup):
    """Typed answers the wizard asks for."""

    keywords = State()
    hours = State()
    text = State()
    template_values = State()
    name = State()


def _problems(data: dict[str, Any], action: str | None = None, action_data: dict[str, Any] | None = None) -> str | None:
    """The engine's verdict on the rule so far (a harmless placeholder action until one is chosen)."""
    try:
        validate_rule(data.get("trigger"), data.get("platform"), action or "tag_lead", data.get("condition") or {},
                      action_data if action_data is not None else {"tags": ["x"]})
    except RuleError as exc:
        return "\n".join(f"• {p}" for p in exc.problems)
    return None


@router.callback_query(RuleAct.filter(F.act == "new"))
async def start(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    """Step 1: the trigger."""
    await state.clear()
    await state.set_data({"condition": {}})
    markup = rows(*grid([button(t("trigger." + tr.value), RuleWiz(step="trigger", v=tr.value)) for tr in Trigger]),
                  [back(t, RuleAct(act="list"))])
    await show(query, t("wiz.trigger"), markup)


@router.callback_query(RuleWiz.filter(F.step == "trigger"))
async def got_trigger(query: CallbackQuery, callback_data: RuleWiz, t: Translator, state: FSMContext) -> None:
    """Step 2: the platform (platforms that never report the trigger are marked)."""
    await state.update_data(trigger=callback_data.v, condition={})
    buttons = [button(("" if trigger_possible(callback_data.v, p) else "⚠️ ") + t("platform." + p.value),
                      RuleWiz(step="platform", v=p.value)) for p in RulePlatform]
    await show(query, t("wiz.platform", trigger=t("trigger." + callback_data.v)),
               rows(*grid(buttons, 3), [back(t, RuleAct(act="new"))]))


@router.callback_query(RuleWiz.filter(F.step.in_({"platform", "platform_ok"})))
async def got_platform(query: CallbackQuery, callback_data: RuleWiz, t: Translator, state: FSMContext) -> None:
    """Warn when the trigger can never fire there; else go on to the conditions."""
    data = await state.get_data()
    trigger = data.get("trigger")
    if trigger is None:
        await show(query, t("wiz.start_over"), rows([button(t("rule.new"), RuleAct(act="new"))]))
        return
    if callback_data.step == "platform" and not trigger_possible(trigger, callback_data.v):
        able = ", ".join(views.platform_name(p.value) for p in platforms_for(trigger)) or "—"
        await show(query, t("wiz.never_fires", platform=t("platform." + callback_data.v),
                            trigger=t("trigger." + trigger), able=able),
                   rows([button(t("wiz.other_platform"), RuleWiz(step="trigger", v=trigger))],
                        [button(t("wiz.continue_anyway"), RuleWiz(step="platform_ok", v=callback_data.v))]))
        return
    await state.update_data(platform=callback_data.v)
    await conditions(query, t, state)


def _condition_text(t: Translator, condition: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in condition.items()) or t("rule.always")


async def conditions(event: Event, t: Translator, state: FSMContext, problems: str | None = None) -> None:
    """Step 3: the conditions screen (only the conditions that can apply to the trigger)."""
    await state.set_state(None)
    data = await state.get_data()
    text_trigger = Trigger(data["trigger"]) in TEXT_TRIGGERS
    options = [button(t("wiz.c.keywords"), RuleWiz(step="cond", v="kw"))] if text_trigger else []
    if text_trigger:
        options += [button(t("wiz.c.intent"), RuleWiz(step="cond", v="intent")),
                    button(t("wiz.c.sentiment"), RuleWiz(step="cond", v="sentiment"))]
    first = bool(data["condition"].get("first_message_only"))
    options += [button(t("wiz.c.quality"), RuleWiz(step="cond", v="quality")),
                button(("✓ " if first else "") + t("wiz.c.first"), RuleWiz(step="cond", v="first")),
                button(t("wiz.c.hours"), RuleWiz(step="cond", v="hours")),
                button(t("wiz.c.clear"), RuleWiz(step="cond", v="clear"))]
    text = t("wiz.conditions", condition=_condition_text(t, data["condition"]))
    if problems:
        text += "\n\n" + t("wiz.problems", problems=problems)
    await show(event, text, rows(*grid(options), [button(t("wiz.next_action"), RuleWiz(step="actions"))],
                                 [back(t, RuleAct(act="list"))]))


async def _set_condition(event: Event, t: Translator, state: FSMContext, key: str, value: Any,
                         ask_again: str | None = None) -> None:
    """Apply one condition change and validate it at once; a refused change is undone (and a typed one
    asked for again)."""
    data = await state.get_data()
    condition = dict(data.get("condition") or {})
    if value is None:
        condition.pop(key, None)
    else:
        condition[key] = value
    problems = _problems({**data, "condition": condition})
    if problems is None:
        await state.update_data(condition=condition)
    elif ask_again is not None:
        await show(event, t("wiz.problems", problems=problems) + "\n\n" + t(ask_again),
                   rows([back(t, RuleWiz(step="conds"))]))
        return
    await conditions(event, t, state, problems)


@router.callback_query(RuleWiz.filter(F.step == "cond"))
async def condition_menu(query: CallbackQuery, callback_data: RuleWiz, t: Translator, state: FSMContext) -> None:
    """One of the condition buttons."""
    data = await state.get_data()
    if "trigger" not in data or "platform" not in data:
        await show(query, t("wiz.start_over"), rows([button(t("rule.new"), RuleAct(act="new"))]))
        return
    choice = callback_data.v
    if choice == "kw":
        await state.set_state(RuleStates.keywords)
        await show(query, t("wiz.ask_keywords"), rows([back(t, RuleWiz(step="conds"))]))
    elif choice == "hours":
        await state.set_state(RuleStates.hours)
        await show(query, t("wiz.ask_hours"), rows([back(t, RuleWiz(step="conds"))]))
    elif choice == "first":
        await _set_condition(query, t, state, "first_message_only",
                             None if data["condition"].get("first_message_only") else True)
    elif choice == "clear":
        await state.update_data(condition={})
        await conditions(query, t, state)
    elif choice in TOGGLES:
        await _toggles(query, t, state, choice)


async def _toggles(event: Event, t: Translator, state: FSMContext, kind: str) -> None:
    key, enum = TOGGLES[kind]
    chosen = set((await state.get_data())["condition"].get(key) or ())
    buttons = [button(("✓ " if v.value in chosen else "") + t(f"{kind}.{v.value}"), RuleWiz(step=kind, v=v.value))
               for v in enum]
    await show(event, t(f"wiz.choose_{kind}"), rows(*grid(buttons), [button(t("btn.done"), RuleWiz(step="conds"))]))


@router.callback_query(RuleWiz.filter(F.step.in_(set(TOGGLES))))
async def toggle(query: CallbackQuery, callback_data: RuleWiz, t: Translator, state: FSMContext) -> None:
    """Add or remove one intent, sentiment or quality."""
    key, _ = TOGGLES[callback_data.step]
    data = await state.get_data()
    chosen = list(data["condition"].get(key) or ())
    chosen = [v for v in chosen if v != callback_data.v] if callback_data.v in chosen else [*chosen, callback_data.v]
    condition = dict(data["condition"])
    if chosen:
        condition[key] = chosen
    else:
        condition.pop(key, None)
    await state.update_data(condition=condition)
    await _toggles(query, t, state, callback_data.step)


@router.callback_query(RuleWiz.filter(F.step == "conds"))
async def back_to_conditions(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    """Back to the conditions screen (validating what the toggles chose)."""
    data = await state.get_data()
    if "trigger" not in data:
        await show(query, t("wiz.start_over"), rows([button(t("rule.new"), RuleAct(act="new"))]))
        return
    await conditions(query, t, state, _problems(data))


@router.message(RuleStates.keywords, TextInput())
async def got_keywords(message: Message, t: Translator, state: FSMContext) -> None:
    """Keywords, comma-separated."""
    words = [w.strip() for w in (message.text or "").split(",") if w.strip()]
    await _set_condition(message, t, state, "keywords_any", words or None, "wiz.ask_keywords")


@router.message(RuleStates.hours, TextInput())
async def got_hours(message: Message, owner: Owner, t: Translator, state: FSMContext) -> None:
    """Opening hours 'HH:MM-HH:MM' (Monday–Friday): the rule acts outside them."""
    parts = [p.strip() for p in (message.text or "").replace("–", "-").split("-")]
    if len(parts) != 2:
        await message.answer(t("wiz.hours_format"))
        return
    await _set_condition(message, t, state, "business_hours",
                         {"inside": False, "start": parts[0], "end": parts[1], "timezone": owner.prefs.timezone},
                         "wiz.ask_hours")


@router.callback_query(RuleWiz.filter(F.step == "actions"))
async def actions(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    """Step 4: the action."""
    if _problems(await state.get_data()) is not None:
        await back_to_conditions(query, t, state)
        return
    buttons = [button(t("action." + a.value), RuleWiz(step="action", v=a.value)) for a in Action]
    await show(query, t("wiz.action"), rows(*grid(buttons), [back(t, RuleWiz(step="conds"))]))


@router.callback_query(RuleWiz.filter(F.step == "action"))
async def got_action(query: CallbackQuery, callback_data: RuleWiz, owner: Owner, t: Translator,
                     state: FSMContext) -> None:
    """Step 5: the text (or the template) for the action."""
    await state.update_data(action=callback_data.v)
    if callback_data.v == Action.SEND_TEMPLATE.value:
        data = await state.get_data()
        platform = data.get("platform")
        found = [tpl for tpl in await templates.list_templates(owner.user_id)
                 if platform == RulePlatform.ANY.value or tpl.platform.value == platform]
        if not found:
            await show(query, t("wiz.no_templates"), rows([back(t, RuleWiz(step="actions"))]))
            return
        markup = rows(*[[button(views.template_button(tpl), RuleWiz(step="tpl", v=short(tpl.id)))] for tpl in found],
                      [back(t, RuleWiz(step="actions"))])
        await show(query, t("wiz.choose_template"), markup)
        return
    await state.set_state(RuleStates.text)
    await show(query, t(f"wiz.ask.{callback_data.v}"), rows([back(t, RuleWiz(step="actions"))]))


def _action_data(action: str, text: str) -> dict[str, Any]:
    match action:
        case Action.SEND_MESSAGE:
            return {"text": text}
        case Action.NOTIFY_OWNER | Action.HANDOFF:
            return {"message": text}
        case Action.TAG_LEAD:
            return {"tags": [tag.strip() for tag in text.split(",") if tag.strip()]}
        case _:
            return {"faq": text}


@router.message(RuleStates.text, TextInput())
async def got_text(message: Message, t: Translator, state: FSMContext) -> None:
    """The action's text, validated with the whole rule."""
    data = await state.get_data()
    action_data = _action_data(data.get("action", ""), (message.text or "").strip())
    problems = _problems(data, data.get("action"), action_data)
    if problems:
        await message.answer(t("wiz.problems", problems=problems) + "\n\n" + t(f"wiz.ask.{data.get('action')}"))
        return
    await state.update_data(action_data=action_data)
    await _ask_name(message, t, state)


@router.callback_query(RuleWiz.filter(F.step == "tpl"))
async def got_template(query: CallbackQuery, callback_data: RuleWiz, owner: Owner, t: Translator,
                       state: FSMContext) -> None:
    """A template; its own variables (not the built-ins) need values."""
    tpl = await templates.get_template(owner.user_id, str(need_id(callback_data.v)))
    needs = [v for v in tpl.variables if v not in BUILTINS]
    await state.update_data(action_data={"template_id": str(tpl.id)}, needs=needs)
    if needs:
        await state.set_state(RuleStates.template_values)
        await show(query, t("conv.ask_values", variables=", ".join("{" + v + "}" for v in needs)),
                   rows([back(t, RuleWiz(step="actions"))]))
        return
    await _ask_name(query, t, state)


@router.message(RuleStates.template_values, TextInput())
async def got_template_values(message: Message, t: Translator, state: FSMContext) -> None:
    """One value per line, in the order asked."""
    data = await state.get_data()
    needs = data.get("needs") or []
    lines = [line.strip() for line in (message.text or "").splitlines() if line.strip()]
    if len(lines) != len(needs):
        await message.answer(t("conv.values_count", expected=len(needs), got=len(lines)))
        return
    await state.update_data(action_data={**data["action_data"], "variables": dict(zip(needs, lines, strict=True))})
    await _ask_name(message, t, state)


async def _ask_name(event: Event, t: Translator, state: FSMContext) -> None:
    await state.set_state(RuleStates.name)
    await show(event, t("wiz.ask_name"), rows([back(t, RuleAct(act="list"))]))


@router.message(RuleStates.name, TextInput())
async def got_name(message: Message, owner: Owner, t: Translator, state: FSMContext) -> None:
    """Store the rule switched off, dry-run it, and offer to save it."""
    data = await state.get_data()
    try:
        rule = await rules.create_rule(owner.user_id, name=(message.text or "").strip(), trigger=data["trigger"],
                                       platform=data["platform"], action=data["action"],
                                       condition=data.get("condition") or {}, action_data=data.get("action_data") or {},
                                       is_active=False)
    except (ServiceError, KeyError) as exc:
        await message.answer(t("error", message=str(exc)) + "\n\n" + t("wiz.ask_name"))
        return
    await state.clear()
    text = views.rule_card(t, rule) + "\n\n" + t("wiz.dry_title") + "\n" + await run_dry(owner, t, rule.id)
    await message.answer(text, reply_markup=_confirm(t, short(rule.id)))


def _confirm(t: Translator, rid: str) -> InlineKeyboardMarkup:
    return rows([button(t("wiz.save_on"), RuleWiz(step="save", v=rid))],
                [button(t("wiz.save_off"), RuleWiz(step="keep", v=rid)),
                 button(t("wiz.discard"), RuleWiz(step="discard", v=rid))])


@router.callback_query(RuleWiz.filter(F.step.in_({"save", "keep", "discard"})))
async def finish(query: CallbackQuery, callback_data: RuleWiz, owner: Owner, t: Translator,
                 callback_answer: CallbackAnswer) -> None:
    """Switch the new rule on, keep it off, or throw it away."""
    rule_id = need_id(callback_data.v)
    if callback_data.step == "discard":
        gone = await rules.delete_rule(owner.user_id, rule_id)
        callback_answer.text = t("rule.deleted", name=gone.name)
        await show_list(query, owner, t, 0)
        return
    rule = await rules.get_rule(owner.user_id, rule_id)
    if callback_data.step == "save":
        rule = await rules.set_rule_active(owner.user_id, rule_id, True)
    callback_answer.text = t("rule.saved_on" if rule.is_active else "rule.saved_off", name=rule.name)
    await show(query, views.rule_card(t, rule), card_markup(t, rule))
