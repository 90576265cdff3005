"""`papo customer export|erase` (LGPD data requests) and `papo leads export` (CSV/XLSX)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from papo.cli.common import CommandError, print_json, run_with_stores
from papo.enums import LeadQuality, LeadStatus, Platform

if TYPE_CHECKING:
    from papo.config import Settings


async def _customer(args: argparse.Namespace) -> Any:
    """The Customer the options name (the user must exist)."""
    from papo.services.customer_data import customer
    from papo.services.users import get_user_by_email

    return customer(await get_user_by_email(args.user), args.platform, args.remote_id)


def _write(output: str | None, data: bytes) -> None:
    """`data` to the file named (whole or not at all), or to stdout."""
    if output and output != "-":
        path = Path(output)
        partial = path.with_name(f".{path.name}.part")
        partial.write_bytes(data)
        partial.replace(path)  # a half-written export is never left under the real name
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def cmd_customer_export(args: argparse.Namespace) -> int:
    """Everything Papo holds about one customer, as one JSON document (UTF-8)."""
    from papo.services.customer_data import export_customer

    async def work(settings: Settings, stores: Any) -> Any:
        return await export_customer(stores, settings, await _customer(args))

    document = run_with_stores(args, work)
    _write(args.output, (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    if args.output and args.output != "-":
        print(f"exported {len(document['conversations'])} conversation(s), "
              f"{sum(len(c['messages']) for c in document['conversations'])} message(s) to {args.output}",
              file=sys.stderr)
    return 0


def _confirm(args: argparse.Namespace) -> None:
    """`--yes`, or a typed "yes" at a terminal; refused (one line) when nobody can answer."""
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise CommandError("erasing cannot be undone: give --yes to confirm (stdin is not a terminal)")
    answer = input(f"Erase everything about {args.remote_id} on {args.platform} for {args.user}? "
                   "This cannot be undone. Type 'yes': ")
    if answer.strip().lower() not in ("yes", "y", "sim", "s", "sí", "si"):
        raise CommandError("not erased")


def cmd_customer_erase(args: argparse.Namespace) -> int:
    """Delete or anonymise one customer everywhere, keeping the business's totals."""
    from dataclasses import asdict

    from papo.services.customer_erase import erase_customer

    async def work(settings: Settings, stores: Any) -> Any:
        from pymongo.errors import PyMongoError
        from redis.exceptions import RedisError

        who = await _customer(args)  # a bad user or id is said before asking for confirmation
        _confirm(args)
        try:
            return await erase_customer(stores, settings, who)
        except (PyMongoError, RedisError) as exc:
            raise CommandError(f"a store failed during the erasure ({exc.__class__.__name__}: {exc}); "
                               "run the same command again when it answers") from None

    report = run_with_stores(args, work)
    print_json({**asdict(report), "erased": not report.nothing})
    if report.nothing:
        print("nothing to erase (already erased, or no such customer)", file=sys.stderr)
    return 0


def cmd_leads_export(args: argparse.Namespace) -> int:
    """The business's leads as CSV or XLSX."""
    from papo.services.lead_export import export_leads
    from papo.services.owners import get_prefs
    from papo.services.users import get_user_by_email

    async def work(settings: Settings, stores: Any) -> Any:
        user = await get_user_by_email(args.user)
        prefs = await get_prefs(user, default_timezone=settings.timezone)
        return await export_leads(user, fmt=args.format, quality=args.quality, status=args.status,
                                  timezone=prefs.timezone)

    if args.format == "xlsx" and not (args.output and args.output != "-") and sys.stdout.isatty():  # checked first
        raise CommandError("an xlsx file is binary: give --output FILE (or redirect stdout to a file)")
    data, count = run_with_stores(args, work)
    _write(args.output, data)
    if args.output and args.output != "-":
        print(f"exported {count} lead(s) to {args.output}", file=sys.stderr)
    return 0


def add_commands(sub: Any, add: Any, leads_sub: Any) -> None:
    """Register `papo customer export|erase` and, on the `leads` subparsers, `papo leads export`."""
    platforms = tuple(p.value for p in Platform)
    customer = sub.add_parser("customer", help="data requests (LGPD): export or erase one customer",
                              description="Data requests (LGPD): export or erase everything about one customer.")
    customer_sub = customer.add_subparsers(dest="customer_command", metavar="ACTION", required=True)
    for name, func, help_ in (
        ("export", cmd_customer_export, "write everything Papo holds about one customer as JSON"),
        ("erase", cmd_customer_erase, "delete or anonymise one customer everywhere (totals are kept)"),
    ):
        p = add(name, func, help_, customer_sub)
        p.add_argument("--user", required=True, help="the owner's email")
        p.add_argument("--platform", required=True, type=str.lower, choices=platforms, metavar="PLATFORM",
                       help=", ".join(platforms))
        p.add_argument("--remote-id", required=True, help="the customer's platform id (as in the lead card)")
        if name == "export":
            p.add_argument("--output", metavar="FILE", help="write the JSON here (default: stdout)")
        else:
            p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    p = add("export", cmd_leads_export, "write the leads as a CSV or XLSX spreadsheet", leads_sub)
    p.add_argument("--user", required=True, help="the owner's email")
    p.add_argument("--quality", type=str.lower, choices=[q.value for q in LeadQuality], metavar="QUALITY",
                   help="only hot, warm or cold leads")
    p.add_argument("--status", type=str.lower, choices=[s.value for s in LeadStatus], metavar="STATUS",
                   help="only new, contacted, qualified or lost leads")
    p.add_argument("--format", type=str.lower, choices=("csv", "xlsx"), default="csv", metavar="FORMAT",
                   help="csv (default) or xlsx")
    p.add_argument("--output", metavar="FILE", help="write the file here (default: stdout)")
