"""A connect link or consent URL forwarded to someone else must not hand their accounts to the sender (issue 21,
point 2): the page names the business, the callback only finishes in the browser that saw that page, and an
account another business holds stays with it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from papo.constants import ACCOUNT_INDEX
from papo.enums import Platform
from papo.models import ConnectedAccount, User
from papo.services.connect import BROWSER_COOKIE, connect_link, disconnect_account, read_state, start
from tests.accounts.conftest import browser, continue_url
from tests.accounts.fakes import OPEN_ID, PAGE_1, PAGE_2, PHONE


async def test_the_connect_page_names_the_business_and_sets_a_cookie_only_for_the_callback(papo) -> None:
    code, text, resp = await papo.open(papo.link("tiktok"), follow=False)

    assert code == 200
    assert "Você está conectando contas TikTok à empresa Padaria Pão Quente (d***@padaria.com.br)" in text
    assert "You are connecting TikTok accounts to the business Padaria Pão Quente" in text
    assert "Continuar" in text and "dona@padaria.com.br" not in text  # the email is masked
    assert resp.headers["X-Frame-Options"] == "DENY"  # no other site can frame it to steer the click
    assert resp.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    cookie = SimpleCookie(resp.headers["Set-Cookie"])[BROWSER_COOKIE]
    assert cookie["path"] == "/oauth/tiktok/callback" and cookie["httponly"] and cookie["samesite"] == "Lax"
    assert 590 <= int(cookie["max-age"]) <= 600  # as long as the state lives
    assert not cookie["secure"]  # the test server's public URL is http
    # The state sent to the consent screen carries only a hash of the cookie's secret.
    [state] = parse_qs(urlsplit(continue_url(text)).query)["state"]
    claims = read_state(papo.settings, state, "tiktok")
    assert claims.browser == hashlib.sha256(cookie.value.encode()).hexdigest() and cookie.value not in state


async def test_the_connect_page_escapes_the_business_name(papo) -> None:
    await User.filter(id=papo.owner.id).update(name='<script>alert(1)</script> & "Co"')

    _, text, _ = await papo.open(papo.link("meta"), follow=False)

    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;" in text and "<script>" not in text


async def test_the_cookie_is_secure_when_the_public_url_is_https(papo) -> None:
    settings = papo.settings.model_copy(update={"public_url": "https://papo.example.com.br/papo"})
    state = connect_link(settings, papo.owner, "youtube").split("state=")[1]

    begun = await start(settings, papo.stores.redis, papo.http, "youtube", state)

    assert begun.secure and begun.cookie_path == "/papo/oauth/youtube/callback"


async def test_a_consent_url_finished_in_a_browser_without_the_cookie_is_refused_and_stores_nothing(papo) -> None:
    consent = await papo.consent("tiktok")  # the owner opens the page: their browser holds the cookie
    async with browser() as someone_else:
        code, text, resp = await papo.open(consent, browser=someone_else)  # …but the URL is sent to another

    assert code == 403 and "not started in this browser" in text and "/oauth/tiktok/callback" in str(resp.url)
    assert papo.fake.calls_to("POST", "/v2/oauth/token/") == []  # refused before any code exchange
    assert await ConnectedAccount.all().count() == 0
    # The state was not spent: the browser that opened the page can still finish.
    code, text, _ = await papo.open(str(resp.url))
    assert code == 200 and "Conta conectada" in text
    assert await ConnectedAccount.filter(user_id=papo.owner.id, platform="tiktok").count() == 1


async def test_a_consent_url_finished_in_a_browser_with_another_flows_cookie_is_refused(papo) -> None:
    victim = await User.create(email="vitima@loja.com.br", name="Loja da Vítima", plan="pro")
    consent = await papo.consent("tiktok")
    async with browser() as theirs:
        await papo.consent("tiktok", link=connect_link(papo.settings, victim, "tiktok"), browser=theirs)
        code, text, _ = await papo.open(consent, browser=theirs)  # their own cookie, for their own link

    assert code == 403 and "not started in this browser" in text
    assert await ConnectedAccount.all().count() == 0


async def test_the_links_own_state_at_the_callback_is_refused(papo) -> None:
    """Skipping the page (the link's unbound state sent straight to the consent screen) does not work."""
    link = papo.link("tiktok")
    await papo.consent("tiktok", link=link)  # even with a cookie for this very link
    state = link.split("state=")[1]

    code, text, _ = await papo.open(papo.url(f"/oauth/tiktok/callback?code=anything&state={state}"))

    assert code == 403 and "not started in this browser" in text
    assert await ConnectedAccount.all().count() == 0


async def test_an_account_another_business_holds_is_not_moved_and_its_owner_is_told(papo) -> None:
    await papo.connect("tiktok")  # business A holds the TikTok account
    held = await ConnectedAccount.get(platform="tiktok")
    other = await User.create(email="outra@loja.com.br", name="Outra Loja", plan="pro")
    link = connect_link(papo.settings, other, "tiktok")

    async with browser() as theirs:
        code, text, _ = await papo.open(await papo.consent("tiktok", link=link, browser=theirs), browser=theirs)

    assert code == 409 and "Nenhuma conta conectada" in text and "already connected to another Papo business" in text
    [row] = await ConnectedAccount.filter(platform="tiktok", platform_account_id=OPEN_ID)
    assert row.id == held.id and row.user_id == papo.owner.id and row.access_token == held.access_token
    owners = json.loads(await papo.stores.redis.hget(ACCOUNT_INDEX, f"tiktok:{OPEN_ID}"))
    assert owners == [[str(held.id), str(papo.owner.id)]]
    [alert] = await papo.notifications()
    assert alert["kind"] == "account_claimed" and alert["user_id"] == str(papo.owner.id)
    assert alert["payload"]["claimant"] == "Outra Loja" and f"--account {held.id}" in alert["payload"]["text"]

    # The holder releases it by disconnecting it; then the other business can connect it.
    await disconnect_account(papo.stores.redis, held.id, "handed over")
    async with browser() as theirs:
        link = connect_link(papo.settings, other, "tiktok")
        code, _, _ = await papo.open(await papo.consent("tiktok", link=link, browser=theirs), browser=theirs)
    assert code == 200
    assert await ConnectedAccount.filter(platform="tiktok", status="connected").values_list("user_id", flat=True) \
        == [other.id]


async def test_a_meta_connect_stores_only_the_accounts_nobody_else_holds(papo) -> None:
    await papo.connect("meta")  # business A holds both Pages, the Instagram account and the WhatsApp number
    phone = await ConnectedAccount.get(platform="whatsapp")
    await disconnect_account(papo.stores.redis, phone.id, "moving WhatsApp to the other business")
    other = await User.create(email="outra@loja.com.br", name="Outra Loja", plan="pro")

    async with browser() as theirs:
        link = connect_link(papo.settings, other, "meta")
        code, text, _ = await papo.open(await papo.consent("meta", link=link, browser=theirs), browser=theirs)

    assert code == 200 and "Conta conectada" in text and "already connected to another Papo business" in text
    mine = await ConnectedAccount.filter(user_id=other.id).values_list("platform", "platform_account_id")
    assert mine == [("whatsapp", PHONE)]
    assert set(await ConnectedAccount.filter(user_id=papo.owner.id, platform="facebook", status="connected")
               .values_list("platform_account_id", flat=True)) == {PAGE_1, PAGE_2}
    alerts = await papo.notifications()  # one per held account: both Pages and the Instagram account
    assert [a["kind"] for a in alerts] == ["account_claimed"] * 3
    assert {a["user_id"] for a in alerts} == {str(papo.owner.id)}


async def test_two_businesses_finishing_at_the_same_moment_do_not_both_get_the_account(papo) -> None:
    from papo.services.connect import _store

    one = await User.create(email="um@loja.com.br", name="Loja Um", plan="pro")
    two = await User.create(email="dois@loja.com.br", name="Loja Dois", plan="pro")
    results = await asyncio.gather(*(
        _store(papo.ctx(), user, Platform.TIKTOK, "-000race", token=f"tok-{user.email}", details={}, name="Race")
        for user in (one, two)))

    assert sorted(r.held for r in results) == [False, True]
    holders = await ConnectedAccount.filter(platform="tiktok", platform_account_id="-000race").values_list(
        "user_id", flat=True)
    assert len(holders) == 1
