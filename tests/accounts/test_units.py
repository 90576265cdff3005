"""State tokens, signed requests, error mapping and the status rows, without the full flows."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime, timedelta

import pytest

from papo.adapters.oauth import facebook_login, google, tiktok
from papo.adapters.oauth.facebook_login import SignedRequestError, parse_signed_request, sign_request
from papo.adapters.oauth.state import BadState, StateClaims, sign_state, verify_state
from papo.constants import MONGO_PLATFORM_EVENTS
from papo.models import ConnectedAccount, Conversation
from papo.services import NotFound
from papo.services.accounts import connect_account
from papo.services.connect import (
    StateError,
    WrongBrowser,
    check_browser,
    make_state,
    mask_email,
    read_state,
    spend_state,
)
from papo.services.subscriptions import find_account, note_events, status

KEY = b"k" * 32


def test_a_state_round_trips_and_any_change_is_detected() -> None:
    claims = StateClaims("user-1", "meta", "nonce-1", 1_900_000_000)
    state = sign_state(KEY, claims)

    assert verify_state(KEY, state) == claims
    payload, _, sig = state.partition(".")
    for broken, kind in ((state[:-1] + ("A" if state[-1] != "A" else "B"), "forged"),
                         (payload + "x." + sig, "forged"), (sign_state(b"x" * 32, claims), "forged"),
                         (payload, "incomplete"), ("", "incomplete"), (None, "incomplete")):
        with pytest.raises(BadState) as err:
            verify_state(KEY, broken)
        assert err.value.kind == kind


def test_a_bound_state_carries_the_browser_hash_and_only_that_secret_passes() -> None:
    secret = "browser-secret"
    bound = StateClaims("user-1", "meta", "nonce-1", 1_900_000_000, hashlib.sha256(secret.encode()).hexdigest())

    claims = verify_state(KEY, sign_state(KEY, bound))

    assert claims == bound and secret not in sign_state(KEY, bound)
    check_browser(claims, secret)
    for wrong in (None, "", "another-secret"):
        with pytest.raises(WrongBrowser):
            check_browser(claims, wrong)
    with pytest.raises(WrongBrowser):  # a link's own state is bound to no browser
        check_browser(verify_state(KEY, sign_state(KEY, StateClaims("user-1", "meta", "n", 1))), secret)


def test_emails_on_the_connect_page_are_masked() -> None:
    assert mask_email("dona@padaria.com.br") == "d***@padaria.com.br"
    assert mask_email("sem-arroba") == "s***"


def test_read_state_checks_expiry_and_flow(settings) -> None:
    state = make_state(settings, "user-1", "tiktok", now=1000.0)

    assert read_state(settings, state, "tiktok", now=1500.0).user_id == "user-1"
    with pytest.raises(StateError, match="expired") as expired:
        read_state(settings, state, "tiktok", now=1601.0)  # 10 minutes + 1 s later
    with pytest.raises(StateError, match="this link is for TikTok"):
        read_state(settings, state, "meta", now=1500.0)
    assert expired.value.status == 400


async def test_two_callbacks_racing_with_one_state_let_exactly_one_through(settings, stores) -> None:
    state = make_state(settings, "user-1", "youtube")

    results = await asyncio.gather(*(spend_state(settings, stores.redis, state, "youtube") for _ in range(5)),
                                   return_exceptions=True)

    assert sum(isinstance(r, StateClaims) for r in results) == 1
    assert all(isinstance(r, StateError) and r.status == 403 for r in results if not isinstance(r, StateClaims))


def test_signed_requests_are_checked_with_the_app_secret() -> None:
    signed = sign_request({"algorithm": "HMAC-SHA256", "user_id": "42", "issued_at": 1_000_000}, "secret")

    assert parse_signed_request(signed, "secret", now=1_000_060)["user_id"] == "42"
    with pytest.raises(SignedRequestError, match="does not match"):
        parse_signed_request(signed, "other", now=1_000_060)
    with pytest.raises(SignedRequestError, match="too old"):  # a captured request replayed days later
        parse_signed_request(signed, "secret", now=1_000_000 + 2 * 86_400)
    with pytest.raises(SignedRequestError, match="from the future"):
        parse_signed_request(signed, "secret", now=1_000_000 - 3_600)
    with pytest.raises(SignedRequestError, match="no issued_at"):
        parse_signed_request(sign_request({"algorithm": "HMAC-SHA256", "user_id": "42"}, "secret"), "secret")
    with pytest.raises(SignedRequestError, match="algorithm"):
        parse_signed_request(sign_request({"algorithm": "MD5", "user_id": "42"}, "secret"), "secret")
    with pytest.raises(SignedRequestError):
        parse_signed_request("no-dot-here", "secret")


def test_platform_errors_say_whether_access_is_gone_or_worth_retrying() -> None:
    dead = facebook_login.graph_error(
        400, {"error": {"message": "Session expired", "code": 190, "error_subcode": 463}}, "")
    busy = facebook_login.graph_error(
        400, {"error": {"message": "Too many calls", "code": 4, "is_transient": True}}, "")
    code = facebook_login.graph_error(
        400, {"error": {"message": "This authorization code has expired.", "code": 100}}, "")
    assert (dead.revoked, dead.transient, dead.describe()) == (True, False, "meta 190/463: Session expired")
    assert (busy.revoked, busy.transient) == (False, True)
    assert (code.revoked, code.transient) == (False, False)
    grant = tiktok.oauth_error(400, {"error": "invalid_grant", "error_description": "Refresh token is invalid"}, "")
    token = tiktok.oauth_error(401, {"error": {"code": "access_token_invalid", "message": "bad"}}, "")
    assert grant.revoked and token.revoked
    assert google.oauth_error(400, {"error": "invalid_grant", "error_description": "Bad Request"}, "").revoked
    assert google.oauth_error(503, None, "<html>").transient


async def test_status_shows_the_last_event_from_the_worker_and_from_stored_conversations(papo) -> None:
    await papo.connect("tiktok")
    await papo.connect("youtube")
    tt = await ConnectedAccount.get(platform="tiktok")
    yt = await ConnectedAccount.get(platform="youtube")
    seen = time.time() - 30
    await note_events(papo.stores.redis, [tt.id], at=seen)
    await note_events(papo.stores.redis, [tt.id], at=seen - 100)  # an older batch never moves it back
    last = datetime.now(UTC) - timedelta(hours=2)
    await Conversation.create(user=papo.owner, account=yt, platform="youtube", platform_conversation_id="v1:c1",
                              remote_user_id="UCfan", last_message_at=last)
    rows = {r.platform: r for r in await status(papo.stores.redis, papo.stores.analytics)}
    assert abs(rows["tiktok"].last_event_at.timestamp() - seen) < 0.01
    assert abs((rows["youtube"].last_event_at - last).total_seconds()) < 0.01

    published = datetime.now(UTC) - timedelta(minutes=5)  # a video_published the worker filed in MongoDB
    await papo.stores.analytics.db[MONGO_PLATFORM_EVENTS].insert_one(
        {"_id": f"{yt.id}:youtube:video:v9", "account_id": yt.id, "kind": "video_published", "created_at": published})
    rows = {r.platform: r for r in await status(papo.stores.redis, papo.stores.analytics)}
    assert abs((rows["youtube"].last_event_at - published).total_seconds()) < 0.01
    assert rows["youtube"].lease_expires_at is not None and rows["tiktok"].subscription == "app"
    assert rows["tiktok"].as_dict()["last_event_at"].startswith(str(datetime.now(UTC).year))


async def test_find_account_by_papo_id_or_unique_platform_id(stores, settings) -> None:
    from papo.crypto import TokenCipher
    from papo.models import User
    from tests.conftest import TEST_SECRET

    cipher = TokenCipher(TEST_SECRET)
    one = await User.create(email="a@x.com.br", name="A", plan="pro")
    two = await User.create(email="b@x.com.br", name="B", plan="pro")
    first, _ = await connect_account(user=one, platform="facebook", platform_account_id="p1", access_token="t",
                                     cipher=cipher)
    await connect_account(user=two, platform="facebook", platform_account_id="p1", access_token="t", cipher=cipher)

    assert (await find_account(str(first.id))).id == first.id
    with pytest.raises(NotFound, match="2 accounts have the platform id p1"):
        await find_account("p1")
    with pytest.raises(NotFound, match="no connected account"):
        await find_account("nope")
