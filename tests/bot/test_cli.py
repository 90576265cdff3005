"""`papo admin link|links|unlink` as a process (the commands papo/cli/bot.py adds to the parser)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from typing import Any

from papo.services import owners
from papo.services.users import create_user
from tests.bot.conftest import TOKEN, FakeTelegram
from tests.conftest import eventually

DRIVER = """
import argparse, sys
from papo.cli.bot import add_commands
from papo.cli.common import CommandError, print_error
from papo.services import ServiceError
parser = argparse.ArgumentParser(prog="papo")
sub = parser.add_subparsers(dest="command", required=True)
def add(name, func, help_, parent=sub):
    p = parent.add_parser(name, help=help_)
    p.set_defaults(func=func)
    p.add_argument("--data-dir")
    return p
add_commands(sub, add)
args = parser.parse_args(sys.argv[1:])
try:
    sys.exit(args.func(args))
except (CommandError, ServiceError) as exc:
    print_error(str(exc))
    sys.exit(1)
"""


def _env(settings: Any, telegram: FakeTelegram, **extra: str) -> dict[str, str]:
    return {**os.environ, "PAPO_DATABASE_URL": settings.database_url, "PAPO_REDIS_URL": settings.redis_url,
            "PAPO_MONGO_URL": settings.mongo_url, "PAPO_TELEGRAM_TOKEN": TOKEN,
            "PAPO_TELEGRAM_API_URL": telegram.url(), "PAPO_DATA_DIR": str(settings.data_dir), **extra}


async def _start(env: dict[str, str], *argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-c", DRIVER, *argv, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def _papo(settings: Any, telegram: FakeTelegram, *argv: str, **extra: str) -> tuple[int, str, str]:
    proc = await _start(_env(settings, telegram, **extra), *argv)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_papo_bot_with_a_refused_token_is_one_line_and_exit_1(settings: Any, stores: Any,
                                                                   telegram: FakeTelegram) -> None:
    code, _, err = await _papo(settings, telegram, "bot", PAPO_TELEGRAM_TOKEN="999:refused")
    assert code == 1, err
    assert err.strip().splitlines()[-1] == "papo: Telegram refused PAPO_TELEGRAM_TOKEN: check it with @BotFather"
    assert "Traceback" not in err and [c.authorized for c in telegram.calls] == [False]  # asked once


async def test_papo_bot_started_while_telegram_is_down_waits_for_it_then_stops_on_ctrl_c(
    settings: Any, stores: Any, telegram: FakeTelegram
) -> None:
    env = _env(settings, telegram, PAPO_TELEGRAM_BACKOFF_MIN="0.05", PAPO_TELEGRAM_BACKOFF_MAX="0.2",
               PAPO_LOG_LEVEL="WARNING")
    port = await telegram.stop()
    proc = await _start(env, "bot")
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        while not any("Telegram API unreachable" in line for line in seen):
            line = await asyncio.wait_for(proc.stderr.readline(), timeout=30)
            assert line, f"papo bot ended: {seen}"
            seen.append(line.decode().rstrip("\n"))
        await asyncio.sleep(1)  # several more tries at the closed port: no more lines
        assert proc.returncode is None  # waiting for Telegram, not dead of it
        await telegram.start(port)
        await eventually(lambda: _is(bool(telegram.of("getUpdates"))))
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
    lines = seen + err.decode().strip().splitlines()
    assert proc.returncode == 0, lines
    assert not any("Traceback" in line for line in lines), lines
    down, back = [line for line in lines if "Telegram API" in line]  # one line each, not one per try
    assert "WARNING papo.bot.reachability: Telegram API unreachable: TelegramNetworkError: " in down
    assert "WARNING papo.bot.reachability: Telegram API reachable again after " in back
    assert lines[-2].startswith("Stopping… (SIGINT") and lines[-1] == "Stopped.", lines


async def _is(value: bool) -> bool:
    return value


async def test_admin_link_prints_the_start_message_and_deep_link(settings: Any, stores: Any,
                                                                 telegram: FakeTelegram) -> None:
    user = await create_user(email="ana@doceria.com.br", name="Doceria da Ana", plan="pro")
    code, out, err = await _papo(settings, telegram, "admin", "link", "--user", "ANA@doceria.com.br")
    assert code == 0, err
    found = re.search(r"/start ([A-Z0-9]{10})", out)
    assert found and "15 minutes" in out and "Doceria da Ana" in out
    assert f"https://t.me/papo_test_bot?start={found.group(1)}" in out
    assert (await owners.link(found.group(1), 501, 501)).user_id == user.id
    code, out, _ = await _papo(settings, telegram, "admin", "links", "--user", "ana@doceria.com.br")
    assert code == 0 and out.startswith("501\t")
    code, out, _ = await _papo(settings, telegram, "admin", "unlink", "--telegram-id", "501")
    assert code == 0 and await owners.owner_for(501) is None
    code, _, err = await _papo(settings, telegram, "admin", "link", "--user", "nobody@example.com")
    assert code == 1 and "no user with email nobody@example.com" in err
