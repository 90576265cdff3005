"""What the routers share: showing a screen (edit on a button, send on a command), ids from callbacks."""

from __future__ import annotations

import logging
import uuid

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from papo.bot.filters import Linked
from papo.bot.keyboards import unshort
from papo.services import NotFound

log = logging.getLogger(__name__)

Event = Message | CallbackQuery


def linked_router(name: str) -> Router:
    """A router whose every message and button handler needs a linked owner (the filter sits on the router)."""
    router = Router(name=name)
    router.message.filter(Linked())
    router.callback_query.filter(Linked())
    return router


async def show(event: Event, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Show a screen: edit the message whose button was pressed, or answer a command with a new message."""
    if isinstance(event, CallbackQuery):
        message = event.message
        if isinstance(message, Message) and message.text is not None:
            try:
                await message.edit_text(text, reply_markup=markup)
                return
            except TelegramBadRequest as exc:
                if "not modified" in str(exc):
                    return
                log.info("could not edit message %s (%s); sending a new one", message.message_id, exc)
        if event.bot is not None:
            await event.bot.send_message(event.from_user.id, text, reply_markup=markup)
        return
    await event.answer(text, reply_markup=markup)


def need_id(value: str) -> uuid.UUID:
    """The UUID a button carries; NotFound when it is not one (a forged or stale button)."""
    found = unshort(value)
    if found is None:
        raise NotFound("unknown item")
    return found
