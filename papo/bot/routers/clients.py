"""`/clientes`: a consultancy's Telegram account switches between the businesses it runs.

The account is linked to the consultancy and to each client (`papo admin link --user CLIENT --client-of
CONSULTANCY`); the business it picked last is the one every menu shows and acts on (the access middleware
resolves it on each update), so switching is one button and nothing of the other businesses shows.
"""

from __future__ import annotations

from aiogram import F
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup
from aiogram.utils.callback_answer import CallbackAnswer

from papo.bot.keyboards import ClientPick, Nav, back, button, main_menu, rows, short
from papo.bot.locales import Translator
from papo.bot.routers.common import Event, linked_router, need_id, show
from papo.services import owners
from papo.services.owners import BusinessChoice, Owner

router = linked_router("clients")


def client_list(t: Translator, owner: Owner, choices: list[BusinessChoice]) -> tuple[str, InlineKeyboardMarkup]:
    """The list's text and one button per business (the selected one marked)."""
    if len(choices) < 2:
        return t("clients.only_one", business=owner.business_name), rows([back(t, Nav(to="menu"))])
    buttons = [[button(("✅ " if c.selected else "") + c.name + ("" if c.client else t("clients.own")),
                       ClientPick(id=short(c.user_id)))] for c in choices]
    return t("clients.title", business=owner.business_name), rows(*buttons, [back(t, Nav(to="menu"))])


@router.message(Command("clientes", "clients"))
@router.callback_query(Nav.filter(F.to == "clients"))
async def clients(event: Event, owner: Owner, t: Translator) -> None:
    """Every business this Telegram account runs, as buttons."""
    text, markup = client_list(t, owner, await owners.businesses_of(owner.telegram_user_id))
    await show(event, text, markup)


@router.callback_query(ClientPick.filter())
async def pick(query: CallbackQuery, callback_data: ClientPick, owner: Owner, t: Translator, state: FSMContext,
               callback_answer: CallbackAnswer) -> None:
    """Switch to the chosen business (only one this account is linked to) and show its menu."""
    chosen = await owners.select_business(owner.telegram_user_id, need_id(callback_data.id))
    await state.clear()  # a half-answered question belonged to the other business
    callback_answer.text = t("clients.switched", business=chosen.name)
    await show(query, t("clients.switched", business=chosen.name) + "\n\n" + t("menu.title", business=chosen.name),
               main_menu(t, posts=True))
