"""Access removed by the platform (TikTok authorization.removed, Meta deauthorize/data deletion) or by the owner."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from papo.adapters.adapter_registry import get_adapter
from papo.adapters.oauth.facebook_login import sign_request
from papo.constants import ACCOUNT_INDEX
from papo.crypto import CryptoError
from papo.models import ConnectedAccount, Conversation, User
from papo.pipeline.lifecycle import on_inbound
from papo.services import NotFound, account_index
from papo.services.account_cache import ACCOUNT_CACHE, load_account
from papo.services.connect import WIPED_TOKEN, disconnect_account, owner_disconnect
from papo.services.subscriptions import LAST_EVENT
from tests.accounts.fakes import IG_1, META_SECRET, META_USER, PAGE_1, PAGE_2, PHONE, WABA
from tests.conftest import eventually

TIKTOK_REMOVED = Path(__file__).parent.parent / "data" / "webhooks" / "tiktok" / "authorization_removed.json"


async def test_tiktok_authorization_removed_disconnects_the_account_and_alerts_once(papo) -> None:
    await papo.connect("tiktok")
    account = await ConnectedAccount.get(platform="tiktok")
    events = get_adapter("tiktok").parse(TIKTOK_REMOVED.read_bytes())  # the real adapter, the real payload
    owners = await account_index.owners(papo.stores.redis, [f"{e.platform}:{e.account_id}" for e in events])

    assert await on_inbound(papo.stores, events, owners) == 1
    assert await on_inbound(papo.stores, events, owners) == 0  # TikTok retries for 72 h: nothing twice

    gone = await ConnectedAccount.get(id=account.id)
    assert gone.status == "disconnected" and gone.access_token == WIPED_TOKEN and gone.refresh_token is None
    assert "access was removed" in gone.disconnected_reason
    assert await papo.stores.redis.hget(ACCOUNT_INDEX, f"tiktok:{account.platform_account_id}") is None
    [alert] = await papo.notifications()
    assert alert["kind"] == "account_disconnected" and alert["payload"]["platform"] == "tiktok"
    assert float(await papo.stores.redis.hget(LAST_EVENT, str(account.id))) > time.time() - 60


async def test_meta_deauthorize_disconnects_every_account_of_that_login(papo) -> None:
    await papo.connect("meta")
    await papo.connect("tiktok")
    body = {"signed_request": sign_request({"algorithm": "HMAC-SHA256", "issued_at": int(time.time()),
                                            "user_id": META_USER}, META_SECRET)}

    async with papo.http.post(papo.url("/oauth/meta/deauthorize"), data=body) as resp:
        assert resp.status == 200
        assert (await resp.json()) == {"disconnected": 4}

    states = {a.platform: a.status for a in await ConnectedAccount.all()}
    assert states == {"facebook": "disconnected", "instagram": "disconnected", "whatsapp": "disconnected",
                      "tiktok": "connected"}
    assert all(a.access_token == WIPED_TOKEN for a in await ConnectedAccount.filter(status="disconnected"))
    assert len(await papo.notifications()) == 4


async def test_a_forged_deauthorize_is_refused_and_changes_nothing(papo) -> None:
    await papo.connect("meta")
    forged = sign_request({"algorithm": "HMAC-SHA256", "issued_at": int(time.time()), "user_id": META_USER},
                          "not-the-app-secret")
    replayed = sign_request({"algorithm": "HMAC-SHA256", "issued_at": int(time.time()) - 8 * 86_400,
                             "user_id": META_USER}, META_SECRET)

    for signed in (forged, replayed):
        async with papo.http.post(papo.url("/oauth/meta/deauthorize"), data={"signed_request": signed}) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"] == "invalid signed_request"

    assert {a.status for a in await ConnectedAccount.all()} == {"connected"}


async def test_meta_data_deletion_answers_a_status_url_and_confirmation_code(papo) -> None:
    await papo.connect("meta")
    body = {"signed_request": sign_request({"algorithm": "HMAC-SHA256", "issued_at": int(time.time()),
                                            "user_id": META_USER}, META_SECRET)}

    async with papo.http.post(papo.url("/oauth/meta/data-deletion"), data=body) as resp:
        answer = await resp.json()
    code, text, _ = await papo.open(answer["url"])

    assert answer["url"] == papo.url(f"/oauth/meta/deletion?id={answer['confirmation_code']}")
    assert code == 200 and "disconnected 4 account(s)" in text
    assert {a.status for a in await ConnectedAccount.all()} == {"disconnected"}


async def test_the_owner_disconnects_unsubscribing_only_what_no_other_account_needs(papo) -> None:
    await papo.connect("meta")
    page = await ConnectedAccount.get(platform="facebook", platform_account_id=PAGE_1)
    ig = await ConnectedAccount.get(platform="instagram", platform_account_id=IG_1)
    conversation = await Conversation.create(user=papo.owner, account=page, platform="facebook",
                                             platform_conversation_id="psid-1", remote_user_id="psid-1")

    first = await owner_disconnect(papo.ctx(), papo.owner.id, page.id)
    assert first.changed and PAGE_1 in papo.fake.page_subs  # the Instagram account still needs the Page's webhooks

    second = await disconnect_account(papo.stores.redis, ig.id, "done with Instagram", ctx=papo.ctx())
    assert second.changed and PAGE_1 not in papo.fake.page_subs and PAGE_2 in papo.fake.page_subs
    assert await Conversation.filter(id=conversation.id).exists()  # history kept
    again = await disconnect_account(papo.stores.redis, ig.id, "twice", ctx=papo.ctx())
    assert not again.changed
    assert await papo.notifications() == []  # the owner did it: no alert


async def test_disconnecting_a_whatsapp_number_unsubscribes_the_waba_and_stops_sending(papo) -> None:
    await papo.connect("meta")
    wa = await ConnectedAccount.get(platform="whatsapp", platform_account_id=PHONE)
    await load_account(papo.stores.redis, str(wa.id))  # cached for the senders

    await disconnect_account(papo.stores.redis, wa.id, "operator", ctx=papo.ctx())

    assert WABA not in papo.fake.waba_subs
    assert await papo.stores.redis.get(ACCOUNT_CACHE + str(wa.id)) is None  # the senders' cached profile is gone
    assert (await ConnectedAccount.get(id=wa.id)).access_token == WIPED_TOKEN
    # Whatever the sender does next, no usable token comes out, and it fails before any platform call.
    with pytest.raises((NotFound, CryptoError)):
        profile = await load_account(papo.stores.redis, str(wa.id))
        profile.credential(papo.cipher)


async def test_disconnecting_youtube_and_tiktok_revokes_their_tokens_at_the_platform(papo) -> None:
    await papo.connect("youtube")
    await papo.connect("tiktok")
    yt = await ConnectedAccount.get(platform="youtube")
    tt = await ConnectedAccount.get(platform="tiktok")
    refresh = papo.cipher.decrypt(yt.refresh_token)

    await owner_disconnect(papo.ctx(), papo.owner.id, yt.id)
    await owner_disconnect(papo.ctx(), papo.owner.id, tt.id)

    assert refresh not in papo.fake.google_refresh and "act.1" in papo.fake.revoked
    assert papo.fake.hub_requests[-1]["hub.mode"] == "unsubscribe"

    async def confirmed() -> bool:
        return any(mode == "unsubscribe" for _, mode, _ in papo.fake.hub_verified)

    await eventually(confirmed)  # the hub asks Papo to confirm, after the channel left the index: Papo agrees
    assert [echoed for _, mode, echoed in papo.fake.hub_verified if mode == "unsubscribe"] == [True]


async def test_an_owner_cannot_disconnect_someone_elses_account(papo) -> None:
    await papo.connect("tiktok")
    account = await ConnectedAccount.get(platform="tiktok")
    stranger = await User.create(email="outro@loja.com.br", name="Outra Loja", plan="pro")

    with pytest.raises(NotFound, match="not connected to your business"):
        await owner_disconnect(papo.ctx(), stranger.id, account.id)
    assert (await ConnectedAccount.get(id=account.id)).status == "connected"
