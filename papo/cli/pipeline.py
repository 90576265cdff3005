"""Operating the pipeline: `papo simulate`, `replay`, `dead-letters`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from papo.cli.common import CommandError, parse_datetime, print_json, run_with_stores, settings_from

if TYPE_CHECKING:
    from papo.config import Settings


def cmd_dead_letters(args: argparse.Namespace) -> int:
    """List dead-lettered stream entries, or put them back in their stream."""
    from papo.services.queues import inbound_spec, outbound_spec, webhook_spec
    from papo.streams import codec
    from papo.streams.admin import list_dead, requeue

    async def work(settings: Settings, stores: Any) -> int:
        specs = {s.name: s for s in (webhook_spec(settings.stream_partitions),
                                     inbound_spec(settings.stream_partitions),
                                     outbound_spec(settings.stream_partitions))}
        dead = [d for spec in specs.values() for d in await list_dead(stores.redis, spec, limit=args.limit)]
        wanted = dead if args.requeue_all else [d for d in dead if d.id in set(args.requeue or ())]
        if args.requeue or args.requeue_all:
            missing = set(args.requeue or ()) - {d.id for d in dead}
            if missing:
                raise CommandError(f"no dead letter with id {', '.join(sorted(missing))}")
            for d in wanted:
                new_id = await requeue(stores.redis, specs[d.stream], d.partition, d.id)
                print_json({"requeued": d.id, "partition": d.partition, "new_id": new_id})
            return 0
        for d in dead:
            try:
                data = codec.decode(d.fields)
            except codec.CodecError:
                data = d.fields
            print_json({"id": d.id, "stream": d.stream, "partition": d.partition, "source_id": d.source_id,
                        "error": d.error.strip().splitlines()[-1] if d.error.strip() else "", "data": data})
        if not dead:
            print("no dead letters", file=sys.stderr)
        return 0

    return int(run_with_stores(args, work))


def cmd_simulate(args: argparse.Namespace) -> int:
    """Build a documented payload for one event, sign it as the platform would, post it to a running server."""
    import urllib.error
    import urllib.request

    from papo.adapters.simulate import build_webhook
    from papo.stack import read_running_stack

    settings = settings_from(args)
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
            answer = resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        detail = " ".join(exc.read().decode(errors="replace").split())[:500]
        raise CommandError(f"the server answered {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise CommandError(f"cannot reach {base}: {exc.reason} (is `papo up` running?)") from None
    print(answer)
    if not _is_connected(settings, platform, args.account):
        # The server answers 200 and a worker drops the event: without this the command would look like it worked.
        raise CommandError(f"{platform} account {args.account!r} is not connected: the server dropped the event "
                           "(connect it with `papo account connect`)")
    return 0


def _is_connected(settings: Settings, platform: str, account: str) -> bool:
    """Whether the account is connected (the worker drops events of any other)."""
    from papo.models import ConnectedAccount

    async def work(_settings: Any, _stores: Any) -> bool:
        return await ConnectedAccount.exists(platform=platform, platform_account_id=account, status="connected")

    return bool(run_with_stores(argparse.Namespace(data_dir=str(settings.data_dir)), work))


def _simulate_secret(settings: Settings, platform: str, account: str) -> str:
    """The secret the server will check: the app-wide one from settings, or a Kwai account's own."""
    from papo.adapters.base import WebhookSecrets

    if platform == "kwai":
        from papo.models import ConnectedAccount
        from papo.runtime import token_cipher

        async def work(settings_from: Any, _stores: Any) -> str | None:
            account_row = await ConnectedAccount.filter(platform="kwai", platform_account_id=account).first()
            if account_row is None or not account_row.webhook_secret:
                return None
            return token_cipher(settings_from).decrypt(account_row.webhook_secret)

        ns = argparse.Namespace(data_dir=str(settings.data_dir))
        secret = run_with_stores(ns, work)
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
    from papo.adapters.adapter_registry import default_registry
    from papo.services.queues import Queues
    from papo.services.replay import replay

    since = parse_datetime(args.since) if args.since else None

    async def work(settings: Settings, stores: Any) -> dict[str, int]:
        queues = Queues(stores.redis, settings.stream_partitions)
        try:
            return await replay(stores, queues, default_registry(), platform=args.platform, since=since,
                                limit=args.limit)
        finally:
            await queues.aclose()

    print_json(run_with_stores(args, work))
    return 0
