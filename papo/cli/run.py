"""Long-running roles: `papo up`, `serve`, `worker`, and `migrate`."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING, Any

from papo.cli.common import CommandError, run_role, settings_from, setup_logging

if TYPE_CHECKING:
    from papo.config import Settings


def cmd_up(args: argparse.Namespace) -> int:
    """Start the embedded stores (unless URLs are set), migrate, and serve until Ctrl-C."""
    from papo.crypto import generate_secret_file
    from papo.runtime import StoreUrls
    from papo.serve import serve_forever
    from papo.stack import Stack

    settings = settings_from(args)
    setup_logging(settings.log_level)
    data_dir = settings.data_dir.resolve()
    stack = Stack(
        data_dir,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        mongo_url=settings.mongo_url,
        log=lambda line: print(line, file=sys.stderr),
    )
    # SIGTERM during the synchronous start-up must still stop the servers started so far.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        info = stack.start()
        if settings.secret_key is None:
            key, created = generate_secret_file(data_dir)
            settings = settings.model_copy(update={"secret_key": _secret(key)})
            if created:
                print(f"Generated a secret key for encrypting platform tokens into {data_dir / 'secret.key'}"
                      " — back it up; set PAPO_SECRET_KEY to use your own.", file=sys.stderr)
        urls = StoreUrls(info.database_url, info.redis_url, info.mongo_url)
        _run_role(settings, serve_forever(settings, urls, migrate=True, roles=("web", "worker", "scheduler", "bot"),
                                         on_listening=stack.publish))
    except KeyboardInterrupt:  # before the roles ran (their loop says "Stopping…" itself, at the signal)
        print("Stopping…", file=sys.stderr, flush=True)
    finally:
        stack.stop()
    print("Stopped.", file=sys.stderr, flush=True)
    return 0


def _run_role(settings: Settings, main: Any) -> Any:
    from papo.runtime import run_role

    return run_role(settings, main)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve HTTP only, against configured stores or a running `papo up`."""
    from papo.serve import serve_forever

    settings, urls = role_setup(args)
    run_role(serve_forever(settings, urls, migrate=False), settings)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the background roles (inbound consumer, raw archive) against configured stores."""
    from papo.worker import run_worker

    settings, urls = role_setup(args)
    run_role(run_worker(settings, urls), settings)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply the committed migrations."""
    from papo import db
    from papo.runtime import command_stores

    settings = settings_from(args)
    if args.status:
        return _migration_status(settings)

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            print(f"applied {app_label}.{name}")

    with command_stores(settings) as urls:
        asyncio.run(db.migrate(urls.database_url, progress=progress))
    print("database is up to date")
    return 0


def _migration_status(settings: Settings) -> int:
    """Print each migration as applied (with when, UTC) or pending; apply nothing."""
    from papo import db
    from papo.cli.common import print_table, utc
    from papo.runtime import command_stores

    with command_stores(settings) as urls:
        states = asyncio.run(db.migration_status(urls.database_url))
    table = [("MIGRATION", "STATE", "APPLIED (UTC)")]
    for m in states:
        state = ("applied" if m.known else "applied, unknown to this version") if m.applied_at else "pending"
        table.append((m.name, state, utc(m.applied_at)))
    print_table(table)
    pending = sum(1 for m in states if m.applied_at is None)
    applied = len(states) - pending
    print(f"{applied} applied, {pending} pending" + (" (apply them: papo migrate)" if pending else ""))
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    """Queue scheduled posts when they fall due (safe to run several) against configured stores."""
    from papo.scheduler import run_scheduler_process

    settings, urls = role_setup(args)
    run_role(run_scheduler_process(settings, urls), settings)
    return 0


def role_setup(args: argparse.Namespace) -> tuple[Any, Any]:
    """Settings, logging and the store URLs for a single role (env URLs or a running `papo up`)."""
    from papo.runtime import configured_urls

    settings = settings_from(args)
    setup_logging(settings.log_level)
    urls = configured_urls(settings)
    if urls is None:
        raise CommandError(
            "no stores: set PAPO_DATABASE_URL, PAPO_REDIS_URL and PAPO_MONGO_URL, "
            f"or run `papo up` on data dir {settings.data_dir}"
        )
    return settings, urls
