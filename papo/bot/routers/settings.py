"""Settings: language (`/lang`), alert switches, quiet hours, time zone."""

from __future__ import annotations

from aiogram import F
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from papo.bot.filters import TextInput
from papo.bot.keyboards import HoursAct, Nav, SetAct, back, button, grid, rows
from papo.bot.locales import LANGUAGE_NAMES, LANGUAGES, Translator, translator
from papo.bot.middlewares import BotContext
from papo.bot.routers.common import Event, linked_router, show
from papo.services import ServiceError, owners
from papo.services.owners import ALERT_KINDS, Owner, OwnerPrefs

router = linked_router("settings")


class SettingsStates(StatesGroup):
    """Typed answers the settings ask for."""

    quiet = State()
    timezone = State()


def _text(t: Translator, prefs: OwnerPrefs) -> str:
    quiet = f"{prefs.quiet_start}–{prefs.quiet_end}" if prefs.quiet_start else t("settings.quiet_off")
    alerts = "\n".join(f"{'🔔' if prefs.alert_on(k) else '🔕'} {t('alert.kind.' + k)}" for k in ALERT_KINDS)
    return t("settings.text", language=LANGUAGE_NAMES[prefs.language], timezone=prefs.timezone, quiet=quiet,
             alerts=alerts)


async def show_settings(event: Event, owner_prefs: OwnerPrefs, t: Translator) -> None:
    """The settings screen."""
    toggles = [button(f"{'🔔' if owner_prefs.alert_on(k) else '🔕'} {t('alert.kind.' + k)}",
                      SetAct(act="alert", v=k)) for k in ALERT_KINDS]
    markup = rows([button(t("settings.language"), SetAct(act="lang")),
                   button(t("settings.timezone"), SetAct(act="tz"))],
                  *grid(toggles),
                  [button(t("settings.quiet"), SetAct(act="quiet"))] +
                  ([button(t("settings.quiet_clear"), SetAct(act="noquiet"))] if owner_prefs.quiet_start else []),
                  [button(t("settings.hours"), HoursAct(act="show"))],
                  [back(t, Nav(to="menu"))])
    await show(event, _text(t, owner_prefs), markup)


async def _prefs(owner: Owner, ctx: BotContext) -> OwnerPrefs:
    return await owners.get_prefs(owner.user_id, default_timezone=ctx.default_timezone)


@router.message(Command("settings"))
@router.callback_query(Nav.filter(F.to == "settings"))
async def settings(event: Event, owner: Owner, t: Translator, ctx: BotContext, state: FSMContext) -> None:
    """The settings screen."""
    await state.clear()
    await show_settings(event, await _prefs(owner, ctx), t)


@router.message(Command("lang"))
@router.callback_query(SetAct.filter(F.act == "lang"))
async def choose_language(event: Event, t: Translator) -> None:
    """The three languages."""
    await show(event, t("settings.choose_language"),
               rows([button(LANGUAGE_NAMES[lang], SetAct(act="setlang", v=lang)) for lang in LANGUAGES]))


@router.callback_query(SetAct.filter(F.act == "setlang"))
async def set_language(query: CallbackQuery, callback_data: SetAct, owner: Owner, ctx: BotContext,
                       callback_answer: CallbackAnswer) -> None:
    """Switch the business's bot language."""
    await owners.set_language(owner.user_id, callback_data.v)
    t = translator(callback_data.v)
    callback_answer.text = t("settings.language_set")
    await show_settings(query, await _prefs(owner, ctx), t)


@router.callback_query(SetAct.filter(F.act == "alert"))
async def toggle_alert(query: CallbackQuery, callback_data: SetAct, owner: Owner, t: Translator,
                       ctx: BotContext) -> None:
    """Switch one kind of alert on or off."""
    await owners.set_alert(owner.user_id, callback_data.v, not owner.prefs.alert_on(callback_data.v))
    await show_settings(query, await _prefs(owner, ctx), t)


@router.callback_query(SetAct.filter(F.act == "noquiet"))
async def clear_quiet(query: CallbackQuery, owner: Owner, t: Translator, ctx: BotContext) -> None:
    """No quiet hours."""
    await owners.set_quiet_hours(owner.user_id, None, None)
    await show_settings(query, await _prefs(owner, ctx), t)


@router.callback_query(SetAct.filter(F.act.in_({"quiet", "tz"})))
async def ask(query: CallbackQuery, callback_data: SetAct, t: Translator, state: FSMContext) -> None:
    """Ask for quiet hours or the time zone."""
    await state.set_state(SettingsStates.quiet if callback_data.act == "quiet" else SettingsStates.timezone)
    key = "settings.ask_quiet" if callback_data.act == "quiet" else "settings.ask_timezone"
    await show(query, t(key), rows([back(t, Nav(to="settings"))]))


@router.message(SettingsStates.quiet, TextInput())
async def got_quiet(message: Message, owner: Owner, t: Translator, ctx: BotContext, state: FSMContext) -> None:
    """'22:00-07:00'."""
    parts = [p.strip() for p in (message.text or "").replace("–", "-").split("-")]
    try:
        if len(parts) != 2:
            raise ServiceError(t("settings.quiet_format"))
        await owners.set_quiet_hours(owner.user_id, parts[0], parts[1])
    except ServiceError as exc:
        await message.answer(t("error", message=str(exc)))
        return
    await state.clear()
    await show_settings(message, await _prefs(owner, ctx), t)


@router.message(SettingsStates.timezone, TextInput())
async def got_timezone(message: Message, owner: Owner, t: Translator, ctx: BotContext, state: FSMContext) -> None:
    """An IANA time zone such as America/Sao_Paulo."""
    try:
        await owners.set_timezone(owner.user_id, message.text or "")
    except ServiceError as exc:
        await message.answer(t("error", message=str(exc)))
        return
    await state.clear()
    await show_settings(message, await _prefs(owner, ctx), t)
