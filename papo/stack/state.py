"""What a running stack leaves in its data directory: the owner lock and stack.json."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

LOCK_FILE = "papo.lock"
STACK_FILE = "stack.json"
_LOCK_TRIES = 10  # × 50 ms: rides out a read_running_stack() probe that holds the lock for microseconds


@dataclass(frozen=True, slots=True)
class StackInfo:
    """Where the stores of a stack are, and who owns it."""

    database_url: str
    redis_url: str
    mongo_url: str
    http_url: str | None = None
    pid: int = 0


class StackError(RuntimeError):
    """A server of the embedded stack failed to start; the message names it."""


class StackAlreadyRunning(StackError):
    """Another process owns the data directory."""

    def __init__(self, data_dir: Path, pid: int | None, http_url: str | None) -> None:
        self.data_dir = data_dir
        self.pid = pid
        self.http_url = http_url
        who = f"pid {pid}" if pid else "pid unknown"
        where = http_url or "web server not listening yet"
        super().__init__(
            f"Papo is already running on {data_dir} ({who}, {where}). Other papo commands use its stores "
            "automatically; to start another one, stop it first or set PAPO_DATA_DIR to another directory."
        )


class OwnerLock:
    """An exclusive flock on <data dir>/papo.lock, held for the owner's whole life."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> OwnerLock:
        """Take the lock or raise StackAlreadyRunning naming the owner."""
        # O_CLOEXEC (Python's default) keeps the lock out of the servers: an orphan must not hold it.
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        for attempt in range(_LOCK_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == _LOCK_TRIES - 1:
                    os.close(fd)
                    raise _already_running(data_dir) from None
                time.sleep(0.05)
        # The pid lets a second start name the owner even before stack.json exists.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd)

    def release(self) -> None:
        """Drop the lock (closing the descriptor releases the flock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _lock_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / LOCK_FILE).read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _already_running(data_dir: Path) -> StackAlreadyRunning:
    pid = _lock_pid(data_dir)
    info = load_stack_json(data_dir)
    http_url = info.http_url if info is not None and info.pid == pid else None
    return StackAlreadyRunning(data_dir, pid, http_url)


def lock_is_held(data_dir: Path) -> bool:
    """True while some process holds the owner lock of `data_dir`."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except PermissionError:
        return True  # cannot tell; the caller's pid check decides
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock, if we got it
    return False


def load_stack_json(data_dir: Path) -> StackInfo | None:
    """Parse stack.json, or None when it is missing or malformed."""
    try:
        raw = json.loads((data_dir / STACK_FILE).read_text(encoding="utf-8"))
        info = StackInfo(
            database_url=str(raw["database_url"]),
            redis_url=str(raw["redis_url"]),
            mongo_url=str(raw["mongo_url"]),
            http_url=str(raw["http_url"]) if raw.get("http_url") else None,
            pid=int(raw.get("pid") or 0),
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return info


def write_stack_json(data_dir: Path, info: StackInfo) -> None:
    """Write stack.json atomically: readers see the old file or the new one, never half of one."""
    path = data_dir / STACK_FILE
    tmp = path.with_name(f".{STACK_FILE}.{os.getpid()}.tmp")
    # 0600: the store URLs carry the embedded servers' passwords.
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
        json.dump(asdict(info), fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def remove_stack_json(data_dir: Path) -> None:
    """Remove stack.json (the stack is going away)."""
    with contextlib.suppress(FileNotFoundError):
        (data_dir / STACK_FILE).unlink()


def read_running_stack(data_dir: Path) -> StackInfo | None:
    """The stack running on `data_dir`, or None (a stale stack.json from a killed run is ignored)."""
    data_dir = Path(data_dir).expanduser().resolve()
    info = load_stack_json(data_dir)
    if info is None or not lock_is_held(data_dir):
        return None
    if info.pid and not psutil.pid_exists(info.pid):
        return None
    owner = _lock_pid(data_dir)
    if owner is not None and info.pid and owner != info.pid:
        return None  # the file predates the current owner, which has not published yet
    return info
