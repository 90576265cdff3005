"""Long polling through getUpdates, and webhook mode mounted on the web app (secret checked)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from papo import app_keys
from papo.app import create_app
from papo.bot.dispatcher import WEBHOOK_PATH, run_polling, setup_webhook, webhook_secret
from papo.constants import BOT_HEARTBEAT, BOT_HEARTBEAT_TTL
from papo.services import notify, owners
from papo.services.users import create_user
from tests.bot.conftest import FakeTelegram, bot_settings
from tests.conftest import eventually


def _message(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "chat": {"id": user_id, "type": "private"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Ana", "language_code": "es"}, "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}}


async def test_long_polling_links_answers_and_delivers_alerts(settings: Any, stores: Any,
                                                              telegram: FakeTelegram) -> None:
    user = await create_user(email="ana@doceria.com.br", name="Doceria da Ana", plan="pro")
    code = await owners.create_link_code(user)
    local = bot_settings(settings, telegram)
    stop = asyncio.Event()
    task = asyncio.create_task(run_polling(stores, local, stop, polling_timeout=1, scan_every=0.2))
    try:
        telegram.push(_message(1, 3001, f"/start {code.code}"))
        telegram.push(_message(2, 3002, "/leads"))  # a stranger, in Spanish
        await eventually(lambda: _async(len(telegram.of("sendMessage")) >= 2))
        linked = telegram.of("sendMessage", 3001)[0]
        assert "Doceria da Ana" in linked.text
        stranger = telegram.of("sendMessage", 3002)
        assert len(stranger) == 1 and "asistente privado" in stranger[0].text
        await notify.notify_owner(stores.redis, user.id, notify.HOT_LEAD, {"name": "Bruna", "text": "quero 2"})
        await eventually(lambda: _async(any("quero 2" in c.text for c in telegram.of("sendMessage", 3001))))
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert telegram.of("deleteWebhook") and len(telegram.of("setMyCommands")) == 4
    es = next(c for c in telegram.of("setMyCommands") if c.params.get("language_code") == "es")
    assert {"command": "stats", "description": "Estadísticas: hoy, 7 o 30 días"} in es.json("commands")
    offsets = [int(c.params.get("offset") or 0) for c in telegram.of("getUpdates")]
    assert max(offsets) == 3  # both updates confirmed


async def _async(value: bool) -> bool:
    return value


async def test_webhook_mode_on_the_web_app(settings: Any, stores: Any, telegram: FakeTelegram) -> None:
    user = await create_user(email="ana@doceria.com.br", name="Doceria da Ana", plan="pro")
    code = await owners.create_link_code(user)
    local = bot_settings(settings, telegram, public_url="https://papo.example.com")
    app = web.Application()
    app[app_keys.STORES] = stores
    setup_webhook(app, local, stores_key=app_keys.STORES)
    async with TestClient(TestServer(app)) as client:
        hook = telegram.of("setWebhook")[-1]
        assert hook.params["url"] == "https://papo.example.com" + WEBHOOK_PATH
        assert hook.params["secret_token"] == webhook_secret(local)
        assert set(hook.json("allowed_updates")) == {"message", "callback_query"}
        update = _message(10, 3001, f"/start {code.code}")
        refused = await client.post(WEBHOOK_PATH, json=update,
                                    headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
        assert refused.status == 401 and not telegram.of("sendMessage", 3001)
        ok = await client.post(WEBHOOK_PATH, json=update,
                               headers={"X-Telegram-Bot-Api-Secret-Token": webhook_secret(local)})
        assert ok.status == 200
        assert "Doceria da Ana" in telegram.of("sendMessage", 3001)[-1].text  # handled before the 200
        assert (await owners.owner_for(3001)).user_id == user.id


async def test_a_refused_token_stops_only_the_bot_role(settings: Any, stores: Any, telegram: FakeTelegram) -> None:
    from pydantic import SecretStr

    from papo.bot.dispatcher import supervise_polling

    local = bot_settings(settings, telegram).model_copy(update={"telegram_token": SecretStr("999:refused")})
    stop = asyncio.Event()
    task = asyncio.create_task(supervise_polling(stores, local, stop))
    await asyncio.sleep(1)
    assert not task.done()  # waits with the other roles instead of ending `papo up`
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert [c.method for c in telegram.calls] == ["getMe"] and not telegram.calls[0].authorized  # tried once


async def test_metrics_say_whether_the_polling_bot_is_connected(settings: Any, stores: Any,
                                                                telegram: FakeTelegram) -> None:
    serve = TestClient(TestServer(create_app(settings, stores.urls, stores=stores)))  # what `papo serve` runs
    await serve.start_server()

    async def connected() -> str:
        text = await (await serve.get("/metrics")).text()
        return next(line for line in text.splitlines() if line.startswith("papo_bot_connected "))

    assert await connected() == "papo_bot_connected 0"  # no bot has polled
    stop = asyncio.Event()
    task = asyncio.create_task(run_polling(stores, bot_settings(settings, telegram), stop, polling_timeout=1))
    try:
        await eventually(lambda: stores.redis.exists(BOT_HEARTBEAT))  # written after a getUpdates answered
        assert telegram.of("getUpdates")
        assert await connected() == "papo_bot_connected 1"  # serve reads what the bot process wrote
        assert 0 < await stores.redis.ttl(BOT_HEARTBEAT) <= BOT_HEARTBEAT_TTL
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    await stores.redis.delete(BOT_HEARTBEAT)  # what the TTL does a minute after the last poll
    assert await connected() == "papo_bot_connected 0"
    await serve.close()


async def test_metrics_say_whether_the_webhook_bot_is_connected(settings: Any, stores: Any,
                                                                telegram: FakeTelegram) -> None:
    await stores.redis.delete(BOT_HEARTBEAT)
    local = bot_settings(settings, telegram, public_url="https://papo.example.com")
    app = create_app(local, stores.urls, stores=stores)
    setup_webhook(app, local, stores_key=app_keys.STORES, heartbeat_every=0.2)
    async with TestClient(TestServer(app)) as client:
        async def connected() -> str:
            text = await (await client.get("/metrics")).text()
            return next(line for line in text.splitlines() if line.startswith("papo_bot_connected "))

        await eventually(lambda: stores.redis.exists(BOT_HEARTBEAT))  # Telegram has our URL, no error
        assert telegram.of("getWebhookInfo") and await connected() == "papo_bot_connected 1"

        # Telegram cannot deliver to us: getWebhookInfo reports the error; no beat from then on.
        telegram.webhook_error = {"last_error_date": int(time.time()), "last_error_message": "Connection refused"}
        await stores.redis.delete(BOT_HEARTBEAT)
        seen = len(telegram.of("getWebhookInfo"))
        await eventually(lambda: _async(len(telegram.of("getWebhookInfo")) > seen + 2))
        assert not await stores.redis.exists(BOT_HEARTBEAT) and await connected() == "papo_bot_connected 0"
        telegram.webhook_error = {}  # delivering again: beating again
        await eventually(lambda: stores.redis.exists(BOT_HEARTBEAT))
