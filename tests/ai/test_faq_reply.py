"""ai_reply answers from the business's FAQ through the real openai client against a local server."""

from __future__ import annotations

import json

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from papo.ai.faq_reply import FaqResponder
from papo.config import Settings


@pytest_asyncio.fixture(loop_scope="session")
async def model_server():
    state = {"answers": [], "requests": []}

    async def completions(request: web.Request) -> web.Response:
        body = await request.json()
        state["requests"].append(body)
        status, content = state["answers"].pop(0)
        if status != 200:
            return web.json_response({"error": {"message": "boom", "type": "server_error"}}, status=status)
        return web.json_response({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content, "refusal": None}}],
        })

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    server = TestServer(app)
    await server.start_server()
    yield server, state
    await server.close()


def _settings(server) -> Settings:
    return Settings(_env_file=None, openai_base_url=str(server.make_url("/v1")), openai_timeout=1.0)  # type: ignore[call-arg]


FAQ = "Funcionamos de terça a domingo, das 8h às 19h. Entregamos no centro por R$ 8."


async def test_answers_from_the_faq_and_falls_back_otherwise(model_server) -> None:
    server, state = model_server
    responder = FaqResponder(_settings(server))
    try:
        state["answers"] = [
            (200, json.dumps({"answerable": True, "reply": "Abrimos de terça a domingo, das 8h às 19h 😊"})),
            (200, json.dumps({"answerable": False, "reply": ""})),
            (200, "not json"),
            (500, ""), (500, ""),  # the SDK retries once
        ]
        assert await responder.answer(FAQ, "vcs abrem segunda?") == "Abrimos de terça a domingo, das 8h às 19h 😊"
        request = state["requests"][0]
        assert FAQ in request["messages"][0]["content"] and request["messages"][1]["content"] == "vcs abrem segunda?"
        assert request["response_format"]["json_schema"]["strict"] is True
        assert await responder.answer(FAQ, "vocês vendem sapatos?") is None  # the FAQ does not say
        assert await responder.answer(FAQ, "qual o horário?") is None  # malformed answer
        assert await responder.answer(FAQ, "qual o horário?") is None  # server errors
        assert await responder.answer("", "qual o horário?") is None  # no FAQ: the model is not asked
        assert len(state["requests"]) == 5
    finally:
        await responder.aclose()


async def test_without_a_model_nothing_is_asked() -> None:
    responder = FaqResponder(Settings(_env_file=None))  # type: ignore[call-arg]
    assert responder.client is None
    assert await responder.answer(FAQ, "qual o horário?") is None


async def test_ai_reply_answers_count_against_the_plan_and_stop_at_its_limit(model_server, stores) -> None:
    from papo.services import plans
    from papo.services.notify import NOTIFY_STREAM
    from papo.services.users import create_user

    server, state = model_server
    state["requests"].clear()
    shop = await create_user(email="ana@doceria.com.br", name="Doceria")  # free: 100 AI calls a month
    await plans.try_take(shop, plans.AI_CALLS, 98)
    budget = plans.AiBudget(stores.redis, shop.id)
    responder = FaqResponder(_settings(server))
    try:
        state["answers"] = [(200, json.dumps({"answerable": True, "reply": "Das 8h às 19h."})),
                            (500, ""), (500, ""),  # fails (the SDK retries once): given back
                            (200, json.dumps({"answerable": True, "reply": "De terça a domingo."}))]
        assert await responder.answer(FAQ, "qual o horário?", budget=budget) == "Das 8h às 19h."
        assert await responder.answer(FAQ, "que dias abrem?", budget=budget) is None
        assert await plans.used_this_month(shop, plans.AI_CALLS) == 99
        assert await responder.answer(FAQ, "que dias abrem?", budget=budget) == "De terça a domingo."
        assert await responder.answer(FAQ, "entregam?", budget=budget) is None  # none left: not asked
        assert await responder.answer(FAQ, "e no sábado?", budget=budget) is None
        assert len(state["requests"]) == 4
        assert await stores.redis.xlen(NOTIFY_STREAM) == 1  # the owner is told once
    finally:
        await responder.aclose()
