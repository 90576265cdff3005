"""The `papo` command: `papo --help` lists every subcommand; each has `--help`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from papo import __version__
from papo.cli import rules as rules_cli
from papo.cli.accounts import cmd_account_connect, cmd_user_create
from papo.cli.ai import cmd_ai_evaluate, cmd_ai_train, cmd_classify
from papo.cli.backup import add_commands as add_backup_commands
from papo.cli.bot import add_commands as add_bot_commands
from papo.cli.broadcasts import add_commands as add_broadcast_commands
from papo.cli.common import CommandError, Parser, port_number, positive_int, print_error
from papo.cli.conversations import add_commands as add_handoff_commands
from papo.cli.conversations import add_user_commands as add_user_hours
from papo.cli.customers import add_commands as add_customer_commands
from papo.cli.pipeline import cmd_dead_letters, cmd_replay, cmd_simulate
from papo.cli.plans import add_commands as add_plan_commands
from papo.cli.posts import add_commands as add_posts_commands
from papo.cli.run import cmd_migrate, cmd_scheduler, cmd_serve, cmd_up, cmd_worker
from papo.cli.secret import add_commands as add_secret_commands
from papo.cli.views import add_account_commands as add_account_list
from papo.cli.views import add_commands as add_views_commands
from papo.cli.views import add_user_commands as add_user_list
from papo.cli.webhooks import add_account_commands
from papo.cli.webhooks import add_commands as add_webhooks_commands
from papo.enums import Platform

PLATFORMS = tuple(p.value for p in Platform)


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    parser = Parser(
        prog="papo",
        description="Papo: messaging automation and CRM for small businesses.",
    )
    parser.add_argument("--version", action="version", version=f"papo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str, parent: Any = sub) -> Any:
        p = parent.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        p.add_argument("--data-dir", help="data directory (default: PAPO_DATA_DIR or ./.papo)")
        return p

    for name, func, help_ in (
        ("up", cmd_up, "start everything on this machine (embedded stores, migrations, web) until Ctrl-C"),
        ("serve", cmd_serve, "serve HTTP only (webhooks, health) against configured stores"),
    ):
        p = add(name, func, help_)
        p.add_argument("--host", help="address to listen on (default: PAPO_HOST or 127.0.0.1)")
        p.add_argument("--port", type=port_number, help="port to listen on (default: PAPO_PORT or 8080)")

    add("worker", cmd_worker, "run the background workers (inbound pipeline, raw archive) until Ctrl-C")
    p = add("migrate", cmd_migrate, "apply the database migrations")
    p.add_argument("--status", action="store_true", help="list applied and pending migrations; apply nothing")
    add_backup_commands(add)
    p = add("simulate", cmd_simulate, "post a correctly signed webhook for one event to a running server")
    p.add_argument("--platform", required=True, type=str.lower, choices=PLATFORMS, metavar="PLATFORM",
                   help="whatsapp, instagram, facebook, tiktok, youtube or kwai")
    p.add_argument("--account", required=True, help="the connected account's platform id")
    p.add_argument("--from", dest="sender", required=True, help="the customer's platform id (or phone)")
    p.add_argument("--text", default="", help="the message or comment text")
    p.add_argument("--kind", default="message", type=str.lower, help="message (default), comment, … (per platform)")
    p.add_argument("--name", help="the customer's display name")
    p.add_argument("--post-id", help="the post/video a comment is on")
    p.add_argument("--url", help="the server (default: the running `papo up`, else PAPO_HOST:PAPO_PORT)")
    p = add("replay", cmd_replay, "run archived raw webhooks through the pipeline again")
    p.add_argument("--platform", type=str.lower, choices=PLATFORMS, metavar="PLATFORM",
                   help=f"only this platform: {', '.join(PLATFORMS)}")
    p.add_argument("--since", help="only bodies received since (ISO-8601 with offset)")
    p.add_argument("--limit", type=positive_int, default=10_000, help="at most this many bodies (default 10000)")
    p = add("dead-letters", cmd_dead_letters, "list stream entries that kept failing; re-queue them")
    p.add_argument("--requeue", nargs="+", metavar="ID", help="put these dead letters back in their stream")
    p.add_argument("--requeue-all", action="store_true", help="put every listed dead letter back")
    p.add_argument("--limit", type=positive_int, default=100, help="how many to list (default 100)")

    p = add("classify", cmd_classify, "classify text: intent, sentiment, lead score, language, email, phone")
    p.add_argument("text", nargs="?", help="the text to classify")
    p.add_argument("--jsonl", metavar="FILE", help="a JSONL file with a `text` per line ('-' = stdin)")

    ai = sub.add_parser("ai", help="the local classifier's model", description="The local classifier's model.")
    ai_sub = ai.add_subparsers(dest="ai_command", metavar="ACTION", required=True)
    for name, func, help_ in (("train", cmd_ai_train, "train the local model (reproducible)"),
                              ("evaluate", cmd_ai_evaluate, "print held-out precision/recall/F1")):
        p = add(name, func, help_, ai_sub)
        p.add_argument("rest", nargs=argparse.REMAINDER, help="options passed on (see --help of the module)")
        p.set_defaults(passes_on=True)

    add("scheduler", cmd_scheduler, "queue scheduled posts when they fall due and send broadcasts (run one or more) "
        "until Ctrl-C")
    rules_cli.add_commands(sub, add)
    add_posts_commands(sub, add)
    add_broadcast_commands(sub, add)
    add_bot_commands(sub, add)
    add_secret_commands(sub, add)

    user = sub.add_parser("user", help="manage business users", description="Manage business users.")
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    p = add("create", cmd_user_create, "create a business user", user_sub)
    p.add_argument("--email", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--plan", default="free", help="free, starter, pro or consultancy (default: free)")
    add_user_list(user_sub, add)
    add_user_hours(user_sub, add)
    add_plan_commands(user_sub, add)

    account = sub.add_parser("account", help="manage connected platform accounts",
                             description="Manage connected platform accounts.")
    account_sub = account.add_subparsers(dest="account_command", metavar="ACTION", required=True)
    p = add("connect", cmd_account_connect, "connect an account with an access token you already have",
            account_sub)
    p.add_argument("--user", required=True, help="the owner's email")
    p.add_argument("--platform", required=True,
                   help="instagram, facebook, whatsapp, tiktok, youtube or kwai")
    p.add_argument("--account-id", required=True,
                   help="the platform's id (Page id, IG account id, WhatsApp phone_number_id, channel id…)")
    p.add_argument("--token", required=True, help="the access token (stored encrypted)")
    p.add_argument("--refresh-token", help="a refresh token, where the platform has one")
    p.add_argument("--expires-at", help="token expiry, ISO-8601 with offset")
    p.add_argument("--name", help="the business name shown for this account")
    p.add_argument("--webhook-secret", help="custom channels (kwai): the signing secret (default: generated)")
    p.add_argument("--callback-url", help="custom channels (kwai): where Papo POSTs its replies")
    p.add_argument("--waba-id", metavar="ID",
                   help="whatsapp: the WhatsApp Business Account id (WhatsApp Manager → Account tools); "
                        "Papo subscribes it to the webhooks. Without it Papo asks Meta with the token")
    add_account_commands(account_sub, add)
    add_account_list(account_sub, add)
    add_webhooks_commands(sub, add)
    subs = add_views_commands(sub, add)
    add_handoff_commands(subs["conversations"], add)
    add_customer_commands(sub, add, leads_sub=subs["leads"])
    return parser


def glue_dash_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """`--account-id -000kT8vZ` as `--account-id=-000kT8vZ`: platform ids may start with a dash.

    TikTok open_ids do; argparse would read one as an unknown option ("expected one argument"). A value
    that is itself one of our options (`--name --token`) is left alone, so a forgotten value is still
    reported as one.
    """
    actions = _all_actions(parser)
    every = {o for a in actions for o in a.option_strings}
    options = {o for a in actions if a.nargs in (None, 1) for o in a.option_strings if o.startswith("--")}
    # A name that is a flag somewhere (`migrate --status`) as well as an option with a value elsewhere
    # (`posts list --status S`) is left alone: gluing would hand the flag a value.
    options -= {o for a in actions if a.nargs == 0 for o in a.option_strings}
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out.extend(argv[i:])
            break
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if (token in options and nxt is not None and nxt.startswith("-") and nxt != "-"
                and nxt.split("=", 1)[0] not in every):
            out.append(f"{token}={nxt}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def _all_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The parser's actions and those of every subcommand, recursively."""
    actions = list(parser._actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                actions += _all_actions(sub)
    return actions


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """parse_args, except that `papo ai train|evaluate` pass every option they do not know on.

    argparse's REMAINDER does not take an option that comes first (`papo ai train --all`), so those are
    collected here, in order, ahead of the rest; their own parser then checks them.
    """
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passes_on", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.rest = [*extra, *args.rest]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `papo` console script."""
    from papo.backup import BackupError
    from papo.config import ConfigError
    from papo.runtime import StoresUnavailable
    from papo.services import ServiceError
    from papo.stack import StackError

    parser = build_parser()
    args = parse(parser, glue_dash_values(parser, sys.argv[1:] if argv is None else list(argv)))
    try:
        return int(args.func(args))
    except (BackupError, CommandError, ConfigError, ServiceError, StoresUnavailable, StackError) as exc:
        print_error(str(exc))
        return 1
    except OSError as exc:
        print_error(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        return 1
    except Exception as exc:
        behind = schema_behind(exc)
        if behind is None:
            raise  # a bug: its traceback
        print_error(f"the database has no {behind} yet: run `papo migrate` first")
        return 1


def schema_behind(exc: BaseException) -> str | None:
    """What is missing when a command ran against a database that was never migrated (or is behind)."""
    import asyncpg

    seen: BaseException | None = exc
    while seen is not None:  # tortoise wraps asyncpg's error (OperationalError from UndefinedTableError)
        if isinstance(seen, asyncpg.UndefinedTableError | asyncpg.UndefinedColumnError):
            return str(seen).replace("relation ", "table ").removesuffix(" does not exist")
        seen = seen.__cause__
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
