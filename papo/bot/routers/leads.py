"""Leads: counts, filtered lists, the lead card, status/quality/tags, follow-ups, search."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from aiogram import F
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from papo.bot import views
from papo.bot.dates import DateParseError, parse_when
from papo.bot.filters import TextInput
from papo.bot.keyboards import (
    QUALITY_ICON,
    STATUS_ICON,
    ConvAct,
    LeadAct,
    LeadExport,
    LeadList,
    Nav,
    back,
    button,
    data_row,
    grid,
    pager,
    rows,
    short,
    tag_key,
)
from papo.bot.locales import Translator
from papo.bot.routers.common import Event, linked_router, need_id, show
from papo.enums import LeadQuality, LeadStatus, Platform
from papo.services import leads
from papo.services.leads import LeadCard, Page
from papo.services.owners import Owner

router = linked_router("leads")


class LeadStates(StatesGroup):
    """Questions the leads menu asks."""

    tag = State()
    followup = State()
    search = State()


@router.message(Command("leads"))
@router.callback_query(Nav.filter(F.to == "leads"))
async def overview(event: Event, owner: Owner, t: Translator, state: FSMContext) -> None:
    """Counts by quality and status, with the filters."""
    await state.clear()
    counts = await leads.lead_counts(owner.user_id)
    markup = rows(
        [button(f"{QUALITY_ICON[q.value]} {t('quality.' + q.value)} ({counts.by_quality[q.value]})",
                LeadList(q=q.value)) for q in (LeadQuality.HOT, LeadQuality.WARM, LeadQuality.COLD)],
        *grid([button(f"{STATUS_ICON[s.value]} {t('status.' + s.value)} ({counts.by_status[s.value]})",
                      LeadList(s=s.value)) for s in LeadStatus]),
        [button(t("leads.by_platform"), LeadAct(act="platforms")), button(t("leads.by_tag"), LeadAct(act="tagsf"))],
        [button(t("leads.all"), LeadList()), button(t("leads.search"), LeadAct(act="search"))],
        [button(t("leads.export"), LeadExport())],
        [back(t, Nav(to="menu"))],
    )
    await show(event, views.lead_counts(t, counts), markup)


async def tag_for(owner: Owner, key: str) -> str | None:
    """The owner's tag whose key a button carries (None for no tag)."""
    if not key:
        return None
    return next((tag for tag in await leads.distinct_tags(owner.user_id) if tag_key(tag) == key), None)


def describe_filter(t: Translator, data: LeadList, tag: str | None) -> str:
    """A list's filter in words ("Quente · Novo"), or "All"."""
    parts = []
    if data.q:
        parts.append(views.quality(t, data.q))
    if data.s:
        parts.append(views.status(t, data.s))
    if data.p:
        parts.append(views.platform_name(data.p))
    if tag:
        parts.append(f"🏷 {tag}")
    return " · ".join(parts) or t("leads.all")


@router.callback_query(LeadList.filter())
async def lead_list(query: CallbackQuery, callback_data: LeadList, owner: Owner, t: Translator) -> None:
    """One page of leads matching the filter, newest interaction first."""
    tag = await tag_for(owner, callback_data.t)
    page = await leads.list_leads(owner.user_id, quality=callback_data.q or None, status=callback_data.s or None,
                                  platform=callback_data.p or None, tag=tag, page=callback_data.page)
    text = t("leads.list", filter=describe_filter(t, callback_data, tag), total=page.total)
    await show(query, text if page.total else t("leads.empty", filter=describe_filter(t, callback_data, tag)),
               _list_markup(t, page, callback_data))


def _list_markup(t: Translator, page: Page[leads.LeadSummary], listing: LeadList) -> InlineKeyboardMarkup:
    export = LeadExport(q=listing.q, s=listing.s, p=listing.p, t=listing.t)
    return rows(
        *[[button(views.lead_button(lead), LeadAct(act="open", id=short(lead.id)))] for lead in page.items],
        pager(page.page, page.pages, lambda n: listing.model_copy(update={"page": n})),
        [button(t("leads.export"), export)] if page.total else [],
        [back(t, Nav(to="leads"))],
    )


@router.callback_query(LeadAct.filter(F.act == "platforms"))
async def by_platform(query: CallbackQuery, t: Translator) -> None:
    """Choose a platform to filter on."""
    markup = rows(*grid([button(views.platform_name(p.value), LeadList(p=p.value)) for p in Platform], 3),
                  [back(t, Nav(to="leads"))])
    await show(query, t("leads.choose_platform"), markup)


@router.callback_query(LeadAct.filter(F.act == "tagsf"))
async def by_tag(query: CallbackQuery, owner: Owner, t: Translator) -> None:
    """Choose a tag to filter on."""
    tags = (await leads.distinct_tags(owner.user_id))[:40]
    markup = rows(*grid([button(f"🏷 {views.snippet(tag, 24)}", LeadList(t=tag_key(tag))) for tag in tags]),
                  [back(t, Nav(to="leads"))])
    await show(query, t("leads.choose_tag") if tags else t("leads.no_tags"), markup)


def card_markup(t: Translator, card: LeadCard) -> InlineKeyboardMarkup:
    """The lead card's buttons."""
    lid = short(card.lead.id)
    conv = [button(t("lead.conversation"), ConvAct(act="open", id=short(card.conversation_id))),
            button(t("lead.reply"), ConvAct(act="reply", id=short(card.conversation_id)))] \
        if card.conversation_id else []
    return rows(
        [button(t("lead.status"), LeadAct(act="status", id=lid)),
         button(t("lead.quality"), LeadAct(act="quality", id=lid))],
        [button(t("lead.tags"), LeadAct(act="tags", id=lid)), button(t("lead.followup"), LeadAct(act="fu", id=lid))],
        [button(t("lead.contacted"), LeadAct(act="contacted", id=lid))] if card.lead.status != "contacted" else [],
        conv,
        data_row(t, "l", lid),
        [back(t, Nav(to="leads"))],
    )


async def open_card(event: Event, owner: Owner, t: Translator, lead_id: uuid.UUID | str) -> None:
    """Show a lead card (also used by alerts' 'Open lead' button)."""
    card = await leads.get_lead(owner.user_id, lead_id if isinstance(lead_id, uuid.UUID) else need_id(lead_id))
    await show(event, views.lead_card(t, card, owner.prefs.timezone), card_markup(t, card))


@router.callback_query(LeadAct.filter(F.act == "open"))
async def open_lead(query: CallbackQuery, callback_data: LeadAct, owner: Owner, t: Translator,
                    state: FSMContext) -> None:
    """The lead card."""
    await state.clear()
    await open_card(query, owner, t, callback_data.id)


@router.callback_query(LeadAct.filter(F.act.in_({"status", "quality"})))
async def choose(query: CallbackQuery, callback_data: LeadAct, owner: Owner, t: Translator) -> None:
    """Status or quality choices for a lead."""
    card = await leads.get_lead(owner.user_id, need_id(callback_data.id))
    if callback_data.act == "status":
        options = [button(views.status(t, s.value), LeadAct(act="setst", id=callback_data.id, v=s.value))
                   for s in LeadStatus]
    else:
        options = [button(views.quality(t, q.value), LeadAct(act="setq", id=callback_data.id, v=q.value))
                   for q in LeadQuality]
    await show(query, views.lead_card(t, card, owner.prefs.timezone),
               rows(*grid(options), [back(t, LeadAct(act="open", id=callback_data.id))]))


@router.callback_query(LeadAct.filter(F.act.in_({"setst", "setq", "contacted"})))
async def change(query: CallbackQuery, callback_data: LeadAct, owner: Owner, t: Translator,
                 callback_answer: CallbackAnswer) -> None:
    """Apply a new status or quality, or mark as contacted."""
    lead_id = need_id(callback_data.id)
    if callback_data.act == "setst":
        await leads.set_status(owner.user_id, lead_id, callback_data.v)
        callback_answer.text = t("lead.status_set", status=t("status." + callback_data.v))
    elif callback_data.act == "setq":
        await leads.set_quality(owner.user_id, lead_id, callback_data.v)
        callback_answer.text = t("lead.quality_set", quality=t("quality." + callback_data.v))
    else:
        await leads.mark_contacted(owner.user_id, lead_id)
        callback_answer.text = t("lead.contacted_set")
    await open_card(query, owner, t, lead_id)


@router.callback_query(LeadAct.filter(F.act == "tags"))
async def tags(query: CallbackQuery, callback_data: LeadAct, owner: Owner, t: Translator) -> None:
    """The lead's tags: remove one, or add."""
    card = await leads.get_lead(owner.user_id, need_id(callback_data.id))
    removes = [button(f"✖ {views.snippet(tag, 24)}", LeadAct(act="rmtag", id=callback_data.id, v=tag_key(tag)))
               for tag in card.lead.tags]
    markup = rows(*grid(removes), [button(t("lead.add_tag"), LeadAct(act="addtag", id=callback_data.id))],
                  [back(t, LeadAct(act="open", id=callback_data.id))])
    await show(query, views.lead_card(t, card, owner.prefs.timezone), markup)


@router.callback_query(LeadAct.filter(F.act == "rmtag"))
async def remove_tag(query: CallbackQuery, callback_data: LeadAct, owner: Owner, t: Translator,
                     callback_answer: CallbackAnswer) -> None:
    """Remove the tag whose key the button carries."""
    lead_id = need_id(callback_data.id)
    card = await leads.get_lead(owner.user_id, lead_id)
    tag = next((x for x in card.lead.tags if tag_key(x) == callback_data.v), None)
    if tag is not None:
        await leads.remove_tag(owner.user_id, lead_id, tag)
        callback_answer.text = t("lead.tag_removed", tag=tag)
    await tags(query, callback_data, owner, t)


@router.callback_query(LeadAct.filter(F.act == "addtag"))
async def ask_tag(query: CallbackQuery, callback_data: LeadAct, t: Translator, state: FSMContext) -> None:
    """Ask for the tag(s) to add."""
    await state.set_state(LeadStates.tag)
    await state.update_data(lead=callback_data.id)
    await show(query, t("lead.ask_tag"), rows([back(t, LeadAct(act="open", id=callback_data.id))]))


@router.message(LeadStates.tag, TextInput())
async def add_tag(message: Message, owner: Owner, t: Translator, state: FSMContext) -> None:
    """Add the tags typed (comma-separated)."""
    lead_id = need_id((await state.get_data()).get("lead", ""))
    for tag in [part for part in (message.text or "").split(",") if part.strip()]:
        await leads.add_tag(owner.user_id, lead_id, tag)
    await state.clear()
    await open_card(message, owner, t, lead_id)


@router.callback_query(LeadAct.filter(F.act == "fu"))
async def ask_followup(query: CallbackQuery, callback_data: LeadAct, owner: Owner, t: Translator,
                       state: FSMContext) -> None:
    """Ask when to follow up."""
    card = await leads.get_lead(owner.user_id, need_id(callback_data.id))
    await state.set_state(LeadStates.followup)
    await state.update_data(lead=callback_data.id)
    clear = [button(t("lead.followup_clear"), LeadAct(act="fuclear", id=callback_data.id))] \
        if card.lead.next_followup else []
    await show(query, t("lead.ask_followup", tz=owner.prefs.timezone),
               rows(clear, [back(t, LeadAct(act="open", id=callback_data.id))]))


@router.message(LeadStates.followup, TextInput())
async def set_followup(message: Message, owner: Owner, t: Translator, state: FSMContext) -> None:
    """Understand the time typed and schedule the follow-up."""
    lead_id = need_id((await state.get_data()).get("lead", ""))
    try:
        when = parse_when(message.text or "", timezone=owner.prefs.timezone, now=datetime.now(UTC))
    except DateParseError as exc:
        await message.answer(t(exc.key))
        return
    await leads.set_followup(owner.user_id, lead_id, when)
    await state.clear()
    await message.answer(t("lead.followup_set", when=views.when(when, owner.prefs.timezone, t)))
    await open_card(message, owner, t, lead_id)


@router.callback_query(LeadAct.filter(F.act == "fuclear"))
async def clear_followup(query: CallbackQuery, callback_data: LeadAct, owner: Owner, t: Translator,
                         state: FSMContext, callback_answer: CallbackAnswer) -> None:
    """Remove the follow-up."""
    await state.clear()
    await leads.set_followup(owner.user_id, need_id(callback_data.id), None)
    callback_answer.text = t("lead.followup_cleared")
    await open_card(query, owner, t, callback_data.id)


@router.callback_query(LeadAct.filter(F.act == "search"))
async def ask_search(query: CallbackQuery, t: Translator, state: FSMContext) -> None:
    """Ask what to search for."""
    await state.set_state(LeadStates.search)
    await show(query, t("leads.ask_search"), rows([back(t, Nav(to="leads"))]))


@router.message(Command("search"))
async def search_command(message: Message, command: CommandObject, owner: Owner, t: Translator,
                         state: FSMContext) -> None:
    """`/search TEXT`, or ask for the text."""
    if not command.args:
        await state.set_state(LeadStates.search)
        await message.answer(t("leads.ask_search"))
        return
    await _search(message, command.args, owner, t, state)


@router.message(LeadStates.search, TextInput())
async def search_text(message: Message, owner: Owner, t: Translator, state: FSMContext) -> None:
    """The text to search for."""
    await _search(message, message.text or "", owner, t, state)


async def _search(message: Message, text: str, owner: Owner, t: Translator, state: FSMContext) -> None:
    page = await leads.search_leads(owner.user_id, text)
    await state.clear()
    if not page.total:
        await message.answer(t("leads.search_none", query=text), reply_markup=rows([back(t, Nav(to="leads"))]))
        return
    markup = rows(*[[button(views.lead_button(lead), LeadAct(act="open", id=short(lead.id)))] for lead in page.items],
                  [back(t, Nav(to="leads"))])
    await message.answer(t("leads.search_found", query=text, total=page.total, shown=len(page.items)),
                         reply_markup=markup)
