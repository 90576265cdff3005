"""The migrated schema matches the user's seed (tests/data/seed_schema.sql, copied word for word)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from tortoise.exceptions import ValidationError

from papo.models import ConnectedAccount, Conversation, Message, User
from papo.runtime import StoreUrls

SEED = Path(__file__).parent / "data" / "seed_schema.sql"


@dataclass
class SeedColumn:
    name: str
    type: str
    nullable: bool
    default: str | None
    unique: bool = False
    references: tuple[str, str, str] | None = None  # (table, column, on delete)


@dataclass
class SeedTable:
    name: str
    columns: dict[str, SeedColumn] = field(default_factory=dict)
    uniques: list[tuple[str, ...]] = field(default_factory=list)
    indexes: dict[str, tuple[str, ...]] = field(default_factory=dict)


COLUMN_RE = re.compile(
    r"^(?P<name>\w+)\s+(?P<type>UUID|VARCHAR\(\d+\)|TEXT\[\]|TEXT|JSONB|INT|BOOLEAN|TIMESTAMP)(?P<rest>.*)$"
)


def parse_seed(sql: str) -> dict[str, SeedTable]:
    """Parse the seed's CREATE TABLE statements (the subset of SQL the seed uses)."""
    tables: dict[str, SeedTable] = {}
    for match in re.finditer(r"CREATE TABLE (\w+) \((.*?)\n\);", sql, re.S):
        table = SeedTable(match.group(1))
        for raw in match.group(2).splitlines():
            line = raw.split("--")[0].strip().rstrip(",")
            if not line:
                continue
            if m := re.match(r"UNIQUE\(([^)]*)\)", line):
                table.uniques.append(tuple(c.strip() for c in m.group(1).split(",")))
            elif m := re.match(r"INDEX (\w+) \(([^)]*)\)", line):
                table.indexes[m.group(1)] = tuple(c.strip() for c in m.group(2).split(","))
            else:
                m = COLUMN_RE.match(line)
                assert m, f"unparsed seed line: {line!r}"
                rest = m.group("rest")
                default = re.search(r"DEFAULT (.+?)(?: REFERENCES|$)", rest)
                ref = re.search(r"REFERENCES (\w+)\((\w+)\) ON DELETE (CASCADE|SET NULL)", rest)
                table.columns[m.group("name")] = SeedColumn(
                    name=m.group("name"),
                    type=m.group("type"),
                    nullable="NOT NULL" not in rest and "PRIMARY KEY" not in rest,
                    default=default.group(1).strip() if default else None,
                    unique="UNIQUE" in rest,
                    references=(ref.group(1), ref.group(2), ref.group(3)) if ref else None,
                )
        tables[table.name] = table
    return tables


SEED_TABLES = parse_seed(SEED.read_text())


def test_seed_parser_reads_all_nine_tables() -> None:
    assert sorted(SEED_TABLES) == sorted([
        "users", "connected_accounts", "conversations", "messages", "posts",
        "post_syncs", "crm_leads", "automation_rules", "message_templates",
    ])
    assert sum(len(t.columns) for t in SEED_TABLES.values()) == 104
    assert SEED_TABLES["crm_leads"].indexes["idx_user_quality"] == ("user_id", "quality")


def _pg_type_matches(seed_type: str, row: asyncpg.Record) -> bool:
    data_type, udt, length = row["data_type"], row["udt_name"], row["character_maximum_length"]
    if m := re.fullmatch(r"VARCHAR\((\d+)\)", seed_type):
        return data_type == "character varying" and length == int(m.group(1))
    expected = {
        "UUID": {"uuid"},
        "TEXT": {"text"},
        "TEXT[]": {"_text"},
        "JSONB": {"jsonb"},
        "INT": {"int4"},
        "BOOLEAN": {"bool"},
        "TIMESTAMP": {"timestamp", "timestamptz"},
    }[seed_type]
    return udt in expected


def _normalise_default(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.lower().replace("::character varying", "")
    return re.sub(r"\s+", "", value)


@pytest.fixture
async def pg(migrated: StoreUrls):
    conn = await asyncpg.connect(migrated.database_url.replace("postgres://", "postgresql://", 1))
    yield conn
    await conn.close()


async def test_every_seed_column_type_default_and_nullability(pg: asyncpg.Connection) -> None:
    rows = await pg.fetch(
        "SELECT table_name, column_name, data_type, udt_name, character_maximum_length, "
        "is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'public'"
    )
    actual = {(r["table_name"], r["column_name"]): r for r in rows}
    problems = []
    for table in SEED_TABLES.values():
        for col in table.columns.values():
            row = actual.get((table.name, col.name))
            if row is None:
                problems.append(f"{table.name}.{col.name} is missing")
                continue
            if not _pg_type_matches(col.type, row):
                problems.append(f"{table.name}.{col.name}: type {row['udt_name']} is not {col.type}")
            if (row["is_nullable"] == "YES") != col.nullable:
                problems.append(
                    f"{table.name}.{col.name}: nullable={row['is_nullable']}, seed says {col.nullable}"
                )
            if _normalise_default(row["column_default"]) != _normalise_default(col.default):
                problems.append(
                    f"{table.name}.{col.name}: default {row['column_default']!r}, seed says {col.default!r}"
                )
    assert problems == []


async def test_foreign_keys_and_on_delete(pg: asyncpg.Connection) -> None:
    rows = await pg.fetch(
        """
        SELECT c.conrelid::regclass::text AS tbl, a.attname AS col,
               c.confrelid::regclass::text AS ref_tbl, af.attname AS ref_col, c.confdeltype::text AS on_delete
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        JOIN pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1]
        WHERE c.contype = 'f'
        """
    )
    actual = {(r["tbl"], r["col"]): (r["ref_tbl"], r["ref_col"], r["on_delete"]) for r in rows}
    codes = {"CASCADE": "c", "SET NULL": "n"}
    expected = {
        (t.name, c.name): (c.references[0], c.references[1], codes[c.references[2]])
        for t in SEED_TABLES.values()
        for c in t.columns.values()
        if c.references
    }
    assert len(expected) == 11
    assert {k: actual.get(k) for k in expected} == expected


async def test_unique_constraints(pg: asyncpg.Connection) -> None:
    rows = await pg.fetch(
        """
        SELECT c.conrelid::regclass::text AS tbl,
               array_agg(a.attname ORDER BY a.attname) AS cols
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
        WHERE c.contype IN ('u', 'p')
        GROUP BY c.oid, c.conrelid
        """
    )
    actual = {(r["tbl"], tuple(r["cols"])) for r in rows}
    for table in SEED_TABLES.values():
        for unique in table.uniques:
            assert (table.name, tuple(sorted(unique))) in actual, f"{table.name} lacks UNIQUE{unique}"
        for col in table.columns.values():
            if col.unique:
                assert (table.name, (col.name,)) in actual, f"{table.name}.{col.name} is not UNIQUE"


async def test_seed_indexes_exist_with_their_columns(pg: asyncpg.Connection) -> None:
    rows = await pg.fetch("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'")
    actual = {r["indexname"]: (r["tablename"], r["indexdef"]) for r in rows}
    for table in SEED_TABLES.values():
        for name, cols in table.indexes.items():
            assert name in actual, f"index {name} is missing"
            tbl, definition = actual[name]
            assert tbl == table.name
            assert definition.endswith(f"({', '.join(cols)})"), definition


async def test_database_side_defaults_fill_a_raw_insert(pg: asyncpg.Connection, stores) -> None:
    row = await pg.fetchrow("INSERT INTO users (email, name) VALUES ('raw@x.com', 'Raw') RETURNING *")
    assert row["id"] is not None
    assert row["plan"] == "free"
    assert row["identity_verified"] is False
    assert row["created_at"] is not None and row["updated_at"] is not None
    conv = await pg.fetchrow(
        "INSERT INTO conversations (platform_conversation_id, remote_user_id, platform) "
        "VALUES ('c', 'r', 'instagram') RETURNING status, tags"
    )
    assert conv["status"] == "active" and conv["tags"] == []


async def test_enumerated_values_are_validated_with_a_clear_error(stores) -> None:
    with pytest.raises(ValidationError, match=r"plan: 'gold' is not one of: free, starter, pro, consultancy"):
        await User.create(email="a@b.co", name="A", plan="gold")
    user = await User.create(email="a@b.co", name="A", plan="pro")
    with pytest.raises(ValidationError, match="platform: 'myspace' is not one of"):
        await ConnectedAccount.create(
            user=user, platform="myspace", platform_account_id="1", access_token="x"
        )
    conv = await Conversation.create(
        user=user, platform="instagram", platform_conversation_id="c1", remote_user_id="r1"
    )
    with pytest.raises(ValidationError, match="sender: 'bot' is not one of: user, remote"):
        await Message.create(conversation=conv, sender="bot", message_text="hi")
    assert await User.filter(plan="pro").count() == 1


async def test_updated_at_is_kept_current_on_every_update_path(stores) -> None:
    user = await User.create(email="t@b.co", name="T")
    first = (await User.get(id=user.id)).updated_at
    await User.filter(id=user.id).update(name="T2")  # bulk update: no auto_now, the trigger does it
    second = (await User.get(id=user.id)).updated_at
    assert second > first
    user = await User.get(id=user.id)
    user.name = "T3"
    await user.save()
    assert (await User.get(id=user.id)).updated_at > second


async def test_cascades_delete_a_users_data_and_set_null_keeps_posts(stores) -> None:
    from papo.models import Post

    user = await User.create(email="c@b.co", name="C")
    account = await ConnectedAccount.create(user=user, platform="facebook", platform_account_id="p1",
                                            access_token="x")
    other = await User.create(email="o@b.co", name="O")
    post = await Post.create(user=other, account=account, content="hello")
    conv = await Conversation.create(user=user, account=account, platform="facebook",
                                     platform_conversation_id="c", remote_user_id="r")
    await Message.create(conversation=conv, sender="remote", message_text="oi")
    await account.delete()
    assert await Conversation.filter(id=conv.id).count() == 0
    assert await Message.all().count() == 0
    post = await Post.get(id=post.id)
    assert post.account_id is None
