"""`papo leads list`, `conversations list|show`, `user list`, `account list`, `migrate --status` (issue 20).

Two businesses are built through the services (users, accounts, inbound messages persisted as the worker
does, leads saved as the CRM stage does, replies recorded as the outbound pipeline does, a read receipt
applied as a status webhook is); then `papo.cli.main` runs as the console script would. Each test checks
that the filters filter, that the other business never shows, and that --json parses.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tortoise import Tortoise

from papo.adapters.events import EventKind, InboundEvent
from papo.crypto import TokenCipher
from papo.enums import LeadQuality, Platform
from papo.models import ConnectedAccount, User
from papo.services import conversations, leads
from papo.services.account_index import AccountOwner
from papo.services.accounts import connect_account
from papo.services.crm import LeadState, save_leads
from papo.services.event_store import persist_batch
from papo.services.owner_reply import manual_reply
from papo.services.send_ledger import Outcome
from papo.services.sent_record import record_message
from papo.services.users import create_user
from tests.cli_run import papo, use_test_stores
from tests.conftest import TEST_SECRET

OWNER = "dona@padaria.com.br"
OTHER = "ana@doceria.com.br"
USER = ("--user", OWNER)
WA, IG, OTHER_WA = "106540352242922", "17841400000000001", "106540352299999"
TOKENS = {WA: "tok-wa-SECRET-1", IG: "tok-ig-SECRET-2", OTHER_WA: "tok-wa-SECRET-3"}
FAILED_WHY = "gave up after 5 attempts: 131047: Re-engagement message (more than 24 hours since the customer wrote)"


@dataclass
class Shop:
    user: User
    accounts: dict[str, ConnectedAccount]
    conversations: dict[str, uuid.UUID]  # customer name -> conversation id
    leads: dict[str, uuid.UUID]  # customer name -> lead id


async def _shop(email: str, name: str, customers: list[tuple[str, str, str, str, str, float]]) -> Shop:
    """A business whose customers (account id, remote id, name, text, quality, score) each wrote once."""
    user = await create_user(email=email, name=name, plan="pro")
    cipher = TokenCipher(TEST_SECRET)
    accounts: dict[str, ConnectedAccount] = {}
    for account_id in dict.fromkeys(c[0] for c in customers):
        platform = Platform.INSTAGRAM if account_id == IG else Platform.WHATSAPP
        accounts[account_id], _ = await connect_account(
            user=user, platform=platform, platform_account_id=account_id, access_token=TOKENS[account_id],
            refresh_token="refresh-SECRET", cipher=cipher, business_name=name)
    now = datetime.now(UTC)
    events, states = [], []
    for minutes, (account_id, remote, customer, text, quality, score) in enumerate(customers, start=1):
        account = accounts[account_id]
        at = now - timedelta(minutes=10 * minutes)
        events.append(InboundEvent(platform=account.platform, kind=EventKind.MESSAGE, account_id=account_id,
                                   timestamp=at, remote_user_id=remote, remote_user_name=customer,
                                   remote_user_phone=remote if account_id != IG else None,
                                   platform_message_id=f"in.{remote}", text=text))
        states.append(LeadState(user_id=user.id, platform=str(account.platform), remote_user_id=remote, name=customer,
                                score=score, quality=LeadQuality(quality), email=None, phone=None,
                                last_interaction=at, metadata={"score": score}))
    result = await persist_batch(events, {f"{a.platform}:{a.platform_account_id}": [AccountOwner(a.id, user.id)]
                                          for a in accounts.values()})
    await save_leads(Tortoise.get_connection("default"), states)
    convs = {event.remote_user_name: conv_id for conv_id, (_, event) in result.conversations.items()}
    found = {s.name: await leads.find_lead(user, s.platform, s.remote_user_id) for s in states}
    return Shop(user, accounts, convs, found)  # type: ignore[arg-type]


async def _padaria() -> Shop:
    shop = await _shop(OWNER, "Padaria Pão Quente", [
        (WA, "5511987654321", "Bruna Teixeira", "Quero encomendar um bolo para sábado, quanto custa?", "hot", 0.86),
        (WA, "5511911112222", "Carlos Souza", "Vocês entregam no Morumbi?", "warm", 0.55),
        (WA, "5511933334444", "Dani Lima", "O pão veio queimado.", "cold", 0.1),
        (IG, "igsid-777", "Eva Martins", "Tem sem glúten?", "warm", 0.6),
    ])
    await leads.add_tag(shop.user, shop.leads["Bruna Teixeira"], "bolo")
    await leads.set_status(shop.user, shop.leads["Carlos Souza"], "contacted")
    await leads.set_status(shop.user, shop.leads["Dani Lima"], "lost")
    await conversations.set_status(shop.user, shop.conversations["Dani Lima"], "archived")
    return shop


async def _doceria() -> Shop:
    """Another business, with a hot customer on WhatsApp too: it must never show in the Padaria's views."""
    return await _shop(OTHER, "Doceria da Ana", [
        (OTHER_WA, "5521900000000", "Zé Outro", "Quero um bolo de pote", "hot", 0.9)])


async def _replies(shop: Shop) -> None:
    """Bruna's conversation: a bot reply the customer read, a bot reply that failed, one typed by the owner."""
    conv = shop.conversations["Bruna Teixeira"]
    read = replace(await manual_reply(conv, "Oi Bruna! Já vamos responder.", outbound_id="rule:1:a"), automated=True)
    await record_message(read, Outcome(status="sent", platform_message_id="wamid.out.1", text=read.text))
    failed = replace(await manual_reply(conv, "O bolo sai por R$ 120.", outbound_id="rule:1:b"), automated=True)
    await record_message(failed, Outcome(status="failed", error=FAILED_WHY, text=failed.text))
    typed = await manual_reply(conv, "Posso entregar sábado às 10h.")
    await record_message(typed, Outcome(status="sent", platform_message_id="wamid.out.3", text=typed.text))
    receipt = InboundEvent(platform=Platform.WHATSAPP, kind=EventKind.STATUS, account_id=WA,
                           timestamp=datetime.now(UTC), remote_user_id="5511987654321",
                           platform_message_id="wamid.out.1", status="read")
    account = shop.accounts[WA]
    await persist_batch([receipt], {f"whatsapp:{WA}": [AccountOwner(account.id, shop.user.id)]})


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, stores, settings, tmp_path: Path) -> Path:
    use_test_stores(monkeypatch, stores, settings, tmp_path)
    return tmp_path


async def _json_lines(capsys, *argv: str) -> list[dict]:
    assert await papo(*argv, "--json") == 0, capsys.readouterr().err
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


async def _table(capsys, *argv: str) -> list[str]:
    assert await papo(*argv) == 0, capsys.readouterr().err
    return capsys.readouterr().out.splitlines()


def _column(lines: list[str], header: str) -> list[str]:
    """The cells of one column of an aligned table (the header row first), read by its position."""
    start = lines[0].index(header)
    names = lines[0].split()
    following = [lines[0].index(n, start + 1) for n in names if lines[0].index(n) > start]
    end = following[0] if following else None
    return [line[start:end].strip() for line in lines[1:]]


async def test_leads_list_filters_and_never_shows_another_business(env: Path, capsys) -> None:
    await _padaria()
    await _doceria()

    everyone = await _json_lines(capsys, "leads", "list", *USER)
    assert {lead["name"] for lead in everyone} == {"Bruna Teixeira", "Carlos Souza", "Dani Lima", "Eva Martins"}
    bruna = everyone[0]  # latest interaction first
    assert bruna["name"] == "Bruna Teixeira"
    assert bruna["quality"] == "hot" and bruna["score"] == 0.86 and bruna["tags"] == ["bolo"]
    assert bruna["last_interaction"].endswith("+00:00")
    for argv, names in ((("--quality", "hot"), {"Bruna Teixeira"}),
                        (("--quality", "WARM"), {"Carlos Souza", "Eva Martins"}),
                        (("--status", "contacted"), {"Carlos Souza"}), (("--status", "lost"), {"Dani Lima"}),
                        (("--platform", "instagram"), {"Eva Martins"}), (("--tag", "bolo"), {"Bruna Teixeira"}),
                        (("--platform", "whatsapp", "--quality", "warm"), {"Carlos Souza"}),
                        (("--tag", "nenhuma"), set())):
        assert {lead["name"] for lead in await _json_lines(capsys, "leads", "list", *USER, *argv)} == names, argv
    assert len(await _json_lines(capsys, "leads", "list", *USER, "--limit", "2")) == 2

    lines = await _table(capsys, "leads", "list", *USER, "--limit", "3")
    assert lines[0].split()[:4] == ["ID", "NAME", "PLATFORM", "QUALITY"] and "LAST INTERACTION (UTC)" in lines[0]
    assert _column(lines[:4], "NAME") == ["Bruna Teixeira", "Carlos Souza", "Dani Lima"]
    assert _column(lines[:4], "STATUS") == ["new", "contacted", "lost"]
    assert lines[-1] == "(3 of 4 leads; --limit shows more)"
    assert not any("Zé" in line for line in lines)
    assert await _table(capsys, "leads", "list", *USER, "--tag", "nenhuma") == ["no leads with these filters"]
    assert _column(await _table(capsys, "leads", "list", "--user", OTHER), "NAME") == ["Zé Outro"]


async def test_conversations_list_filters_by_platform_quality_and_status(env: Path, capsys) -> None:
    await _padaria()
    await _doceria()

    every = await _json_lines(capsys, "conversations", "list", *USER)
    assert [c["name"] for c in every] == ["Bruna Teixeira", "Carlos Souza", "Dani Lima", "Eva Martins"]
    assert every[0]["last_text"].startswith("Quero encomendar") and every[0]["lead_quality"] == "hot"
    for argv, names in ((("--status", "archived"), ["Dani Lima"]),
                        (("--status", "active"), ["Bruna Teixeira", "Carlos Souza", "Eva Martins"]),
                        (("--quality", "warm"), ["Carlos Souza", "Eva Martins"]),
                        (("--platform", "instagram"), ["Eva Martins"]), (("--status", "muted"), []),
                        (("--limit", "1"), ["Bruna Teixeira"])):
        assert [c["name"] for c in await _json_lines(capsys, "conversations", "list", *USER, *argv)] == names, argv

    lines = await _table(capsys, "conversations", "list", *USER)
    assert "LAST MESSAGE (UTC)" in lines[0]
    assert _column(lines, "CUSTOMER") == ["Bruna Teixeira", "Carlos Souza", "Dani Lima", "Eva Martins"]
    assert _column(lines, "STATUS") == ["active", "active", "archived", "active"]
    assert not any("Zé" in line for line in lines)
    assert await _table(capsys, "conversations", "list", *USER, "--status", "muted") == [
        "no conversations with these filters"]


async def test_conversations_show_gives_each_reply_its_delivery_state(env: Path, capsys) -> None:
    shop = await _padaria()
    other = await _doceria()
    await _replies(shop)
    conv = str(shop.conversations["Bruna Teixeira"])

    lines = await _table(capsys, "conversations", "show", conv[:8], *USER)  # a unique prefix, as posts take
    header = dict(line.split(None, 1) for line in lines[:2])
    assert header == {"conversation": conv, "customer": "Bruna Teixeira (5511987654321)"}
    assert any(line.startswith("reply window") and "open" in line for line in lines)
    table = lines[lines.index("") + 1:]
    assert table[0].split() == ["TIME", "(UTC)", "FROM", "DELIVERY", "TEXT", "REASON"]
    rows = list(zip(_column(table, "FROM"), _column(table, "DELIVERY"), _column(table, "TEXT"),
                    _column(table, "REASON"), strict=True))
    assert rows == [
        ("customer", "", "Quero encomendar um bolo para sábado, quanto custa?", ""),
        ("bot", "read", "Oi Bruna! Já vamos responder.", ""),
        ("bot", "failed", "O bolo sai por R$ 120.", FAILED_WHY),  # whole reason, never looks sent
        ("owner", "sent", "Posso entregar sábado às 10h.", ""),
    ]

    [view] = await _json_lines(capsys, "conversations", "show", conv, *USER)
    assert view["id"] == conv and view["remote_user_id"] == "5511987654321" and view["window_open"] is True
    assert [(m["from"], m["delivery"], m["error"]) for m in view["messages"]] == [
        ("customer", None, None), ("bot", "read", None), ("bot", "failed", FAILED_WHY), ("owner", "sent", None)]
    [short] = await _json_lines(capsys, "conversations", "show", conv, *USER, "--last", "2")
    assert [m["text"] for m in short["messages"]] == ["O bolo sai por R$ 120.", "Posso entregar sábado às 10h."]

    theirs = str(other.conversations["Zé Outro"])
    for ref in (theirs, theirs[:8]):  # another business's conversation, whole or by prefix: not found
        assert await papo("conversations", "show", ref, *USER) == 1
        captured = capsys.readouterr()
        assert captured.out == "" and "no conversation" in captured.err and "Zé" not in captured.err


async def test_user_and_account_lists_count_and_never_print_tokens(env: Path, capsys) -> None:
    shop = await _padaria()
    await _doceria()
    await conversations.set_status(shop.user, shop.conversations["Eva Martins"], "muted")

    users = {u["email"]: u for u in await _json_lines(capsys, "user", "list")}
    assert set(users) == {OWNER, OTHER}
    assert (users[OWNER]["accounts"], users[OWNER]["conversations"], users[OWNER]["leads"]) == (2, 4, 4)
    assert (users[OTHER]["accounts"], users[OTHER]["leads"]) == (1, 1)
    assert users[OWNER]["name"] == "Padaria Pão Quente" and users[OWNER]["id"] == str(shop.user.id)
    lines = await _table(capsys, "user", "list")
    assert lines[0].split()[:6] == ["EMAIL", "NAME", "PLAN", "ACCOUNTS", "CONVERSATIONS", "LEADS"]
    assert _column(lines, "EMAIL") == [OWNER, OTHER] and _column(lines, "LEADS") == ["4", "1"]

    mine = await _json_lines(capsys, "account", "list", *USER)
    assert {(a["platform"], a["platform_account_id"]) for a in mine} == {("whatsapp", WA), ("instagram", IG)}
    assert {a["user"] for a in mine} == {OWNER} and {a["status"] for a in mine} == {"connected"}
    assert {a["platform_account_id"] for a in await _json_lines(capsys, "account", "list", "--platform",
                                                                "whatsapp")} == {WA, OTHER_WA}
    assert [a["user"] for a in await _json_lines(capsys, "account", "list", "--user", OTHER)] == [OTHER]
    lines = await _table(capsys, "account", "list")
    assert "TOKEN EXPIRES (UTC)" in lines[0] and _column(lines, "OWNER") == [OTHER, OWNER, OWNER]
    assert await papo("account", "list", "--json") == 0
    everything = "\n".join(lines) + capsys.readouterr().out
    stored = [a.access_token for a in await ConnectedAccount.all()] + ["refresh-SECRET", *TOKENS.values()]
    assert not any(secret in everything for secret in stored)  # neither the tokens nor their ciphertexts
    assert await _table(capsys, "account", "list", "--user", OTHER, "--platform", "instagram") == [
        "no connected accounts with these filters"]


async def test_migrate_status_lists_applied_and_pending_and_applies_nothing(env: Path, capsys) -> None:
    conn = Tortoise.get_connection("default")
    names = [r["name"] for r in await conn.execute_query_dict(
        "SELECT name FROM tortoise_migrations WHERE app = 'models' ORDER BY name")]
    assert len(names) >= 11 and names[0] == "0001_seed_schema"

    lines = await _table(capsys, "migrate", "--status")
    assert lines[0].split() == ["MIGRATION", "STATE", "APPLIED", "(UTC)"]
    assert _column(lines[:-1], "MIGRATION") == names and set(_column(lines[:-1], "STATE")) == {"applied"}
    assert lines[-1] == f"{len(names)} applied, 0 pending"

    last = (await conn.execute_query_dict(
        "SELECT app, name, applied_at FROM tortoise_migrations WHERE name = $1", [names[-1]]))[0]
    await conn.execute_query("DELETE FROM tortoise_migrations WHERE name = $1", [names[-1]])
    try:
        lines = await _table(capsys, "migrate", "--status")
        assert lines[-2].split()[:2] == [names[-1], "pending"]
        assert lines[-1] == f"{len(names) - 1} applied, 1 pending (apply them: papo migrate)"
        assert not await conn.execute_query_dict("SELECT 1 FROM tortoise_migrations WHERE name = $1", [names[-1]])
    finally:
        await conn.execute_query("INSERT INTO tortoise_migrations (app, name, applied_at) VALUES ($1, $2, $3)",
                                 [last["app"], last["name"], last["applied_at"]])


async def test_migrate_status_names_a_migration_only_a_newer_papo_has(env: Path, capsys) -> None:
    conn = Tortoise.get_connection("default")
    await conn.execute_query("INSERT INTO tortoise_migrations (app, name, applied_at) VALUES ('models', "
                             "'0999_from_the_future', now())")
    try:
        lines = await _table(capsys, "migrate", "--status")
    finally:
        await conn.execute_query("DELETE FROM tortoise_migrations WHERE name = '0999_from_the_future'")
    assert lines[-2].split()[:5] == ["0999_from_the_future", "applied,", "unknown", "to", "this"]
    assert lines[-1].endswith(" applied, 0 pending")
