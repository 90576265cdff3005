"""End to end through the pieces other modules own: the webhook handler, the inbound worker, the account index
and the senders. Each test skips, saying which line is missing, until that wiring is in place."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from papo.adapters.simulate import signed_headers
from papo.enums import Platform
from papo.models import ConnectedAccount
from papo.services import NotFound, account_index
from papo.services.account_cache import load_account
from papo.services.connect import disconnect_account
from papo.worker import run_roles
from tests.accounts.conftest import (
    HANDSHAKE_HOOK,
    INBOUND_HOOK,
    INDEX_CONNECTED_ONLY,
    OUTBOUND_REFUSES_DISCONNECTED,
)
from tests.accounts.fakes import CHANNEL
from tests.conftest import eventually

WEBHOOKS = Path(__file__).parent.parent / "data" / "webhooks"


@pytest.mark.skipif(not INBOUND_HOOK, reason="pipeline/persist.py does not call lifecycle.on_inbound yet")
async def test_a_tiktok_revocation_webhook_through_server_and_worker_disconnects_and_alerts(papo) -> None:
    await papo.connect("tiktok")
    account = await ConnectedAccount.get(platform="tiktok")
    body = (WEBHOOKS / "tiktok" / "authorization_removed.json").read_bytes()
    secret = papo.settings.tiktok_client_secret.get_secret_value()
    stop = asyncio.Event()
    worker = asyncio.create_task(run_roles(papo.stores, papo.settings, stop, stages=[], name="wiring-test"))
    try:
        async with papo.http.post(papo.url("/webhooks/tiktok"), data=body,
                                  headers=signed_headers(Platform.TIKTOK, body, secret, time.time())) as resp:
            assert resp.status == 200 and await resp.json() == {"queued": True}

        async def disconnected() -> bool:
            return (await ConnectedAccount.get(id=account.id)).status == "disconnected"

        await eventually(disconnected, within=15)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=20)
    [alert] = [n for n in await papo.notifications() if n["kind"] == "account_disconnected"]
    assert alert["payload"]["account_id"] == str(account.id)


@pytest.mark.skipif(not HANDSHAKE_HOOK, reason="handlers/webhooks.py does not call note_hub_verification yet")
async def test_the_hub_verification_answered_by_the_real_handler_is_recorded(papo) -> None:
    from papo.services.subscriptions import status

    papo.fake.granted_lease = 300_000
    await papo.connect("youtube")

    async def verified() -> bool:
        return bool(papo.fake.hub_verified)

    await eventually(verified)
    [row] = await status(papo.stores.redis, papo.stores.analytics)
    assert row.platform_account_id == CHANNEL and row.subscription == "subscribed"
    assert 299_000 < (row.lease_expires_at - datetime.now(UTC)).total_seconds() <= 300_000


@pytest.mark.skipif(not INDEX_CONNECTED_ONLY, reason="account_index.rebuild still indexes disconnected accounts")
async def test_a_restart_does_not_bring_disconnected_accounts_back_into_the_webhook_index(papo) -> None:
    await papo.connect("tiktok")
    account = await ConnectedAccount.get(platform="tiktok")
    await disconnect_account(papo.stores.redis, account.id, "gone")

    await account_index.rebuild(papo.stores.redis)

    found = await account_index.owners(papo.stores.redis, [f"tiktok:{account.platform_account_id}"])
    assert found == {f"tiktok:{account.platform_account_id}": []}


@pytest.mark.skipif(not OUTBOUND_REFUSES_DISCONNECTED, reason="load_account still loads disconnected ones")
async def test_senders_get_a_clear_refusal_for_a_disconnected_account(papo) -> None:
    await papo.connect("tiktok")
    account = await ConnectedAccount.get(platform="tiktok")
    await disconnect_account(papo.stores.redis, account.id, "TikTok says access was removed")

    with pytest.raises(NotFound, match="disconnected"):
        await load_account(papo.stores.redis, str(account.id))
