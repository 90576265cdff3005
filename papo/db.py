"""PostgreSQL through Tortoise ORM: configuration, init/close and migrations."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.connection import get_connection
from tortoise.migrations.api import migrate as tortoise_migrate
from tortoise.migrations.executor import MigrationExecutor

log = logging.getLogger(__name__)

MODELS_APP = "models"


class PooledConnection(asyncpg.Connection):
    """A pool connection released without asyncpg's reset query.

    On every release to the pool asyncpg sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL` (one more round trip, ~2.5 per inbound event at 100 events/s: Tortoise takes a connection
    for each query outside a transaction). Papo leaves no session state to undo: no session-level advisory
    locks (only pg_advisory_xact_lock), no LISTEN, no cursors outside transactions, no session SET. An open
    transaction is still rolled back on release (asyncpg does that whatever the query).
    """

    def get_reset_query(self) -> str:
        """Nothing to reset (see the class docstring)."""
        return ""


def tortoise_config(database_url: str, *, pool_max: int = 20) -> dict[str, Any]:
    """The Tortoise config dict for Papo's single app, with committed migrations."""
    url = database_url
    if "maxsize=" not in url:
        url += ("&" if "?" in url else "?") + f"maxsize={pool_max}"
    connection = expand_db_url(url)
    connection["credentials"]["connection_class"] = PooledConnection
    return {
        "connections": {"default": connection},
        "apps": {
            MODELS_APP: {
                "models": ["papo.models"],
                "migrations": "papo.models.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def init_db(database_url: str, *, pool_max: int = 20) -> None:
    """Open Tortoise's connection pool (idempotent per process)."""
    await Tortoise.init(config=tortoise_config(database_url, pool_max=pool_max))


async def close_db() -> None:
    """Close every Tortoise connection."""
    await Tortoise.close_connections()


@asynccontextmanager
async def database(database_url: str, *, pool_max: int = 20) -> AsyncIterator[None]:
    """Tortoise open for the duration of the block."""
    await init_db(database_url, pool_max=pool_max)
    try:
        yield
    finally:
        await close_db()


async def migrate(database_url: str, *, progress: Any = None) -> None:
    """Apply every committed migration that the database lacks."""
    await tortoise_migrate(config=tortoise_config(database_url, pool_max=2), progress=progress)
    await Tortoise.close_connections()


@dataclass(frozen=True, slots=True)
class MigrationState:
    """One migration and whether the database has it."""

    name: str  # e.g. 0003_inbound (papo/models/migrations/)
    applied_at: datetime | None  # None: pending
    known: bool = True  # False: recorded in the database, but not a migration of this version of Papo


async def migration_status(database_url: str) -> list[MigrationState]:
    """Every committed migration in order, with when it was applied (None: pending); applies nothing.

    Migrations the database records but this version does not have (it was migrated by a newer Papo)
    come last, with `known` False.
    """
    config = tortoise_config(database_url, pool_max=2)
    await Tortoise.init(config=config, init_connections=False)
    try:
        connection = get_connection("default")
        executor = MigrationExecutor(connection, {MODELS_APP: config["apps"][MODELS_APP]})
        await executor.loader.build_graph()
        graph = executor.loader.graph
        on_disk = [key.name for leaf in graph.leaf_nodes(MODELS_APP) for key in graph.forwards_plan(leaf)
                   if key.app_label == MODELS_APP]
        applied: dict[str, datetime] = {}
        # Read the recorder's table only when it exists: a status check must not create it.
        [exists] = await connection.execute_query_dict("SELECT to_regclass('tortoise_migrations') IS NOT NULL AS t")
        if exists["t"]:
            rows = await connection.execute_query_dict(
                "SELECT name, applied_at FROM tortoise_migrations WHERE app = $1 ORDER BY applied_at, name",
                [MODELS_APP])
            applied = {row["name"]: row["applied_at"] for row in rows}
    finally:
        await Tortoise.close_connections()
    ordered = list(dict.fromkeys(on_disk))
    states = [MigrationState(name, applied.get(name)) for name in ordered]
    return states + [MigrationState(name, at, known=False) for name, at in applied.items() if name not in ordered]
