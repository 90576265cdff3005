"""Child processes of the embedded stack: tied to our life, stopped with escalation, orphans swept."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import psutil

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_ESCALATION_WAIT = 5.0  # seconds each escalation signal gets before the next, harder one


@dataclass(frozen=True, slots=True)
class RunAs:
    """A system user a child runs as (PostgreSQL refuses to run as root)."""

    name: str
    uid: int
    gid: int


@dataclass(slots=True)
class Child:
    """One server process we started and must stop and reap."""

    title: str
    popen: subprocess.Popen[bytes]
    stop_signal: int
    escalation: tuple[int, ...] = ()  # tried in order before SIGKILL

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process has not exited (reaps it when it has)."""
        return self.popen.poll() is None


class Spawner:
    """Forks every child from one thread that lives until the children are reaped.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process. `start()` may
    run in a short-lived thread (`asyncio.to_thread`, a test fixture), so forking there would kill the
    servers as soon as that thread ends; a dedicated thread ends only in `close()`, after the children.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="papo-stack-spawner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, future = job
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, which re-raises it
                future.set_exception(exc)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the spawner thread and return its result."""
        future: Future[Any] = Future()
        self._jobs.put((fn, future))
        return future.result()

    def close(self) -> None:
        """End the thread; children still alive then get their parent-death signal."""
        self._jobs.put(None)
        self._thread.join()


def _child_setup(death_signal: int, parent_pid: int) -> Callable[[], None] | None:
    """A preexec_fn that makes the child receive `death_signal` when we die (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the forked child only calls it
    except (OSError, AttributeError):
        return None

    def setup() -> None:
        # subprocess switches uid before calling this; a uid switch would clear the setting.
        prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        # If we died between fork and prctl, no signal will ever come: give up now.
        if os.getppid() != parent_pid:
            os._exit(1)

    return setup


def spawn(
    argv: Sequence[str],
    *,
    log: BinaryIO,
    cwd: Path,
    env: dict[str, str],
    death_signal: int,
    run_as: RunAs | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own process group, output to `log`, dying with us."""
    switch: dict[str, Any] = {}
    if run_as is not None:
        switch = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
    return subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=env,
        # Own process group: a terminal Ctrl-C reaches only papo, which then stops the servers in order.
        process_group=0,
        # PR_SET_PDEATHSIG must be set by the child itself: preexec_fn is the only hook before exec.
        preexec_fn=_child_setup(death_signal, os.getpid()),
        **switch,
    )


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.kill(pid, signum)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def stop_children(children: Sequence[Child], timeout: float) -> None:
    """Ask every child to stop at once, wait, escalate to SIGKILL, reap everything."""
    for child in children:
        if child.alive():
            _signal(child.pid, child.stop_signal)
    deadline = time.monotonic() + timeout
    stubborn: list[Child] = []
    for child in children:
        try:
            child.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            stubborn.append(child)
    for child in stubborn:
        # Its own children (PostgreSQL backends) live in other sessions: kill the whole tree.
        tree = _descendants(child.pid)
        for signum in child.escalation:
            logger.warning("%s (pid %s) did not stop in %.0f s; sending %s",
                           child.title, child.pid, timeout, signal.Signals(signum).name)
            _signal(child.pid, signum)
            try:
                child.popen.wait(_ESCALATION_WAIT)
                break
            except subprocess.TimeoutExpired:
                continue
        if child.alive():
            logger.warning("%s (pid %s) still running; killing it", child.title, child.pid)
            _signal(child.pid, signal.SIGKILL)
            child.popen.wait()
        for proc in tree:
            _signal(proc.pid, signal.SIGKILL)
        psutil.wait_procs(tree, timeout=_ESCALATION_WAIT)


def _inside(path: str | None, root: Path) -> bool:
    if not path or not path.startswith("/"):
        return False
    return path == str(root) or path.startswith(f"{root}{os.sep}")


@dataclass(frozen=True, slots=True)
class ProcInfo:
    """What the orphan sweep knows about a process."""

    pid: int
    ppid: int
    exe: str
    cmdline: tuple[str, ...]
    cwd: str

    def mentions(self, root: Path) -> bool:
        """True when its working directory or an argument lies inside `root`."""
        if _inside(self.cwd, root):
            return True
        # Some servers rewrite their title into one space-separated argument (redis-server).
        return any(_inside(arg, root) or any(_inside(part, root) for part in arg.split(" "))
                   for arg in self.cmdline)


def processes() -> Iterable[ProcInfo]:
    """Every process we may inspect, except ourselves."""
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "ppid", "exe", "cmdline", "cwd"]):
        info = proc.info
        if info["pid"] == me:
            continue
        yield ProcInfo(info["pid"], info["ppid"] or 0, info["exe"] or "", tuple(info["cmdline"] or ()),
                       info["cwd"] or "")


def sweep(orphans: Sequence[tuple[ProcInfo, int]], timeout: float = 10.0) -> None:
    """Stop leftover server processes: their stop signal to each tree's root, then SIGKILL."""
    pids = {info.pid for info, _ in orphans}
    procs: list[psutil.Process] = []
    for info, stop_signal in orphans:
        try:
            procs.append(psutil.Process(info.pid))
        except psutil.Error:
            continue
        if info.ppid not in pids:  # a root: PostgreSQL backends follow their postmaster
            _signal(info.pid, stop_signal)
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        _signal(proc.pid, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=_ESCALATION_WAIT)


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on 127.0.0.1 right now."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def port_open(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def read_tail(path: Path, offset: int = 0, lines: int = 25) -> str:
    """The last `lines` lines of `path` written after `offset`."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(offset, size - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
