"""A connect link or consent URL forwarded to someone else must not hand their accounts to the sender (issue 21,
point 2): the page names the business, and the callback only finishes in the browser that saw that page.
"""

from __future__ import annotations

import hashlib
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from papo.models import ConnectedAccount, User
from papo.services.connect import BROWSER_COOKIE, connect_link, read_state, start
from tests.accounts.conftest import browser, continue_url


async def test_the_connect_page_names_the_business_and_sets_a_cookie_only_for_the_callback(papo) -> None:
    code, text, resp = await papo.open(papo.link("tiktok"), follow=False)

    assert code == 200
    assert "Você está conectando contas TikTok à empresa Padaria Pão Quente (d***@padaria.com.br)" in text
    assert "You are connecting TikTok accounts to the business Padaria Pão Quente" in text
    assert "Continuar" in text and "dona@padaria.com.br" not in text  # the email is masked
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
    victim = await User.create(email="vitima@loja.com.br", name="Loja da Vítima")
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
