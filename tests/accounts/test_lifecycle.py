"""The lifecycle job: leases renewed before they end, tokens refreshed, dead access disconnected and alerted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from papo.constants import ACCOUNT_INDEX
from papo.models import ConnectedAccount, Conversation, Message, User
from papo.pipeline.lifecycle import AccountLifecycle, RoundReport
from papo.services.account_cache import ACCOUNT_CACHE, load_account, report_account_problem
from papo.services.connect import WIPED_TOKEN
from papo.services.subscriptions import apply_hub_verifications
from tests.accounts.fakes import BUSINESS, CHANNEL, PAGE_1, PAGE_2, TOPIC, page_token
from tests.conftest import eventually


def job(papo) -> AccountLifecycle:
    return AccountLifecycle(papo.stores, papo.settings, papo.http, papo.cipher)


async def test_a_lease_ending_within_a_day_is_renewed_and_a_fresh_one_is_left_alone(papo) -> None:
    await papo.connect("youtube")
    account = await ConnectedAccount.get(platform="youtube")

    async def verified() -> bool:
        return bool(papo.fake.hub_verified)

    await eventually(verified)
    await apply_hub_verifications(papo.stores.redis)
    now = datetime.now(UTC)
    await ConnectedAccount.filter(id=account.id).update(subscription_state="subscribed",
                                                        subscription_expires_at=now + timedelta(days=3))
    before = len(papo.fake.hub_requests)

    await job(papo).run_once(now)
    assert len(papo.fake.hub_requests) == before  # three days left: nothing to do

    await job(papo).run_once(now + timedelta(days=2, hours=1))  # now 23 hours left
    assert len(papo.fake.hub_requests) == before + 1
    renewal = papo.fake.hub_requests[-1]
    assert renewal["hub.mode"] == "subscribe" and renewal["hub.topic"] == TOPIC + CHANNEL
    renewed = await ConnectedAccount.get(id=account.id)
    assert renewed.subscription_expires_at > now + timedelta(days=7)  # a new five-day lease from the renewal


async def test_a_token_expiring_soon_is_refreshed_and_the_rotated_refresh_token_kept(papo) -> None:
    await papo.connect("tiktok")
    account = await ConnectedAccount.get(platform="tiktok")
    old_refresh = papo.cipher.decrypt(account.refresh_token)
    await load_account(papo.stores.redis, str(account.id))  # the sender's cache holds the old token

    report = await job(papo).run_once(account.token_expires_at - timedelta(minutes=5))

    assert report.tokens_refreshed == 1
    fresh = await ConnectedAccount.get(id=account.id)
    assert papo.cipher.decrypt(fresh.access_token) == "act.2"
    new_refresh = papo.cipher.decrypt(fresh.refresh_token)
    assert new_refresh != old_refresh and new_refresh in papo.fake.tiktok_refresh
    assert old_refresh not in papo.fake.tiktok_refresh  # TikTok rotated it: keeping the old one would be fatal
    assert fresh.token_expires_at > account.token_expires_at
    assert await papo.stores.redis.get(ACCOUNT_CACHE + str(account.id)) is None  # senders reload the new token


async def test_two_workers_refreshing_at_once_spend_the_rotating_refresh_token_once(papo) -> None:
    await papo.connect("tiktok")
    account = await ConnectedAccount.get(platform="tiktok")
    due = account.token_expires_at  # refresh what expires by then
    report = RoundReport()

    done = await asyncio.gather(*(job(papo).refresh_account(account.id, due, datetime.now(UTC), report)
                                  for _ in range(4)))

    assert done.count(True) == 1
    # A worker that read the account before the refresh and gets the lock after it must not spend the old
    # (rotated, now dead) refresh token: it re-reads and finds nothing left to do.
    assert await job(papo).refresh_account(account.id, due, datetime.now(UTC), report) is False
    refreshes = [c for c in papo.fake.calls_to("POST", "/v2/oauth/token/") if c["grant_type"] == "refresh_token"]
    assert len(refreshes) == 1
    fresh = await ConnectedAccount.get(id=account.id)
    assert fresh.status == "connected" and papo.cipher.decrypt(fresh.refresh_token) in papo.fake.tiktok_refresh


async def test_a_token_far_from_expiry_is_not_refreshed(papo) -> None:
    await papo.connect("youtube")
    account = await ConnectedAccount.get(platform="youtube")

    report = await job(papo).run_once(account.token_expires_at - timedelta(hours=2))

    assert report.tokens_refreshed == 0
    assert papo.fake.calls_to("POST", "/google/token") and all(
        c["grant_type"] == "authorization_code" for c in papo.fake.calls_to("POST", "/google/token"))


@pytest.mark.parametrize("platform", ["tiktok", "youtube"])
async def test_a_refresh_that_fails_disconnects_the_account_and_alerts_the_owner(papo, platform) -> None:
    await papo.connect(platform)
    account = await ConnectedAccount.get(platform=platform)
    conversation = await Conversation.create(user=papo.owner, account=account, platform=platform,
                                             platform_conversation_id="c1", remote_user_id="fan-1")
    await Message.create(conversation=conversation, sender="remote", message_text="oi")
    papo.fake.tiktok_refresh.clear()  # the owner revoked Papo on the platform: refresh tokens are dead
    papo.fake.google_refresh.clear()

    report = await job(papo).run_once(account.token_expires_at - timedelta(minutes=1))

    assert report.disconnected == 1
    gone = await ConnectedAccount.get(id=account.id)
    assert gone.status == "disconnected" and "refused to renew access" in gone.disconnected_reason
    assert gone.access_token == WIPED_TOKEN and gone.refresh_token is None and gone.token_expires_at is None
    assert await Message.filter(conversation_id=conversation.id).count() == 1  # history is kept
    assert await papo.stores.redis.hget(ACCOUNT_INDEX, f"{platform}:{account.platform_account_id}") is None
    [alert] = await papo.notifications()
    assert alert["kind"] == "account_disconnected" and alert["user_id"] == str(papo.owner.id)
    assert alert["payload"]["account_id"] == str(account.id) and "refused" in alert["payload"]["error"]

    again = await job(papo).run_once(account.token_expires_at)  # nothing left to refresh, no second alert
    assert again.disconnected == 0 and len(await papo.notifications()) == 1


async def test_meta_error_190_on_the_daily_check_disconnects_and_alerts(papo) -> None:
    await papo.connect("meta")
    papo.fake.revoked.add(page_token(PAGE_1))  # the owner changed their Facebook password

    report = await job(papo).run_once(datetime.now(UTC) + timedelta(days=1, minutes=1))

    gone = {(a.platform, a.platform_account_id): a.status for a in await ConnectedAccount.all()}
    assert gone[("facebook", PAGE_1)] == "disconnected" and gone[("instagram", "17841400000000001")] == "disconnected"
    assert gone[("facebook", "104000000000002")] == "connected" and gone[("whatsapp", "106540352242922")] == "connected"
    assert report.disconnected == 2
    reasons = {a.disconnected_reason for a in await ConnectedAccount.filter(status="disconnected")}
    assert all("190" in r for r in reasons)
    assert [n["kind"] for n in await papo.notifications()] == ["account_disconnected", "account_disconnected"]


async def test_a_send_reporting_a_dead_token_triggers_the_check_before_the_day_is_over(papo) -> None:
    await papo.connect("meta")
    page = await ConnectedAccount.get(platform="facebook", platform_account_id=PAGE_1)
    papo.fake.revoked.add(page_token(PAGE_1))
    assert (await job(papo).run_once()).disconnected == 0  # checked at connect time: not due for a day

    await report_account_problem(papo.stores.redis, str(page.id), "190: Error validating access token", "out-1")
    report = await job(papo).run_once()

    assert report.disconnected == 2  # the Page and its Instagram account (same Page token)
    assert (await ConnectedAccount.get(id=page.id)).status == "disconnected"


async def test_the_daily_check_subscribes_a_page_that_lost_its_subscription(papo) -> None:
    await papo.connect("meta")
    papo.fake.page_subs.pop(PAGE_1)  # someone removed the app from the Page in its settings

    report = await job(papo).run_once(datetime.now(UTC) + timedelta(days=1, minutes=1))

    assert report.meta_checked == 4 and report.disconnected == 0
    assert "messages" in papo.fake.page_subs[PAGE_1]
    assert len(papo.fake.calls_to("POST", f"/{PAGE_1}/subscribed_apps")) == 2


async def test_identity_verified_follows_the_business_verification_daily(papo) -> None:
    await papo.connect("meta")
    assert (await User.get(id=papo.owner.id)).identity_verified is True
    papo.fake.verification[BUSINESS] = "not_verified"

    report = await job(papo).run_once(datetime.now(UTC) + timedelta(days=1, minutes=1))

    owner = await User.get(id=papo.owner.id)
    assert report.owners_checked == 1
    assert owner.identity_verified is False and owner.meta_business_verification == "not_verified"


async def test_a_meta_user_token_near_its_end_warns_once_and_disconnects_when_expired(papo) -> None:
    await papo.connect("meta")
    wa = await ConnectedAccount.get(platform="whatsapp")
    end = wa.token_expires_at

    await job(papo).run_once(end - timedelta(days=6))
    await job(papo).run_once(end - timedelta(days=5))
    warnings = [n for n in await papo.notifications() if n["kind"] == "token_expiring"]
    assert len(warnings) == 1 and warnings[0]["payload"]["account_id"] == str(wa.id)

    await job(papo).run_once(end + timedelta(minutes=1))
    assert (await ConnectedAccount.get(id=wa.id)).status == "disconnected"


async def test_an_account_connected_by_hand_gets_registered(papo) -> None:
    from papo.services.accounts import connect_account

    account, _ = await connect_account(user=papo.owner, platform="facebook", platform_account_id=PAGE_1,
                                       access_token=page_token(PAGE_1), cipher=papo.cipher)
    assert account.subscription_state is None

    report = await job(papo).run_once()

    assert report.registered == 1
    assert (await ConnectedAccount.get(id=account.id)).subscription_state == "subscribed"
    assert PAGE_1 in papo.fake.page_subs


async def test_only_one_worker_runs_a_round(papo) -> None:
    first, second = job(papo), job(papo)
    await papo.stores.redis.set("papo:lifecycle:lock", "someone-else", ex=60)

    assert await first.run_once() is None and await second.run_once() is None


async def test_one_bad_account_or_verification_never_stops_the_round(papo, monkeypatch) -> None:
    import json
    import time

    from papo.services import subscriptions
    from papo.services.accounts import connect_account

    # A verification recorded before leases were clamped (an anonymous caller's 10**12 seconds overflowed
    # the expiry date, and every later round failed at its first step) ...
    await papo.connect("youtube")
    await eventually(lambda: _true(papo.fake.hub_verified))
    await papo.stores.redis.hset(subscriptions.HUB_VERIFIED, CHANNEL,
                                 json.dumps({"mode": "subscribe", "at": time.time(), "lease": 10**12}))
    # ... and two Pages connected by hand, the first of which fails for a reason of its own.
    accounts = [(await connect_account(user=papo.owner, platform="facebook", platform_account_id=page,
                                       access_token=page_token(page), cipher=papo.cipher))[0]
                for page in (PAGE_1, PAGE_2)]
    register = subscriptions.register

    async def broken_for_the_first(ctx, account, **kwargs):
        if account.id == accounts[0].id:
            raise RuntimeError("an odd answer nobody planned for")
        return await register(ctx, account, **kwargs)

    monkeypatch.setattr(subscriptions, "register", broken_for_the_first)
    report = await job(papo).run_once()

    # It failed twice (registration, then the Meta check that registers it again); the rest went on.
    assert report is not None and report.failed == 2 and report.registered == 1 and report.owners_checked == 1
    assert PAGE_2 in papo.fake.page_subs and PAGE_1 not in papo.fake.page_subs
    youtube = await ConnectedAccount.get(platform="youtube")
    assert youtube.subscription_state == "subscribed"
    assert youtube.subscription_expires_at <= datetime.now(UTC) + timedelta(seconds=subscriptions.MAX_LEASE)
    assert not await papo.stores.redis.hexists(subscriptions.HUB_VERIFIED, CHANNEL)


async def _true(value: object) -> bool:
    return bool(value)
