"""`papo backup` and `papo restore` (see papo/backup.py for what a backup directory holds)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from papo.cli.common import settings_from


def cmd_backup(args: argparse.Namespace) -> int:
    """Back up PostgreSQL, MongoDB, Redis and the post media into one directory."""
    from papo.backup import backup

    folder = Path(args.output or f"papo-backup-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    counts = _run(args, lambda settings, urls: backup(urls, settings, folder))
    print(f"backup written to {folder}: {_summary(counts)}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Make the stores equal a backup directory, then check the counts against its manifest."""
    from papo.backup import read_manifest, restore

    folder = Path(args.directory)
    manifest = read_manifest(folder)
    counts = _run(args, lambda settings, urls: restore(urls, settings, folder, force=args.force))
    print(f"restored the backup of {manifest.get('created_at', '?')} from {folder}: {_summary(counts)}")
    return 0


def _run(args: argparse.Namespace, work: Any) -> Any:
    from papo.runtime import command_stores

    settings = settings_from(args)
    with command_stores(settings) as urls:
        return asyncio.run(work(settings, urls))


def _summary(counts: Any) -> str:
    rows = sum(counts.tables.values())
    docs = sum(counts.collections.values())
    return (f"{rows} rows in {len(counts.tables)} tables, {docs} MongoDB documents, "
            f"{counts.redis_keys} Redis keys, {counts.media_files} media files")


def add_commands(add: Any) -> None:
    """`papo backup` and `papo restore`."""
    p = add("backup", cmd_backup, "back up PostgreSQL, MongoDB, Redis and the post media into one directory")
    p.add_argument("--output", metavar="DIR", help="where to write it (default: ./papo-backup-<UTC time>)")
    p = add("restore", cmd_restore, "restore a `papo backup` directory into the configured (empty) stores")
    p.add_argument("directory", metavar="DIR", help="the backup directory")
    p.add_argument("--force", action="store_true", help="replace stores that already hold a business")
