"""The `papo` command: `papo --help` lists every subcommand; each has `--help`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from papo import __version__

log = logging.getLogger("papo")


class CommandError(Exception):
    """A command failed in a way the user can fix; printed without a traceback, exit code 1."""


def _settings(args: argparse.Namespace) -> Any:
    from papo.config import load_settings

    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data_dir"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return load_settings(**overrides)


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # aiohttp's access log is noisy at INFO for webhooks; keep it at WARNING unless debugging.
    if level != "DEBUG":
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _err(message: str) -> None:
    print(f"papo: {message}", file=sys.stderr)


# ---------------------------------------------------------------- up / serve / migrate


def cmd_up(args: argparse.Namespace) -> int:
    """Start the embedded stores (unless URLs are set), migrate, and serve until Ctrl-C."""
    from papo.crypto import generate_secret_file
    from papo.runtime import StoreUrls
    from papo.serve import serve_forever
    from papo.stack import Stack

    settings = _settings(args)
    _setup_logging(settings.log_level)
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
        asyncio.run(serve_forever(settings, urls, migrate=True, roles=("web", "worker"),
                                  on_listening=stack.publish))
    except KeyboardInterrupt:
        pass
    finally:
        print("Stopping…", file=sys.stderr)
        stack.stop()
    return 0


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve HTTP only, against configured stores or a running `papo up`."""
    from papo.runtime import configured_urls
    from papo.serve import serve_forever

    settings = _settings(args)
    _setup_logging(settings.log_level)
    urls = configured_urls(settings)
    if urls is None:
        raise CommandError(
            "no stores: set PAPO_DATABASE_URL, PAPO_REDIS_URL and PAPO_MONGO_URL, "
            f"or run `papo up` on data dir {settings.data_dir}"
        )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(settings, urls, migrate=False))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the background roles (inbound consumer, raw archive) against configured stores."""
    from papo.runtime import configured_urls
    from papo.worker import run_worker

    settings = _settings(args)
    _setup_logging(settings.log_level)
    urls = configured_urls(settings)
    if urls is None:
        raise CommandError(
            "no stores: set PAPO_DATABASE_URL, PAPO_REDIS_URL and PAPO_MONGO_URL, "
            f"or run `papo up` on data dir {settings.data_dir}"
        )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker(settings, urls))
    return 0


def cmd_dead_letters(args: argparse.Namespace) -> int:
    """List dead-lettered stream entries, or put them back in their stream."""
    from papo.pipeline.queues import inbound_spec
    from papo.streams import codec
    from papo.streams.admin import list_dead, requeue

    async def work(settings: Any, stores: Any) -> int:
        spec = inbound_spec(settings.stream_partitions)
        dead = await list_dead(stores.redis, spec, limit=args.limit)
        wanted = dead if args.requeue_all else [d for d in dead if d.id in set(args.requeue or ())]
        if args.requeue or args.requeue_all:
            missing = set(args.requeue or ()) - {d.id for d in dead}
            if missing:
                raise CommandError(f"no dead letter with id {', '.join(sorted(missing))}")
            for d in wanted:
                new_id = await requeue(stores.redis, spec, d.partition, d.id)
                print(json.dumps({"requeued": d.id, "partition": d.partition, "new_id": new_id}))
            return 0
        for d in dead:
            try:
                data = codec.decode(d.fields)
            except codec.CodecError:
                data = d.fields
            print(json.dumps({"id": d.id, "stream": d.stream, "partition": d.partition, "source_id": d.source_id,
                              "error": d.error.strip().splitlines()[-1] if d.error.strip() else "",
                              "data": data}, ensure_ascii=False))
        if not dead:
            print("no dead letters", file=sys.stderr)
        return 0

    return int(_run_with_stores(args, work))


def cmd_simulate(args: argparse.Namespace) -> int:
    """Build a documented payload for one event, sign it as the platform would, post it to a running server."""
    import urllib.error
    import urllib.request

    from papo.adapters.simulate import build_webhook
    from papo.stack import read_running_stack

    settings = _settings(args)
    platform = args.platform.lower()
    secret = _simulate_secret(settings, platform, args.account)
    try:
        body, headers = build_webhook(platform, account=args.account, sender=args.sender, text=args.text,
                                      kind=args.kind, secret=secret, name=args.name, post_id=args.post_id)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    running = read_running_stack(settings.data_dir)
    base = (args.url or (running.http_url if running and running.http_url else None)
            or f"http://{settings.host}:{settings.port}").rstrip("/")
    request = urllib.request.Request(f"{base}/webhooks/{platform}", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            print(resp.read().decode())
    except urllib.error.HTTPError as exc:
        raise CommandError(f"the server answered {exc.code}: {exc.read().decode()[:500]}") from None
    except urllib.error.URLError as exc:
        raise CommandError(f"cannot reach {base}: {exc.reason} (is `papo up` running?)") from None
    return 0


def _simulate_secret(settings: Any, platform: str, account: str) -> str:
    """The secret the server will check: the app-wide one from settings, or a Kwai account's own."""
    from papo.adapters.base import WebhookSecrets

    if platform == "kwai":
        from papo.models import ConnectedAccount
        from papo.runtime import token_cipher

        async def work(_settings: Any, _stores: Any) -> str | None:
            account_row = await ConnectedAccount.filter(platform="kwai", platform_account_id=account).first()
            if account_row is None or not account_row.webhook_secret:
                return None
            return token_cipher(_settings).decrypt(account_row.webhook_secret)

        ns = argparse.Namespace(data_dir=str(settings.data_dir))
        secret = _run_with_stores(ns, work)
        if not secret:
            raise CommandError(f"no connected kwai account {account!r} with a signing secret")
        return secret
    try:
        secret = WebhookSecrets.from_settings(settings).signing_secret(platform)
    except ValueError:
        raise CommandError(f"unknown platform {platform!r}") from None
    if not secret:
        variable = {"tiktok": "PAPO_TIKTOK_CLIENT_SECRET", "youtube": "PAPO_YOUTUBE_HUB_SECRET"}.get(
            platform, "PAPO_META_APP_SECRET")
        raise CommandError(f"{variable} is not set: the server refuses unsigned {platform} webhooks; "
                           "set it (for both the server and this command)")
    return secret


def cmd_replay(args: argparse.Namespace) -> int:
    """Queue archived raw webhooks again."""
    from papo.adapters.registry import default_registry
    from papo.pipeline.queues import Queues
    from papo.services.replay import replay

    since = _parse_datetime(args.since) if args.since else None

    async def work(settings: Any, stores: Any) -> dict[str, int]:
        queues = Queues(stores.redis, settings.stream_partitions)
        return await replay(stores, queues, default_registry(), platform=args.platform, since=since,
                            limit=args.limit)

    print(json.dumps(_run_with_stores(args, work)))
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    """Classify one text, or a JSONL file (a `text` per line), with the local model."""
    from papo.ai.commands import classify_lines, classify_text

    if (args.text is None) == (args.jsonl is None):
        raise CommandError("give a TEXT or --jsonl FILE (one of them)")
    if args.text is not None:
        print(json.dumps(classify_text(args.text), ensure_ascii=False))
        return 0
    source = sys.stdin if args.jsonl == "-" else open(args.jsonl, encoding="utf-8")  # noqa: SIM115
    with source:
        for result in classify_lines(line.rstrip("\n") for line in source):
            print(json.dumps(result, ensure_ascii=False), flush=False)
    sys.stdout.flush()
    return 0


def cmd_ai_train(args: argparse.Namespace) -> int:
    """Train the local classifier (deterministic) and write its artifact."""
    from papo.ai.commands import train

    return train(args.rest)


def cmd_ai_evaluate(args: argparse.Namespace) -> int:
    """Per-class precision/recall/F1 on the held-out split and the hand-written wild set."""
    from papo.ai.commands import evaluate

    return evaluate(args.rest)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply the committed migrations."""
    from papo import db
    from papo.runtime import command_stores

    settings = _settings(args)

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            print(f"applied {app_label}.{name}")

    with command_stores(settings) as urls:
        asyncio.run(db.migrate(urls.database_url, progress=progress))
    print("database is up to date")
    return 0


# ---------------------------------------------------------------- users and accounts


def _run_with_stores(args: argparse.Namespace, work: Callable[[Any, Any], Any]) -> Any:
    """Run `work(settings, stores)` inside opened stores (env URLs, a running stack, or a temporary one)."""
    from papo.runtime import command_stores, open_stores

    settings = _settings(args)

    async def main(urls: Any) -> Any:
        async with open_stores(urls, settings, pool_max=2) as stores:
            return await work(settings, stores)

    with command_stores(settings) as urls:
        return asyncio.run(main(urls))


def cmd_user_create(args: argparse.Namespace) -> int:
    """Create a business user."""
    from papo.services.users import create_user

    async def work(settings: Any, stores: Any) -> Any:
        return await create_user(email=args.email, name=args.name, plan=args.plan)

    user = _run_with_stores(args, work)
    print(json.dumps({"id": str(user.id), "email": user.email, "name": user.name, "plan": str(user.plan)}))
    return 0


def cmd_account_connect(args: argparse.Namespace) -> int:
    """Connect a platform account with a token you already have (the token is stored encrypted)."""
    import secrets

    from papo.runtime import token_cipher
    from papo.services import account_index
    from papo.services.accounts import connect_account
    from papo.services.users import get_user_by_email

    expires = _parse_datetime(args.expires_at) if args.expires_at else None
    # A custom channel (Kwai) signs its webhooks with a secret of its own: make one if none is given.
    webhook_secret = args.webhook_secret
    if args.platform.strip().lower() == "kwai" and not webhook_secret:
        webhook_secret = secrets.token_urlsafe(32)

    async def work(settings: Any, stores: Any) -> Any:
        user = await get_user_by_email(args.user)
        account, created = await connect_account(
            user=user,
            platform=args.platform,
            platform_account_id=args.account_id,
            access_token=args.token,
            refresh_token=args.refresh_token,
            token_expires_at=expires,
            business_name=args.name,
            webhook_secret=webhook_secret,
            cipher=token_cipher(settings),
        )
        await account_index.add(stores.redis, account)
        return account, created

    account, created = _run_with_stores(args, work)
    out = {
        "id": str(account.id),
        "platform": str(account.platform),
        "platform_account_id": account.platform_account_id,
        "business_name": account.business_name,
        "created": created,
    }
    if webhook_secret and not args.webhook_secret:
        out["webhook_secret"] = webhook_secret  # shown once: the partner connector signs with it
    print(json.dumps(out))
    return 0


def _parse_datetime(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        example = "e.g. 2026-12-01T10:00:00-03:00"
        raise CommandError(f"{value!r} is not an ISO-8601 date-time ({example})") from None
    if parsed.tzinfo is None:
        raise CommandError(f"{value!r} has no time zone offset (e.g. 2026-12-01T10:00:00-03:00)")
    return parsed


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    parser = argparse.ArgumentParser(
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
        p.add_argument("--port", type=int, help="port to listen on (default: PAPO_PORT or 8080)")

    add("worker", cmd_worker, "run the background workers (inbound pipeline, raw archive) until Ctrl-C")
    add("migrate", cmd_migrate, "apply the database migrations")
    p = add("simulate", cmd_simulate, "post a correctly signed webhook for one event to a running server")
    p.add_argument("--platform", required=True, help="whatsapp, instagram, facebook, tiktok, youtube or kwai")
    p.add_argument("--account", required=True, help="the connected account's platform id")
    p.add_argument("--from", dest="sender", required=True, help="the customer's platform id (or phone)")
    p.add_argument("--text", default="", help="the message or comment text")
    p.add_argument("--kind", default="message", help="message (default), comment, … (per platform)")
    p.add_argument("--name", help="the customer's display name")
    p.add_argument("--post-id", help="the post/video a comment is on")
    p.add_argument("--url", help="the server (default: the running `papo up`, else PAPO_HOST:PAPO_PORT)")
    p = add("replay", cmd_replay, "run archived raw webhooks through the pipeline again")
    p.add_argument("--platform", help="only this platform")
    p.add_argument("--since", help="only bodies received since (ISO-8601 with offset)")
    p.add_argument("--limit", type=int, default=10_000)
    p = add("dead-letters", cmd_dead_letters, "list stream entries that kept failing; re-queue them")
    p.add_argument("--requeue", nargs="+", metavar="ID", help="put these dead letters back in their stream")
    p.add_argument("--requeue-all", action="store_true", help="put every listed dead letter back")
    p.add_argument("--limit", type=int, default=100, help="how many to list (default 100)")

    p = add("classify", cmd_classify, "classify text: intent, sentiment, lead score, language, email, phone")
    p.add_argument("text", nargs="?", help="the text to classify")
    p.add_argument("--jsonl", metavar="FILE", help="a JSONL file with a `text` per line ('-' = stdin)")

    ai = sub.add_parser("ai", help="the local classifier's model", description="The local classifier's model.")
    ai_sub = ai.add_subparsers(dest="ai_command", metavar="ACTION", required=True)
    for name, func, help_ in (("train", cmd_ai_train, "train the local model (reproducible)"),
                              ("evaluate", cmd_ai_evaluate, "print held-out precision/recall/F1")):
        p = add(name, func, help_, ai_sub)
        p.add_argument("rest", nargs=argparse.REMAINDER, help="options passed on (see --help of the module)")

    user = sub.add_parser("user", help="manage business users", description="Manage business users.")
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    p = add("create", cmd_user_create, "create a business user", user_sub)
    p.add_argument("--email", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--plan", default="free", help="free, starter, pro or consultancy (default: free)")

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `papo` console script."""
    from papo.config import ConfigError
    from papo.runtime import StoresUnavailable
    from papo.services import ServiceError
    from papo.stack import StackError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (CommandError, ConfigError, ServiceError, StoresUnavailable, StackError) as exc:
        _err(str(exc))
        return 1
    except OSError as exc:
        _err(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
