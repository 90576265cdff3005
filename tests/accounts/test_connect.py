"""A full connect per platform through Papo's real routes and the platforms' documented APIs (local fakes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from papo.constants import ACCOUNT_INDEX
from papo.models import ConnectedAccount, User
from papo.services.connect import read_state
from papo.services.subscriptions import apply_hub_verifications, status
from tests.accounts.conftest import continue_url
from tests.accounts.fakes import (
    CHANNEL,
    IG_1,
    META_USER,
    OPEN_ID,
    PAGE_1,
    PAGE_2,
    PHONE,
    TOPIC,
    USER_TOKEN,
    WABA,
    page_token,
)
from tests.conftest import eventually


async def test_meta_connect_stores_pages_instagram_and_whatsapp_and_subscribes_them(papo) -> None:
    code, text = await papo.connect("meta")

    assert code == 200, text
    assert "Conta conectada" in text and "Padaria Pão Quente" in text
    rows = {(a.platform, a.platform_account_id): a for a in await ConnectedAccount.all()}
    assert set(rows) == {("facebook", PAGE_1), ("facebook", PAGE_2), ("instagram", IG_1), ("whatsapp", PHONE)}
    page, ig, wa = rows["facebook", PAGE_1], rows["instagram", IG_1], rows["whatsapp", PHONE]
    # Tokens are stored encrypted: Page tokens for Pages and their Instagram accounts, the long-lived user
    # token (never the short-lived one) for WhatsApp.
    for account in rows.values():
        assert account.access_token.startswith("enc:v2:") and "EAA" not in account.access_token
    assert papo.cipher.decrypt(page.access_token) == page_token(PAGE_1)
    assert papo.cipher.decrypt(ig.access_token) == page_token(PAGE_1)
    assert papo.cipher.decrypt(wa.access_token) == USER_TOKEN
    assert page.token_expires_at is None  # Page tokens from a long-lived user token do not expire
    assert timedelta(days=59) < wa.token_expires_at - datetime.now(UTC) < timedelta(days=61)
    assert (page.business_name, page.business_avatar) == ("Padaria Pão Quente", "https://scontent.example/p1.jpg")
    assert (ig.business_name, ig.business_avatar) == ("Padaria Pão Quente", "https://scontent.example/ig1.jpg")
    assert wa.business_name == "Padaria Pão Quente"
    assert all(a.is_verified for a in rows.values())  # the owning business portfolio is verified
    assert ig.details["page_id"] == PAGE_1 and wa.details["waba_id"] == WABA
    assert {a.details["meta_user_id"] for a in rows.values()} == {META_USER}
    assert wa.details["display_phone_number"] == "+55 11 98765-4321"
    # Webhooks: each Page installed with the messaging + feed fields (once for the Page and its Instagram
    # account), and the WABA.
    assert set(papo.fake.page_subs) == {PAGE_1, PAGE_2}
    assert {"messages", "messaging_postbacks", "feed"} <= set(papo.fake.page_subs[PAGE_1])
    assert len(papo.fake.calls_to("POST", f"/{PAGE_1}/subscribed_apps")) == 1
    assert papo.fake.waba_subs == {WABA}
    assert {a.subscription_state for a in rows.values()} == {"subscribed"}
    # The owner's Meta business verification was read on connect.
    owner = await User.get(id=papo.owner.id)
    assert owner.identity_verified is True and owner.meta_business_verification == "verified"
    # The webhook handler accepts events for them at once.
    index = await papo.stores.redis.hgetall(ACCOUNT_INDEX)
    assert json.loads(index[f"whatsapp:{PHONE}"]) == [[str(wa.id), str(papo.owner.id)]]
    # `papo webhooks status` lists each as subscribed.
    shown = {(r.platform, r.platform_account_id): r for r in await status(papo.stores.redis, papo.stores.analytics)}
    assert {r.subscription for r in shown.values()} == {"subscribed"} and len(shown) == 4


async def test_tiktok_connect_stores_tokens_and_open_id(papo) -> None:
    code, text = await papo.connect("tiktok")

    assert code == 200, text
    account = await ConnectedAccount.get(platform="tiktok")
    assert account.platform_account_id == OPEN_ID
    assert papo.cipher.decrypt(account.access_token) == "act.1"
    refresh = papo.cipher.decrypt(account.refresh_token)
    assert refresh in papo.fake.tiktok_refresh and refresh not in account.refresh_token
    assert timedelta(hours=23) < account.token_expires_at - datetime.now(UTC) <= timedelta(hours=24)
    assert (account.business_name, account.is_verified) == ("Padaria Pão Quente", True)
    assert account.details["username"] == "padariapaoquente"
    assert datetime.fromisoformat(account.details["refresh_expires_at"]) > datetime.now(UTC) + timedelta(days=300)
    # TikTok webhooks are configured once for the app in the developer portal, not per account.
    assert account.subscription_state == "app"


async def test_youtube_connect_subscribes_the_channel_at_the_hub_and_the_hub_verifies_it(papo) -> None:
    papo.fake.granted_lease = 400_000  # the hub may grant less than asked: Papo must keep the hub's value

    code, text = await papo.connect("youtube")

    assert code == 200, text
    account = await ConnectedAccount.get(platform="youtube")
    assert account.platform_account_id == CHANNEL
    assert account.business_name == "Padaria na Cozinha" and account.business_avatar == "https://yt3.example/high.jpg"
    assert papo.cipher.decrypt(account.refresh_token) in papo.fake.google_refresh
    assert account.token_expires_at < datetime.now(UTC) + timedelta(hours=1)
    [form] = papo.fake.hub_requests
    assert form["hub.topic"] == TOPIC + CHANNEL and form["hub.mode"] == "subscribe"
    assert form["hub.callback"] == papo.url("/webhooks/youtube")
    assert form["hub.secret"] == "test-hub-secret" and int(form["hub.lease_seconds"]) == 5 * 24 * 3600
    assert account.subscription_state == "pending"  # accepted (202); the hub has not called back yet

    async def verified() -> bool:
        return bool(papo.fake.hub_verified)

    await eventually(verified)
    assert papo.fake.hub_verified == [(TOPIC + CHANNEL, "subscribe", True)]  # Papo echoed the challenge
    assert await apply_hub_verifications(papo.stores.redis) == 1
    account = await ConnectedAccount.get(id=account.id)
    assert account.subscription_state == "subscribed"
    lease = account.subscription_expires_at - datetime.now(UTC)
    assert timedelta(seconds=399_000) < lease <= timedelta(seconds=400_000)


async def test_a_forged_state_is_refused_with_a_page_and_no_token_exchange(papo) -> None:
    link = papo.link("meta")
    payload, _, signature = link.split("state=")[1].partition(".")
    forged = papo.url(f"/oauth/meta/callback?code=anything&state={payload}.{signature[:-2]}AA")

    code, text, resp = await papo.open(forged)
    start_code, start_text, _ = await papo.open(papo.url(f"/connect/meta?state={payload}.x{signature}"))

    assert code == 403 and resp.content_type == "text/html"
    assert "not issued by Papo" in text and "Link inválido" in text
    assert start_code == 403 and "not issued by Papo" in start_text
    assert papo.fake.calls_to("GET", "/oauth/access_token") == []
    assert await ConnectedAccount.all().count() == 0


async def test_a_replayed_callback_is_refused_and_exchanges_nothing_twice(papo) -> None:
    link = papo.link("tiktok")
    _, _, first = await papo.open(await papo.consent("tiktok", link=link))
    callback = str(first.url)  # the platform's redirect back to Papo, code and state included
    assert first.status == 200 and "/oauth/tiktok/callback" in callback

    code, text, resp = await papo.open(callback)
    again, again_text, _ = await papo.open(link)  # the link itself is spent too: its page says so

    assert code == 403 and resp.content_type == "text/html" and "already used" in text
    assert again == 403 and "already used" in again_text
    assert len(papo.fake.calls_to("POST", "/v2/oauth/token/")) == 1


async def test_an_expired_link_is_refused_before_the_consent_screen(papo) -> None:
    old = papo.link("youtube", now=datetime.now(UTC).timestamp() - 3600)

    code, text, resp = await papo.open(old, follow=False)

    assert code == 400 and resp.content_type == "text/html" and "expired" in text
    assert papo.fake.calls_to("GET", "/google/auth") == []


async def test_a_link_for_another_platform_is_refused(papo) -> None:
    state = papo.link("tiktok").split("state=")[1]

    code, text, _ = await papo.open(papo.url(f"/connect/youtube?state={state}"), follow=False)

    assert code == 400 and "this link is for TikTok" in text


async def test_the_connect_link_shows_a_page_whose_button_goes_to_the_consent_screen(papo) -> None:
    link = papo.link("instagram")  # Instagram (and WhatsApp) connect through the Meta login

    code, text, resp = await papo.open(link, follow=False)

    assert code == 200 and resp.content_type == "text/html"  # no longer a 302 straight to the platform
    target = urlsplit(continue_url(text))
    query = parse_qs(target.query)
    assert target.path == "/meta/dialog"
    assert query["redirect_uri"] == [papo.url("/oauth/meta/callback")]
    sent = read_state(papo.settings, query["state"][0], "meta")  # the link's state, now bound to this browser
    assert sent.nonce == read_state(papo.settings, link.split("state=")[1], "meta").nonce
    assert sent.user_id == str(papo.owner.id) and sent.browser
    assert resp.headers["Referrer-Policy"] == "no-referrer" and resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("platform", "message"), [
    ("meta", "This authorization code has expired."),
    ("tiktok", "Authorization code is expired."),
    ("youtube", "Bad Request"),
])
async def test_an_expired_code_gives_a_clear_page_naming_the_platform_error(papo, platform, message) -> None:
    papo.fake.expire_codes = True

    code, text = await papo.connect(platform)

    assert code == 400
    assert "refused the connection" in text and message in text and "new link" in text
    assert await ConnectedAccount.all().count() == 0


async def test_cancelling_on_the_consent_screen_gives_a_clear_page(papo) -> None:
    papo.fake.deny = True

    code, text = await papo.connect("youtube")

    assert code == 400 and "did not grant access" in text and "The user denied the request" in text
    assert await ConnectedAccount.all().count() == 0


async def test_reconnecting_updates_the_same_rows(papo) -> None:
    await papo.connect("tiktok")
    first = await ConnectedAccount.get(platform="tiktok")

    code, _ = await papo.connect("tiktok")

    assert code == 200
    [again] = await ConnectedAccount.filter(platform="tiktok")
    assert again.id == first.id and again.status == "connected"
    assert papo.cipher.decrypt(again.refresh_token) != papo.cipher.decrypt(first.refresh_token)


async def test_a_consent_past_the_plans_limit_connects_what_fits_and_names_the_rest(papo) -> None:
    from papo.services.plans import set_plan

    await set_plan(papo.owner, "starter")  # 3 connected accounts; the consent grants 4
    code, text = await papo.connect("meta")
    assert code == 200, text
    assert await ConnectedAccount.filter(user=papo.owner).count() == 3
    assert "plan starter allows 3 connected accounts (3 in use); upgrade with " \
           "`papo user plan --user dona@padaria.com.br --plan pro`" in text

    await ConnectedAccount.filter(user=papo.owner).delete()
    await set_plan(papo.owner, "free")
    await ConnectedAccount.create(user=papo.owner, platform="tiktok", platform_account_id=OPEN_ID, access_token="x")
    code, text = await papo.connect("meta")  # nothing fits: the page says so
    assert code == 402, text
    assert "Limite do plano" in text and "plan free allows 1 connected account" in text
    assert await ConnectedAccount.filter(user=papo.owner).count() == 1
