"""`papo webhooks status|register`, `papo account disconnect|link`: subscriptions and the account lifecycle."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from papo.cli.common import print_json, print_table, run_with_stores, utc

if TYPE_CHECKING:
    from papo.config import Settings

Add = Callable[..., Any]


def add_commands(sub: Any, add: Add) -> None:
    """Register `papo webhooks status` and `papo webhooks register` on the top-level subparsers."""
    hooks = sub.add_parser("webhooks", help="webhook subscriptions of connected accounts",
                           description="Webhook subscriptions of connected accounts.")
    hooks_sub = hooks.add_subparsers(dest="webhooks_command", metavar="ACTION", required=True)
    p = add("status", cmd_webhooks_status, "every account with its subscription, last event and lease expiry",
            hooks_sub)
    p.add_argument("--json", action="store_true", help="one JSON object per account instead of a table")
    p = add("register", cmd_webhooks_register, "subscribe an account to its webhooks again", hooks_sub)
    p.add_argument("--account", required=True, help="the Papo account id, or the platform's account id")


def add_account_commands(account_sub: Any, add: Add) -> None:
    """Register `papo account disconnect` and `papo account link` on the `account` subparsers."""
    p = add("disconnect", cmd_account_disconnect,
            "unsubscribe an account, revoke and wipe its tokens, keep its history", account_sub)
    p.add_argument("--account", required=True, help="the Papo account id, or the platform's account id")
    p.add_argument("--reason", default="disconnected by the operator", help="recorded on the account")
    p = add("link", cmd_account_link, "print an owner's personal link to connect accounts (valid 10 minutes)",
            account_sub)
    p.add_argument("--user", required=True, help="the owner's email")
    p.add_argument("--platform", required=True, help="meta (Facebook, Instagram, WhatsApp), tiktok or youtube")


@asynccontextmanager
async def _context(settings: Settings, stores: Any) -> AsyncIterator[Any]:
    import aiohttp

    from papo.runtime import token_cipher
    from papo.services.subscriptions import AccountContext

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield AccountContext(settings, stores.redis, session, token_cipher(settings))


def cmd_webhooks_status(args: argparse.Namespace) -> int:
    """List every account with its subscription state, last event received and lease expiry."""
    from papo.services.subscriptions import status

    async def work(settings: Settings, stores: Any) -> Any:
        return await status(stores.redis, stores.analytics)

    rows = run_with_stores(args, work)
    if args.json:
        for row in rows:
            print_json(row.as_dict())
        return 0
    if not rows:
        print("no connected accounts (connect one: papo account link --user EMAIL --platform meta)")
        return 0
    # Times are UTC (the header says so); the problem is last and whole: it says what to do.
    table = [("PLATFORM", "ACCOUNT", "NAME", "STATUS", "WEBHOOKS", "LAST EVENT (UTC)", "LEASE UNTIL (UTC)", "ID",
              "PROBLEM")]
    for r in rows:
        table.append((r.platform, r.platform_account_id, (r.name or "")[:28], r.status, r.subscription or "never",
                      utc(r.last_event_at), utc(r.lease_expires_at), r.account_id, r.error or ""))
    print_table(table)
    return 0


def cmd_webhooks_register(args: argparse.Namespace) -> int:
    """Subscribe one account to its webhooks again and print the outcome."""
    from papo.services.subscriptions import find_account, register

    async def work(settings: Settings, stores: Any) -> Any:
        account = await find_account(args.account)
        async with _context(settings, stores) as ctx:
            return account, await register(ctx, account)

    account, result = run_with_stores(args, work)
    print_json({"id": str(account.id), "platform": str(account.platform),
                "platform_account_id": account.platform_account_id, "subscription": result.state,
                "error": result.error, "lease_expires_at": account.subscription_expires_at.isoformat()
                if account.subscription_expires_at else None})
    return 0 if result.error is None else 1


def cmd_account_disconnect(args: argparse.Namespace) -> int:
    """Unsubscribe an account, revoke and wipe its tokens; its conversations stay."""
    from papo.services.connect import disconnect_account
    from papo.services.subscriptions import find_account

    async def work(settings: Settings, stores: Any) -> Any:
        account = await find_account(args.account)
        async with _context(settings, stores) as ctx:
            return await disconnect_account(stores.redis, account.id, args.reason, ctx=ctx)

    done = run_with_stores(args, work)
    print_json({"id": done.account_id, "platform": done.platform, "platform_account_id": done.platform_account_id,
                "disconnected": done.changed, "already_disconnected": not done.changed, "notes": list(done.notes)})
    return 0


def cmd_account_link(args: argparse.Namespace) -> int:
    """Print the owner's personal connect link (what the admin bot's "Connect an account" button sends)."""
    from papo.services.connect import connect_link
    from papo.services.users import get_user_by_email

    async def work(settings: Settings, stores: Any) -> Any:
        return connect_link(settings, await get_user_by_email(args.user), args.platform)

    print(run_with_stores(args, work))
    return 0
