"""`papo leads list`, `papo conversations list|show`, `papo user list`, `papo account list`: the business
without Telegram.

Each prints an aligned table whose time columns are UTC (the headers say so), or with `--json` one JSON
object per line (ids whole, times ISO-8601 in UTC) for scripts. The queries are the services' own
(papo/services/), each scoped to the business named by `--user`; tokens and secrets are never printed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from papo.cli.common import iso_utc, positive_int, print_json, print_table, run_with_stores, utc
from papo.enums import ConversationStatus, LeadQuality, LeadStatus, Platform

if TYPE_CHECKING:
    from papo.config import Settings

Add = Callable[..., Any]
PLATFORMS = tuple(p.value for p in Platform)
SHORT_ID = 8  # ids in tables: enough to be unique in practice, and `conversations show` takes a prefix
TEXT_WIDTH = 60


def _short(value: Any) -> str:
    return str(value)[:SHORT_ID]


def _snippet(text: str | None, width: int = TEXT_WIDTH) -> str:
    """One line of at most `width` characters."""
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


async def _owner(email: str) -> Any:
    from papo.services.users import get_user_by_email

    return await get_user_by_email(email)


# ------------------------------------------------------------------ leads


def _lead_json(lead: Any) -> dict[str, Any]:
    return {"id": str(lead.id), "name": lead.name, "platform": lead.platform, "quality": lead.quality,
            "score": lead.score, "status": lead.status, "tags": list(lead.tags),
            "last_interaction": iso_utc(lead.last_interaction), "next_followup": iso_utc(lead.next_followup)}


def cmd_leads_list(args: argparse.Namespace) -> int:
    """The business's leads, latest interaction first, filtered by platform, quality, status and tag."""
    from papo.services.leads import list_leads

    async def work(settings: Settings, stores: Any) -> Any:
        return await list_leads(await _owner(args.user), platform=args.platform, quality=args.quality,
                                status=args.status, tag=args.tag, per_page=args.limit)

    page = run_with_stores(args, work)
    if args.json:
        for lead in page.items:
            print_json(_lead_json(lead))
        return 0
    if not page.items:
        print("no leads" + (" with these filters" if _filtered(args, "platform", "quality", "status", "tag") else ""))
        return 0
    table = [("ID", "NAME", "PLATFORM", "QUALITY", "SCORE", "STATUS", "TAGS", "LAST INTERACTION (UTC)",
              "FOLLOW-UP (UTC)")]
    for lead in page.items:
        table.append((_short(lead.id), _snippet(lead.name, 30), lead.platform, lead.quality or "cold",
                      f"{lead.score:.2f}" if lead.score is not None else "—", lead.status or "new",
                      ", ".join(lead.tags) or "—", utc(lead.last_interaction), utc(lead.next_followup)))
    print_table(table)
    _more(len(page.items), page.total, "leads")
    return 0


def _filtered(args: argparse.Namespace, *names: str) -> bool:
    return any(getattr(args, name, None) for name in names)


def _more(shown: int, total: int, what: str) -> None:
    if total > shown:
        print(f"({shown} of {total} {what}; --limit shows more)")


# ------------------------------------------------------------------ conversations


def _conversation_json(conv: Any) -> dict[str, Any]:
    return {"id": str(conv.id), "name": conv.name, "platform": conv.platform, "status": conv.status,
            "lead_quality": conv.lead_quality, "last_message_at": iso_utc(conv.last_message_at),
            "last_text": conv.last_text, "paused_until": iso_utc(conv.paused_until)}


def cmd_conversations_list(args: argparse.Namespace) -> int:
    """The business's conversations, latest message first, filtered by platform, lead quality and status."""
    from papo.services.conversations import list_conversations

    async def work(settings: Settings, stores: Any) -> Any:
        return await list_conversations(await _owner(args.user), platform=args.platform, quality=args.quality,
                                        status=args.status, limit=args.limit)

    rows = run_with_stores(args, work)
    if args.json:
        for conv in rows:
            print_json(_conversation_json(conv))
        return 0
    if not rows:
        print("no conversations" + (" with these filters" if _filtered(args, "platform", "quality", "status")
                                    else ""))
        return 0
    table = [("ID", "CUSTOMER", "PLATFORM", "STATUS", "LEAD", "BOT", "LAST MESSAGE (UTC)", "LAST TEXT")]
    for conv in rows:
        table.append((_short(conv.id), _snippet(conv.name, 30), conv.platform, conv.status, conv.lead_quality or "—",
                      _bot(conv), utc(conv.last_message_at), _snippet(conv.last_text)))
    print_table(table)
    return 0


def _bot(conv: Any) -> str:
    """Whether the bot answers the conversation: `on`, or paused (human handoff) until a time in UTC."""
    return f"paused until {utc(conv.paused_until)}" if conv.paused_until else "on"


def _who(line: Any) -> str:
    """Who wrote a message: the customer, the bot (an automated reply) or the owner (typed by hand)."""
    if line.from_customer:
        return "customer"
    return "bot" if line.automated else "owner"


def _message_json(line: Any) -> dict[str, Any]:
    return {"at": iso_utc(line.at), "from": _who(line), "text": line.text,
            "delivery": None if line.from_customer else line.delivery, "error": line.error}


def _window(view: Any) -> str:
    if view.window_open is None:
        return "none on this platform"
    return "open" if view.window_open else "closed: only approved templates can be sent"


def cmd_conversations_show(args: argparse.Namespace) -> int:
    """One conversation: who, where, its state and reply window, and its last messages with the delivery
    state of each of the business's replies (sent, delivered, read, or failed and why)."""
    from papo.services.conversations import get_conversation

    async def work(settings: Settings, stores: Any) -> Any:
        return await get_conversation(stores.redis, await _owner(args.user), args.conversation, messages=args.last,
                                      window_hours=settings.outbound_window_hours,
                                      window_margin=settings.outbound_window_margin)

    view = run_with_stores(args, work)
    s = view.summary
    if args.json:
        print_json({**_conversation_json(s), "remote_user_id": view.remote_user_id, "window_open": view.window_open,
                    "messages": [_message_json(line) for line in view.messages]})
        return 0
    last = f"{utc(s.last_message_at)} UTC" if s.last_message_at else "—"
    print_table([("conversation", str(s.id)), ("customer", f"{s.name} ({view.remote_user_id})"),
                 ("platform", s.platform), ("status", s.status), ("lead quality", s.lead_quality or "—"),
                 ("reply window", _window(view)), ("bot", _bot(s)), ("last message", last)])
    print()
    if not view.messages:
        print("no messages")
        return 0
    table = [("TIME (UTC)", "FROM", "DELIVERY", "TEXT", "REASON")]
    for line in view.messages:
        delivery = "" if line.from_customer else (line.delivery or "—")
        reason = (line.error or "no reason given") if line.delivery == "failed" else ""
        table.append((utc(line.at), _who(line), delivery, _snippet(line.text), reason))
    print_table(table)
    return 0


# ------------------------------------------------------------------ users and accounts


def cmd_user_list(args: argparse.Namespace) -> int:
    """Every business user with its plan and how many accounts, conversations and leads it has."""
    from papo.services.users import list_users

    async def work(settings: Settings, stores: Any) -> Any:
        return await list_users()

    users = run_with_stores(args, work)
    if args.json:
        for u in users:
            print_json({"id": str(u.id), "email": u.email, "name": u.name, "plan": u.plan, "accounts": u.accounts,
                        "conversations": u.conversations, "leads": u.leads, "created_at": iso_utc(u.created_at)})
        return 0
    if not users:
        print("no users (create one: papo user create --email EMAIL --name NAME)")
        return 0
    table = [("EMAIL", "NAME", "PLAN", "ACCOUNTS", "CONVERSATIONS", "LEADS", "CREATED (UTC)", "ID")]
    for u in users:
        table.append((u.email, _snippet(u.name, 30), u.plan, str(u.accounts), str(u.conversations), str(u.leads),
                      utc(u.created_at), str(u.id)))
    print_table(table)
    return 0


def cmd_account_list(args: argparse.Namespace) -> int:
    """Connected accounts (one business's with --user), with owner, state and token expiry; never tokens."""
    from papo.services.accounts import list_accounts

    async def work(settings: Settings, stores: Any) -> Any:
        return await list_accounts(await _owner(args.user) if args.user else None, platform=args.platform)

    accounts = run_with_stores(args, work)
    if args.json:
        for a in accounts:
            print_json({"id": str(a.id), "user": a.user_email, "platform": a.platform,
                        "platform_account_id": a.platform_account_id, "business_name": a.business_name,
                        "status": a.status, "subscription": a.subscription,
                        "token_expires_at": iso_utc(a.token_expires_at), "connected_at": iso_utc(a.connected_at),
                        "disconnected_at": iso_utc(a.disconnected_at)})
        return 0
    if not accounts:
        print("no connected accounts" + (" with these filters" if _filtered(args, "user", "platform") else ""))
        return 0
    table = [("OWNER", "PLATFORM", "ACCOUNT", "NAME", "STATUS", "WEBHOOKS", "TOKEN EXPIRES (UTC)",
              "CONNECTED (UTC)", "ID")]
    for a in accounts:
        table.append((a.user_email or "—", a.platform, a.platform_account_id, _snippet(a.business_name, 28),
                      a.status, a.subscription or "never", utc(a.token_expires_at), utc(a.connected_at), str(a.id)))
    print_table(table)
    return 0


# ------------------------------------------------------------------ the parsers


def _choices(p: Any, name: str, values: tuple[str, ...], what: str) -> None:
    p.add_argument(name, type=str.lower, choices=values, metavar=name.strip("-").upper(),
                   help=f"only {what}: {', '.join(values)}")


def _json_flag(p: Any) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")


def _list_options(p: Any, statuses: tuple[str, ...], *, quality: str, status: str) -> None:
    """What `leads list` and `conversations list` share: --user, the filters, --limit and --json."""
    p.add_argument("--user", required=True, help="the owner's email")
    _choices(p, "--platform", PLATFORMS, "this platform")
    _choices(p, "--quality", tuple(q.value for q in LeadQuality), quality)
    _choices(p, "--status", statuses, status)
    p.add_argument("--limit", type=positive_int, default=50, help="how many (default 50)")
    _json_flag(p)


def add_commands(sub: Any, add: Add) -> dict[str, Any]:
    """Register `papo leads list` and `papo conversations list|show`; returns both subparsers, for the
    commands other modules add to them (`leads export`, `conversations pause|resume`)."""
    leads = sub.add_parser("leads", help="the business's CRM leads", description="The business's CRM leads.")
    leads_sub = leads.add_subparsers(dest="leads_command", metavar="ACTION", required=True)
    p = add("list", cmd_leads_list, "list leads, latest interaction first", leads_sub)
    _list_options(p, tuple(s.value for s in LeadStatus), quality="leads that are", status="leads that are")
    p.add_argument("--tag", help="only leads with this tag")

    convs = sub.add_parser("conversations", help="the business's conversations",
                           description="The business's conversations with its customers.")
    convs_sub = convs.add_subparsers(dest="conversations_command", metavar="ACTION", required=True)
    p = add("list", cmd_conversations_list, "list conversations, latest message first", convs_sub)
    _list_options(p, tuple(s.value for s in ConversationStatus), quality="customers whose lead is",
                  status="conversations that are")
    p = add("show", cmd_conversations_show, "one conversation with its last messages and their delivery",
            convs_sub)
    p.add_argument("conversation", metavar="CONVERSATION_ID", help="the id (or its first 6+ characters)")
    p.add_argument("--user", required=True, help="the owner's email")
    p.add_argument("--last", type=positive_int, default=20, help="how many recent messages (default 20)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the text view")
    return {"leads": leads_sub, "conversations": convs_sub}


def add_user_commands(user_sub: Any, add: Add) -> None:
    """Register `papo user list` on the `user` subparsers."""
    p = add("list", cmd_user_list, "list business users with their accounts, conversations and leads", user_sub)
    _json_flag(p)


def add_account_commands(account_sub: Any, add: Add) -> None:
    """Register `papo account list` on the `account` subparsers."""
    p = add("list", cmd_account_list, "list connected accounts (never their tokens)", account_sub)
    p.add_argument("--user", help="only this owner's accounts (email)")
    _choices(p, "--platform", PLATFORMS, "this platform")
    _json_flag(p)
