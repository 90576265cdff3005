"""Data requests (LGPD) from the lead card and the conversation, and "Export leads" as a CSV/XLSX document."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiogram import F
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton
from aiogram.utils.callback_answer import CallbackAnswer

from papo.bot.keyboards import ConvAct, DataAct, LeadAct, LeadExport, LeadList, Nav, back, button, rows
from papo.bot.locales import Translator
from papo.bot.middlewares import BotContext
from papo.bot.routers.common import linked_router, need_id, show
from papo.bot.routers.leads import describe_filter, tag_for
from papo.services import NotFound
from papo.services.customer_data import (
    Customer,
    customer_of_conversation,
    customer_of_lead,
    export_customer,
    export_file_name,
)
from papo.services.customer_erase import erase_customer
from papo.services.lead_export import export_leads
from papo.services.owners import Owner

router = linked_router("data_requests")


async def _customer(owner: Owner, data: DataAct) -> tuple[Customer, str]:
    """The customer the button names, checked against the owner's business."""
    item = need_id(data.id)
    if data.of == "l":
        return await customer_of_lead(owner.user_id, item)
    if data.of == "c":
        return await customer_of_conversation(owner.user_id, item)
    raise NotFound("unknown item")


def _cancel(t: Translator, data: DataAct) -> InlineKeyboardButton:
    """Back to the lead card or the conversation the request came from."""
    if data.of == "c":
        return back(t, ConvAct(act="open", id=data.id))
    return back(t, LeadAct(act="open", id=data.id))


async def _send(query: CallbackQuery, content: bytes, filename: str, caption: str) -> None:
    """A file as a Telegram document in the owner's chat."""
    assert query.bot is not None
    await query.bot.send_document(query.from_user.id, BufferedInputFile(content, filename=filename), caption=caption)


@router.callback_query(DataAct.filter(F.act == "export"))
async def export(query: CallbackQuery, callback_data: DataAct, owner: Owner, t: Translator, ctx: BotContext,
                 callback_answer: CallbackAnswer) -> None:
    """Everything Papo holds about the customer, sent as a JSON document."""
    who, name = await _customer(owner, callback_data)
    document = await export_customer(ctx.stores, ctx.settings, who)
    content = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    messages = sum(len(c["messages"]) for c in document["conversations"])
    await _send(query, content, export_file_name(who), t("data.exported", name=name, messages=messages))
    callback_answer.text = t("data.export_sent")


@router.callback_query(DataAct.filter(F.act == "erase"))
async def ask_erase(query: CallbackQuery, callback_data: DataAct, owner: Owner, t: Translator) -> None:
    """Confirm before erasing: it cannot be undone."""
    _, name = await _customer(owner, callback_data)
    await show(query, t("data.erase_confirm", name=name),
               rows([button(t("data.erase_yes"), DataAct(act="yes", of=callback_data.of, id=callback_data.id))],
                    [_cancel(t, callback_data)]))


@router.callback_query(DataAct.filter(F.act == "yes"))
async def erase(query: CallbackQuery, callback_data: DataAct, owner: Owner, t: Translator, ctx: BotContext) -> None:
    """Erase the customer everywhere (the business's totals are kept)."""
    who, name = await _customer(owner, callback_data)
    await erase_customer(ctx.stores, ctx.settings, who)
    to = Nav(to="convs" if callback_data.of == "c" else "leads")
    await show(query, t("data.erased", name=name), rows([back(t, to)]))


def _filters(data: LeadExport) -> LeadList:
    return LeadList(q=data.q, s=data.s, p=data.p, t=data.t)


@router.callback_query(LeadExport.filter(F.f == ""))
async def choose_format(query: CallbackQuery, callback_data: LeadExport, owner: Owner, t: Translator) -> None:
    """CSV or Excel?"""
    listing = _filters(callback_data)
    tag = await tag_for(owner, callback_data.t)
    formats = [button(t(f"leads.export_{f}"), callback_data.model_copy(update={"f": f})) for f in ("csv", "xlsx")]
    await show(query, t("leads.export_choose", filter=describe_filter(t, listing, tag)),
               rows(formats, [back(t, listing if any((listing.q, listing.s, listing.p, listing.t))
                                   else Nav(to="leads"))]))


@router.callback_query(LeadExport.filter(F.f.in_({"csv", "xlsx"})))
async def send_leads(query: CallbackQuery, callback_data: LeadExport, owner: Owner, t: Translator,
                     callback_answer: CallbackAnswer) -> None:
    """The leads of the list as a document."""
    tag = await tag_for(owner, callback_data.t)
    content, count = await export_leads(owner.user_id, fmt=callback_data.f, quality=callback_data.q or None,
                                        status=callback_data.s or None, platform=callback_data.p or None, tag=tag,
                                        timezone=owner.prefs.timezone)
    day = datetime.now(UTC).astimezone(ZoneInfo(owner.prefs.timezone)).date().isoformat()
    caption = t("leads.exported", total=count, filter=describe_filter(t, _filters(callback_data), tag))
    await _send(query, content, f"papo-leads-{day}.{callback_data.f}", caption)
    callback_answer.text = t("data.export_sent")

