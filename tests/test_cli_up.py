"""`papo up` as a user runs it: embedded stores, readyz, other commands from another shell, Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import asyncpg
import psutil
import pytest

META_SECRET = "cli-test-meta-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def data_dir():
    path = Path(tempfile.mkdtemp(prefix="papo-up-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPO_")}
    env.update({"PAPO_DATA_DIR": str(data_dir), "PAPO_PORT": str(port), "PAPO_META_APP_SECRET": META_SECRET,
                "PAPO_YOUTUBE_API_URL": "http://127.0.0.1:9/", "PAPO_LOG_LEVEL": "WARNING"})
    return env


def _papo(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "papo", *args], env=env, capture_output=True, text=True,
                            timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _wait_ready(url: str, proc: subprocess.Popen, within: float = 90) -> dict:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "papo up exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return json.loads(resp.read())
        except OSError:
            time.sleep(0.3)
    raise AssertionError("papo up did not become ready")


def _leftovers(data_dir: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if str(data_dir) in cmd:
            found.append(cmd)
    return found


def _start(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "papo", "up"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def test_up_serves_ready_other_commands_use_it_and_ctrl_c_leaves_nothing(data_dir: Path) -> None:
    port = _free_port()
    env = _env(data_dir, port)
    up = _start(env)
    try:
        body = _wait_ready(f"http://127.0.0.1:{port}/readyz", up)
        assert body["stores"] == {"postgresql": "ok", "redis": "ok", "mongodb": "ok"}
        stack = json.loads((data_dir / "stack.json").read_text())
        assert stack["http_url"] == f"http://127.0.0.1:{port}"
        assert (data_dir / "secret.key").exists()

        second = _papo(env, "up", check=False)
        assert second.returncode == 1 and "already running" in second.stderr

        user = json.loads(_papo(env, "user", "create", "--email", "Dona@Padaria.com.br", "--name", "Padaria",
                               "--plan", "pro").stdout)
        assert user["email"] == "dona@padaria.com.br"
        account = json.loads(_papo(env, "account", "connect", "--user", "dona@padaria.com.br", "--platform",
                                   "whatsapp", "--account-id", "106540352242922", "--token", "EAAG-very-secret",
                                   "--name", "Padaria Pão Quente").stdout)
        assert account["created"] is True
        # TikTok open_ids may start with a dash: taken as typed, not as an unknown option.
        tiktok = _papo(env, "account", "connect", "--user", "dona@padaria.com.br", "--platform", "tiktok",
                       "--account-id", "-000kT8vZgnDf3hWvLuGqN0y-SqJCPEq1OyD", "--token", "act.x", check=False)
        assert tiktok.returncode == 0, tiktok.stderr
        assert json.loads(tiktok.stdout)["created"] is True

        sim = _papo(env, "simulate", "--platform", "whatsapp", "--account", "106540352242922",
                    "--from", "5511987654321", "--text", "Oi! Quanto custa o bolo?")
        assert json.loads(sim.stdout) == {"queued": True}

        async def inspect() -> tuple[str, int]:
            conn = await asyncpg.connect(stack["database_url"].replace("postgres://", "postgresql://", 1))
            try:
                token = await conn.fetchval("SELECT access_token FROM connected_accounts")
                for _ in range(100):
                    n = await conn.fetchval("SELECT count(*) FROM messages")
                    if n:
                        break
                    await asyncio.sleep(0.1)
                return token, n
            finally:
                await conn.close()

        token, messages = asyncio.run(inspect())
        assert "EAAG-very-secret" not in token and token.startswith("enc:v2:")
        assert messages == 1
    finally:
        if up.poll() is None:
            _stop(up)
    assert not (data_dir / "stack.json").exists()
    time.sleep(0.5)
    assert _leftovers(data_dir) == []

    # Started again, it finds the earlier data.
    up = _start(env)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", up)
        again = _papo(env, "user", "create", "--email", "dona@padaria.com.br", "--name", "X", check=False)
        assert again.returncode == 1 and "already exists" in again.stderr
    finally:
        _stop(up)
    assert _leftovers(data_dir) == []


def test_commands_explain_bad_input(data_dir: Path) -> None:
    env = _env(data_dir, _free_port())
    env["PAPO_DATABASE_URL"] = "mysql://nope"
    bad = _papo(env, "migrate", check=False)
    assert bad.returncode == 1 and "PAPO_DATABASE_URL" in bad.stderr and "Traceback" not in bad.stderr
    helped = _papo(_env(data_dir, 1), "--help")
    for command in ("up", "serve", "worker", "migrate", "user", "account", "simulate", "replay",
                    "dead-letters", "classify"):
        assert command in helped.stdout
    usage = _papo(_env(data_dir, 1), "user", "create", check=False)
    assert usage.returncode == 2 and "--email" in usage.stderr
    forgot = _papo(_env(data_dir, 1), "user", "create", "--email", "--name", "X", check=False)
    assert forgot.returncode == 2 and "--email: expected one argument" in forgot.stderr
