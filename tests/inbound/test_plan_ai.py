"""A business past its plan's monthly AI calls: messages still arrive, are stored, classified (by the local
classifier) and scored; the model is not called; the owner is told once. Webhook → worker → stores, with a
local server speaking OpenAI's API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio
from pydantic import AnyHttpUrl, SecretStr

from papo.adapters.simulate import build_webhook
from papo.models import Lead, Message, User
from papo.services import plans
from papo.services.notify import NOTIFY_STREAM
from papo.streams import codec
from papo.worker import run_roles
from tests.ai.fake_openai import FakeOpenAI, Reply
from tests.conftest import eventually

ACCOUNT = "106540352242922"
CUSTOMER = "5511987654321"
TEXTS = ("Quanto custa o bolo de chocolate?", "Vocês entregam em Pinheiros?", "Quero encomendar dois pra sábado")


@pytest_asyncio.fixture(loop_scope="session")
async def model() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    fake.always(Reply.answer(intent="question", lead_score=0.6))
    await fake.start()
    yield fake
    await fake.close()
    assert fake.problems == []


@pytest_asyncio.fixture(loop_scope="session")
async def ai_worker(settings, stores, model) -> AsyncIterator[None]:
    """The worker roles with the OpenAI classifier pointed at the fake."""
    stop = asyncio.Event()
    ai = settings.model_copy(update={
        "worker_lease_ms": 3000, "worker_batch": 64, "openai_base_url": AnyHttpUrl(model.base_url),
        "openai_api_key": SecretStr("sk-test-plan"), "openai_model": "gpt-test-mini", "openai_timeout": 2.0})
    task = asyncio.create_task(run_roles(stores, ai, stop, name="test-plan-worker"))
    yield
    stop.set()
    await asyncio.wait_for(task, timeout=20)


async def _quota_alerts(stores) -> list[dict]:
    entries = await stores.redis.xrange(NOTIFY_STREAM)
    decoded = [codec.decode(fields) for _, fields in entries]
    return [d for d in decoded if d["kind"] == "quota_reached"]


async def test_past_the_ai_quota_messages_are_classified_locally_stored_and_scored(
        web, ai_worker, settings, stores, connect, model) -> None:
    shop = await User.create(email="bia@bolos.com.br", name="Bolos da Bia", plan="free")  # 100 AI calls a month
    await connect("whatsapp", ACCOUNT, user=shop)
    assert await plans.try_take(shop, plans.AI_CALLS, 99)  # one call left this month

    for n, text in enumerate(TEXTS):
        body, headers = build_webhook("whatsapp", account=ACCOUNT, sender=CUSTOMER, text=text, name="Ana",
                                      secret=settings.meta_app_secret.get_secret_value(), event_id=f"Q{n}")
        resp = await web.post("/webhooks/whatsapp", data=body, headers=headers)
        assert resp.status == 200

        async def understood(expected: int = n + 1) -> bool:
            lead = await Lead.first()
            scored = sum(((lead.metadata or {}).get("intents") or {}).values()) if lead else 0
            return await stores.analytics.ai_interactions.count_documents({}) == expected and scored == expected

        await eventually(understood)

    docs = await stores.analytics.ai_interactions.find({}).sort("created_at", 1).to_list(10)
    assert [d["user_message"] for d in docs] == list(TEXTS)
    assert [d["classifier"] for d in docs] == ["openai", "local_quota", "local_quota"]
    assert len(model.requests) == 1  # the model was asked only while the plan allowed it
    assert await Message.filter(sender="remote").count() == 3  # nothing received was dropped
    assert (await Lead.get()).user_id == shop.id
    assert await plans.used_this_month(shop, plans.AI_CALLS) == 100

    alerts = await _quota_alerts(stores)
    assert len(alerts) == 1  # once a month, not once per message
    assert alerts[0]["user_id"] == str(shop.id)
    expected = {"metric": "ai_calls", "plan": "free", "limit": 100, "next_plan": "starter"}
    assert expected.items() <= alerts[0]["payload"].items()
