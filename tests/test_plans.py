"""Plans and quotas on the real stores: each limit refuses at the plan's number with a clear message, the
counters are atomic under concurrency, and the README's table says what the code's table says."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from papo.crypto import TokenCipher
from papo.enums import Plan
from papo.models import AutomationRule, ConnectedAccount, Post
from papo.services import plans, posts, rules
from papo.services.accounts import connect_account
from papo.services.plans import PLANS, QuotaExceeded
from papo.services.users import create_user
from tests.conftest import TEST_SECRET

CIPHER = TokenCipher(TEST_SECRET)
README = Path(__file__).parent.parent / "README.md"


def test_the_readme_table_is_the_code_table() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Plans and quotas", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 1 + len(Plan) and cells[0].startswith("`"):
            rows[cells[0].split("`")[1]] = [int(c.replace(",", "").replace(" ", "")) for c in cells[1:]]
    assert set(rows) == set(plans.METRICS)
    for metric, numbers in rows.items():
        assert numbers == [PLANS[p].of(metric) for p in Plan], metric


async def _connect(user, account_id: str, platform: str = "instagram") -> ConnectedAccount:
    account, _ = await connect_account(user=user, platform=platform, platform_account_id=account_id,
                                       access_token="tok", cipher=CIPHER)
    return account


async def test_free_plan_connects_one_account_and_says_how_to_upgrade(stores) -> None:
    user = await create_user(email="ana@doceria.com.br", name="Doceria")
    await _connect(user, "17841400000000001")
    with pytest.raises(QuotaExceeded) as refused:
        await _connect(user, "17841400000000002")
    assert str(refused.value) == ("plan free allows 1 connected account (1 in use); upgrade with "
                                  "`papo user plan --user ana@doceria.com.br --plan starter`")
    await _connect(user, "17841400000000001")  # a token refresh of the account it has always fits
    assert await ConnectedAccount.filter(user=user).count() == 1

    await ConnectedAccount.filter(user=user).update(status="disconnected")
    await _connect(user, "17841400000000002")  # a disconnected account frees its slot
    with pytest.raises(QuotaExceeded):  # and coming back it must fit again
        await connect_account(user=user, platform="instagram", platform_account_id="17841400000000001",
                              access_token="tok", cipher=CIPHER)

    await plans.set_plan(user, "starter")
    await _connect(user, "17841400000000003")


async def test_two_connections_racing_for_the_last_slot_get_one(stores) -> None:
    user = await create_user(email="ana@doceria.com.br", name="Doceria")
    results = await asyncio.gather(*(_connect(user, f"1784140000000010{n}") for n in range(6)),
                                   return_exceptions=True)
    assert sum(isinstance(r, ConnectedAccount) for r in results) == 1
    assert all(isinstance(r, QuotaExceeded) for r in results if not isinstance(r, ConnectedAccount))
    assert await ConnectedAccount.filter(user=user).count() == 1


async def _rule(user, name: str, *, active: bool = True) -> rules.RuleInfo:
    return await rules.create_rule(user, name=name, trigger="message", platform="whatsapp", action="send_message",
                                   action_data={"text": "Oi!"}, is_active=active)


async def test_free_plan_keeps_three_rules_active(stores) -> None:
    user = await create_user(email="ana@doceria.com.br", name="Doceria")
    for n in range(3):
        await _rule(user, f"r{n}")
    with pytest.raises(QuotaExceeded, match=r"plan free allows 3 active rules \(3 in use\)"):
        await _rule(user, "r3")
    draft = await _rule(user, "r3", active=False)  # a disabled rule is only a draft: it is kept
    with pytest.raises(QuotaExceeded):
        await rules.enable_rule(user, draft.id)
    await rules.enable_rule(user, "r0")  # enabling an active one again is not one more
    await rules.disable_rule(user, "r0")
    assert (await rules.enable_rule(user, draft.id)).is_active
    assert await AutomationRule.filter(user_id=user.id, is_active=True).count() == 3


async def test_enabling_two_rules_at_once_for_the_last_slot_enables_one(stores) -> None:
    user = await create_user(email="ana@doceria.com.br", name="Doceria")
    await _rule(user, "a")
    await _rule(user, "b")
    drafts = [await _rule(user, f"d{n}", active=False) for n in range(4)]
    results = await asyncio.gather(*(rules.enable_rule(user, d.id) for d in drafts), return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert await AutomationRule.filter(user_id=user.id, is_active=True).count() == 3


async def test_free_plan_schedules_ten_posts_a_month_and_a_cancel_gives_one_back(stores, settings) -> None:
    user = await create_user(email="ana@doceria.com.br", name="Doceria")
    options = posts.PostOptions.from_settings(settings)
    page = ["facebook:" + (await _connect(user, "104857600000001", "facebook")).platform_account_id]
    when = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    made = [await posts.create_post(user, content=f"Bolo {n}", options=options, when=when, accounts=page)
            for n in range(10)]
    with pytest.raises(QuotaExceeded, match=r"plan free allows 10 scheduled posts a month \(10 in use\)"):
        await posts.create_post(user, content="one more", options=options, when=when, accounts=page)
    draft = await posts.create_post(user, content="a draft", options=options, accounts=page)  # drafts are free
    with pytest.raises(QuotaExceeded):
        await posts.schedule_post(user, str(draft.id), when, options=options)
    await posts.schedule_post(user, str(made[0].id), when, options=options)  # moving a scheduled one is free
    await posts.cancel_post(user, str(made[1].id))
    await posts.schedule_post(user, str(draft.id), when, options=options)
    assert await Post.filter(user_id=user.id, status="scheduled").count() == 10
    assert await plans.used_this_month(user, plans.SCHEDULED_POSTS) == 10


async def test_a_monthly_counter_lets_exactly_the_limit_through_under_concurrency(stores) -> None:
    user = await create_user(email="ana@doceria.com.br", name="Doceria")  # free: 100 AI calls a month
    taken = await asyncio.gather(*(plans.try_take(user, plans.AI_CALLS) for _ in range(130)))
    assert sum(taken) == 100
    assert await plans.used_this_month(user, plans.AI_CALLS) == 100
    assert await plans.remaining(user, plans.AI_CALLS) == 0


async def test_broadcast_recipients_are_taken_all_or_nothing(stores) -> None:
    user = await create_user(email="ana@doceria.com.br", name="Doceria")
    with pytest.raises(QuotaExceeded, match="plan free allows 0 broadcast recipients a month"):
        await plans.check_quota(user, plans.BROADCAST_RECIPIENTS, 1)
    await plans.set_plan(user, Plan.STARTER)  # 1,000 a month
    results = await asyncio.gather(*(plans.check_quota(user, plans.BROADCAST_RECIPIENTS, 600) for _ in range(2)),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["QuotaExceeded", "int"]
    assert await plans.remaining(user, plans.BROADCAST_RECIPIENTS) == 400
    assert await plans.check_quota(user, plans.BROADCAST_RECIPIENTS, 400) == 0
    await plans.give_back(user, plans.BROADCAST_RECIPIENTS, 50)  # 50 could not be sent after all
    assert await plans.remaining(user, plans.BROADCAST_RECIPIENTS) == 50


async def test_counters_are_per_business_and_per_month(stores) -> None:
    one = await create_user(email="um@loja.com.br", name="Um")
    two = await create_user(email="dois@loja.com.br", name="Dois")
    assert await plans.try_take(one, plans.SCHEDULED_POSTS, 10)
    assert not await plans.try_take(one, plans.SCHEDULED_POSTS)
    assert await plans.try_take(two, plans.SCHEDULED_POSTS)
    assert plans.current_month(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == "2026-12"
    assert plans.current_month(datetime(2027, 1, 1, 0, 0, tzinfo=UTC)) == "2027-01"  # months are UTC months
    assert await plans.try_take(one, plans.SCHEDULED_POSTS, 10, month="2027-01")


async def test_usage_and_a_plan_change(stores) -> None:
    user = await create_user(email="ana@doceria.com.br", name="Doceria", plan="starter")
    await _connect(user, "17841400000000001")
    await _connect(user, "17841400000000002")
    await _rule(user, "r")
    await plans.try_take(user, plans.AI_CALLS, 7)
    usage = await plans.set_plan(user, "free")  # below what it has: kept, new ones refused
    lines = {line.metric: (line.used, line.limit) for line in usage.lines}
    assert usage.plan is Plan.FREE
    assert lines == {"connected_accounts": (2, 1), "active_rules": (1, 3), "ai_calls": (7, 100),
                     "scheduled_posts": (0, 10), "broadcast_recipients": (0, 0), "telegram_admins": (0, 1)}
    with pytest.raises(QuotaExceeded, match=r"\(2 in use\)"):
        await _connect(user, "17841400000000003")
    assert re.fullmatch(r"\d{4}-\d{2}", usage.month)
