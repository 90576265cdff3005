"""PostgreSQL through Tortoise ORM: configuration, init/close and migrations."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tortoise import Tortoise
from tortoise.migrations.api import migrate as tortoise_migrate

log = logging.getLogger(__name__)

MODELS_APP = "models"


def tortoise_config(database_url: str, *, pool_max: int = 20) -> dict[str, Any]:
    """The Tortoise config dict for Papo's single app, with committed migrations."""
    url = database_url
    if "maxsize=" not in url:
        url += ("&" if "?" in url else "?") + f"maxsize={pool_max}"
    return {
        "connections": {"default": url},
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
