"""`papo account connect` for a WhatsApp number with its WABA id, and `papo webhooks status` as printed."""

from __future__ import annotations

from pathlib import Path

from papo.models import ConnectedAccount
from papo.services.subscriptions import installation
from papo.services.users import create_user
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
