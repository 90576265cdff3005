"""Every bad input to `papo` ends in one readable line on stderr and a non-zero exit, never a traceback (issue 20).

Each case runs the real entry point (`papo.cli.main`) against the test stores, as the console script would.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from papo.app import create_app
from papo.services.rules import create_rule
from papo.services.templates import add_template
from papo.services.users import create_user
from tests.cli_run import papo as _papo
from tests.cli_run import use_test_stores

OWNER = "dona@padaria.com.br"
USER = ("--user", OWNER)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, stores, settings, tmp_path: Path) -> Path:
    """The test stores in the environment, nothing else of PAPO_*; returns the data dir."""
    use_test_stores(monkeypatch, stores, settings, tmp_path)
    (tmp_path / "latin1.jsonl").write_bytes(b'{"text": "ok"}\n{"text": "p\xe3o"}\n')
    (tmp_path / "utf16.jsonl").write_bytes('{"text": "Pão"}\n'.encode("utf-16"))
    (tmp_path / "not-a-model.npz").write_bytes(b"not a model")
    return tmp_path


@pytest_asyncio.fixture(loop_scope="session")
async def server(settings, stores) -> AsyncIterator[str]:
    """Papo's real web app, for `papo simulate --url`."""
    srv = TestServer(create_app(settings, stores.urls, stores=stores))
    await srv.start_server()
    yield str(srv.make_url("")).rstrip("/")
    await srv.close()


async def _owner_with_a_rule_using_a_template() -> None:
    owner = await create_user(email=OWNER, name="Padaria Pão Quente", plan="pro")
    await add_template(owner, platform="whatsapp", name="boas_vindas", content="Olá {first_name}!",
                       meta_template_name="boas_vindas", language="pt_BR", approved=True)
    await create_rule(owner, name="Oi", trigger="message", platform="whatsapp", action="send_template",
                      action_data={"template_name": "boas_vindas"})


# (argv, exit code, what the one line on stderr says). {dir} is the data dir, {url} a running server.
CASES = [
    ([], 2, "required: COMMAND"),
    (["bogus"], 2, "invalid choice: 'bogus'"),
    (["up", "--port", "-5"], 2, "--port: must be a positive integer"),
    (["serve", "--port", "99999"], 2, "from 1 to 65535"),
    (["worker", "--bogus"], 2, "unrecognized arguments: --bogus"),
    (["scheduler", "--bogus"], 2, "unrecognized arguments: --bogus"),
    (["migrate", "--bogus"], 2, "unrecognized arguments: --bogus"),
    (["restore"], 2, "the following arguments are required: DIR"),
    (["restore", "{dir}"], 1, "is not a Papo backup (no manifest.json)"),
    (["restore", "{dir}/missing"], 1, "is not a Papo backup (no manifest.json)"),
    (["restore", "{dir}/latin1.jsonl"], 1, "is not a Papo backup"),
    (["bot"], 1, "PAPO_TELEGRAM_TOKEN"),
    (["classify"], 1, "give a TEXT or --jsonl FILE"),
    (["classify", "--jsonl", "{dir}/latin1.jsonl"], 1, "latin1.jsonl: line 2 is not UTF-8"),
    (["classify", "--jsonl", "{dir}/missing.jsonl"], 1, "No such file or directory"),
    (["classify", "--jsonl", "{dir}"], 1, "Is a directory"),
    (["ai", "train", "--bogus"], 2, "papo ai train: error: unrecognized arguments: --bogus"),
    (["ai", "evaluate", "--errors", "-1"], 2, "--errors: must be 0 or a positive integer"),
    (["ai", "evaluate", "--model", "{dir}/missing.npz"], 1, "No such file or directory"),
    (["ai", "evaluate", "--model", "{dir}/not-a-model.npz"], 1, "is not a model file"),
    (["dead-letters", "--limit", "0"], 2, "--limit: must be a positive integer"),
    (["dead-letters", "--limit", "-3"], 2, "--limit: must be a positive integer"),
    (["dead-letters", "--limit", "ten"], 2, "--limit: must be a positive integer"),
    (["dead-letters", "--requeue", "1-0"], 1, "no dead letter with id 1-0"),
    (["replay", "--platform", "bogus"], 2, "--platform: invalid choice: 'bogus'"),
    (["replay", "--limit", "0"], 2, "--limit: must be a positive integer"),
    (["replay", "--since", "yesterday"], 1, "is not an ISO-8601 date-time"),
    (["simulate", "--platform", "bogus", "--account", "1", "--from", "2"], 2, "--platform: invalid choice"),
    (["simulate", "--platform", "whatsapp", "--account", "1", "--from", "2", "--kind", "comment"], 1,
     "whatsapp cannot simulate kind 'comment'; choose one of: message"),
    (["simulate", "--platform", "whatsapp", "--account", "1", "--from", "2", "--kind", "bogus"], 1,
     "cannot simulate kind 'bogus'"),
    (["simulate", "--platform", "whatsapp", "--account", "999", "--from", "5511", "--url", "{url}"], 1,
     "whatsapp account '999' is not connected"),
    (["simulate", "--platform", "whatsapp", "--account", "1", "--from", "2", "--url", "http://127.0.0.1:9"], 1,
     "cannot reach http://127.0.0.1:9"),
    (["user", "create", "--email", "", "--name", "X"], 1, "'' is not a valid email address"),
    (["user", "create", "--email", "a@b.com", "--name", "X", "--plan", "bogus"], 1, "plan 'bogus' is not one of"),
    (["user", "create", "--email", OWNER, "--name", "X"], 1, "already exists"),
    (["user", "plan", *USER], 2, "the following arguments are required: --plan"),
    (["user", "plan", *USER, "--plan", "gold"], 1, "plan 'gold' is not one of: free, starter, pro, consultancy"),
    (["user", "plan", "--user", "nobody@x.com", "--plan", "pro"], 1, "no user with email nobody@x.com"),
    (["user", "usage", "--user", "nobody@x.com"], 1, "no user with email nobody@x.com"),
    (["user", "usage"], 2, "the following arguments are required: --user"),
    (["admin", "link", *USER, "--client-of", OWNER], 1, "a business cannot be a client of itself"),
    (["admin", "link", *USER, "--client-of", "nobody@x.com"], 1, "no user with email nobody@x.com"),
    (["admin", "unlink", "--telegram-id", "5", *USER], 1, f"Telegram account 5 is not linked to {OWNER}"),
    (["account", "connect", "--user", "nobody@x.com", "--platform", "whatsapp", "--account-id", "1",
      "--token", "t"], 1, "no user with email nobody@x.com"),
    (["account", "connect", *USER, "--platform", "bogus", "--account-id", "1", "--token", "t"], 1,
     "platform 'bogus' is not one of"),
    (["account", "connect", *USER, "--platform", "whatsapp", "--account-id", "1", "--token", "t",
      "--expires-at", "tomorrow"], 1, "'tomorrow' is not an ISO-8601 date-time"),
    (["account", "connect", *USER, "--platform", "whatsapp", "--account-id", "", "--token", ""], 1,
     "must not be empty"),
    (["account", "disconnect", "--account", "not-a-uuid"], 1, "no connected account not-a-uuid"),
    (["account", "link", *USER, "--platform", "bogus"], 1, "cannot connect 'bogus' with a link"),
    (["webhooks", "status", "--bogus"], 2, "unrecognized arguments: --bogus"),
    (["webhooks", "register", "--account", "12345678-1234-1234-1234-123456789012"], 1, "no connected account"),
    (["admin", "link", "--user", "nobody@x.com"], 1, "no user with email nobody@x.com"),
    (["admin", "links", "--user", "nobody@x.com"], 1, "no user with email nobody@x.com"),
    (["admin", "unlink", "--telegram-id", "abc"], 2, "--telegram-id: invalid int value: 'abc'"),
    (["admin", "unlink", "--telegram-id", "5"], 1, "Telegram account 5 is not linked"),
    (["secret", "rotate", "--new-key", "short"], 1, "the new key is too short"),
    (["secret", "rotate", "--new-key", "-", "--old-key", "-"], 1, "only one of --new-key and --old-key"),
    (["posts", "list", *USER, "--limit", "-1"], 2, "--limit: must be a positive integer"),
    (["posts", "list", "--user", "nobody@x.com"], 1, "no user with email nobody@x.com"),
    (["posts", "list", *USER, "--status", "bogus"], 1, "status 'bogus' is not one of"),
    (["posts", "create", *USER, "--content", "x", "--accounts", ""], 1, "--accounts needs at least one account"),
    (["posts", "create", *USER, "--content", "x", "--accounts", "1"], 1, "no connected account '1'"),
    (["posts", "show", "zzz", *USER], 1, "give its id, or at least its first 6 characters"),
    (["posts", "cancel", "abcdef", *USER], 1, "no post 'abcdef'"),
    (["posts", "retry", "12345678-1234-1234-1234-123456789012", *USER], 1, "no post"),
    (["posts", "publish", "abcdef", *USER], 1, "no post 'abcdef'"),
    (["posts", "reschedule", "abcdef", *USER, "--at", "2026-12-01T10:00"], 1, "no post 'abcdef'"),
    (["broadcast", "create", *USER, "--template", "boas_vindas", "--segment", "{bad"], 1,
     "--segment is not valid JSON"),
    (["broadcast", "create", *USER, "--template", "boas_vindas", "--segment", '{"quality": "boiling"}'], 1,
     "segment quality: boiling is not one of cold, warm, hot"),
    (["broadcast", "create", *USER, "--template", "boas_vindas", "--segment", '{"last_contact_after": 3}'], 1,
     "segment last_contact_after: give an ISO-8601 date"),
    (["broadcast", "create", *USER, "--template", "boas_vindas", "--variables", "[1"], 1,
     "--variables is not valid JSON"),
    (["broadcast", "create", *USER, "--template", "boas_vindas", "--variables", '{"9": "x"}'], 1,
     "template 'boas_vindas' has no variable 9"),
    (["broadcast", "create", *USER, "--template", "nope"], 1, "no template 'nope'"),
    (["broadcast", "create", *USER, "--template", "boas_vindas", "--yes"], 1, "no customer matches this segment"),
    (["broadcast", "create", "--user", "nobody@x.com", "--template", "x"], 1, "no user with email nobody@x.com"),
    (["broadcast", "list", *USER, "--status", "bogus"], 1, "status 'bogus' is not one of"),
    (["broadcast", "list", *USER, "--limit", "0"], 2, "--limit: must be a positive integer"),
    (["broadcast", "show", "zzz", *USER], 1, "give its id, or at least its first 6 characters"),
    (["broadcast", "cancel", "abcdef", *USER], 1, "no broadcast 'abcdef'"),
    (["rules", "add", *USER, "--name", "X", "--trigger", "bogus", "--platform", "whatsapp", "--action",
      "send_message", "--data", '{"text": "oi"}'], 1, "trigger: 'bogus' is not one of"),
    (["rules", "add", *USER, "--name", "X", "--trigger", "message", "--platform", "whatsapp", "--action",
      "send_message", "--condition", "{bad"], 1, "condition: not valid JSON"),
    (["rules", "list", "--user", "nobody@x.com"], 1, "no user with email nobody@x.com"),
    (["rules", "enable", "abc"], 1, "no rule with id 'abc'"),
    (["rules", "disable", "abcdef12"], 1, "no rule with id 'abcdef12'"),
    (["rules", "delete", "nope", *USER], 1, "no rule 'nope'"),
    (["rules", "test", "abcdef"], 1, "no rule with id 'abcdef'"),
    (["rules", "test", "Oi", *USER, "--last", "0"], 2, "--last: must be a positive integer"),
    (["rules", "test", "Oi", *USER, "--last", "100000"], 1, "last: must be between 1 and"),
    (["templates", "add", *USER, "--platform", "bogus", "--name", "x", "--content", "y"], 1,
     "platform 'bogus' is not one of"),
    (["templates", "add", *USER, "--platform", "whatsapp", "--name", "", "--content", ""], 1,
     "name: must be 1 to 255 characters"),
    (["templates", "list", *USER, "--platform", "bogus"], 1, "platform 'bogus' is not one of"),
    (["templates", "delete", "nope", *USER], 1, "no template 'nope'"),
    (["templates", "delete", "boas_vindas", *USER], 1, "or give --force to delete it anyway"),
    (["migrate", "--status", "--bogus"], 2, "unrecognized arguments: --bogus"),
    (["leads", "list"], 2, "the following arguments are required: --user"),
    (["leads", "list", "--user", "nobody@x.com"], 1, "no user with email nobody@x.com"),
    (["leads", "list", *USER, "--quality", "lukewarm"], 2, "--quality: invalid choice: 'lukewarm'"),
    (["leads", "list", *USER, "--status", "bogus"], 2, "--status: invalid choice: 'bogus'"),
    (["leads", "list", *USER, "--platform", "orkut"], 2, "--platform: invalid choice: 'orkut'"),
    (["leads", "list", *USER, "--limit", "0"], 2, "--limit: must be a positive integer"),
    (["leads", "list", *USER, "--limit", "-2"], 2, "--limit: must be a positive integer"),
    (["conversations", "list", "--user", "nobody@x.com"], 1, "no user with email nobody@x.com"),
    (["conversations", "list", *USER, "--status", "closed"], 2, "--status: invalid choice: 'closed'"),
    (["conversations", "list", *USER, "--quality", "x"], 2, "--quality: invalid choice: 'x'"),
    (["conversations", "list", *USER, "--platform", "orkut"], 2, "--platform: invalid choice: 'orkut'"),
    (["conversations", "list", *USER, "--limit", "none"], 2, "--limit: must be a positive integer"),
    (["conversations", "show", *USER], 2, "the following arguments are required: CONVERSATION_ID"),
    (["conversations", "show", "zzz", *USER], 1, "give its id, or at least its first 6 characters"),
    (["conversations", "show", "abcdef", *USER], 1, "no conversation 'abcdef' for this business"),
    (["conversations", "show", "12345678-1234-1234-1234-123456789012", *USER], 1, "no conversation"),
    (["conversations", "show", "abcdef", "--user", "nobody@x.com"], 1, "no user with email nobody@x.com"),
    (["conversations", "show", "abcdef", *USER, "--last", "0"], 2, "--last: must be a positive integer"),
    (["user", "list", "--bogus"], 2, "unrecognized arguments: --bogus"),
    (["account", "list", "--user", "nobody@x.com"], 1, "no user with email nobody@x.com"),
    (["account", "list", "--platform", "orkut"], 2, "--platform: invalid choice: 'orkut'"),
    (["posts", "publish", "abcdef", *USER, "--wait"], 1, "no post 'abcdef'"),
    (["posts", "publish", "abcdef", *USER, "--wait", "--timeout", "0"], 2, "--timeout: must be a positive integer"),
    (["posts", "publish", "abcdef", *USER, "--timeout", "30"], 1, "--timeout and --json go with --wait"),
    (["posts", "publish", "abcdef", *USER, "--json"], 1, "--timeout and --json go with --wait"),
    (["conversations", "pause", "abcdef"], 1, "no conversation 'abcdef'"),
    (["conversations", "pause", "12345678-1234-1234-1234-123456789012", "--hours", "0"], 2,
     "--hours: must be a number of hours above 0"),
    (["conversations", "pause", "abcdef", "--hours", "many"], 2, "--hours: must be a number of hours above 0"),
    (["conversations", "resume", "nope"], 1, "no conversation 'nope': give its id, or at least its first 6"),
    (["conversations", "resume", "abcdef", "--user", "nobody@x.com"], 1, "no user with email nobody@x.com"),
    (["user", "hours", "--user", "nobody@x.com"], 1, "no user with email nobody@x.com"),
    (["user", "hours", *USER, "--set", "mon-fri 9-18", "--clear"], 1, "give --set HOURS or --clear, not both"),
    (["user", "hours", *USER, "--set", "someday 09:00-18:00"], 1, "'someday' is not a day"),
    (["user", "hours", *USER, "--set", "mon-fri"], 1, "needs days and hours"),
    (["user", "hours", *USER, "--set", "mon 09:00-09:00"], 1, "starts and ends at the same time"),
    (["user", "hours", *USER, "--set", "mon 25:00-26:00"], 1, "is not a time"),
    (["user", "hours", *USER, "--away-text", "Oi {cliente}"], 1, "unknown variable {cliente}"),
    (["user", "hours", *USER, "--timezone", "Mars/Base"], 1, "unknown time zone 'Mars/Base'"),
    (["user", "holidays", *USER, "--add", "christmas"], 1, "'christmas' is not a date"),
    (["user", "holidays", *USER, "--remove", "2026-12-25"], 1, "2026-12-25 is not one of the holidays"),
    (["customer", "export", *USER, "--platform", "whatsapp"], 2, "required: --remote-id"),
    (["customer", "export", *USER, "--platform", "fax", "--remote-id", "1"], 2, "--platform: invalid choice"),
    (["customer", "export", "--user", "nobody@x.com", "--platform", "whatsapp", "--remote-id", "1"], 1,
     "no user with email nobody@x.com"),
    (["customer", "export", *USER, "--platform", "whatsapp", "--remote-id", " "], 1, "must not be empty"),
    (["customer", "export", *USER, "--platform", "whatsapp", "--remote-id", "5511999"], 1,
     "no customer '5511999' on whatsapp"),
    (["customer", "export", *USER, "--platform", "whatsapp", "--remote-id", "1", "--output", "{dir}/no/such.json"],
     1, "no customer '1'"),
    (["customer", "erase", *USER, "--platform", "whatsapp", "--remote-id", "5511999"], 1, "give --yes to confirm"),
    (["customer", "erase", *USER, "--platform", "whatsapp", "--remote-id", "erased:1", "--yes"], 1,
     "is not a customer's platform id"),
    (["customer", "erase", *USER, "--platform", "whatsapp", "--yes"], 2, "required: --remote-id"),
    (["leads", "export", *USER, "--format", "pdf"], 2, "--format: invalid choice: 'pdf'"),
    (["leads", "export", *USER, "--quality", "boiling"], 2, "--quality: invalid choice: 'boiling'"),
    (["leads", "export", *USER, "--status", "bogus"], 2, "--status: invalid choice: 'bogus'"),
    (["leads", "export", "--user", "nobody@x.com"], 1, "no user with email nobody@x.com"),
    (["leads", "export", *USER, "--output", "{dir}/no/such/dir.csv"], 1, "No such file or directory"),
    (["leads"], 2, "required: ACTION"),
]


@pytest.mark.parametrize(("argv", "code", "says"), CASES, ids=[" ".join(c[0])[:60] or "(none)" for c in CASES])
async def test_bad_input_exits_non_zero_with_one_line(env: Path, server: str, capsys, argv: list[str],
                                                      code: int, says: str) -> None:
    await _owner_with_a_rule_using_a_template()
    capsys.readouterr()
    argv = [a.replace("{dir}", str(env)).replace("{url}", server) for a in argv]

    assert await _papo(*argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert says in lines[0]


async def test_json_output_keeps_non_ascii_letters(env: Path, capsys) -> None:
    assert await _papo("user", "create", "--email", "a@b.com", "--name", "Pão") == 0
    out = capsys.readouterr().out
    assert '"name": "Pão"' in out and "\\u00e3" not in out


async def test_classify_reads_utf16_with_a_byte_order_mark(env: Path, capsys) -> None:
    assert await _papo("classify", "--jsonl", str(env / "utf16.jsonl")) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert "error" not in json.loads(line)


async def test_rules_test_takes_an_id_prefix_like_posts(env: Path, capsys) -> None:
    await _owner_with_a_rule_using_a_template()
    capsys.readouterr()
    assert await _papo("rules", "list", *USER) == 0
    rule_id = json.loads(capsys.readouterr().out)["id"]

    assert await _papo("rules", "test", rule_id[:8]) == 0  # no --user: the prefix finds the business
    assert "0 of 0 messages would fire" in capsys.readouterr().out
    assert await _papo("rules", "disable", rule_id[:8], *USER) == 0
    assert json.loads(capsys.readouterr().out)["is_active"] is False


async def test_a_plan_limit_is_one_line_naming_the_upgrade_and_plan_usage_show_it(env: Path, capsys) -> None:
    await create_user(email="bia@bolos.com.br", name="Bolos da Bia")  # free: one connected account
    await create_user(email="agencia@consult.com.br", name="Agência", plan="pro")
    connect = ("account", "connect", "--user", "bia@bolos.com.br", "--platform", "facebook", "--token", "t")
    assert await _papo(*connect, "--account-id", "104857600000001") == 0
    capsys.readouterr()
    assert await _papo(*connect, "--account-id", "104857600000002") == 1
    err = capsys.readouterr().err
    assert err == ("papo: plan free allows 1 connected account (1 in use); upgrade with "
                   "`papo user plan --user bia@bolos.com.br --plan starter`\n")

    assert await _papo("admin", "link", "--user", "bia@bolos.com.br", "--client-of", "agencia@consult.com.br") == 1
    assert "agencia@consult.com.br is on plan pro: only a consultancy-plan business manages clients" in \
        capsys.readouterr().err

    assert await _papo("user", "plan", "--user", "bia@bolos.com.br", "--plan", "starter") == 0
    out = capsys.readouterr().out
    assert "bia@bolos.com.br: plan starter" in out
    assert re.search(r"connected accounts\s+1 / 3", out) and re.search(r"active rules\s+0 / 15", out)
    assert await _papo(*connect, "--account-id", "104857600000002") == 0
    capsys.readouterr()
    assert await _papo("user", "usage", "--user", "bia@bolos.com.br", "--json") == 0
    usage = json.loads(capsys.readouterr().out)
    assert usage["plan"] == "starter"
    assert usage["usage"]["connected_accounts"] == {"metric": "connected_accounts", "used": 2, "limit": 3,
                                                    "period": "now"}
    assert usage["usage"]["ai_calls"]["period"] == "month"
