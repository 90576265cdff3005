"""Ctrl-C on a running role: "Stopping…" comes at the signal, before the drain, and "Stopped." is the last line.

Before, `papo up` printed "Stopping…" only once everything had stopped, and the single roles said nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from papo.stack.process import free_ports
from tests.conftest import TEST_SECRET


class Lines:
    """A process's stderr, line by line, as it comes (with the time each line came)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, text: str, within: float = 60) -> float:
        """When the first line containing `text` came."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for at, line in list(self.lines):
                if text in line:
                    return at
            time.sleep(0.05)
        raise AssertionError(f"no {text!r} in {[line for _, line in self.lines]}")

    def texts(self) -> list[str]:
        self._thread.join(timeout=10)
        return [line for _, line in self.lines]


def test_ctrl_c_on_a_worker_says_stopping_at_once_and_nothing_after_stopped(migrated, tmp_path) -> None:
    (port,) = free_ports(1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPO_")}
    env.update({
        "PAPO_DATA_DIR": str(tmp_path), "PAPO_PORT": str(port), "PAPO_SECRET_KEY": TEST_SECRET,
        "PAPO_DATABASE_URL": migrated.database_url, "PAPO_REDIS_URL": migrated.redis_url,
        "PAPO_MONGO_URL": migrated.mongo_url, "PAPO_LOG_LEVEL": "INFO",
        "PAPO_YOUTUBE_API_URL": "http://127.0.0.1:9/",
    })
    proc = subprocess.Popen([sys.executable, "-m", "papo", "worker"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = Lines(proc)
    try:
        lines.wait_for("started (")
        time.sleep(1)  # its consumers own their partitions and wait on their streams
        signalled = time.monotonic()
        proc.send_signal(signal.SIGINT)
        stopping = lines.wait_for("Stopping…", within=5)
        assert stopping - signalled < 1.0  # at the signal, not after the drain
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    texts = lines.texts()
    assert proc.returncode == 0, texts
    assert "Traceback" not in "\n".join(texts), texts
    [at] = [i for i, line in enumerate(texts) if "Stopping…" in line]
    assert texts[at].startswith("Stopping… (SIGINT")
    drained = [i for i, line in enumerate(texts) if " stopped" in line and "papo." in line]
    assert drained and min(drained) > at, texts  # the roles' own "… stopped" lines come after it
    assert texts[-1] == "Stopped.", texts  # and nothing is logged after it
    # Nothing starts a new round after the signal: no warnings, no errors while stopping.
    assert not [line for line in texts[at:] if " WARNING " in line or " ERROR " in line], texts[at:]


DRAIN_FOREVER = """
import asyncio, sys
from papo.cli.common import run_role
from papo.config import Settings
from papo.runtime import stop_on_signals

async def role():
    stop = asyncio.Event()
    stop_on_signals(stop)
    print("ready", file=sys.stderr, flush=True)
    await stop.wait()
    try:
        await asyncio.sleep(120)  # a drain that would take two minutes
    finally:
        print("role's finally ran", file=sys.stderr, flush=True)

run_role(role(), Settings())
"""


def test_a_second_ctrl_c_during_the_drain_stops_at_once_and_the_finally_blocks_still_run(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPO_")}
    env["PAPO_DATA_DIR"] = str(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", DRAIN_FOREVER], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = Lines(proc)
    try:
        lines.wait_for("ready")
        proc.send_signal(signal.SIGINT)
        lines.wait_for("Stopping…", within=5)
        time.sleep(0.3)
        assert proc.poll() is None  # draining
        signalled = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        assert time.monotonic() - signalled < 5
    finally:
        if proc.poll() is None:
            proc.kill()
    texts = lines.texts()
    assert "Traceback" not in "\n".join(texts), texts
    assert texts[1] == "Stopping… (SIGINT: finishing the work in hand; SIGINT again to stop at once)", texts
    assert texts[2].startswith("Stopping now (SIGINT again)"), texts
    assert "role's finally ran" in texts and texts[-1] == "Stopped.", texts
