"""`papo conversations pause|resume` and `papo user hours|holidays`: human handoff from the command line."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from papo.cli.common import CommandError, print_json, run_with_stores
from papo.timezones import DEFAULT_TIMEZONE

if TYPE_CHECKING:
    from papo.config import Settings


def add_commands(conv_sub: Any, add: Any) -> None:
    """Register `papo conversations pause|resume` on the `conversations` subparsers."""
    p = add("pause", cmd_conversations_pause,
            "stop automated replies in a conversation (you answer the customer yourself)", conv_sub)
    p.add_argument("conversation", metavar="ID", help="the conversation's id, or its first 6+ characters")
    p.add_argument("--hours", type=_hours, help="how long (default: PAPO_HANDOFF_HOURS, 12)")
    p.add_argument("--user", help="the owner's email (only needed when a short id is ambiguous)")
    p = add("resume", cmd_conversations_resume, "give a paused conversation back to the bot now", conv_sub)
    p.add_argument("conversation", metavar="ID", help="the conversation's id, or its first 6+ characters")
    p.add_argument("--user", help="the owner's email (only needed when a short id is ambiguous)")


def add_user_commands(user_sub: Any, add: Any) -> None:
    """Register `papo user hours` and `papo user holidays`."""
    p = add("hours", cmd_user_hours,
            "opening hours and the away reply sent outside them (prints them; options change them)", user_sub)
    p.add_argument("--user", required=True, help="the owner's email")
    p.add_argument("--set", dest="spec", metavar="HOURS",
                   help="e.g. 'mon-fri 09:00-18:00, sat 09:00-13:00' (several ranges per day; 22:00-02:00 "
                        "crosses midnight)")
    p.add_argument("--clear", action="store_true", help="remove the opening hours (no away reply)")
    p.add_argument("--away-text", metavar="TEXT",
                   help="the reply a customer gets outside the hours, once per closed period ('' removes it); "
                        "may use {first_name}, {name}, {platform}")
    p.add_argument("--timezone", metavar="ZONE", help=f"the business's IANA time zone, e.g. {DEFAULT_TIMEZONE}")
    p = add("holidays", cmd_user_holidays, "days the business is closed all day (prints them; options change them)",
            user_sub)
    p.add_argument("--user", required=True, help="the owner's email")
    p.add_argument("--add", nargs="+", default=[], metavar="DATE", help="dates to add: 2026-12-25 or 25/12/2026")
    p.add_argument("--remove", nargs="+", default=[], metavar="DATE", help="dates to remove")


def _hours(value: str) -> float:
    """An argparse type for --hours: a number of hours above 0."""
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be a number of hours above 0, not {value!r}")
    return number


async def _owner(email: str | None) -> Any:
    from papo.services.users import get_user_by_email

    return await get_user_by_email(email) if email else None


def cmd_conversations_pause(args: argparse.Namespace) -> int:
    """Pause automated replies in one conversation; prints its state."""
    from papo.services import handoff

    async def work(settings: Settings, stores: Any) -> Any:
        hours = args.hours if args.hours is not None else settings.handoff_hours
        return await handoff.pause(await _owner(args.user), args.conversation, hours=hours, reason=handoff.MANUAL)

    print_json(run_with_stores(args, work).to_dict())
    return 0


def cmd_conversations_resume(args: argparse.Namespace) -> int:
    """Resume automated replies in one conversation; prints its state."""
    from papo.services import handoff

    async def work(settings: Settings, stores: Any) -> Any:
        return await handoff.resume(await _owner(args.user), args.conversation)

    print_json(run_with_stores(args, work).to_dict())
    return 0


def cmd_user_hours(args: argparse.Namespace) -> int:
    """Show or change the opening hours, the away text and the time zone."""
    from papo.services import hours

    if args.spec is not None and args.clear:
        raise CommandError("give --set HOURS or --clear, not both")

    async def work(settings: Settings, stores: Any) -> Any:
        user = await _owner(args.user)
        if args.spec is None and not args.clear and args.away_text is None and args.timezone is None:
            return await hours.get_hours(user, default_timezone=settings.timezone)
        return await hours.set_hours(user, spec=args.spec, clear=args.clear, away_text=args.away_text,
                                     timezone=args.timezone, default_timezone=settings.timezone)

    print_json(run_with_stores(args, work).to_dict())
    return 0


def cmd_user_holidays(args: argparse.Namespace) -> int:
    """Show, add or remove holidays."""
    from papo.services import hours

    async def work(settings: Settings, stores: Any) -> Any:
        user = await _owner(args.user)
        return await hours.change_holidays(user, add=args.add, remove=args.remove, default_timezone=settings.timezone)

    print_json(run_with_stores(args, work).to_dict())
    return 0
