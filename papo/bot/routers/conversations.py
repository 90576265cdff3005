"""Conversations: recent ones, the last messages, replying (templates outside the window), archive, mute, and
human handoff (the bot paused while the owner answers; pause/resume buttons, also on handoff alerts)."""

from __future__ import annotations

import uuid

from aiogram import F
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer

from papo.bot import views
from papo.bot.filters import TextInput
from papo.bot.keyboards import ConvAct, ConvList, Nav, back, button, data_row, pager, rows, short
from papo.bot.locales import Translator
from papo.bot.middlewares import BotContext
from papo.bot.routers.common import Event, linked_router, need_id, show
from papo.bot.routers.leads import open_card
from papo.services import NotFound, conversations, handoff, leads
from papo.services.conversations import AlreadyRetried, CannotRetry, ConversationView, WindowClosed
from papo.services.owners import Owner
from papo.services.templates import TemplateInfo

router = linked_router("conversations")


class ConvStates(StatesGroup):
    """Questions the conversations menu asks."""

    reply = State()
    template_values = State()


@router.message(Command("conversations"))
@router.callback_query(Nav.filter(F.to == "convs"))
async def recent(event: Event, owner: Owner, t: Translator, state: FSMContext) -> None:
    """The most recent conversations."""
    await state.clear()
    await _page(event, owner, t, ConvList())


@router.callback_query(ConvList.filter())
async def page(query: CallbackQuery, callback_data: ConvList, owner: Owner, t: Translator) -> None:
    """Another page (or the archived ones)."""
    await _page(query, owner, t, callback_data)


async def _page(event: Event, owner: Owner, t: Translator, data: ConvList) -> None:
    found = await conversations.recent_conversations(owner.user_id, archived=bool(data.arch), page=data.page)
    other = ConvList(arch=0 if data.arch else 1)
    markup = rows(
        *[[button(views.conversation_button(c), ConvAct(act="open", id=short(c.id)))] for c in found.items],
        pager(found.page, found.pages, lambda n: ConvList(page=n, arch=data.arch)),
        [button(t("conv.show_active") if data.arch else t("conv.show_archived"), other)],
        [back(t, Nav(to="menu"))],
    )
    title = t("conv.archived_title") if data.arch else t("conv.title")
    await show(event, title if found.total else t("conv.none"), markup)


def card_markup(t: Translator, view: ConversationView) -> InlineKeyboardMarkup:
    """The buttons of an opened conversation."""
    cid = short(view.summary.id)
    status = view.summary.status
    write = [button(t("conv.reply"), ConvAct(act="reply", id=cid))]
    if view.window_open is False:
        write = [button(t("conv.templates"), ConvAct(act="tpls", id=cid))]
    retry = [button(t("alert.retry"), ConvAct(act="retry", id=cid, v=short(view.failed_reply)))] \
        if view.failed_reply else []
    return rows(
        write,
        retry,
        [button(t("conv.unarchive") if status == "archived" else t("conv.archive"),
                ConvAct(act="unarchive" if status == "archived" else "archive", id=cid)),
         button(t("conv.unmute") if status == "muted" else t("conv.mute"),
                ConvAct(act="unmute" if status == "muted" else "mute", id=cid))],
        [button(t("conv.resume") if view.paused_until else t("conv.pause"),
                ConvAct(act="resume" if view.paused_until else "pause", id=cid)),
         button(t("conv.lead"), ConvAct(act="lead", id=cid))],
        data_row(t, "c", cid),
        [back(t, Nav(to="convs"))],
    )


async def open_conversation(event: Event, owner: Owner, t: Translator, ctx: BotContext, conv_id: uuid.UUID) -> None:
    """Show a conversation with its last messages."""
    view = await conversations.get_conversation(ctx.redis, owner.user_id, conv_id, window_hours=ctx.window_hours,
                                                window_margin=ctx.window_margin)
    await show(event, views.conversation(t, view, owner.prefs.timezone), card_markup(t, view))


@router.callback_query(ConvAct.filter(F.act == "open"))
async def open_(query: CallbackQuery, callback_data: ConvAct, owner: Owner, t: Translator, ctx: BotContext,
                state: FSMContext) -> None:
    """Open a conversation."""
    await state.clear()
    await open_conversation(query, owner, t, ctx, need_id(callback_data.id))


@router.callback_query(ConvAct.filter(F.act.in_({"archive", "unarchive", "mute", "unmute"})))
async def set_status(query: CallbackQuery, callback_data: ConvAct, owner: Owner, t: Translator, ctx: BotContext,
                     callback_answer: CallbackAnswer) -> None:
    """Archive, mute, or undo either."""
    status = {"archive": "archived", "mute": "muted"}.get(callback_data.act, "active")
    conv_id = need_id(callback_data.id)
    await conversations.set_status(owner.user_id, conv_id, status)
    callback_answer.text = t(f"conv.done.{callback_data.act}")
    await open_conversation(query, owner, t, ctx, conv_id)


@router.callback_query(ConvAct.filter(F.act.in_({"pause", "resume"})))
async def pause_or_resume(query: CallbackQuery, callback_data: ConvAct, owner: Owner, t: Translator,
                          ctx: BotContext, callback_answer: CallbackAnswer) -> None:
    """Pause the bot in this conversation (PAPO_HANDOFF_HOURS) or give it back ("Resume bot", also on alerts)."""
    conv_id = need_id(callback_data.id)
    if callback_data.act == "pause":
        state = await handoff.pause(owner.user_id, conv_id, hours=ctx.handoff_hours, reason=handoff.MANUAL)
        callback_answer.text = t("conv.done.pause", until=views.when(state.paused_until, owner.prefs.timezone, t))
    else:
        await handoff.resume(owner.user_id, conv_id)
        callback_answer.text = t("conv.done.resume")
    await open_conversation(query, owner, t, ctx, conv_id)


@router.callback_query(ConvAct.filter(F.act == "lead"))
async def lead(query: CallbackQuery, callback_data: ConvAct, owner: Owner, t: Translator, ctx: BotContext,
               callback_answer: CallbackAnswer) -> None:
    """The lead card of this conversation's customer."""
    view = await conversations.get_conversation(ctx.redis, owner.user_id, need_id(callback_data.id), messages=0)
    lead_id = await leads.find_lead(owner.user_id, view.summary.platform, view.remote_user_id)
    if lead_id is None:
        callback_answer.text = t("conv.no_lead")
        return
    await open_card(query, owner, t, lead_id)


@router.callback_query(ConvAct.filter(F.act == "reply"))
async def ask_reply(query: CallbackQuery, callback_data: ConvAct, owner: Owner, t: Translator, ctx: BotContext,
                    state: FSMContext) -> None:
    """Ask for the reply text (or offer templates when the window is closed)."""
    conv_id = need_id(callback_data.id)
    view = await conversations.get_conversation(ctx.redis, owner.user_id, conv_id, messages=3,
                                                window_hours=ctx.window_hours, window_margin=ctx.window_margin)
    if view.window_open is False:
        await _offer_templates(query, owner, t, conv_id)
        return
    await state.set_state(ConvStates.reply)
    await state.update_data(conv=callback_data.id)
    text = views.conversation(t, view, owner.prefs.timezone) + "\n\n" + t("conv.ask_reply", name=view.summary.name)
    await show(query, text, rows([back(t, ConvAct(act="open", id=callback_data.id))]))


@router.message(ConvStates.reply, TextInput())
async def send_reply(message: Message, owner: Owner, t: Translator, ctx: BotContext, state: FSMContext) -> None:
    """Queue the typed reply through the outbound pipeline."""
    conv_id = need_id((await state.get_data()).get("conv", ""))
    try:
        await conversations.reply(ctx.redis, owner.user_id, conv_id, message.text or "", partitions=ctx.partitions,
                                  window_hours=ctx.window_hours, window_margin=ctx.window_margin,
                                  handoff_hours=ctx.handoff_hours)
    except WindowClosed:
        await state.clear()
        await _offer_templates(message, owner, t, conv_id)
        return
    await state.clear()
    await message.answer(t("conv.reply_queued"))
    await open_conversation(message, owner, t, ctx, conv_id)


@router.callback_query(ConvAct.filter(F.act == "retry"))
async def retry(query: CallbackQuery, callback_data: ConvAct, owner: Owner, t: Translator, ctx: BotContext,
                callback_answer: CallbackAnswer) -> None:
    """Send a failed reply again (a reply_failed alert's button): once, however often it is pressed."""
    conv_id, message_id = need_id(callback_data.id), need_id(callback_data.v)
    try:
        await conversations.retry_reply(ctx.redis, owner.user_id, conv_id, message_id, partitions=ctx.partitions,
                                        window_hours=ctx.window_hours, window_margin=ctx.window_margin)
    except WindowClosed:
        await _offer_templates(query, owner, t, conv_id)
        return
    except AlreadyRetried:
        callback_answer.text = t("conv.retry_already")
        return
    except CannotRetry:
        callback_answer.text = t("conv.retry_gone")
        return
    callback_answer.text = t("conv.retry_queued")
    await open_conversation(query, owner, t, ctx, conv_id)


async def _offer_templates(event: Event, owner: Owner, t: Translator, conv_id: uuid.UUID) -> None:
    """The window is closed: the approved templates, or why nothing can be sent."""
    view_platform = await _platform(owner, conv_id)
    templates = await conversations.approved_templates(owner.user_id, view_platform)
    cid = short(conv_id)
    if not templates:
        key = "conv.closed_no_templates" if view_platform == "whatsapp" else "conv.closed_platform"
        await show(event, t(key, platform=views.platform_name(view_platform)),
                   rows([back(t, ConvAct(act="open", id=cid))]))
        return
    markup = rows(*[[button(views.template_button(tpl), ConvAct(act="tpl", id=cid, v=short(tpl.id)))]
                    for tpl in templates], [back(t, ConvAct(act="open", id=cid))])
    await show(event, t("conv.closed_templates"), markup)


async def _platform(owner: Owner, conv_id: uuid.UUID) -> str:
    return await conversations.conversation_platform(owner.user_id, conv_id)


@router.callback_query(ConvAct.filter(F.act == "tpls"))
async def templates(query: CallbackQuery, callback_data: ConvAct, owner: Owner, t: Translator) -> None:
    """The approved templates for a conversation whose window is closed."""
    await _offer_templates(query, owner, t, need_id(callback_data.id))


async def _template(owner: Owner, conv_id: uuid.UUID, template_id: uuid.UUID) -> TemplateInfo:
    platform = await _platform(owner, conv_id)
    for tpl in await conversations.approved_templates(owner.user_id, platform):
        if tpl.id == template_id:
            return tpl
    raise NotFound("no such approved template")


@router.callback_query(ConvAct.filter(F.act == "tpl"))
async def pick_template(query: CallbackQuery, callback_data: ConvAct, owner: Owner, t: Translator,
                        ctx: BotContext, state: FSMContext) -> None:
    """Send a template now, or first ask for the values of its variables."""
    conv_id, tpl_id = need_id(callback_data.id), need_id(callback_data.v)
    template = await _template(owner, conv_id, tpl_id)
    needs = await conversations.template_needs(template)
    if needs:
        await state.set_state(ConvStates.template_values)
        await state.update_data(conv=callback_data.id, tpl=callback_data.v)
        await show(query, t("conv.ask_values", variables=", ".join("{" + v + "}" for v in needs)),
                   rows([back(t, ConvAct(act="open", id=callback_data.id))]))
        return
    await _send_template(query, owner, t, ctx, conv_id, tpl_id, {})


@router.message(ConvStates.template_values, TextInput())
async def template_values(message: Message, owner: Owner, t: Translator, ctx: BotContext,
                          state: FSMContext) -> None:
    """The values typed, one per line, in the order asked."""
    data = await state.get_data()
    conv_id, tpl_id = need_id(data.get("conv", "")), need_id(data.get("tpl", ""))
    needs = await conversations.template_needs(await _template(owner, conv_id, tpl_id))
    lines = [line.strip() for line in (message.text or "").splitlines() if line.strip()]
    if len(lines) != len(needs):
        await message.answer(t("conv.values_count", expected=len(needs), got=len(lines)))
        return
    await state.clear()
    await _send_template(message, owner, t, ctx, conv_id, tpl_id, dict(zip(needs, lines, strict=True)))


async def _send_template(event: Event, owner: Owner, t: Translator, ctx: BotContext, conv_id: uuid.UUID,
                         tpl_id: uuid.UUID, values: dict[str, str]) -> None:
    queued = await conversations.send_template(ctx.redis, owner.user_id, conv_id, tpl_id, values,
                                               language=owner.prefs.language, partitions=ctx.partitions,
                                               handoff_hours=ctx.handoff_hours)
    await show(event, t("conv.template_queued", preview=queued.text),
               rows([back(t, ConvAct(act="open", id=short(conv_id)))]))
