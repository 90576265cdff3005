"""`papo backup` then `papo restore` into other, empty stores gives back every row, document, key and file."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from redis import asyncio as aioredis

from papo.analytics.store import open_mongo
from papo.models import Conversation, Lead, Message
from papo.services.users import create_user
from tests.conftest import TEST_SECRET


async def _papo(urls: dict[str, str], data_dir: Path, *argv: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPO_")}
    env.update({"PAPO_DATABASE_URL": urls["database_url"], "PAPO_REDIS_URL": urls["redis_url"],
                "PAPO_MONGO_URL": urls["mongo_url"], "PAPO_MONGO_DATABASE": urls["mongo_database"],
                "PAPO_SECRET_KEY": TEST_SECRET, "PAPO_DATA_DIR": str(data_dir)})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "papo", *argv, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


def _other_redis_db(url: str) -> str:
    parts = urlsplit(url)
    current = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(current + 1) % 16}"))


def _pg(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def test_backup_then_restore_into_empty_stores(stores, settings, tmp_path) -> None:
    owner = await create_user(email="dona@padaria.com.br", name="Padaria Pão Quente", plan="pro")
    conv = await Conversation.create(user=owner, platform="whatsapp", platform_conversation_id="5511987654321",
                                     remote_user_id="5511987654321", remote_user_name="Ana Souza")
    for n, text in enumerate(["Oi, bom dia", "Qual o preço do bolo?"]):
        await Message.create(conversation=conv, sender="remote", message_text=text, kind="message",
                             platform_message_id=f"wamid.{n}", platform_timestamp=datetime.now(UTC))
    await Lead.create(user=owner, remote_user_id="5511987654321", platform="whatsapp", quality="warm")
    interaction = {"_id": uuid.uuid4(), "user_id": owner.id, "text": "Qual o preço do bolo?",
                   "created_at": datetime(2026, 12, 7, 10, 30, tzinfo=UTC)}
    await stores.analytics.db["ai_interactions"].insert_one(dict(interaction))
    await stores.redis.xadd("papo:backup-test:stream", {"body": "ação"})
    await stores.redis.set("papo:backup-test:ttl", "1", ex=3600)
    data_dir = tmp_path / "data"  # not the session's: other tests leave media there
    (data_dir / "media").mkdir(parents=True)
    (data_dir / "media" / "bolo.jpg").write_bytes(b"\xff\xd8 not really a jpeg")

    source = {"database_url": stores.urls.database_url, "redis_url": stores.urls.redis_url,
              "mongo_url": stores.urls.mongo_url, "mongo_database": settings.mongo_database}
    backup_dir = tmp_path / "backup"
    code, out, err = await _papo(source, data_dir, "backup", "--output", str(backup_dir))
    assert code == 0, err
    assert out.startswith(f"backup written to {backup_dir}: ") and "2 Redis keys" in out and "1 media files" in out
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["postgres"]["messages"] == 2 and manifest["mongo"]["ai_interactions"] == 1

    code, _, err = await _papo(source, data_dir, "backup", "--output", str(backup_dir))
    assert code == 1 and err.strip() == f"papo: {backup_dir} already holds a backup: choose another --output"

    # A fresh machine: another database on the same server, another Redis database, another Mongo db.
    name = f"papo_restore_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_pg(stores.urls.database_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    target_url = urlunsplit(urlsplit(stores.urls.database_url)._replace(path=f"/{name}"))
    target = {"database_url": target_url, "redis_url": _other_redis_db(stores.urls.redis_url),
              "mongo_url": stores.urls.mongo_url, "mongo_database": f"{name}_mongo"}
    target_redis = aioredis.Redis.from_url(target["redis_url"])
    mongo = open_mongo(stores.urls.mongo_url)
    try:
        await target_redis.flushdb()
        # As the README's restore does on a new machine: the schema, no business. (Not db.migrate in this
        # process: it closes Tortoise's connections, which the session's other tests share.)
        code, _, err = await _papo(target, tmp_path / "new-data", "migrate")
        assert code == 0, err
        code, out, err = await _papo(target, tmp_path / "new-data", "restore", str(backup_dir))
        assert code == 0, err
        assert f"from {backup_dir}: " in out

        conn = await asyncpg.connect(_pg(target_url))
        try:
            texts = [r["message_text"] for r in await conn.fetch("SELECT message_text FROM messages ORDER BY 1")]
            assert texts == ["Oi, bom dia", "Qual o preço do bolo?"]
            assert await conn.fetchval("SELECT quality FROM crm_leads") == "warm"
            assert await conn.fetchval("SELECT name FROM users") == "Padaria Pão Quente"
        finally:
            await conn.close()
        restored = await mongo[target["mongo_database"]]["ai_interactions"].find_one({})
        assert restored == interaction  # UUIDs and dates come back as UUIDs and dates
        entries = await target_redis.xrange("papo:backup-test:stream")
        assert [fields for _, fields in entries] == [{b"body": "ação".encode()}]
        assert 3500 < await target_redis.ttl("papo:backup-test:ttl") <= 3600
        assert (tmp_path / "new-data" / "media" / "bolo.jpg").read_bytes() == b"\xff\xd8 not really a jpeg"

        code, _, err = await _papo(target, tmp_path / "new-data", "restore", str(backup_dir))
        assert code == 1 and "already holds 1 business user(s)" in err and "--force" in err
        code, _, err = await _papo(target, tmp_path / "new-data", "restore", str(backup_dir), "--force")
        assert code == 0, err

        code, _, err = await _papo(target, tmp_path / "new-data", "restore", str(tmp_path))
        assert code == 1 and err.strip() == f"papo: {tmp_path} is not a Papo backup (no manifest.json)"
    finally:
        await target_redis.flushdb()
        await target_redis.aclose()
        await mongo.drop_database(target["mongo_database"])
        await mongo.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_a_command_on_a_database_never_migrated_says_to_migrate_in_one_line(stores, settings, tmp_path) -> None:
    name = f"papo_unmigrated_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_pg(stores.urls.database_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        urls = {"database_url": urlunsplit(urlsplit(stores.urls.database_url)._replace(path=f"/{name}")),
                "redis_url": stores.urls.redis_url, "mongo_url": stores.urls.mongo_url,
                "mongo_database": settings.mongo_database}
        for argv in (["user", "create", "--email", "dona@padaria.com.br", "--name", "Padaria"],
                     ["leads", "list", "--user", "dona@padaria.com.br"]):
            code, _, err = await _papo(urls, tmp_path, *argv)
            lines = [line for line in err.splitlines() if line.startswith("papo:")]
            assert code == 1 and "Traceback" not in err, err
            assert lines == ['papo: the database has no table "users" yet: run `papo migrate` first'], err
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
