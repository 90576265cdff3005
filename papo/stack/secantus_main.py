"""Run SecantusDB's own command line so SIGTERM/SIGINT always stop it, and quickly.

Started by path (`python -P secantus_main.py <secantus flags>`), so it imports only the standard library
and secantus. Two quirks of `secantus.cli.main` are worked around, without touching its internals:

* It waits in `threading.Event.wait()` on the main thread. A signal that arrives just before that wait
  blocks (or lands on another thread) leaves the Python handler pending forever: CPython only runs it
  when the main thread wakes. A relay thread learns of the signal through the wakeup fd and pokes the
  main thread with a no-op SIGUSR2 until the real handler has started.
* Its stop joins the accept() thread, which only a new connection wakes (2 s timeout otherwise), so
  the relay connects to the port a few times once the handler runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_handled = threading.Event()


def _port(argv: list[str]) -> int | None:
    for i, arg in enumerate(argv):
        if arg == "--port" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--port="):
            return int(arg.split("=", 1)[1])
    return None


def _relay(read_fd: int, main_thread: int, port: int | None) -> None:
    while True:
        received = set(os.read(read_fd, 64))
        if not received & _STOP_SIGNALS:
            continue
        for _ in range(200):  # 10 s at most
            if _handled.is_set():
                break
            signal.pthread_kill(main_thread, signal.SIGUSR2)
            time.sleep(0.05)
        for _ in range(40):  # the process normally exits within the first few
            if port is not None:
                with contextlib.suppress(OSError):  # refused once the listener is really gone
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            time.sleep(0.05)


def _install(signum: int, handler: Any) -> Any:
    """signal.signal, with stop handlers wrapped to record that they started."""
    if signum in _STOP_SIGNALS and callable(handler):
        inner = handler

        def handler(sig: int, frame: Any) -> None:
            _handled.set()
            print(f"secantus_main: {signal.Signals(sig).name} received, stopping", file=sys.stderr, flush=True)
            inner(sig, frame)

    return _original_signal(signum, handler)


_original_signal = signal.signal


def main() -> int:
    """Set up the relay, then hand over to secantus.cli.main."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    signal.signal(signal.SIGUSR2, lambda sig, frame: None)  # only to interrupt the main thread's wait
    port = _port(sys.argv[1:])
    threading.Thread(target=_relay, args=(read_fd, threading.get_ident(), port), daemon=True).start()
    signal.signal = _install  # type: ignore[assignment]  # secantus installs its handlers through this
    from secantus.cli import main as secantus_main

    try:
        return int(secantus_main())
    finally:
        print("secantus_main: stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
