"""What every command shares: settings, logging, errors, running work inside opened stores."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

log = logging.getLogger("papo")


class CommandError(Exception):
    """A command failed in a way the user can fix; printed without a traceback, exit code 1."""


def settings_from(args: argparse.Namespace) -> Any:
    from papo.config import load_settings

    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data_dir"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return load_settings(**overrides)


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # aiohttp's access log is noisy at INFO for webhooks; keep it at WARNING unless debugging.
    if level != "DEBUG":
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def print_error(message: str) -> None:
    print(f"papo: {message}", file=sys.stderr)


def run_with_stores(args: argparse.Namespace, work: Callable[[Any, Any], Any]) -> Any:
    """Run `work(settings, stores)` inside opened stores (env URLs, a running stack, or a temporary one)."""
    from papo.runtime import command_stores, open_stores

    settings = settings_from(args)

    async def main(urls: Any) -> Any:
        async with open_stores(urls, settings, pool_max=2) as stores:
            return await work(settings, stores)

    with command_stores(settings) as urls:
        return asyncio.run(main(urls))


def parse_datetime(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        example = "e.g. 2026-12-01T10:00:00-03:00"
        raise CommandError(f"{value!r} is not an ISO-8601 date-time ({example})") from None
    if parsed.tzinfo is None:
        raise CommandError(f"{value!r} has no time zone offset (e.g. 2026-12-01T10:00:00-03:00)")
    return parsed
