"""A local server that speaks the Telegram Bot API, and a harness that drives the real aiogram Dispatcher/Bot.

The fake answers getMe, getUpdates (long polling over a queue), sendMessage, editMessageText,
editMessageReplyMarkup, answerCallbackQuery, sendPhoto and sendDocument (multipart), setMyCommands, setWebhook,
deleteWebhook, getWebhookInfo, getFile and file downloads (`GET /file/bot<token>/<path>`, from `files`),
and records every call. `BotHarness` feeds updates through
`Dispatcher.feed_update` (the same path polling takes after getUpdates) and finds buttons by text.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from papo.bot.dispatcher import build_dispatcher, make_bot
from papo.bot.middlewares import BotContext
from papo.crypto import TokenCipher
from papo.enums import Platform
from papo.models import ConnectedAccount, Conversation, Lead, Message, User
from papo.runtime import Stores
from papo.services import owners
from papo.services.accounts import connect_account
from papo.services.users import create_user
from tests.conftest import TEST_SECRET
from tests.outbound.conftest import (  # noqa: F401 - re-exported fixtures: the fake Graph API, the outbound pipeline
    FakePlatform,
    fake,
    http,
    make_pipeline,
)

TOKEN = "123456:TEST-token_for_papo"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Papo", "username": "papo_test_bot"}


@dataclass
class Call:
    """One Bot API call the fake received."""

    method: str
    params: dict[str, str]
    files: dict[str, bytes]
    authorized: bool = True
    filenames: dict[str, str] = field(default_factory=dict)  # multipart part -> the file name it was sent with

    def json(self, name: str) -> Any:
        """A JSON-encoded parameter (reply_markup, commands…)."""
        return json.loads(self.params[name]) if name in self.params else None

    def _part(self, name: str) -> str:
        ref = self.params.get(name, "")
        return ref.removeprefix("attach://") if ref.startswith("attach://") else name

    def file(self, name: str) -> bytes:
        """An uploaded file parameter (aiogram sends `photo=attach://<part>` and the part itself)."""
        return self.files[self._part(name)]

    def filename(self, name: str) -> str:
        """The file name an uploaded file parameter was sent with."""
        return self.filenames[self._part(name)]

    @property
    def text(self) -> str:
        return self.params.get("text") or self.params.get("caption") or ""

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None

    def buttons(self) -> list[dict[str, Any]]:
        """Every inline button of the call's keyboard, row by row."""
        markup = self.json("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]


@dataclass
class FakeTelegram:
    """A Bot API server in one process: records calls, serves queued updates to getUpdates."""

    server: TestServer | None = None
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[tuple[str, int], tuple[int, str]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # file_id -> content, for getFile and downloads
    broken: set[str] = field(default_factory=set)  # file_ids whose download fails (404) after getFile
    webhook_error: dict[str, Any] = field(default_factory=dict)  # getWebhookInfo last_error_date/message
    counter: itertools.count = field(default_factory=lambda: itertools.count(1000))
    update_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _new: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/")).rstrip("/")

    async def start(self, port: int | None = None) -> None:
        """Listen (on `port`, to come back where the bot looks for it after `stop()`)."""
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.handle)
        app.router.add_get("/bot{token}/{method}", self.handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self.download)
        self.server = TestServer(app, port=port)
        await self.server.start_server()

    async def stop(self) -> int:
        """Close the port, as if Telegram were unreachable; returns the port for `start()`."""
        assert self.server is not None and self.server.port is not None
        port = self.server.port
        await self.server.close()
        return port

    def push(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates."""
        self.updates.append(update)
        self._new.set()

    def fail(self, method: str, chat_id: int, status: int, description: str) -> None:
        """Make every `method` call for `chat_id` fail like Telegram does."""
        self.errors[(method, chat_id)] = (status, description)

    def of(self, method: str, chat_id: int | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == method and (chat_id is None or c.chat_id == chat_id)]

    def to_chat(self, chat_id: int) -> list[Call]:
        """What the bot showed in a chat: messages, edits and photos."""
        return [c for c in self.calls if c.chat_id == chat_id and c.method in (
            "sendMessage", "editMessageText", "sendPhoto", "sendDocument", "editMessageReplyMarkup")]

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        form = await request.post()
        params: dict[str, str] = {}
        files: dict[str, bytes] = {}
        filenames: dict[str, str] = {}
        for key, value in form.items():
            if hasattr(value, "file"):
                files[key] = value.file.read()
                filenames[key] = value.filename
            else:
                params[key] = str(value)
        call = Call(method, params, files, authorized=request.match_info["token"] == TOKEN, filenames=filenames)
        self.calls.append(call)
        if not call.authorized:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if call.chat_id is not None and (method, call.chat_id) in self.errors:
            status, description = self.errors[(method, call.chat_id)]
            return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)
        result = await self._result(call)
        if isinstance(result, web.Response):
            return result
        if result is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found: method not found"},
                                     status=404)
        return web.json_response({"ok": True, "result": result})

    def _message(self, call: Call, **extra: Any) -> dict[str, Any]:
        chat_id = call.chat_id or 0
        message = {"message_id": int(call.params.get("message_id") or next(self.counter)), "date": int(time.time()),
                   "chat": {"id": chat_id, "type": "private"}, "from": BOT_USER, **extra}
        if call.params.get("reply_markup"):
            message["reply_markup"] = call.json("reply_markup")
        return message

    async def _result(self, call: Call) -> Any:
        match call.method:
            case "getMe":
                return BOT_USER
            case "getUpdates":
                offset = int(call.params.get("offset") or 0)
                timeout = min(float(call.params.get("timeout") or 0), 0.5)
                ready = [u for u in self.updates if u["update_id"] >= offset]
                if not ready and timeout:
                    self._new.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._new.wait(), timeout)
                    ready = [u for u in self.updates if u["update_id"] >= offset]
                return ready
            case "sendMessage" | "editMessageText":
                return self._message(call, text=call.params.get("text", ""))
            case "editMessageReplyMarkup":
                return self._message(call, text="(markup)")
            case "sendPhoto":
                photo = {"file_id": f"photo{next(self.counter)}", "file_unique_id": "u1", "width": 800, "height": 420}
                return self._message(call, photo=[photo], caption=call.params.get("caption", ""))
            case "sendDocument":
                part = call._part("document")
                if part not in call.files:  # a file_id or URL instead of an upload
                    return web.json_response({"ok": False, "error_code": 400,
                                              "description": "Bad Request: wrong file identifier"}, status=400)
                document = {"file_id": f"doc{next(self.counter)}", "file_unique_id": f"ud{next(self.counter)}",
                            "file_name": call.filenames.get(part, ""), "file_size": len(call.files[part])}
                return self._message(call, document=document, caption=call.params.get("caption", ""))
            case "answerCallbackQuery" | "setMyCommands" | "deleteWebhook" | "setWebhook" | "deleteMyCommands":
                return True
            case "getFile":
                file_id = call.params.get("file_id", "")
                if file_id not in self.files:
                    return web.json_response({"ok": False, "error_code": 400,
                                              "description": "Bad Request: invalid file_id"}, status=400)
                return {"file_id": file_id, "file_unique_id": "u-" + file_id, "file_size": len(self.files[file_id]),
                        "file_path": f"documents/{file_id}.bin"}
            case "getWebhookInfo":  # the URL last set (deleteWebhook clears it), with the error if one is set
                hooks = [c for c in self.calls if c.method in ("setWebhook", "deleteWebhook")]
                url = hooks[-1].params.get("url", "") if hooks and hooks[-1].method == "setWebhook" else ""
                return {"url": url, "has_custom_certificate": False, "pending_update_count": 0,
                        **self.webhook_error}
        return None


    async def download(self, request: web.Request) -> web.Response:
        """`GET /file/bot<token>/<file_path>`: a file's bytes, like Telegram's file server."""
        path = request.match_info["path"]
        self.calls.append(Call("download", {"path": path}, {}, authorized=request.match_info["token"] == TOKEN))
        file_id = path.removeprefix("documents/").removesuffix(".bin")
        if request.match_info["token"] != TOKEN or file_id not in self.files or file_id in self.broken:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")


@pytest_asyncio.fixture(loop_scope="session")
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.server.close()


def bot_settings(settings: Any, telegram: FakeTelegram, **extra: Any) -> Any:
    """Settings whose bot talks to the fake Bot API server."""
    return settings.model_copy(update={"telegram_token": SecretStr(TOKEN), "telegram_api_url": telegram.url(),
                                       **extra})


@dataclass
class Person:
    """A Telegram user writing to the bot from a private chat."""

    id: int
    first_name: str = "Ana"
    language_code: str = "pt-BR"

    @property
    def chat_id(self) -> int:
        return self.id


class BotHarness:
    """Drives the real Dispatcher and Bot: text messages, button presses, and what came back."""

    def __init__(self, bot: Bot, dp: Dispatcher, telegram: FakeTelegram, context: BotContext) -> None:
        self.bot = bot
        self.dp = dp
        self.telegram = telegram
        self.context = context

    def _user(self, person: Person) -> dict[str, Any]:
        return {"id": person.id, "is_bot": False, "first_name": person.first_name,
                "language_code": person.language_code}

    async def feed(self, update: dict[str, Any]) -> list[Call]:
        """Feed one update; the calls the bot made while handling it."""
        before = len(self.telegram.calls)
        await self.dp.feed_update(self.bot, Update.model_validate(update, context={"bot": self.bot}))
        return self.telegram.calls[before:]

    def message_update(self, person: Person, text: str) -> dict[str, Any]:
        return {"update_id": next(self.telegram.update_ids), "message": {
            "message_id": next(self.telegram.counter), "date": int(time.time()),
            "chat": {"id": person.chat_id, "type": "private", "first_name": person.first_name},
            "from": self._user(person), "text": text,
            **({"entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}
               if text.startswith("/") else {})}}

    async def say(self, person: Person, text: str) -> list[Call]:
        """The person sends a text message."""
        return await self.feed(self.message_update(person, text))

    def last_keyboard(self, person: Person) -> Call:
        for call in reversed(self.telegram.to_chat(person.chat_id)):
            if call.buttons():
                return call
        raise AssertionError("no keyboard was shown in this chat")

    def find(self, person: Person, label: str) -> dict[str, Any]:
        """The button whose text contains `label` on the last keyboard shown."""
        call = self.last_keyboard(person)
        for b in call.buttons():
            if label in b["text"]:
                return b
        raise AssertionError(f"no button {label!r} in {[b['text'] for b in call.buttons()]}")

    async def press(self, person: Person, label: str | None = None, *, data: str | None = None) -> list[Call]:
        """The person taps a button (by its text on the last keyboard, or by raw callback data)."""
        if data is None:
            assert label is not None
            data = self.find(person, label)["callback_data"]
        message_id = int(self.last_keyboard(person).params.get("message_id") or 1) if label else 1
        update = {"update_id": next(self.telegram.update_ids), "callback_query": {
            "id": str(next(self.telegram.counter)), "from": self._user(person), "chat_instance": "ci",
            "data": data, "message": {"message_id": message_id, "date": int(time.time()),
                                      "chat": {"id": person.chat_id, "type": "private"}, "from": BOT_USER,
                                      "text": "…"}}}
        return await self.feed(update)


@pytest_asyncio.fixture(loop_scope="session")
async def harness(stores: Stores, settings: Any, telegram: FakeTelegram) -> AsyncIterator[BotHarness]:
    local = bot_settings(settings, telegram)
    bot = make_bot(local)
    context = BotContext(stores, local, bot_username="papo_test_bot")
    dp = build_dispatcher(context)
    yield BotHarness(bot, dp, telegram, context)
    await bot.session.close()


def screen(calls: list[Call]) -> Call:
    """The last thing shown (a message, an edit or a photo), skipping callback answers."""
    shown = [c for c in calls if c.method in ("sendMessage", "editMessageText", "sendPhoto")]
    assert shown, f"nothing was shown: {[c.method for c in calls]}"
    return shown[-1]


def texts(calls: list[Call]) -> str:
    """Everything the calls showed, joined."""
    return "\n".join(c.text for c in calls)


# ------------------------------------------------------------------ businesses with data



WABA = "106540352242922"


@dataclass
class Business:
    """A business with a WhatsApp number, one customer conversation, its hot lead, and a linked owner."""

    user: User
    account: ConnectedAccount
    conversation: Conversation
    lead: Lead
    owner: Person


async def make_business(email: str, name: str, owner: Person, *, customer: str = "Bruna Teixeira",
                        phone: str = "5511987654321", waba: str = WABA, last_inbound: timedelta = timedelta(hours=1),
                        text: str = "Oi! Quero encomendar um bolo para sábado, quanto custa?") -> Business:
    """Rows as the inbound pipeline would have left them, and the owner linked through a real code."""
    user = await create_user(email=email, name=name, plan="pro")
    account, _ = await connect_account(user=user, platform=Platform.WHATSAPP, platform_account_id=waba,
                                       access_token="tok-wa", cipher=TokenCipher(TEST_SECRET), business_name=name)
    at = datetime.now(UTC) - last_inbound
    conversation = await Conversation.create(user=user, account=account, platform_conversation_id=phone,
                                             remote_user_id=phone, remote_user_name=customer,
                                             platform=Platform.WHATSAPP, last_message_at=at, lead_quality="hot")
    await Message.create(conversation=conversation, sender="remote", message_text=text, kind="message",
                         platform_message_id=f"wamid.{phone}", platform_timestamp=at,
                         metadata={"remote_user_phone": phone})
    lead = await Lead.create(user=user, remote_user_id=phone, remote_user_name=customer, platform=Platform.WHATSAPP,
                             phone=phone, quality="hot", status="new", last_interaction=at, tags=["bolo"],
                             metadata={"score": 0.86})
    code = await owners.create_link_code(user)
    await owners.link(code.code, owner.id, owner.chat_id, display_name=owner.first_name)
    return Business(user, account, conversation, lead, owner)
