"""Templates: list, create (name → platform → text → WhatsApp name, language, approval), edit, delete, preview."""

from __future__ import annotations

import uuid
from typing import Any

from aiogram import F
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from papo.bot import views
from papo.bot.filters import TextInput
from papo.bot.keyboards import Nav, TplAct, back, button, grid, rows, short
from papo.bot.locales import Translator
from papo.bot.routers.common import Event, linked_router, need_id, show
from papo.enums import Platform
from papo.services import ServiceError, templates
from papo.services.owners import Owner
from papo.services.templates import TemplateInfo

router = linked_router("templates")
LANGUAGES = ("pt_BR", "en_US", "es")


class TplStates(StatesGroup):
    """Questions the templates menu asks."""

    name = State()
    content = State()
    meta_name = State()
    edit_content = State()


@router.message(Command("templates"))
@router.callback_query(Nav.filter(F.to == "tpls"))
@router.callback_query(TplAct.filter(F.act == "list"))
async def list_(event: Event, owner: Owner, t: Translator, state: FSMContext) -> None:
    """Every template of the business."""
    await state.clear()
    found = await templates.list_templates(owner.user_id)
    markup = rows(*[[button(views.template_button(tpl), TplAct(act="open", id=short(tpl.id)))] for tpl in found],
                  [button(t("tpl.new"), TplAct(act="new"))], [back(t, Nav(to="menu"))])
    await show(event, t("tpl.title", total=len(found)) if found else t("tpl.none"), markup)


def card_markup(t: Translator, tpl: TemplateInfo) -> InlineKeyboardMarkup:
    """A template's buttons."""
    tid = short(tpl.id)
    approval = []
    if tpl.platform is Platform.WHATSAPP and tpl.meta_template_name:
        approval = [button(t("tpl.mark_pending") if tpl.is_approved else t("tpl.mark_approved"),
                           TplAct(act="approve", id=tid, v="0" if tpl.is_approved else "1"))]
    return rows([button(t("tpl.edit"), TplAct(act="edit", id=tid)), button(t("tpl.delete"), TplAct(act="del", id=tid))],
                approval, [back(t, TplAct(act="list"))])


async def _card(event: Event, owner: Owner, t: Translator, template_id: uuid.UUID) -> None:
    tpl = await templates.get_template(owner.user_id, str(template_id))
    await show(event, views.template_card(t, tpl, owner.business_name), card_markup(t, tpl))


@router.callback_query(TplAct.filter(F.act == "open"))
async def open_(query: CallbackQuery, callback_data: TplAct, owner: Owner, t: Translator, state: FSMContext) -> None:
    """A template with its preview."""
    await state.clear()
    await _card(query, owner, t, need_id(callback_data.id))


@router.callback_query(TplAct.filter(F.act == "del"))
async def ask_delete(query: CallbackQuery, callback_data: TplAct, owner: Owner, t: Translator) -> None:
    """Confirm before deleting."""
    tpl = await templates.get_template(owner.user_id, str(need_id(callback_data.id)))
    await show(query, t("tpl.confirm_delete", name=tpl.name),
               rows([button(t("btn.yes_delete"), TplAct(act="delok", id=callback_data.id)),
                     back(t, TplAct(act="open", id=callback_data.id))]))


@router.callback_query(TplAct.filter(F.act == "delok"))
async def delete(query: CallbackQuery, callback_data: TplAct, owner: Owner, t: Translator,
                 state: FSMContext, callback_answer: CallbackAnswer) -> None:
    """Delete (refused while an active rule uses it)."""
    try:
        gone = await templates.delete_template(owner.user_id, str(need_id(callback_data.id)))
    except ServiceError as exc:
        await show(query, t("error", message=str(exc)), rows([back(t, TplAct(act="open", id=callback_data.id))]))
        return
    callback_answer.text = t("tpl.deleted", name=gone.name)
    await list_(query, owner, t, state)


# ------------------------------------------------------------------ creation


@router.callback_query(TplAct.filter(F.act == "new"))
async def new(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    """Step 1: the name."""
    await state.set_state(TplStates.name)
    await state.set_data({})
    await show(query, t("tpl.ask_name"), rows([back(t, TplAct(act="list"))]))


@router.message(TplStates.name, TextInput())
async def got_name(message: Message, t: Translator, state: FSMContext) -> None:
    """Step 2: the platform."""
    name = (message.text or "").strip()
    if len(name) > 255:
        await message.answer(t("tpl.name_too_long"))
        return
    await state.update_data(name=name)
    await state.set_state(None)
    markup = rows(*grid([button(views.platform_name(p.value), TplAct(act="plat", v=p.value)) for p in Platform], 3),
                  [back(t, TplAct(act="list"))])
    await message.answer(t("tpl.ask_platform", name=name), reply_markup=markup)


@router.callback_query(TplAct.filter(F.act == "plat"))
async def got_platform(query: CallbackQuery, callback_data: TplAct, t: Translator, state: FSMContext) -> None:
    """Step 3: the text."""
    if "name" not in await state.get_data():
        await show(query, t("tpl.start_over"), rows([button(t("tpl.new"), TplAct(act="new"))]))
        return
    await state.update_data(platform=callback_data.v)
    await state.set_state(TplStates.content)
    await show(query, t("tpl.ask_content"), rows([back(t, TplAct(act="list"))]))


@router.message(TplStates.content, TextInput())
async def got_content(message: Message, owner: Owner, t: Translator, state: FSMContext) -> None:
    """Step 4: for WhatsApp the approved template's name; otherwise save."""
    content = (message.text or "").strip()
    await state.update_data(content=content)
    variables = templates.detect_variables(content)
    found = t("tpl.variables_found", variables=", ".join("{" + v + "}" for v in variables)) if variables \
        else t("tpl.no_variables")
    if (await state.get_data()).get("platform") == Platform.WHATSAPP.value:
        await state.set_state(TplStates.meta_name)
        await message.answer(found + "\n\n" + t("tpl.ask_meta"),
                             reply_markup=rows([button(t("tpl.skip_meta"), TplAct(act="nometa"))]))
        return
    await message.answer(found)
    await _save(message, owner, t, state)


@router.callback_query(TplAct.filter(F.act == "nometa"))
async def no_meta(query: CallbackQuery, owner: Owner, t: Translator, state: FSMContext) -> None:
    """A WhatsApp text without an approved template (usable inside the 24-hour window only)."""
    await _save(query, owner, t, state)


@router.message(TplStates.meta_name, TextInput())
async def got_meta(message: Message, t: Translator, state: FSMContext) -> None:
    """Step 5: the template's language."""
    await state.update_data(meta=(message.text or "").strip())
    await state.set_state(None)
    markup = rows([button(code, TplAct(act="lang", v=code)) for code in LANGUAGES])
    await message.answer(t("tpl.ask_language"), reply_markup=markup)


@router.callback_query(TplAct.filter(F.act == "lang"))
async def got_language(query: CallbackQuery, callback_data: TplAct, t: Translator, state: FSMContext) -> None:
    """Step 6: has Meta approved it?"""
    await state.update_data(language=callback_data.v)
    await show(query, t("tpl.ask_approved"), rows([button(t("btn.yes"), TplAct(act="appr", v="1")),
                                                   button(t("btn.no"), TplAct(act="appr", v="0"))]))


@router.callback_query(TplAct.filter(F.act == "appr"))
async def got_approved(query: CallbackQuery, callback_data: TplAct, owner: Owner, t: Translator,
                       state: FSMContext) -> None:
    """Save the WhatsApp template."""
    await state.update_data(approved=callback_data.v == "1")
    await _save(query, owner, t, state)


async def _save(event: Event, owner: Owner, t: Translator, state: FSMContext) -> None:
    data: dict[str, Any] = await state.get_data()
    if not {"name", "platform", "content"} <= data.keys():
        await show(event, t("tpl.start_over"), rows([button(t("tpl.new"), TplAct(act="new"))]))
        return
    try:
        tpl = await templates.add_template(
            owner.user_id, platform=data["platform"], name=data["name"], content=data["content"],
            meta_template_name=data.get("meta"), language=data.get("language") if data.get("meta") else None,
            approved=bool(data.get("approved")),
        )
    except ServiceError as exc:
        await state.clear()
        await show(event, t("error", message=str(exc)), rows([button(t("tpl.new"), TplAct(act="new")),
                                                              back(t, TplAct(act="list"))]))
        return
    await state.clear()
    await show(event, t("tpl.saved") + "\n\n" + views.template_card(t, tpl, owner.business_name), card_markup(t, tpl))


# ------------------------------------------------------------------ editing


@router.callback_query(TplAct.filter(F.act == "edit"))
async def ask_edit(query: CallbackQuery, callback_data: TplAct, owner: Owner, t: Translator,
                   state: FSMContext) -> None:
    """Ask for the new text."""
    tpl = await templates.get_template(owner.user_id, str(need_id(callback_data.id)))
    await state.set_state(TplStates.edit_content)
    await state.update_data(tpl=callback_data.id)
    await show(query, t("tpl.ask_edit", content=tpl.content), rows([back(t, TplAct(act="open", id=callback_data.id))]))


@router.message(TplStates.edit_content, TextInput())
async def got_edit(message: Message, owner: Owner, t: Translator, state: FSMContext) -> None:
    """Replace the text in place (same id, so rules keep it; variables are detected again)."""
    raw = (await state.get_data()).get("tpl", "")
    tid = need_id(raw)
    try:
        tpl = await templates.update_template(owner.user_id, str(tid), content=(message.text or "").strip())
    except ServiceError as exc:
        # The question stays open: the owner fixes the text and sends it again.
        await message.answer(t("error", message=str(exc)) + "\n\n" + t("tpl.edit_again"),
                             reply_markup=rows([back(t, TplAct(act="open", id=raw))]))
        return
    await state.clear()
    await message.answer(t("tpl.updated") + "\n\n" + views.template_card(t, tpl, owner.business_name),
                         reply_markup=card_markup(t, tpl))


@router.callback_query(TplAct.filter(F.act == "approve"))
async def toggle_approved(query: CallbackQuery, callback_data: TplAct, owner: Owner, t: Translator) -> None:
    """Record Meta's approval state as the owner sees it in WhatsApp Manager."""
    tpl = await templates.update_template(owner.user_id, str(need_id(callback_data.id)),
                                          approved=callback_data.v == "1")
    await show(query, views.template_card(t, tpl, owner.business_name), card_markup(t, tpl))
