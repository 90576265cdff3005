"""`papo broadcast create|list|show|cancel`: campaigns of an approved WhatsApp template from the command line.

`create` prints the preview (how many customers, the first few with the text each will read, how many
opted out) and creates the broadcast only with `--yes`, or after a "y" at the prompt when run in a
terminal. Every command prints JSON.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from papo.cli.common import CommandError, positive_int, print_json, run_with_stores
from papo.cli.posts import _owner, _timezone

if TYPE_CHECKING:
    from papo.config import Settings


def cmd_broadcast_create(args: argparse.Namespace) -> int:
    """Preview a broadcast, then create it (with --yes or a confirmation at the prompt)."""
    from papo.services.broadcasts import Segment, create_broadcast, preview

    async def look(settings: Settings, stores: Any) -> Any:
        user = await _owner(args.user)
        tz = await _timezone(user, args.timezone, settings)
        segment = Segment.parse(args.segment, timezone=tz)
        return (await preview(user, template=args.template, segment=segment, variables=args.variables)).to_dict()

    found = run_with_stores(args, look)
    if not found["count"]:
        raise CommandError("no customer matches this segment (after leaving out those who opted out)")
    if not args.yes:
        print_json(found, indent=2)
        if not sys.stdin.isatty():
            raise CommandError(f"not created: {found['count']} customer(s) would get it; add --yes to create it")
        answer = input(f"Send to {found['count']} customer(s)? [y/N] ").strip().lower()
        if answer not in ("y", "yes", "s", "sim"):
            raise CommandError("not created")

    async def create(settings: Settings, stores: Any) -> Any:
        user = await _owner(args.user)
        tz = await _timezone(user, args.timezone, settings)
        return await create_broadcast(user, template=args.template, segment=Segment.parse(args.segment, timezone=tz),
                                      variables=args.variables, when=args.at, timezone=tz, name=args.name)

    print_json(run_with_stores(args, create).to_dict(), indent=2)
    return 0


def cmd_broadcast_list(args: argparse.Namespace) -> int:
    """The owner's broadcasts, newest first, one JSON object per line."""
    from papo.services.broadcasts import list_broadcasts

    async def work(settings: Settings, stores: Any) -> Any:
        return await list_broadcasts(await _owner(args.user), status=args.status, limit=args.limit)

    views = run_with_stores(args, work)
    for view in views:
        print_json(view.to_dict())
    if not views:
        print("[]")
    return 0


def cmd_broadcast_show(args: argparse.Namespace) -> int:
    """One broadcast: recipients by state (sent, delivered, read, failed…), replies, the commonest errors."""
    from papo.services.broadcasts import get_broadcast

    async def work(settings: Settings, stores: Any) -> Any:
        return await get_broadcast(await _owner(args.user), args.broadcast)

    print_json(run_with_stores(args, work).to_dict(), indent=2)
    return 0


def cmd_broadcast_cancel(args: argparse.Namespace) -> int:
    """Stop a scheduled or running broadcast (customers not yet queued get nothing)."""
    from papo.services.broadcasts import cancel_broadcast

    async def work(settings: Settings, stores: Any) -> Any:
        return await cancel_broadcast(await _owner(args.user), args.broadcast)

    print_json(run_with_stores(args, work).to_dict(), indent=2)
    return 0


def add_commands(sub: Any, add: Any) -> None:
    """Register `papo broadcast …` on the top-level subparsers."""
    broadcast = sub.add_parser("broadcast", help="campaigns: an approved WhatsApp template to a segment of leads",
                               description="Campaigns: an approved WhatsApp template sent to a segment of leads.")
    bsub = broadcast.add_subparsers(dest="broadcast_command", metavar="ACTION", required=True)

    p = add("create", cmd_broadcast_create, "preview a broadcast, then create it (--yes skips the question)", bsub)
    p.add_argument("--user", required=True, help="the owner's email")
    p.add_argument("--template", required=True, help="the approved WhatsApp template's name or id")
    p.add_argument("--segment", default="{}", metavar="JSON",
                   help='which leads, e.g. \'{"quality": ["hot", "warm"], "status": ["new"], "tags": ["vip"], '
                        '"platform": "whatsapp", "last_contact_before": "2026-11-01", '
                        '"last_contact_after": "2026-06-01"}\' (default: every reachable lead)')
    p.add_argument("--variables", metavar="JSON",
                   help='values of the template\'s variables by name or position, may use the lead\'s {name}, '
                        '{first_name}, {phone}, {email}: \'{"1": "{first_name}", "cupom": "NATAL10"}\'')
    p.add_argument("--at", metavar="ISO-8601", help="when to send (owner's time zone unless an offset is given); "
                   "default: now")
    p.add_argument("--timezone", help="IANA time zone for --at and segment dates without offset")
    p.add_argument("--name", help="a name for the campaign (default: the template's)")
    p.add_argument("--yes", action="store_true", help="create it without asking after the preview")

    p = add("list", cmd_broadcast_list, "list the owner's broadcasts, newest first", bsub)
    p.add_argument("--user", required=True, help="the owner's email")
    p.add_argument("--status", help="scheduled, running, finished or cancelled")
    p.add_argument("--limit", type=positive_int, default=20, help="how many (default 20)")

    for name, func, help_ in (
        ("show", cmd_broadcast_show, "one broadcast's progress and results per recipient state"),
        ("cancel", cmd_broadcast_cancel, "stop a scheduled or running broadcast"),
    ):
        p = add(name, func, help_, bsub)
        p.add_argument("broadcast", metavar="ID", help="the broadcast's id (or its first 6+ characters)")
        p.add_argument("--user", required=True, help="the owner's email")
