"""`papo conversations pause|resume`, `papo user hours|holidays` (issue 16): real entry point, real stores."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from papo.models import ConnectedAccount, Conversation
from papo.services.users import create_user
from tests.test_cli_bad_input import OWNER, USER, _papo, env  # noqa: F401 - the fixture is used by name


async def _conversation() -> Conversation:
    owner = await create_user(email=OWNER, name="Padaria Pão Quente")
    account = await ConnectedAccount.create(user=owner, platform="whatsapp", platform_account_id="106540352242922",
                                            access_token="enc")
    return await Conversation.create(user=owner, account=account, platform="whatsapp",
                                     platform_conversation_id="5511987654321", remote_user_id="5511987654321")


async def test_pause_and_resume_by_id_prefix(env: Path, capsys) -> None:  # noqa: F811
    conv = await _conversation()
    capsys.readouterr()
    assert await _papo("conversations", "pause", str(conv.id)[:8], "--hours", "2") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["paused"] is True and shown["reason"] == "manual"
    await conv.refresh_from_db()
    assert timedelta(hours=1.9) < conv.automation_paused_until - datetime.now(UTC) < timedelta(hours=2.1)

    assert await _papo("conversations", "pause", str(conv.id)) == 0  # default: PAPO_HANDOFF_HOURS (12)
    await conv.refresh_from_db()
    assert conv.automation_paused_until - datetime.now(UTC) > timedelta(hours=11.9)
    capsys.readouterr()
    assert await _papo("conversations", "list", *USER, "--json") == 0  # the list says it is paused, and until when
    [listed] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert datetime.fromisoformat(listed["paused_until"]) == conv.automation_paused_until
    assert await _papo("conversations", "list", *USER) == 0
    assert "BOT" in (table := capsys.readouterr().out) and "paused until " in table

    assert await _papo("conversations", "resume", str(conv.id)[:8], *USER) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {
        "conversation": str(conv.id), "paused": False, "paused_until": None, "reason": None}
    await conv.refresh_from_db()
    assert conv.automation_paused_until is None
    assert await _papo("conversations", "list", *USER, "--json") == 0
    assert json.loads(capsys.readouterr().out)["paused_until"] is None


async def test_hours_and_holidays_are_set_and_shown(env: Path, capsys) -> None:  # noqa: F811
    await _conversation()
    capsys.readouterr()
    assert await _papo("user", "hours", *USER, "--set", "seg-sex 9h-18h, sáb 09:00-13:00",
                       "--away-text", "Oi {first_name}! Abrimos às 9h.", "--timezone", "America/Fortaleza") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["hours"] == "mon-fri 09:00-18:00, sat 09:00-13:00"
    assert shown["away_text"] == "Oi {first_name}! Abrimos às 9h." and shown["timezone"] == "America/Fortaleza"

    assert await _papo("user", "holidays", *USER, "--add", "2026-12-25", "01/01/2027") == 0
    assert json.loads(capsys.readouterr().out)["holidays"] == ["2026-12-25", "2027-01-01"]
    assert await _papo("user", "holidays", *USER, "--remove", "2026-12-25") == 0
    assert json.loads(capsys.readouterr().out)["holidays"] == ["2027-01-01"]
    assert await _papo("user", "hours", *USER) == 0
    assert json.loads(capsys.readouterr().out)["windows"][1] == {"days": [5], "start": "09:00", "end": "13:00"}
