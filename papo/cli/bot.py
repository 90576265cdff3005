"""`papo bot` (the admin bot by long polling) and `papo admin link|links|unlink` (Telegram accounts)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from papo.cli.common import CommandError, run_role, run_with_stores, settings_from

if TYPE_CHECKING:
    from papo.config import Settings


def add_commands(sub: Any, add: Callable[..., Any]) -> None:
    """Register `papo bot` and `papo admin …` on the top-level subparsers (`add` as in papo.cli)."""
    add("bot", cmd_bot, "run the Telegram admin bot (long polling, alerts) until Ctrl-C")
    admin = sub.add_parser("admin", help="the Telegram admin bot's linked accounts",
                           description="The Telegram admin bot's linked accounts.")
    admin_sub = admin.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    p = add("link", cmd_admin_link, "print a one-time code that links a Telegram account to a business", admin_sub)
    p.add_argument("--user", required=True, help="the business owner's email")
    p.add_argument("--bot-username", help="the bot's @username for the t.me link (default: asked from Telegram)")
    p.add_argument("--client-of", metavar="CONSULTANCY_EMAIL",
                   help="a code for the Telegram accounts of this consultancy-plan business: links them to --user as "
                        "a client (they switch with /clientes) instead of moving them")
    p = add("links", cmd_admin_links, "list the Telegram accounts linked to a business", admin_sub)
    p.add_argument("--user", required=True, help="the business owner's email")
    p = add("unlink", cmd_admin_unlink, "remove a Telegram account's access to its business", admin_sub)
    p.add_argument("--telegram-id", required=True, type=int, help="the Telegram user id (see `papo admin links`)")
    p.add_argument("--user", help="only its link to this business (a consultancy's account keeps the others)")


async def bot_username(settings: Settings) -> str | None:
    """The bot's @username from getMe, when a token is set and the Bot API answers (else None)."""
    if settings.telegram_token is None:
        return None
    from papo.bot.dispatcher import make_bot

    bot = make_bot(settings)
    try:
        me = await asyncio.wait_for(bot.me(), timeout=5)
        return me.username
    except Exception:  # a link without the t.me URL is still a working link
        return None
    finally:
        await bot.session.close()


def cmd_admin_link(args: argparse.Namespace) -> int:
    """Print `/start CODE` (valid 15 minutes, once) and, when the bot's username is known, a t.me link."""
    from papo.services.owners import CODE_TTL, create_link_code
    from papo.services.users import get_user_by_email

    async def work(settings: Settings, stores: Any) -> Any:
        user = await get_user_by_email(args.user)
        consultancy = await get_user_by_email(args.client_of) if args.client_of is not None else None
        code = await create_link_code(user, client_of=consultancy)
        username = args.bot_username or settings.telegram_bot_username or await bot_username(settings)
        return user, code, username

    user, code, username = run_with_stores(args, work)
    minutes = int(CODE_TTL.total_seconds() // 60)
    whose = f"one of {args.client_of}'s Telegram accounts" if args.client_of else "a Telegram account"
    print(f"Link {whose} to {user.name} ({user.email}): send this message to the bot "
          f"within {minutes} minutes (the code works once):")
    print()
    print(f"    {code.start_command}")
    link = code.deep_link(username)
    if link:
        print()
        print(f"or open {link}")
    return 0


def cmd_admin_links(args: argparse.Namespace) -> int:
    """List a business's linked Telegram accounts."""
    from papo.services.owners import list_links
    from papo.services.users import get_user_by_email

    async def work(settings: Settings, stores: Any) -> Any:
        return await list_links(await get_user_by_email(args.user))

    links = run_with_stores(args, work)
    if not links:
        print("no Telegram account is linked; create a code with `papo admin link --user EMAIL`")
    for link in links:
        name = " ".join(x for x in (link.display_name, f"@{link.username}" if link.username else None) if x)
        state = " (blocked the bot)" if link.blocked_at else ""
        state += " (a consultancy's account)" if link.client_of_id else ""
        print(f"{link.telegram_user_id}\t{name or '-'}\tlinked {link.created_at:%Y-%m-%d}{state}")
    return 0


def cmd_admin_unlink(args: argparse.Namespace) -> int:
    """Remove a Telegram account's link."""
    from papo.services.owners import unlink
    from papo.services.users import get_user_by_email

    async def work(settings: Settings, stores: Any) -> Any:
        return await unlink(args.telegram_id, await get_user_by_email(args.user) if args.user else None)

    if not run_with_stores(args, work):
        raise CommandError(f"Telegram account {args.telegram_id} is not linked to "
                           + (args.user if args.user else "any business"))
    print(f"Telegram account {args.telegram_id} unlinked")
    return 0


def cmd_bot(args: argparse.Namespace) -> int:
    """Run the admin bot by long polling against configured stores (or a running `papo up`)."""
    from papo.bot.dispatcher import bot_token
    from papo.cli.run import role_setup
    from papo.runtime import open_stores, stop_on_signals

    bot_token(settings_from(args))  # fail fast, naming PAPO_TELEGRAM_TOKEN, before looking for stores
    settings, urls = role_setup(args)

    async def main() -> None:
        from papo.bot.dispatcher import supervise_polling
        from papo.resilience import keep_alive

        stop = asyncio.Event()
        stop_on_signals(stop)
        async with open_stores(urls, settings, pool_max=5) as stores:
            print("Papo admin bot running — Ctrl-C to stop", file=sys.stderr, flush=True)
            # Supervised: a Telegram that cannot be reached at start is waited for (with backoff), not fatal.
            await asyncio.gather(keep_alive("bot", stop),
                                 supervise_polling(stores, settings, stop, exit_on_refusal=True))

    from aiogram.exceptions import TelegramUnauthorizedError

    try:
        run_role(main(), settings)
    except TelegramUnauthorizedError:
        raise CommandError("Telegram refused PAPO_TELEGRAM_TOKEN: check it with @BotFather") from None
    return 0
