"""The admin bot's composition root: Bot (any Bot API server), Dispatcher (routers + middlewares), and the two
ways to run it — long polling (`run_polling`) or a webhook on the web app (`setup_webhook`) — each with
the alert consumer and the follow-up scanner alongside.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.filters import ExceptionTypeFilter
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import BotCommand, ErrorEvent
from aiogram.utils.callback_answer import CallbackAnswerMiddleware
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from papo.bot import views
from papo.bot.alerts import AlertConsumer, FollowUpScanner
from papo.bot.heartbeat import Heartbeat, watch_webhook
from papo.bot.locales import LANGUAGES, Translator, translator
from papo.bot.middlewares import AccessMiddleware, BotContext, ContextMiddleware
from papo.bot.reachability import UNREACHABLE, polling_backoff, quiet_polling_logs, reachability
from papo.bot.routers import get_routers
from papo.config import ConfigError, Settings
from papo.constants import BOT_FSM
from papo.resilience import Backoff, Outage, pause
from papo.runtime import Stores
from papo.services import NotFound, ServiceError

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
FSM_TTL = 24 * 3600  # a question left unanswered for a day is forgotten
COMMANDS = ("menu", "leads", "conversations", "templates", "rules", "posts", "broadcasts", "stats", "search",
            "settings", "hours", "lang", "clientes", "cancel", "help")
TELEGRAM_LANGUAGE = {"pt-BR": "pt", "en": "en", "es": "es"}


def bot_token(settings: Settings) -> str:
    """PAPO_TELEGRAM_TOKEN, or a clear error."""
    if settings.telegram_token is None or not settings.telegram_token.get_secret_value().strip():
        raise ConfigError("PAPO_TELEGRAM_TOKEN is not set: create a bot with @BotFather and set its token")
    return settings.telegram_token.get_secret_value().strip()


def make_bot(settings: Settings) -> Bot:
    """A Bot talking to PAPO_TELEGRAM_API_URL (Telegram's, or a local Bot API server), HTML by default, whose
    outages are logged once per change of state (papo.bot.reachability)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.url("telegram_api_url")))
    bot = Bot(bot_token(settings), session=session,
              default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True))
    reachability(bot)
    quiet_polling_logs()
    return bot


def fsm_storage(context: BotContext) -> BaseStorage:
    """Conversation state in Redis, so webhook processes and restarts share it."""
    return RedisStorage(context.redis, key_builder=DefaultKeyBuilder(prefix=BOT_FSM, with_bot_id=True),
                        state_ttl=FSM_TTL, data_ttl=FSM_TTL)


def _chat_of(event: ErrorEvent) -> int | None:
    update = event.update
    if update.message is not None:
        return update.message.chat.id
    if update.callback_query is not None:
        return update.callback_query.from_user.id
    return None


async def on_service_error(event: ErrorEvent, bot: Bot, t: Translator | None = None) -> bool:
    """A use-case refused the input: tell the owner what is wrong instead of failing silently."""
    t = t or translator(None)
    exc = event.exception
    text = t("not_found") if isinstance(exc, NotFound) else t("error", message=views.problem(t, exc))
    chat_id = _chat_of(event)
    if chat_id is not None:
        with contextlib.suppress(TelegramAPIError):
            await bot.send_message(chat_id, text)
    return True


async def on_unexpected_error(event: ErrorEvent, bot: Bot, t: Translator | None = None) -> bool:
    """A bug or an outage: logged with its traceback; the owner hears that it failed."""
    log.error("bot update %s failed", event.update.update_id, exc_info=event.exception)
    chat_id = _chat_of(event)
    if chat_id is not None:
        with contextlib.suppress(TelegramAPIError):
            await bot.send_message(chat_id, (t or translator(None))("failed"))
    return True


def build_dispatcher(context: BotContext, *, storage: BaseStorage | None = None) -> Dispatcher:
    """Routers, middlewares (context → access → callback answers), FSM storage and the error handler."""
    dp = Dispatcher(storage=storage or fsm_storage(context), name="papo")
    dp.update.outer_middleware(ContextMiddleware(context))
    dp.update.outer_middleware(AccessMiddleware())
    dp.callback_query.middleware(CallbackAnswerMiddleware())
    dp.include_routers(*get_routers())
    dp.errors.register(on_service_error, ExceptionTypeFilter(ServiceError))
    dp.errors.register(on_unexpected_error)
    return dp


async def set_commands(bot: Bot) -> None:
    """The command list in each language (Portuguese also as the default for other languages)."""
    for lang in (None, *LANGUAGES):
        t = translator(lang or "pt-BR")
        commands = [BotCommand(command=name, description=t(f"cmd.{name}")) for name in COMMANDS]
        await bot.set_my_commands(commands, language_code=TELEGRAM_LANGUAGE[lang] if lang else None)


def consumer_name() -> str:
    """This process's name in the alerts consumer group."""
    return f"{socket.gethostname()}-{os.getpid()}"


async def run_polling(stores: Stores, settings: Settings, stop: asyncio.Event, *, bot: Bot | None = None,
                      polling_timeout: int = 25, scan_every: float = 60.0) -> None:
    """`papo bot`: long polling, alerts and follow-up scans until `stop` is set (what `papo up` runs too)."""
    own_bot = bot is None
    bot = bot or make_bot(settings)
    heartbeat = bot.session.middleware(Heartbeat(stores.redis))  # papo_bot_connected on serve's /metrics
    try:
        me = await bot.me()
        context = BotContext(stores, settings, bot_username=me.username)
        dp = build_dispatcher(context)
        await bot.delete_webhook(drop_pending_updates=False)  # polling and a webhook cannot both be on
        await set_commands(bot)
        log.info("admin bot @%s polling", me.username)
        # aiogram retries getUpdates itself; we only set its backoff (its per-try lines are replaced).
        polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False,
                                                       polling_timeout=polling_timeout,
                                                       backoff_config=polling_backoff(settings)), name="bot-polling")
        background = [
            asyncio.create_task(AlertConsumer(bot, context, consumer=consumer_name()).run(stop),
                                name="bot-alerts"),
            asyncio.create_task(FollowUpScanner(context, every=scan_every).run(stop), name="bot-followups"),
        ]
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, polling, *background], return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        with contextlib.suppress(RuntimeError):  # polling may have stopped by itself
            await dp.stop_polling()
        for task in (waiter, polling, *background):
            if not task.done():
                task.cancel()
        results = await asyncio.gather(polling, *background, return_exceptions=True)
        for task, result in zip((polling, *background), results, strict=True):
            if isinstance(result, Exception) and task in done:
                raise result
    finally:
        bot.session.middleware.unregister(heartbeat)
        if own_bot:
            await bot.session.close()


async def supervise_polling(stores: Stores, settings: Settings, stop: asyncio.Event, *, bot: Bot | None = None,
                            exit_on_refusal: bool = False) -> None:
    """The bot as a role: restarted after a failure (Telegram unreachable at start, a bug), given up only when
    Telegram refuses the token — the rest of Papo keeps running either way (`exit_on_refusal`: raise then,
    for `papo bot`, which has nothing else to run)."""
    outage = Outage(log, "the admin bot", backoff=Backoff(first=settings.telegram_backoff_min,
                                                          cap=settings.telegram_backoff_max))
    own_bot = bot is None
    bot = bot or make_bot(settings)  # one bot across restarts: its reachability says "unreachable" once, not per try
    try:
        while not stop.is_set():
            try:
                await run_polling(stores, settings, stop, bot=bot)
                return
            except TelegramUnauthorizedError:
                if exit_on_refusal:
                    raise
                log.error("Telegram refused PAPO_TELEGRAM_TOKEN (check it with @BotFather); "
                          "the admin bot is not running")
                await stop.wait()  # a role that returns early would stop `papo up`: wait with the others
                return
            except UNREACHABLE:  # already logged by the bot's reachability (once per outage): wait and retry
                await pause(stop, outage.backoff.next())
            except Exception as exc:  # a bug: logged with its traceback, retried (alerts must not stop for good)
                await outage.wait(exc, stop)
    finally:
        if own_bot:
            await bot.session.close()


def webhook_secret(settings: Settings) -> str:
    """The `secret_token` Telegram sends back on every webhook call: PAPO_TELEGRAM_WEBHOOK_SECRET, or derived
    from the bot token (so every web process agrees without another setting)."""
    given = settings.telegram_webhook_secret
    if given:
        return given.get_secret_value() if hasattr(given, "get_secret_value") else str(given)
    return hashlib.sha256(b"papo-telegram-webhook:" + bot_token(settings).encode()).hexdigest()


def setup_webhook(app: web.Application, settings: Settings, *, stores_key: Any, path: str = WEBHOOK_PATH,
                  bot: Bot | None = None, register_webhook: bool = True, heartbeat_every: float = 20.0) -> None:
    """Mount the bot on the web app: POST `path` takes Telegram's updates; at startup Telegram is told the
    URL (PAPO_PUBLIC_URL + path) and the alert consumer and follow-up scanner start with the app."""
    if register_webhook and settings.public_url is None:
        raise ConfigError("PAPO_PUBLIC_URL is not set: Telegram needs a public https URL to send updates to")
    holder: dict[str, SimpleRequestHandler] = {}

    async def handle(request: web.Request) -> web.StreamResponse:
        handler = holder.get("handler")
        if handler is None:
            return web.json_response({"error": "starting", "detail": "the bot is not ready yet"}, status=503)
        return await handler.handle(request)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        the_bot = bot or make_bot(settings)
        stop = asyncio.Event()
        me = await the_bot.me()
        context = BotContext(app[stores_key], settings, bot_username=me.username)
        dp = build_dispatcher(context)
        # Wait for the handlers before answering Telegram: an update is only acknowledged once handled.
        holder["handler"] = SimpleRequestHandler(dp, the_bot, handle_in_background=False,
                                                 secret_token=webhook_secret(settings))
        url = str(settings.public_url).rstrip("/") + path if register_webhook else None
        if url is not None:
            await the_bot.set_webhook(url, secret_token=webhook_secret(settings),
                                      allowed_updates=dp.resolve_used_update_types(), drop_pending_updates=False)
        await set_commands(the_bot)
        tasks = [asyncio.create_task(AlertConsumer(the_bot, context, consumer=consumer_name()).run(stop)),
                 asyncio.create_task(FollowUpScanner(context).run(stop)),
                 asyncio.create_task(watch_webhook(the_bot, Heartbeat(context.stores.redis, every=0), stop, url=url,
                                                   every=heartbeat_every))]
        try:
            yield
        finally:
            holder.pop("handler", None)
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if bot is None:
                await the_bot.session.close()

    app.router.add_post(path, handle)
    app.cleanup_ctx.append(lifecycle)
