"""`papo user plan` (change a business's plan) and `papo user usage` (what it uses of its limits)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from papo.cli.common import run_with_stores
from papo.enums import Plan

if TYPE_CHECKING:
    from papo.config import Settings

PLANS = tuple(p.value for p in Plan)


def add_commands(user_sub: Any, add: Callable[..., Any]) -> None:
    """Register `papo user plan` and `papo user usage` under `papo user`."""
    p = add("plan", cmd_user_plan, "change a business's plan; prints its new limits and current usage", user_sub)
    p.add_argument("--user", required=True, help="the business owner's email")
    p.add_argument("--plan", required=True, help=f"{', '.join(PLANS)}")
    p = add("usage", cmd_user_usage, "show what a business uses of its plan's limits", user_sub)
    p.add_argument("--user", required=True, help="the business owner's email")
    p.add_argument("--json", action="store_true", help="one JSON document instead of the table")


def print_usage(usage: Any) -> None:
    """The plan and one line per limit: used / limit (monthly ones for the current UTC month)."""
    from papo.services.plans import LABELS

    print(f"{usage.email}: plan {usage.plan} (monthly counts for {usage.month}, UTC)")
    for line in usage.lines:
        what = LABELS[line.metric][1]
        print(f"  {what:<40} {line.used:>7} / {line.limit}")


def cmd_user_plan(args: argparse.Namespace) -> int:
    """Change the plan; what the business has beyond the new limits stays, new additions are refused."""
    from papo.services.plans import parse_plan, set_plan
    from papo.services.users import get_user_by_email

    plan = parse_plan(args.plan)  # a bad name fails before any store is opened

    async def work(settings: Settings, stores: Any) -> Any:
        return await set_plan(await get_user_by_email(args.user), plan)

    print_usage(run_with_stores(args, work))
    return 0


def cmd_user_usage(args: argparse.Namespace) -> int:
    """Usage against the plan's limits."""
    from papo.cli.common import print_json
    from papo.services.plans import usage
    from papo.services.users import get_user_by_email

    async def work(settings: Settings, stores: Any) -> Any:
        return await usage(await get_user_by_email(args.user))

    found = run_with_stores(args, work)
    if args.json:
        print_json(found.to_dict())
    else:
        print_usage(found)
    return 0
