"""The README's quick start, run as written: `make run` in one shell, the commands in another, a reply sent.

The two values the quick start asks for are the only things filled in (its placeholders); the outside APIs
are local fakes reached through their settings (`PAPO_GRAPH_API_URL`, `PAPO_TELEGRAM_API_URL`), and the
port is a free one. Everything else — `.env`, `make run`, `.venv/bin/papo …` — is the README's own text.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.bot.conftest import TOKEN as TELEGRAM_TOKEN
from tests.bot.conftest import FakeTelegram
from tests.outbound.conftest import FakePlatform

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDERS = {"your-access-token": "tok-quick-start"}  # the fake Graph API takes tokens starting "tok-"


def quick_start_blocks() -> list[str]:
    """The shell blocks of the README's "Quick start" section, in order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest_asyncio.fixture(loop_scope="session")
async def fakes() -> AsyncIterator[tuple[FakePlatform, FakeTelegram]]:
    graph, telegram = FakePlatform(), FakeTelegram()
    graph_app, telegram_app = web.Application(), web.Application()
    graph_app.router.add_post("/{tail:.*}", graph.handle)
    telegram_app.router.add_post("/bot{token}/{method}", telegram.handle)
    telegram_app.router.add_get("/bot{token}/{method}", telegram.handle)
    graph.server, telegram.server = TestServer(graph_app), TestServer(telegram_app)
    await graph.server.start_server()
    await telegram.server.start_server()
    yield graph, telegram
    await graph.server.close()
    await telegram.server.close()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A directory laid out like the clone after `make test`: the Makefile, pyproject.toml and .venv."""
    venv = ROOT / ".venv"
    installed = venv / ".installed"
    if not installed.exists() or installed.stat().st_mtime < (ROOT / "pyproject.toml").stat().st_mtime:
        pytest.skip("needs the .venv that `make test` installs (else `make run` would reinstall it here)")
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)  # mtimes kept: make sees the install as up to date
    (tmp_path / ".venv").symlink_to(venv)
    return tmp_path


async def _shell(script: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec("bash", "-euo", "pipefail", "-c", script, cwd=cwd, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def _eventually(check, within: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


async def test_the_readme_quick_start_reaches_a_reply(checkout: Path, fakes) -> None:
    graph, telegram = fakes
    first, second = quick_start_blocks()
    for placeholder, value in PLACEHOLDERS.items():
        second = second.replace(placeholder, value)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPO_", "MAKE"))}
    env.update({"PAPO_PORT": str(port), "PAPO_GRAPH_API_URL": graph.url("/"),
                "PAPO_TELEGRAM_API_URL": telegram.url(), "PAPO_YOUTUBE_API_URL": "http://127.0.0.1:9/"})
    # The README's last step adds the admin bot's token to .env; here it is there from the start.
    (checkout / ".env").write_text(f"PAPO_TELEGRAM_TOKEN={TELEGRAM_TOKEN}\n", encoding="utf-8")

    setup, run = first.strip().rsplit("\n", 1)
    assert run.strip() == "make run"
    code, _, err = await _shell(setup, checkout, env)
    assert code == 0, err
    assert "PAPO_META_APP_SECRET=your-app-secret" in (checkout / ".env").read_text()
    up = await asyncio.create_subprocess_exec("bash", "-c", run, cwd=checkout, env=env, start_new_session=True,
                                              stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        stack = checkout / ".papo" / "stack.json"
        await _eventually(lambda: stack.exists() and json.loads(stack.read_text()).get("http_url"), within=120)
        assert json.loads(stack.read_text())["http_url"] == f"http://127.0.0.1:{port}"

        code, out, err = await _shell(second, checkout, env)
        assert code == 0, err
        assert "Traceback" not in err

        sent = lambda: [c for c in graph.calls_to("/messages") if c.json.get("to") == "5511987654321"]  # noqa: E731
        await _eventually(lambda: bool(sent()))
        [reply] = sent()
        assert reply.json["text"]["body"] == "Oi Ana! O bolo de cenoura custa R$ 45."
        assert reply.headers["Authorization"] == "Bearer tok-quick-start"
        assert reply.path.endswith("/106540352242922/messages")

        [row] = [line for line in out.splitlines() if "Ana Souza" in line and "whatsapp" in line]
        conversation = row.split()[0]  # the list's ID column, as the owner would copy it
        code, shown, err = await _shell(
            f".venv/bin/papo conversations show {conversation} --user dona@padaria.com.br", checkout, env)
        assert code == 0, err
        assert "Oi! Quanto custa o bolo?" in shown and "Oi Ana! O bolo de cenoura custa R$ 45." in shown
        [reply_line] = [line for line in shown.splitlines() if "Oi Ana!" in line]
        assert reply_line.split()[2:4] == ["bot", "sent"] and "failed" not in shown

        # The admin bot: the code `papo admin link` prints, sent to the bot, links the owner.
        code, out, err = await _shell(".venv/bin/papo admin link --user dona@padaria.com.br", checkout, env)
        assert code == 0, err
        start = re.search(r"/start [A-Z0-9]{6,}", out)
        assert start, out
        telegram.push({"update_id": 1, "message": {
            "message_id": 1, "date": 1765100000, "text": start.group(0),
            "chat": {"id": 4242, "type": "private"}, "from": {"id": 4242, "is_bot": False, "first_name": "Dona"}}})
        await _eventually(lambda: any("Padaria Pão Quente" in c.text for c in telegram.of("sendMessage", 4242)))
    finally:
        if up.returncode is None:
            os.killpg(up.pid, signal.SIGINT)  # Ctrl-C in the first shell
        _, err = await asyncio.wait_for(up.communicate(), 90)
    assert up.returncode in (0, 2, 130, -signal.SIGINT), err.decode()[-2000:]
    assert not (checkout / ".papo" / "stack.json").exists()
