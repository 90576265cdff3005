"""The Stack: owns a data directory, starts the servers it needs in parallel, stops them all."""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from papo.stack.process import Child, Spawner, free_ports, port_open, processes, read_tail, spawn, stop_children, sweep
from papo.stack.servers import HOST, SERVERS, Server
from papo.stack.state import (
    OwnerLock,
    StackError,
    StackInfo,
    remove_stack_json,
    write_stack_json,
)

logger = logging.getLogger(__name__)

_LOG_ROTATE_BYTES = 10 * 1024 * 1024  # a server log above this moves to <name>.log.1 at start
_PORT_RETRIES = 3  # another program may take a picked port before our server binds it
_POLL = 0.05


class Stack:
    """The embedded PostgreSQL, Redis and MongoDB-compatible servers of one data directory."""

    def __init__(
        self,
        data_dir: Path,
        *,
        database_url: str | None = None,
        redis_url: str | None = None,
        mongo_url: str | None = None,
        log: Callable[[str], None] | None = None,
        timeout: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.timeout = timeout
        self.stop_timeout = stop_timeout
        self._given = {"database_url": database_url, "redis_url": redis_url, "mongo_url": mongo_url}
        self._log = log
        self._mutex = threading.RLock()
        self._lock: OwnerLock | None = None
        self._spawner: Spawner | None = None
        self._children: list[Child] = []
        self._launches: dict[str, _Launch] = {}  # field ("redis_url"…) -> how its server was started
        self._info: StackInfo | None = None

    @property
    def info(self) -> StackInfo:
        """The running stack's URLs; StackError before start()."""
        if self._info is None:
            raise StackError(f"the stack on {self.data_dir} is not running")
        return self._info

    @property
    def running(self) -> bool:
        """True between a successful start() and stop()."""
        return self._info is not None

    def say(self, message: str, *args: object) -> None:
        """Report progress to the `log` callback, or to this module's logger."""
        if self._log is None:
            logger.info(message, *args)
        else:
            self._log(message % args if args else message)

    def start(self) -> StackInfo:
        """Take the data directory, start the servers that have no URL, wait until they answer."""
        with self._mutex:
            if self._info is not None:
                return self._info
            began = time.monotonic()
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._lock = OwnerLock.acquire(self.data_dir)
            try:
                remove_stack_json(self.data_dir)  # left by a run that was killed
                urls = dict(self._given)
                servers = [cls(self.data_dir) for cls in SERVERS if not urls[cls.field]]
                self._sweep_orphans()
                if servers:
                    self.say("Starting embedded %s in %s", ", ".join(s.title for s in servers), self.data_dir)
                    urls.update(self._launch(servers))
                self._info = StackInfo(
                    database_url=str(urls["database_url"]),
                    redis_url=str(urls["redis_url"]),
                    mongo_url=str(urls["mongo_url"]),
                    pid=os.getpid(),
                )
                write_stack_json(self.data_dir, self._info)
            except BaseException:  # KeyboardInterrupt too: nothing may outlive a failed start
                self._shutdown()
                raise
            if servers:
                self.say("Embedded stores ready in %.1f s", time.monotonic() - began)
            return self._info

    def publish(self, http_url: str | None = None) -> None:
        """Write stack.json, with the web server's URL once it listens."""
        with self._mutex:
            info = self.info
            if http_url is not None:
                info = dataclasses.replace(info, http_url=http_url)
            write_stack_json(self.data_dir, info)
            self._info = info

    def stop(self) -> None:
        """Stop every server, remove stack.json, release the data directory. Idempotent."""
        with self._mutex:
            self._shutdown()

    # ------------------------------------------------------------------ fault injection (make chaos)

    def halt(self, field: str, *, crash: bool = False) -> None:
        """Stop one embedded server ("redis_url", "database_url", "mongo_url"), keeping its port and data.

        `crash`: SIGKILL, as a power cut or the OOM killer would; else its own clean stop signal.
        """
        with self._mutex:
            launch = self._launches[field]
            child = launch._child
            if child is None or not child.alive():
                return
            if crash:
                child.popen.kill()
                child.popen.wait()
            else:
                stop_children([child], self.stop_timeout)
            self._children.remove(child)
            launch._child = None

    def resume(self, field: str) -> None:
        """Start a server `halt` stopped, on the same port and data; returns once it answers."""
        with self._mutex:
            launch = self._launches[field]
            if launch._child is not None and launch._child.alive():
                return
            launch._port_retries = _PORT_RETRIES  # its URL is in every client: the same port or fail
            launch._start_server()
            deadline = time.monotonic() + self.timeout
            while not launch.step():
                if time.monotonic() > deadline:
                    raise StackError(f"{launch.server.title} did not answer within {self.timeout:.0f} s"
                                     f"{launch.tail()}")
                time.sleep(_POLL)

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    def _sweep_orphans(self) -> None:
        # We hold the lock, so any server process still working in our directory lost its owner
        # (a SIGKILLed papo on a system without PDEATHSIG, or a server stuck in shutdown).
        kinds = [cls(self.data_dir) for cls in SERVERS]
        orphans = [(proc, s.stop_signal) for proc in processes() for s in kinds if s.owns(proc)]
        if orphans:
            self.say("Stopping %d leftover server process(es) of an earlier run on %s", len(orphans),
                     self.data_dir)
            sweep(orphans)

    def _launch(self, servers: list[Server]) -> dict[str, str]:
        logs = self.data_dir / "logs"
        logs.mkdir(exist_ok=True)
        for server in servers:
            try:
                server.prepare()
            except OSError as exc:
                raise StackError(f"{server.title}: cannot prepare {server.home}: {exc}") from exc
        self._spawner = Spawner()
        launches = [_Launch(self, s, p) for s, p in zip(servers, free_ports(len(servers)), strict=True)]
        self._launches = {launch.server.field: launch for launch in launches}
        for launch in launches:
            launch.begin()
        deadline = time.monotonic() + self.timeout
        pending = list(launches)
        while pending:
            for launch in list(pending):
                if launch.step():
                    pending.remove(launch)
                    self.say("%s ready on %s:%s (%.1f s)", launch.server.title, HOST, launch.port,
                             time.monotonic() - launch.began)
            if pending:
                if time.monotonic() > deadline:
                    late = pending[0]
                    raise StackError(f"{late.server.title} did not answer within {self.timeout:.0f} s"
                                     f"{late.tail()}")
                time.sleep(_POLL)
        for launch in launches:
            if note := launch.server.after_ready(launch.port):
                self.say("%s", note)
        return {launch.server.field: launch.server.url(launch.port) for launch in launches}

    def _spawn(self, server: Server, argv: list[str], death_signal: int) -> tuple[Child, int]:
        """Start one process of `server`, its output appended to logs/<name>.log; returns the log offset."""
        assert self._spawner is not None
        path = self.data_dir / "logs" / f"{server.name}.log"
        if path.exists() and path.stat().st_size > _LOG_ROTATE_BYTES:
            path.replace(path.with_name(f"{path.name}.1"))
        with path.open("ab") as log:
            offset = log.tell()
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            log.write(f"\n===== {stamp} papo (pid {os.getpid()}): {shlex.join(argv)}\n".encode())
            log.flush()
            popen = self._spawner.call(lambda: spawn(
                argv, log=log, cwd=server.home, env=server.env(), death_signal=death_signal, run_as=server.run_as,
            ))
        child = Child(server.title, popen, server.stop_signal, server.escalation)
        self._children.append(child)
        return child, offset

    def _shutdown(self) -> None:
        if self._lock is not None:
            remove_stack_json(self.data_dir)  # first, so other commands stop picking up these stores
        if self._children:
            titles = ", ".join(child.title for child in self._children)
            stop_children(self._children, self.stop_timeout)
            self.say("Stopped %s", titles)
        self._children = []
        if self._spawner is not None:
            self._spawner.close()
            self._spawner = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self._info = None


class _Launch:
    """One server on its way up: an optional initdb, then the server, until it answers."""

    def __init__(self, stack: Stack, server: Server, port: int) -> None:
        self.stack = stack
        self.server = server
        self.port = port
        self.began = time.monotonic()
        self._init: Child | None = None
        self._child: Child | None = None
        self._offset = 0
        self._port_retries = 0

    def begin(self) -> None:
        """Spawn initdb when the cluster is new, otherwise the server."""
        argv = self.server.init_command()
        if argv is None:
            self._start_server()
            return
        self.stack.say("%s: creating a new cluster in %s", self.server.title, self.server.home)
        # SIGKILL on our death is fine: an unfinished initdb directory is discarded next time.
        self._init, self._offset = self.stack._spawn(self.server, argv, signal.SIGKILL)

    def _start_server(self) -> None:
        argv = self.server.command(self.port)
        self._child, self._offset = self.stack._spawn(self.server, argv, self.server.stop_signal)

    def tail(self) -> str:
        """The end of this start's log, as an indented block for error messages."""
        path = self.stack.data_dir / "logs" / f"{self.server.name}.log"
        text = read_tail(path, self._offset)
        if not text.strip():
            return f" (its log {path} is empty)"
        return f"; last lines of {path}:\n" + "\n".join(f"    {line}" for line in text.splitlines())

    def _forget(self, child: Child) -> None:
        self.stack._children.remove(child)

    def step(self) -> bool:
        """Advance by one non-blocking check; True once the server answers."""
        if self._init is not None:
            code = self._init.popen.poll()
            if code is None:
                return False
            self._forget(self._init)
            self._init = None
            if code != 0:
                raise StackError(f"{self.server.title}: initdb failed (exit code {code}){self.tail()}")
            self.server.finish_init()
            self._start_server()
            return False
        child = self._child
        assert child is not None
        code = child.popen.poll()
        if code is not None:
            self._forget(child)
            tail = self.tail()
            if "address already in use" in tail.lower() and self._port_retries < _PORT_RETRIES:
                self._port_retries += 1
                self.port = free_ports(1)[0]
                self.stack.say("%s: port taken meanwhile, retrying on %s", self.server.title, self.port)
                self._start_server()
                return False
            raise StackError(f"{self.server.title} exited during start-up (exit code {code}){tail}")
        return port_open(self.port) and self.server.probe(self.port, child.pid)
