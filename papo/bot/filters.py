"""Router-level filters: only linked owners reach the menus; free text (not a command) for answers."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message

from papo.services.owners import Owner


class Linked(Filter):
    """The update comes from a linked Telegram account (the access middleware found its owner)."""

    async def __call__(self, event: Message | CallbackQuery, owner: Owner | None = None) -> bool:
        """True for a linked owner."""
        return owner is not None


class TextInput(Filter):
    """A message with text that is not a command (an answer to the bot's question)."""

    async def __call__(self, event: Message) -> bool:
        """True for plain text."""
        return bool(event.text) and not event.text.startswith("/")
