"""Running `papo` in a test as the console script would: the real entry point against the test stores."""

from __future__ import annotations

import asyncio
import contextvars
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from papo.cli import main
from tests.conftest import TEST_SECRET


async def papo(*argv: str) -> int:
    """`papo.cli.main(argv)` in its own thread and context (it runs its own event loop and opens its own
    stores, as the console script does); argparse's SystemExit becomes the exit code."""
    def run() -> int:
        try:
            return main(list(argv))
        except SystemExit as exc:
            return int(exc.code or 0)

    with ThreadPoolExecutor(max_workers=1) as pool:
        return await asyncio.wrap_future(pool.submit(contextvars.Context().run, run))


def use_test_stores(monkeypatch: pytest.MonkeyPatch, stores: Any, settings: Any, data_dir: Path,
                    **extra: str) -> None:
    """The test stores in the environment and nothing else of PAPO_* (plus `extra` PAPO_ variables)."""
    for name in [n for n in os.environ if n.startswith("PAPO_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PAPO_DATABASE_URL", stores.urls.database_url)
    monkeypatch.setenv("PAPO_REDIS_URL", stores.urls.redis_url)
    monkeypatch.setenv("PAPO_MONGO_URL", stores.urls.mongo_url)
    monkeypatch.setenv("PAPO_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("PAPO_META_APP_SECRET", settings.meta_app_secret.get_secret_value())
    monkeypatch.setenv("PAPO_DATA_DIR", str(data_dir))
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
