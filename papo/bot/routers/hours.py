"""Opening hours (`/hours`, and a button in settings): the hours, the away reply sent outside them, holidays."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime

from aiogram import F
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from papo.bot.filters import TextInput
from papo.bot.keyboards import HoursAct, Nav, back, button, grid, rows
from papo.bot.locales import Translator
from papo.bot.middlewares import BotContext
from papo.bot.routers.common import Event, linked_router, show
from papo.services import ServiceError
from papo.services import hours as hours_service
from papo.services.hours import Hours
from papo.services.owners import Owner

router = linked_router("hours")
MAX_HOLIDAY_BUTTONS = 12


class HoursStates(StatesGroup):
    """Typed answers the opening-hours screen asks for."""

    hours = State()
    away = State()
    holiday = State()


def _day(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def _text(t: Translator, hours: Hours) -> str:
    """The screen: hours, time zone, away text, holidays, and whether it is open right now."""
    if hours.windows:
        now = t("hours.open_now") if hours_service.closed_since(hours, datetime.now(UTC)) is None \
            else t("hours.closed_now")
    else:
        now = ""
    return t("hours.text", hours=hours.describe() or t("hours.none"), timezone=hours.timezone,
             away=hours.away_text or t("hours.away_off"),
             holidays=", ".join(_day(d) for d in hours.holidays) or t("hours.no_holidays"), now=now)


async def show_hours(event: Event, owner: Owner, t: Translator, ctx: BotContext) -> None:
    """The opening-hours screen with its buttons (a holiday's button removes it)."""
    hours = await hours_service.get_hours(owner.user_id, default_timezone=ctx.default_timezone)
    today = datetime.now(UTC).date()
    upcoming = [d for d in hours.holidays if d >= today][:MAX_HOLIDAY_BUTTONS]
    markup = rows(
        [button(t("hours.set"), HoursAct(act="hours")), button(t("hours.away"), HoursAct(act="away"))],
        [button(t("hours.add_holiday"), HoursAct(act="addday"))],
        *grid([button("🗑 " + _day(d), HoursAct(act="delday", v=d.isoformat())) for d in upcoming]),
        ([button(t("hours.clear"), HoursAct(act="clear"))] if hours.windows else []) +
        ([button(t("hours.away_clear"), HoursAct(act="noaway"))] if hours.away_text else []),
        [back(t, Nav(to="settings"))],
    )
    await show(event, _text(t, hours), markup)


@router.message(Command("hours"))
@router.callback_query(HoursAct.filter(F.act == "show"))
async def hours_screen(event: Event, owner: Owner, t: Translator, ctx: BotContext, state: FSMContext) -> None:
    """The opening hours."""
    await state.clear()
    await show_hours(event, owner, t, ctx)


_ASK = {"hours": (HoursStates.hours, "hours.ask_hours"), "away": (HoursStates.away, "hours.ask_away"),
        "addday": (HoursStates.holiday, "hours.ask_holiday")}


@router.callback_query(HoursAct.filter(F.act.in_(set(_ASK))))
async def ask(query: CallbackQuery, callback_data: HoursAct, t: Translator, state: FSMContext) -> None:
    """Ask for the hours, the away text or a holiday."""
    wanted, key = _ASK[callback_data.act]
    await state.set_state(wanted)
    await show(query, t(key), rows([back(t, HoursAct(act="show"))]))


async def _answered(message: Message, owner: Owner, t: Translator, ctx: BotContext, state: FSMContext,
                    **change: str) -> None:
    """Apply a typed answer; on a mistake say what is wrong and keep asking."""
    try:
        if "holiday" in change:
            await hours_service.change_holidays(owner.user_id, add=[change["holiday"]])
        else:
            await hours_service.set_hours(owner.user_id, **change)
    except ServiceError as exc:
        await message.answer(t("error", message=str(exc)))
        return
    await state.clear()
    await show_hours(message, owner, t, ctx)


@router.message(HoursStates.hours, TextInput())
async def got_hours(message: Message, owner: Owner, t: Translator, ctx: BotContext, state: FSMContext) -> None:
    """`mon-fri 09:00-18:00, sat 09:00-13:00` (or seg-sex …)."""
    await _answered(message, owner, t, ctx, state, spec=message.text or "")


@router.message(HoursStates.away, TextInput())
async def got_away(message: Message, owner: Owner, t: Translator, ctx: BotContext, state: FSMContext) -> None:
    """The away text."""
    await _answered(message, owner, t, ctx, state, away_text=message.text or "")


@router.message(HoursStates.holiday, TextInput())
async def got_holiday(message: Message, owner: Owner, t: Translator, ctx: BotContext, state: FSMContext) -> None:
    """A date: 25/12/2026 or 2026-12-25."""
    await _answered(message, owner, t, ctx, state, holiday=message.text or "")


@router.callback_query(HoursAct.filter(F.act.in_({"clear", "noaway", "delday"})))
async def remove(query: CallbackQuery, callback_data: HoursAct, owner: Owner, t: Translator, ctx: BotContext,
                 callback_answer: CallbackAnswer) -> None:
    """Clear the hours, switch the away reply off, or remove a holiday."""
    if callback_data.act == "clear":
        await hours_service.set_hours(owner.user_id, clear=True)
    elif callback_data.act == "noaway":
        await hours_service.set_hours(owner.user_id, away_text="")
    else:
        # Already removed (a second tap): the screen below shows the list as it is.
        with contextlib.suppress(ServiceError):
            await hours_service.change_holidays(owner.user_id, remove=[callback_data.v])
    callback_answer.text = t("hours.saved")
    await show_hours(query, owner, t, ctx)
