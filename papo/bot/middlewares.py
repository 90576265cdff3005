"""Bot middlewares: services by parameter name (typed `BotData`), access control, language.

Order on every update (outer middlewares of `dp.update`, after aiogram's own user-context one):
`ContextMiddleware` puts the shared context in the data; `AccessMiddleware` resolves the linked
owner and their language — or gives a stranger exactly one polite answer and stops the update there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict

import redis.asyncio as aioredis
from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, Update, User

from papo.bot.locales import Translator, language_for, translator
from papo.config import Settings
from papo.constants import BOT_SEEN, BOT_STRANGER
from papo.runtime import Stores
from papo.services import owners
from papo.services.owners import Owner

log = logging.getLogger(__name__)

STRANGER_ANSWERS_PER_MINUTE = 10  # beyond this a flooding stranger gets silence, not more answers
SEEN_EVERY = 300


@dataclass(frozen=True, slots=True)
class BotContext:
    """What every handler may need besides the owner: stores, settings and the knobs derived from them."""

    stores: Stores
    settings: Settings
    bot_username: str | None = None

    @property
    def redis(self) -> aioredis.Redis:
        """The shared Redis client."""
        return self.stores.redis

    @property
    def partitions(self) -> int:
        """Stream partitions (the outbound queue must agree with the workers)."""
        return self.settings.stream_partitions

    @property
    def window_hours(self) -> float:
        """The messaging window (24 h)."""
        return self.settings.outbound_window_hours

    @property
    def window_margin(self) -> float:
        """Seconds the window is treated as closed early."""
        return self.settings.outbound_window_margin

    @property
    def handoff_hours(self) -> float:
        """PAPO_HANDOFF_HOURS: how long automation pauses after the owner answers by hand."""
        return self.settings.handoff_hours

    @property
    def default_timezone(self) -> str:
        """PAPO_TIMEZONE."""
        return self.settings.timezone


class BotData(TypedDict, total=False):
    """The names handlers may declare as parameters (filled by the middlewares below)."""

    ctx: BotContext
    stores: Stores
    settings: Settings
    redis: aioredis.Redis
    owner: Owner | None
    t: Translator
    lang: str


Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ContextMiddleware(BaseMiddleware):
    """Injects the shared context by parameter name: `ctx`, `stores`, `settings`, `redis`."""

    def __init__(self, context: BotContext) -> None:
        self.context = context

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        """Add the context, then continue."""
        data.update(BotData(ctx=self.context, stores=self.context.stores, settings=self.context.settings,
                            redis=self.context.redis))
        return await handler(event, data)


def is_link_request(update: Update) -> bool:
    """A private `/start CODE` message: the one thing a stranger may send."""
    message = update.message
    if message is None or message.chat.type != "private" or not message.text:
        return False
    parts = message.text.split(maxsplit=1)
    return len(parts) == 2 and parts[0].split("@")[0] == "/start"


class AccessMiddleware(BaseMiddleware):
    """Only linked accounts in private chats reach the routers; everyone else gets one polite answer."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        """Resolve the owner and language, or answer the stranger and stop."""
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is None or user.is_bot or not isinstance(event, Update):
            return None
        ctx: BotContext = data["ctx"]
        private = chat is None or chat.type == "private"
        owner = await owners.owner_for(user.id, default_timezone=ctx.default_timezone) if private else None
        lang = owner.prefs.language if owner else language_for(user.language_code)
        data.update(BotData(owner=owner, t=translator(lang), lang=lang))
        if owner is not None:
            await self._seen(ctx, owner, chat)
            return await handler(event, data)
        if is_link_request(event):
            return await handler(event, data)  # the start router answers it exactly once
        await self._turn_away(event, data["bot"], ctx, user, chat, translator(lang), private)
        return None

    async def _seen(self, ctx: BotContext, owner: Owner, chat: Chat | None) -> None:
        """Record activity at most every few minutes (clears a 'blocked' mark, follows a new chat id)."""
        if chat is None:
            return
        if await ctx.redis.set(f"{BOT_SEEN}{owner.telegram_user_id}", "1", nx=True, ex=SEEN_EVERY) \
                or chat.id != owner.chat_id:
            await owners.touch_link(owner.telegram_user_id, chat.id)

    async def _turn_away(self, update: Update, bot: Bot, ctx: BotContext, user: User, chat: Chat | None,
                         t: Translator, private: bool) -> None:
        """One polite answer, no data, no command — and silence for a stranger who floods."""
        key = f"{BOT_STRANGER}{user.id}"
        pipe = ctx.redis.pipeline(transaction=True)
        pipe.set(key, 0, nx=True, ex=60)  # a fixed one-minute window (EXPIRE NX needs Redis 7)
        pipe.incr(key)
        _, count = await pipe.execute()
        if int(count) > STRANGER_ANSWERS_PER_MINUTE:
            log.info("ignoring a flood from unlinked Telegram user %s", user.id)
            return
        text = t("stranger") if private else t("private_only")
        try:
            if isinstance(update.callback_query, CallbackQuery):
                await bot.answer_callback_query(update.callback_query.id, text=text[:200], show_alert=True)
            elif chat is not None:
                await bot.send_message(chat.id, text)
        except TelegramAPIError as exc:  # the stranger left or blocked the bot: nothing to do
            log.info("could not answer unlinked Telegram user %s: %s", user.id, exc)


def message_text(event: Message) -> str:
    """A message's text or caption."""
    return event.text or event.caption or ""
