"""`papo secret rotate`: re-encrypt every stored token and secret with a new PAPO_SECRET_KEY."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from papo.cli.common import CommandError, print_json, run_with_stores, settings_from

if TYPE_CHECKING:
    from papo.config import Settings


def add_commands(sub: Any, add: Any) -> None:
    """Register `papo secret …`."""
    secret = sub.add_parser("secret", aliases=["secrets"],
                            help="manage PAPO_SECRET_KEY, the key that encrypts platform tokens",
                            description="Manage PAPO_SECRET_KEY, the key that encrypts platform tokens at rest.")
    secret_sub = secret.add_subparsers(dest="secret_command", metavar="ACTION", required=True)
    p = add("rotate", cmd_secret_rotate,
            "re-encrypt every stored token and secret with a new key (one transaction; safe to rerun)", secret_sub)
    p.add_argument("--new-key", metavar="NEWKEY",
                   help="the new key, at least 16 characters ('-' reads it from stdin; default, when "
                        "PAPO_SECRET_KEY_PREVIOUS is set: PAPO_SECRET_KEY)")
    p.add_argument("--old-key", metavar="OLDKEY",
                   help="the key the secrets are encrypted with now ('-' reads it from stdin; default: "
                        "PAPO_SECRET_KEY_PREVIOUS, else PAPO_SECRET_KEY, else the key file `papo up` "
                        "generated in the data dir)")
    p.add_argument("--dry-run", action="store_true", help="check and count every value; change nothing")


def _key_argument(value: str | None) -> str | None:
    """A key from the command line, or from a line of stdin for '-' (keeps it out of `ps` and history)."""
    if value != "-":
        return value
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def cmd_secret_rotate(args: argparse.Namespace) -> int:
    """Rotate the key, then update the key file (or say what the operator must change)."""
    from papo.crypto import write_secret_file
    from papo.services.secret_rotation import rotate_secrets, rotation_keys

    if args.new_key == "-" and args.old_key == "-":
        raise CommandError("only one of --new-key and --old-key can be read from stdin")
    settings = settings_from(args)
    new_key = _key_argument(args.new_key)
    old_key = _key_argument(args.old_key)
    keys = rotation_keys(settings, new_key=new_key, old_key=old_key)

    async def work(settings: Settings, stores: Any) -> Any:
        return await rotate_secrets(stores.redis, keys, dry_run=args.dry_run)

    report = run_with_stores(args, work)
    out = report.summary()
    if args.dry_run:
        out["next"] = "nothing was changed: run again without --dry-run to rotate"
    elif keys.key_file is not None:
        try:
            write_secret_file(keys.key_file.parent, keys.new_key)
        except OSError as exc:
            raise CommandError(
                f"the stored secrets now use the new key, but writing it to {keys.key_file} failed "
                f"({exc.strerror or exc}): run this command again once the file is writable") from None
        out["key_file"] = str(keys.key_file)
        out["next"] = ("restart every running papo process (papo up, serve, worker, bot) "
                       "so it reads the new key from the key file")
    elif settings.secret_key_previous is not None:
        out["next"] = ("every stored secret now opens with PAPO_SECRET_KEY: remove PAPO_SECRET_KEY_PREVIOUS "
                       "wherever Papo runs and restart the papo processes at your convenience")
    else:
        out["next"] = ("set PAPO_SECRET_KEY to the new key wherever Papo runs (environment, .env, "
                       "docker-compose) and restart every papo process: stored secrets now open only with it")
    print_json(out)
    return 0
