"""What every command shares: settings, logging, errors, running work inside opened stores."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import typing
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from papo.config import Settings

log = logging.getLogger("papo")


class CommandError(Exception):
    """A command failed in a way the user can fix; printed without a traceback, exit code 1."""


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error: `papo posts list: error: …` without the usage block above it.

    Every bad input to `papo` ends in exactly one line on stderr; `--help` still shows the usage.
    """

    def error(self, message: str) -> typing.NoReturn:
        """Print `<prog>: error: <message> (see <prog> --help)` and exit 2, as argparse does."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(value: str) -> int:
    """An argparse type for --limit, --last and the like: a whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value!r}")
    return number


def non_negative_int(value: str) -> int:
    """An argparse type for counts where 0 means none: a whole number of at least 0."""
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, not {value!r}")
    return number


def port_number(value: str) -> int:
    """An argparse type for --port: 1 to 65535."""
    number = positive_int(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, not {value!r}")
    return number


def print_json(value: Any, *, indent: int | None = None) -> None:
    """Print one JSON document the way every command does: UTF-8 as is (`Pão`, not `P\\u00e3o`)."""
    print(json.dumps(value, ensure_ascii=False, indent=indent))


def utc(value: datetime | None) -> str:
    """A time for a table, in UTC (its header says so), e.g. 2026-12-07 14:30; '—' when there is none."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "—"


def iso_utc(value: datetime | None) -> str | None:
    """A time for JSON: ISO-8601 in UTC (`2026-12-07T14:30:05.120000+00:00`), or None."""
    return value.astimezone(UTC).isoformat() if value else None


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Rows as aligned columns two spaces apart (the first row is the header); no trailing spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


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


def run_role(main: typing.Coroutine[Any, Any, object], settings: Settings) -> None:
    """Run a long-running role on the configured event loop (PAPO_EVENT_LOOP) until it stops (its loop said
    "Stopping…" at the signal), then say "Stopped."."""
    from papo.runtime import run_role as run_on_loop

    with contextlib.suppress(KeyboardInterrupt):  # a Ctrl-C before the loop installed its signal handlers
        run_on_loop(settings, main)
    print("Stopped.", file=sys.stderr, flush=True)


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
