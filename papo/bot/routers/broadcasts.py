"""Broadcasts (`/broadcasts`): the list, a campaign's progress and results chart, and the creation wizard.

Wizard: approved WhatsApp template → values for its variables that are not the lead's own → segment
(quality, status, platform, tags: tap to toggle, nothing chosen = everyone) → preview (how many, who, who
is left out) → send now or at a time in words. Everything goes through papo.services.broadcasts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiogram import F
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, Message

from papo.bot import views
from papo.bot.charts import bars_chart
from papo.bot.dates import DateParseError, parse_when
from papo.bot.filters import TextInput
from papo.bot.keyboards import BcAct, Nav, back, button, grid, rows, short, tag_key
from papo.bot.locales import Safe, Translator
from papo.bot.routers.common import Event, linked_router, need_id, show
from papo.enums import LeadQuality, LeadStatus
from papo.services import ServiceError, broadcasts, leads, templates
from papo.services.owners import Owner

router = linked_router("broadcasts")
STATUS_ICON = {"scheduled": "📅", "running": "🚀", "finished": "✅", "cancelled": "✖"}
TOGGLES = {"q": ("quality", [q.value for q in reversed(LeadQuality)]),
           "s": ("status", [s.value for s in LeadStatus]),
           "p": ("platform", [p.value for p in broadcasts.BROADCAST_PLATFORMS])}
MAX_TAGS = 8


class BroadcastStates(StatesGroup):
    """Typed answers the wizard asks for."""

    value = State()
    when = State()


@router.message(Command("broadcasts"))
@router.callback_query(Nav.filter(F.to == "bcast"))
@router.callback_query(BcAct.filter(F.act == "list"))
async def list_(event: Event, owner: Owner, t: Translator, state: FSMContext) -> None:
    """The newest campaigns with their progress."""
    await state.clear()
    found = await broadcasts.list_broadcasts(owner.user_id, limit=8)
    lines = [[button(f"{STATUS_ICON.get(b.status, '')} {views.snippet(b.name, 30)} · {b.done}/{b.total}",
                     BcAct(act="open", id=short(b.id)))] for b in found]
    await show(event, t("bc.title") if found else t("bc.none"),
               rows(*lines, [button(t("bc.new"), BcAct(act="new"))], [back(t, Nav(to="menu"))]))


# ------------------------------------------------------------------ one campaign


async def _open(event: Event, owner: Owner, t: Translator, ref: str, note: str | None = None) -> None:
    view = await broadcasts.get_broadcast(owner.user_id, ref)
    funnel = view.funnel()
    counts = "\n".join(t("bc.count", state=t(f"bc.state.{k}"), n=v) for k, v in funnel.items() if v)
    errors = "\n".join(f"• {views.snippet(e['error'], 90)} ({e['count']})" for e in view.errors[:3])
    text = t("bc.card", name=view.name, status=t(f"bc.status.{view.status}"), template=view.template,
             when=views.when(view.scheduled_for, owner.prefs.timezone, t), total=view.total,
             counts=Safe(counts or "—"), errors=errors)
    bid = short(view.id)
    actions = [button(t("bc.chart_btn"), BcAct(act="chart", id=bid)),
               button(t("bc.refresh"), BcAct(act="open", id=bid))]
    cancel = [button(t("bc.cancel"), BcAct(act="cancel", id=bid))] if view.status in ("scheduled", "running") else []
    await show(event, f"{note}\n\n{text}" if note else text,
               rows(actions, cancel, [back(t, BcAct(act="list"))]))


@router.callback_query(BcAct.filter(F.act == "open"))
async def open_(query: CallbackQuery, callback_data: BcAct, owner: Owner, t: Translator) -> None:
    """A campaign's card: status, recipients by outcome, replies, the commonest errors."""
    await _open(query, owner, t, str(need_id(callback_data.id)))


@router.callback_query(BcAct.filter(F.act == "cancel"))
async def cancel(query: CallbackQuery, callback_data: BcAct, owner: Owner, t: Translator) -> None:
    """Stop a scheduled or running campaign."""
    ref = str(need_id(callback_data.id))
    try:
        await broadcasts.cancel_broadcast(owner.user_id, ref)
    except ServiceError as exc:
        await _open(query, owner, t, ref, t("error", message=str(exc)))
        return
    await _open(query, owner, t, ref, t("bc.cancelled"))


@router.callback_query(BcAct.filter(F.act == "chart"))
async def chart(query: CallbackQuery, callback_data: BcAct, owner: Owner, t: Translator) -> None:
    """The results as a chart: sent, delivered, read, replied, failed, skipped, still to go."""
    view = await broadcasts.get_broadcast(owner.user_id, str(need_id(callback_data.id)))
    bars = [(t(f"bc.state.{k}"), v) for k, v in view.funnel().items()]
    png = bars_chart(bars, title=t("bc.chart_title", name=view.name), total=view.total)
    assert query.bot is not None
    photo = BufferedInputFile(png, filename=f"papo-broadcast-{short(view.id)}.png")
    await query.bot.send_photo(query.from_user.id, photo,
                               caption=t("bc.chart_caption", name=view.name, total=view.total, replied=view.replied),
                               reply_markup=rows([back(t, BcAct(act="open", id=short(view.id)))]))


# ------------------------------------------------------------------ the wizard


@router.callback_query(BcAct.filter(F.act == "new"))
async def new(query: CallbackQuery, owner: Owner, t: Translator, state: FSMContext) -> None:
    """Step 1: the approved WhatsApp template."""
    await state.clear()
    usable = [tpl for tpl in await templates.list_templates(owner.user_id, platform="whatsapp")
              if tpl.is_approved and tpl.meta_template_name and tpl.language]
    if not usable:
        await show(query, t("bc.no_templates"), rows([back(t, BcAct(act="list"))]))
        return
    lines = [[button(f"📄 {tpl.name}", BcAct(act="tpl", id=short(tpl.id)))] for tpl in usable[:12]]
    await show(query, t("bc.pick_template"), rows(*lines, [back(t, BcAct(act="list"))]))


@router.callback_query(BcAct.filter(F.act == "tpl"))
async def got_template(query: CallbackQuery, callback_data: BcAct, owner: Owner, t: Translator,
                       state: FSMContext) -> None:
    """Step 2: ask for the variables that are not the lead's own (e.g. a coupon), one by one."""
    tpl = await templates.get_template(owner.user_id, str(need_id(callback_data.id)))
    ask = [v for v in tpl.variables if v not in broadcasts.LEAD_VARIABLES]
    await state.set_data({"template": str(tpl.id), "template_name": tpl.name, "ask": ask, "values": {},
                          "quality": [], "status": [], "platform": [], "tags": []})
    await _next_value(query, owner, t, state)


async def _next_value(event: Event, owner: Owner, t: Translator, state: FSMContext) -> None:
    data = await state.get_data()
    missing = [v for v in data["ask"] if v not in data["values"]]
    if not missing:
        await state.set_state(None)
        await _segment(event, owner, t, state)
        return
    await state.set_state(BroadcastStates.value)
    await show(event, t("bc.ask_value", variable=missing[0], template=data["template_name"]),
               rows([back(t, BcAct(act="new"))]))


@router.message(BroadcastStates.value, TextInput())
async def got_value(message: Message, owner: Owner, t: Translator, state: FSMContext) -> None:
    """A variable's value (it may use the lead's {first_name} and the like)."""
    data = await state.get_data()
    missing = [v for v in data.get("ask", []) if v not in data.get("values", {})]
    if not missing:
        await show(message, t("bc.start_over"), rows([button(t("bc.new"), BcAct(act="new"))]))
        return
    await state.update_data(values={**data["values"], missing[0]: (message.text or "").strip()})
    await _next_value(message, owner, t, state)


async def _segment(event: Event, owner: Owner, t: Translator, state: FSMContext, note: str | None = None) -> None:
    """Step 3: the segment screen, every choice a toggle (the business's tags among them)."""
    data = await _draft(event, t, state)
    if data is None:
        return
    owner_tags = await leads.distinct_tags(owner.user_id)
    lines: list[list[InlineKeyboardButton]] = []
    for code, (name, values) in TOGGLES.items():
        prefix = {"quality": "quality.", "status": "status.", "platform": "platform."}[name]
        lines += grid([button(("✓ " if v in data[name] else "") + t(prefix + v), BcAct(act=code, v=v))
                       for v in values], 4 if name != "platform" else 3)
    lines += grid([button(("✓ " if tag in data["tags"] else "") + f"#{tag}", BcAct(act="tag", v=tag_key(tag)))
                   for tag in owner_tags[:MAX_TAGS]], 4)
    chosen = broadcasts.Segment.parse(_segment_dict(data)).to_dict()
    summary = "; ".join(f"{k}: {', '.join(v)}" for k, v in chosen.items()) or t("bc.everyone")
    text = t("bc.segment", template=data["template_name"], segment=summary)
    await show(event, f"{note}\n\n{text}" if note else text,
               rows(*lines, [button(t("bc.preview_btn"), BcAct(act="preview"))], [back(t, BcAct(act="new"))]))


async def _draft(event: Event, t: Translator, state: FSMContext) -> dict[str, Any] | None:
    """The campaign being built, or None (and a "start again" screen) when it expired or never began."""
    data = await state.get_data()
    if "template" in data:
        return data
    await show(event, t("bc.start_over"), rows([button(t("bc.new"), BcAct(act="new"))]))
    return None


def _segment_dict(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in ("quality", "status", "platform", "tags") if data.get(k)}


@router.callback_query(BcAct.filter(F.act.in_(set(TOGGLES) | {"tag", "seg"})))
async def toggle(query: CallbackQuery, callback_data: BcAct, owner: Owner, t: Translator, state: FSMContext) -> None:
    """Turn one segment choice on or off."""
    data = await _draft(query, t, state)
    if data is None:
        return
    known = await leads.distinct_tags(owner.user_id)
    if callback_data.act in TOGGLES:
        name, values = TOGGLES[callback_data.act]
        value: str | None = callback_data.v if callback_data.v in values else None
    elif callback_data.act == "tag":
        name, value = "tags", next((tag for tag in known if tag_key(tag) == callback_data.v), None)
    else:
        name, value = "tags", None  # "seg": back to the segment screen unchanged
    if value is not None:
        chosen = list(data[name])
        chosen.remove(value) if value in chosen else chosen.append(value)
        await state.update_data({name: chosen})
    await _segment(query, owner, t, state)


@router.callback_query(BcAct.filter(F.act == "preview"))
async def preview(query: CallbackQuery, owner: Owner, t: Translator, state: FSMContext) -> None:
    """Step 4: how many customers, the first ones with their text, who is left out; then now or later."""
    data = await _draft(query, t, state)
    if data is None:
        return
    try:
        found = await broadcasts.preview(owner.user_id, template=data["template"],
                                         segment=broadcasts.Segment.parse(_segment_dict(data)),
                                         variables=data["values"])
    except ServiceError as exc:
        await _segment(query, owner, t, state, note=t("error", message=str(exc)))
        return
    if not found.count:
        await _segment(query, owner, t, state, note=t("bc.empty", opted_out=found.opted_out))
        return
    sample = "\n".join(f"• {r.name or r.remote_user_id} ({views.platform_name(r.platform)}): "
                       f"{views.snippet(r.text, 80)}" for r in found.recipients[:3])
    platforms = ", ".join(f"{views.platform_name(p)} {n}" for p, n in found.by_platform.items())
    await show(query, t("bc.preview", template=found.template.name, count=found.count, platforms=platforms,
                        opted_out=found.opted_out, missing=found.missing_value, sample=sample),
               rows([button(t("bc.send_now"), BcAct(act="go", v="now")),
                     button(t("bc.schedule"), BcAct(act="go", v="later"))],
                    [button(t("bc.change"), BcAct(act="seg"))], [back(t, BcAct(act="list"))]))


@router.callback_query(BcAct.filter(F.act == "go"))
async def go(query: CallbackQuery, callback_data: BcAct, owner: Owner, t: Translator, state: FSMContext) -> None:
    """Step 5: send now, or ask when."""
    if callback_data.v == "later":
        await state.set_state(BroadcastStates.when)
        await show(query, t("bc.ask_when", tz=owner.prefs.timezone), rows([back(t, BcAct(act="preview"))]))
        return
    await _create(query, owner, t, state, None)


@router.message(BroadcastStates.when, TextInput())
async def got_when(message: Message, owner: Owner, t: Translator, state: FSMContext) -> None:
    """The sending time, in the owner's words and time zone."""
    try:
        when = parse_when(message.text or "", timezone=owner.prefs.timezone, now=datetime.now(UTC))
    except DateParseError as exc:
        await message.answer(t(exc.key))
        return
    await _create(message, owner, t, state, when)


async def _create(event: Event, owner: Owner, t: Translator, state: FSMContext, when: datetime | None) -> None:
    data = await _draft(event, t, state)
    if data is None:
        return
    try:
        view = await broadcasts.create_broadcast(owner.user_id, template=data["template"],
                                                 segment=broadcasts.Segment.parse(_segment_dict(data)),
                                                 variables=data["values"], when=when, timezone=owner.prefs.timezone)
    except ServiceError as exc:
        await show(event, t("error", message=views.problem(t, exc)), rows([button(t("bc.change"), BcAct(act="seg"))]))
        return
    await state.clear()
    await _open(event, owner, t, str(view.id), t("bc.created"))
