"""`papo admin link|links|unlink` as a process (the commands papo/cli/bot.py adds to the parser)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from typing import Any

from papo.services import owners
from papo.services.users import create_user
from tests.bot.conftest import TOKEN, FakeTelegram

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


async def _papo(settings: Any, telegram: FakeTelegram, *argv: str) -> tuple[int, str, str]:
    env = {**os.environ, "PAPO_DATABASE_URL": settings.database_url, "PAPO_REDIS_URL": settings.redis_url,
           "PAPO_MONGO_URL": settings.mongo_url, "PAPO_TELEGRAM_TOKEN": TOKEN,
           "PAPO_TELEGRAM_API_URL": telegram.url(), "PAPO_DATA_DIR": str(settings.data_dir)}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", DRIVER, *argv, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


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
