"""`papo broadcast …` through the real entry point: preview first, create with --yes, list, show, cancel."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.broadcasts.conftest import make_shop
from tests.broadcasts.seed import seed_leads
from tests.test_cli_bad_input import _papo, env  # noqa: F401 - the CLI harness and its environment

USER = ("--user", "dona@padaria.com.br")


async def test_create_previews_first_and_creates_only_when_confirmed(env: Path, capsys) -> None:  # noqa: F811
    shop = await make_shop()
    await seed_leads(shop.user.id, shop.whatsapp.id, count=7, quality="hot", name="Ana Souza")
    await seed_leads(shop.user.id, shop.whatsapp.id, count=2, first=50, quality="cold")
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    argv = ["broadcast", "create", *USER, "--template", "promo", "--segment", '{"quality": ["hot", "warm"]}',
            "--variables", '{"cupom": "NATAL10"}', "--at", at]

    assert await _papo(*argv) == 1  # not a terminal and no --yes: the preview only
    out, err = capsys.readouterr()
    shown = json.loads(out)
    assert shown["count"] == 7 and len(shown["first"]) == 5
    assert shown["first"][0]["text"] == "Olá Ana! Cupom NATAL10 hoje."
    assert "add --yes to create it" in err
    assert await _papo("broadcast", "list", *USER) == 0
    assert capsys.readouterr().out.strip() == "[]"

    assert await _papo(*argv, "--yes") == 0
    created = json.loads(capsys.readouterr().out)
    assert created["status"] == "scheduled" and created["total"] == 7 and created["counts"] == {"pending": 7}
    assert created["segment"] == {"quality": ["hot", "warm"]}

    assert await _papo("broadcast", "list", *USER, "--status", "scheduled") == 0
    assert json.loads(capsys.readouterr().out)["id"] == created["id"]
    assert await _papo("broadcast", "show", created["id"][:8], *USER) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 7
    assert await _papo("broadcast", "cancel", created["id"], *USER) == 0
    cancelled = json.loads(capsys.readouterr().out)
    assert cancelled["status"] == "cancelled" and cancelled["counts"] == {"cancelled": 7}
