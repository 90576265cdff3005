"""`papo account connect` for a WhatsApp number with its WABA id given or looked up at Meta with the token
(against the fake Graph API), and `papo webhooks status` as printed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from papo.models import ConnectedAccount
from papo.services.subscriptions import installation
from papo.services.users import create_user
from tests.accounts import fakes
from tests.accounts.fakes import FakePlatforms
from tests.conftest import TEST_SECRET
from tests.test_secret_rotation import _env, _papo

PHONE_ID, WABA = "106540352242922", "102290129340398"
PROBLEM = ("meta 100: Unsupported post request. Object with ID '102290129340398' does not exist, cannot be "
           "loaded due to missing permissions, or does not support this operation")


async def test_a_number_connected_with_its_waba_id_can_be_subscribed(stores, monkeypatch, capsys,
                                                                     tmp_path: Path) -> None:
    _env(monkeypatch, stores, tmp_path, secret=TEST_SECRET)
    await create_user(email="dona@padaria.com.br", name="Padaria", plan="pro")

    assert await _papo("account", "connect", "--user", "dona@padaria.com.br", "--platform", "whatsapp",
                       "--account-id", PHONE_ID, "--token", "EAAG-token", "--waba-id", WABA) == 0
    assert f'"waba_id": "{WABA}"' in capsys.readouterr().out
    account = await ConnectedAccount.get(platform="whatsapp", platform_account_id=PHONE_ID)
    assert installation(account) == ("waba", WABA)  # what Meta delivers the number's webhooks through

    assert await _papo("account", "connect", "--user", "dona@padaria.com.br", "--platform", "instagram",
                       "--account-id", "1784", "--token", "t", "--waba-id", WABA) == 1
    err = capsys.readouterr().err
    assert err == "papo: --waba-id is only for --platform whatsapp\n"


async def test_webhooks_status_prints_whole_problems_and_says_its_times_are_utc(stores, monkeypatch, capsys,
                                                                                 tmp_path: Path) -> None:
    _env(monkeypatch, stores, tmp_path, secret=TEST_SECRET)
    await create_user(email="dona@padaria.com.br", name="Padaria", plan="pro")
    assert await _papo("account", "connect", "--user", "dona@padaria.com.br", "--platform", "whatsapp",
                       "--account-id", PHONE_ID, "--token", "EAAG-token") == 0
    await ConnectedAccount.filter(platform_account_id=PHONE_ID).update(subscription_state="failed",
                                                                       subscription_error=PROBLEM)
    capsys.readouterr()

    assert await _papo("webhooks", "status") == 0
    out = capsys.readouterr().out
    assert "LAST EVENT (UTC)" in out and "LEASE UNTIL (UTC)" in out
    assert PROBLEM in out  # whole: the end says what is wrong


@pytest_asyncio.fixture(loop_scope="session")
async def meta() -> AsyncIterator[FakePlatforms]:
    server = FakePlatforms()
    await server.start()
    yield server
    await server.close()


def _meta_env(monkeypatch, meta: FakePlatforms, *, app_id: bool) -> None:
    monkeypatch.setenv("PAPO_GRAPH_API_URL", meta.url("/graph"))
    monkeypatch.setenv("PAPO_META_APP_SECRET", fakes.META_SECRET)
    if app_id:
        monkeypatch.setenv("PAPO_META_APP_ID", fakes.APP_ID)


async def _connect(phone_id: str, token: str) -> int:
    return await _papo("account", "connect", "--user", "dona@padaria.com.br", "--platform", "whatsapp",
                       "--account-id", phone_id, "--token", token)


async def test_without_waba_id_the_number_s_waba_is_looked_up_with_the_token(stores, monkeypatch, capsys, meta,
                                                                             tmp_path: Path) -> None:
    _env(monkeypatch, stores, tmp_path, secret=TEST_SECRET)
    _meta_env(monkeypatch, meta, app_id=True)
    await create_user(email="dona@padaria.com.br", name="Padaria", plan="pro")

    # With the app configured, /debug_token is asked with the app's token about the owner's token.
    assert await _connect(fakes.PHONE, fakes.USER_TOKEN) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["waba_id"] == fakes.WABA and out["waba_id_from"] == "meta" and captured.err == ""
    account = await ConnectedAccount.get(platform="whatsapp", platform_account_id=fakes.PHONE)
    assert installation(account) == ("waba", fakes.WABA)  # webhooks can now be subscribed
    assert meta.calls_to("GET", "/debug_token") == [{"input_token": fakes.USER_TOKEN}]
    [numbers] = meta.calls_to("GET", f"/{fakes.WABA}/phone_numbers")
    assert numbers["fields"] == "id" and numbers["appsecret_proof"]


async def test_a_system_user_token_finds_which_of_its_wabas_holds_the_number(stores, monkeypatch, capsys, meta,
                                                                             tmp_path: Path) -> None:
    _env(monkeypatch, stores, tmp_path, secret=TEST_SECRET)
    _meta_env(monkeypatch, meta, app_id=False)  # no app id: the System User token inspects itself
    await create_user(email="dona@padaria.com.br", name="Padaria", plan="pro")

    assert await _connect(fakes.PHONE, fakes.SYSTEM_TOKEN) == 0
    assert json.loads(capsys.readouterr().out)["waba_id"] == fakes.WABA  # not WABA_2, named first
    assert [p for m, p, _ in meta.calls if p.endswith("/phone_numbers")] == [
        f"/graph/{fakes.WABA_2}/phone_numbers", f"/graph/{fakes.WABA}/phone_numbers"]


async def test_a_waba_that_cannot_be_found_still_connects_and_says_webhooks_need_the_id(
        stores, monkeypatch, capsys, meta, tmp_path: Path) -> None:
    _env(monkeypatch, stores, tmp_path, secret=TEST_SECRET)
    _meta_env(monkeypatch, meta, app_id=True)
    await create_user(email="dona@padaria.com.br", name="Padaria", plan="pro")

    for phone_id, token, reason in (("106540352299999", fakes.SYSTEM_TOKEN, "no WhatsApp Business Account this "
                                     "token reaches lists that number"),
                                    ("106540352288888", "EAAdead-token", "not valid")):
        assert await _connect(phone_id, token) == 0  # connected: sending works without it
        captured = capsys.readouterr()
        assert json.loads(captured.out)["created"] is True and "waba_id" not in json.loads(captured.out)
        [line] = captured.err.splitlines()
        assert line.startswith(f"papo: connected, but the WhatsApp Business Account of number {phone_id} was not "
                               "found (") and reason in line
        assert line.endswith("webhooks need it: run this again with --waba-id ID")
        account = await ConnectedAccount.get(platform="whatsapp", platform_account_id=phone_id)
        assert installation(account) is None and "waba_id" not in (account.details or {})
