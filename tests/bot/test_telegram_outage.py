"""An unreachable Telegram Bot API: the real bot (polling and alerts) against the fake server, its port closed.

The bot backs off (doubling from PAPO_TELEGRAM_BACKOFF_MIN to _MAX) and says so once per change of state;
an alert queued meanwhile stays pending and goes out when Telegram answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from papo.bot.dispatcher import make_bot, supervise_polling
from papo.bot.reachability import reachability
from papo.services import notify, owners
from papo.services.users import create_user
from tests.bot.conftest import FakeTelegram, bot_settings
from tests.conftest import eventually

OWNER = 3001


def _lines(caplog: Any, since: float = 0.0) -> list[str]:
    """Every record at WARNING or above (any logger) since `since`, as the operator reads it."""
    return [f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records
            if r.levelno >= logging.WARNING and r.created >= since]


async def _sent(telegram: FakeTelegram, text: str) -> bool:
    return any(text in c.text for c in telegram.of("sendMessage", OWNER))


async def test_an_unreachable_bot_api_is_one_line_then_one_line_when_back(
    settings: Any, stores: Any, telegram: FakeTelegram, caplog: Any
) -> None:
    caplog.set_level(logging.INFO)
    user = await create_user(email="ana@doceria.com.br", name="Doceria da Ana")
    await owners.link((await owners.create_link_code(user)).code, OWNER, OWNER, display_name="Ana")
    local = bot_settings(settings, telegram, telegram_backoff_min=0.05, telegram_backoff_max=0.4)
    stop = asyncio.Event()
    bot = make_bot(local)
    task = asyncio.create_task(supervise_polling(stores, local, stop, bot=bot))
    try:
        await eventually(lambda: _true(len(telegram.of("getUpdates")) >= 2))
        port = await telegram.stop()
        down_at = time.time()
        await notify.notify_owner(stores.redis, user.id, notify.HOT_LEAD, {"name": "Bruna", "text": "quero 2 bolos"})
        await asyncio.sleep(3)
        down = _lines(caplog, down_at)
        assert len(down) == 1, down
        assert down[0].startswith("WARNING papo.bot.reachability: Telegram API unreachable: TelegramNetworkError: ")
        assert down[0].endswith("; retrying with backoff")
        # Polling and the alert both retried, each with a backoff that grows from 0.05 s to 0.4 s: about
        # 10 tries each in 3 s — not aiogram's default (1 s → 5 s: 3 tries), nor a tight loop.
        assert 12 <= reachability(bot).failures <= 40, reachability(bot).failures

        await telegram.start(port)
        await eventually(lambda: _sent(telegram, "quero 2 bolos"), within=5)  # held, not dropped
        back = _lines(caplog, down_at)[1:]
        assert len(back) == 1, back
        assert back[0].startswith("WARNING papo.bot.reachability: Telegram API reachable again after ")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        await bot.session.close()
    assert "Failed to fetch updates" not in caplog.text and "Sleep for" not in caplog.text
    assert len(_lines(caplog, down_at)) == 2, _lines(caplog, down_at)  # and nothing while stopping
    assert len([c for c in telegram.of("sendMessage", OWNER) if "quero 2 bolos" in c.text]) == 1


async def _true(value: bool) -> bool:
    return value
