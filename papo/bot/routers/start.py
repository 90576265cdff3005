"""`/start CODE` links a Telegram account; `/start`, `/help`, `/menu` and `/cancel` for linked owners."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from papo.bot import views
from papo.bot.filters import Linked
from papo.bot.keyboards import Nav, main_menu
from papo.bot.locales import Translator, translator
from papo.bot.middlewares import BotContext
from papo.bot.routers.common import Event, show
from papo.constants import LINK_TRIES, LINK_TRIES_ALL
from papo.services import ServiceError, owners
from papo.services.owners import Owner
from papo.services.plans import QuotaExceeded

log = logging.getLogger(__name__)
router = Router(name="start")

MAX_LINK_TRIES = 10  # codes have ~50 bits; this only stops someone hammering the bot
MAX_LINK_TRIES_ALL = 300  # a business links a handful of admins; 300 an hour is an attack, not a team


async def _count_try(ctx: BotContext, telegram_user_id: int) -> bool:
    """Count this try before looking at the code, so concurrent tries cannot all pass; True if allowed."""
    pipe = ctx.redis.pipeline(transaction=True)
    for key in (f"{LINK_TRIES}{telegram_user_id}", LINK_TRIES_ALL):
        pipe.set(key, 0, nx=True, ex=3600)  # a fixed one-hour window (EXPIRE NX needs Redis 7)
        pipe.incr(key)
    _, own, _, everyone = await pipe.execute()
    return int(own) <= MAX_LINK_TRIES and int(everyone) <= MAX_LINK_TRIES_ALL


async def _forget_try(ctx: BotContext, telegram_user_id: int) -> None:
    """A code that worked is not a failure: give the try back."""
    pipe = ctx.redis.pipeline(transaction=True)
    pipe.decr(f"{LINK_TRIES}{telegram_user_id}")
    pipe.decr(LINK_TRIES_ALL)
    await pipe.execute()


@router.message(CommandStart(deep_link=True), F.chat.type == "private")
async def link(message: Message, command: CommandObject, t: Translator, ctx: BotContext) -> None:
    """Consume a one-time code and link this Telegram account to its business."""
    user = message.from_user
    assert user is not None
    if not await _count_try(ctx, user.id):
        await message.answer(t("link.too_many"))
        return
    try:
        result = await owners.link(command.args or "", user.id, message.chat.id, username=user.username,
                                   display_name=user.full_name)
    except (QuotaExceeded, owners.NotConsultant) as exc:  # a good code, refused: it stays unused
        await _forget_try(ctx, user.id)
        await message.answer(views.quota(t, exc) if isinstance(exc, QuotaExceeded) else t("link.needs_consultancy"))
        return
    except ServiceError:
        await message.answer(t("link.invalid"))
        return
    await _forget_try(ctx, user.id)
    log.info("Telegram user %s linked to business %s", user.id, result.user_id)
    prefs = await owners.get_prefs(result.user_id, default_timezone=ctx.default_timezone)
    tt = translator(prefs.language)
    done = "link.client_done" if result.client_of is not None else "link.done"
    await message.answer(tt(done, business=result.business_name), reply_markup=main_menu(tt, posts=True))


@router.message(CommandStart(), Linked())
@router.message(Command("help"), Linked())
async def welcome(message: Message, owner: Owner, t: Translator) -> None:
    """Greeting, what the bot does, and the menu."""
    await message.answer(t("welcome", business=owner.business_name), reply_markup=main_menu(t, posts=True))


@router.message(Command("menu"), Linked())
@router.callback_query(Nav.filter(F.to == "menu"), Linked())
async def menu(event: Event, owner: Owner, t: Translator, state: FSMContext) -> None:
    """The main menu (leaves any question the bot was waiting an answer to)."""
    await state.clear()
    await show(event, t("menu.title", business=owner.business_name), main_menu(t, posts=True))


@router.message(Command("cancel"), Linked())
async def cancel(message: Message, t: Translator, state: FSMContext) -> None:
    """Forget the question the bot was waiting an answer to."""
    await state.clear()
    await message.answer(t("cancelled"), reply_markup=main_menu(t, posts=True))


fallback = Router(name="fallback")
fallback.message.filter(Linked())
fallback.callback_query.filter(Linked())


@fallback.message()
async def unknown_message(message: Message, t: Translator) -> None:
    """Anything no other handler took."""
    await message.answer(t("unknown"), reply_markup=main_menu(t, posts=True))


@fallback.callback_query()
async def stale_button(query: CallbackQuery, t: Translator, callback_answer: CallbackAnswer) -> None:
    """A button from an old message that no handler knows any more."""
    callback_answer.text = t("stale_button")
