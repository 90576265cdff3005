"""The OpenAI-compatible classifier through the real `openai` client, against a local fake of the API."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from pydantic import AnyHttpUrl, SecretStr

from papo import metrics
from papo.ai import default_classifier
from papo.ai.openai_answer import SYSTEM_PROMPT, ground_contacts
from papo.ai.openai_cache import CACHE_TTL, cache_key
from papo.ai.openai_classifier import (
    PLACEHOLDER_API_KEY,
    Classified,
    LocalOnlyClassifier,
    OpenAIClassifier,
    Source,
    SourcedClassifier,
    build_client,
    make_classifier,
)
from papo.config import Settings
from papo.constants import AI_CACHE
from papo.enums import Intent, LeadQuality, Sentiment
from papo.runtime import Stores
from tests.ai.fake_openai import FakeOpenAI, Reply

API_KEY = "sk-test-papo-secret-0123456789"
MODEL = "gpt-test-mini"
TEXT = "oi, quero 2 camisetas M, como faço pra pagar?"


@pytest_asyncio.fixture(loop_scope="session")
async def server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.close()
    assert fake.problems == [], "the fake OpenAI server refused a request"


@pytest.fixture
def ai_settings(settings: Settings, server: FakeOpenAI) -> Settings:
    return settings.model_copy(
        update={
            "openai_base_url": AnyHttpUrl(server.base_url),
            "openai_api_key": SecretStr(API_KEY),
            "openai_model": MODEL,
            "openai_timeout": 1.0,
        }
    )


@pytest_asyncio.fixture(loop_scope="session")
async def classifier(ai_settings: Settings) -> AsyncIterator[OpenAIClassifier]:
    """Without the cache: for what happens over HTTP (emptying all three stores per test costs time)."""
    async with OpenAIClassifier(ai_settings) as clf:
        yield clf


@pytest_asyncio.fixture(loop_scope="session")
async def cached(ai_settings: Settings, stores: Stores) -> AsyncIterator[OpenAIClassifier]:
    """As in production: with the Redis cache (emptied before the test)."""
    async with OpenAIClassifier(ai_settings, stores.redis) as clf:
        yield clf


def fallbacks(reason: str) -> float:
    return metrics.CLASSIFIER_FALLBACKS.value(reason=reason)


async def cached_value(stores: Stores, key: str) -> dict[str, Any]:
    raw = await stores.redis.get(key)
    assert raw is not None, "nothing cached"
    value: dict[str, Any] = json.loads(raw)
    return value


async def test_good_answer_becomes_the_classification(cached: OpenAIClassifier, server: FakeOpenAI) -> None:
    server.queue(Reply.answer(intent="purchase", sentiment="positive", lead_score=0.92, language="pt"))

    result, source = await cached.classify_with_source(TEXT)

    assert source is Source.OPENAI
    assert result.intent is Intent.PURCHASE
    assert result.sentiment is Sentiment.POSITIVE
    assert result.lead_score == pytest.approx(0.92)
    assert result.lead_quality is LeadQuality.HOT
    assert (result.language, result.confidence) == ("pt", pytest.approx(0.95))
    assert len(server.requests) == 1


async def test_request_carries_model_key_prompt_and_strict_schema(
    classifier: OpenAIClassifier, server: FakeOpenAI
) -> None:
    server.queue(Reply.answer())
    await classifier.classify(TEXT)

    body = server.requests[0]
    assert body["model"] == MODEL
    assert server.auth == [f"Bearer {API_KEY}"]
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert user == {"role": "user", "content": TEXT}
    for definition in ("purchase:", "question:", "complaint:", "info:", "hot (0.7 to 1)"):
        assert definition in system["content"]
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["properties"]["intent"]["enum"] == ["question", "complaint", "purchase", "info"]


async def test_question_in_spanish(classifier: OpenAIClassifier, server: FakeOpenAI) -> None:
    server.queue(Reply.answer(intent="question", sentiment="neutral", lead_score=0.55, language="es"))
    result = await classifier.classify("hola cuánto cuesta el envío a Montevideo?")
    assert (result.intent, result.lead_quality, result.language) == (Intent.QUESTION, LeadQuality.WARM, "es")


async def test_base_url_alone_sends_a_placeholder_key(ai_settings: Settings, server: FakeOpenAI) -> None:
    no_key = ai_settings.model_copy(update={"openai_api_key": None})
    assert no_key.openai_enabled
    clf = make_classifier(no_key)
    try:
        assert isinstance(clf, OpenAIClassifier)
        server.queue(Reply.answer())
        assert (await clf.classify_with_source(TEXT)).source is Source.OPENAI
    finally:
        await clf.aclose()
    assert server.auth == [f"Bearer {PLACEHOLDER_API_KEY}"]


async def test_factory_gives_the_local_classifier_when_openai_is_not_configured(
    settings: Settings, server: FakeOpenAI
) -> None:
    local = settings.model_copy(update={"openai_api_key": None, "openai_base_url": None})
    assert not local.openai_enabled
    clf = make_classifier(local)
    assert isinstance(clf, LocalOnlyClassifier)
    assert isinstance(clf, SourcedClassifier)
    result, source = await clf.classify_with_source(TEXT)
    assert source is Source.LOCAL
    assert result == default_classifier().predict(TEXT)
    assert await clf.classify(TEXT) == result
    await clf.aclose()
    assert server.requests == []


async def test_client_takes_url_and_key_from_settings_only(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://elsewhere.invalid/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    key_only = settings.model_copy(update={"openai_api_key": SecretStr(API_KEY), "openai_base_url": None})
    client = build_client(key_only)
    try:
        assert str(client.base_url) == "https://api.openai.com/v1/"
        assert client.api_key == API_KEY
        assert client.max_retries == 1
        assert client.timeout == settings.openai_timeout == 3.0
    finally:
        await client.close()


async def test_rate_limit_then_success_is_retried(classifier: OpenAIClassifier, server: FakeOpenAI) -> None:
    before = fallbacks("rate_limited")
    server.queue(Reply.error(429, **{"retry-after-ms": "20"}), Reply.answer(intent="question", lead_score=0.5))

    result, source = await classifier.classify_with_source(TEXT)

    assert source is Source.OPENAI
    assert result.intent is Intent.QUESTION
    assert len(server.requests) == 2
    assert fallbacks("rate_limited") == before


async def test_rate_limit_that_persists_falls_back(classifier: OpenAIClassifier, server: FakeOpenAI) -> None:
    before = fallbacks("rate_limited")
    server.always(Reply.error(429, **{"retry-after-ms": "20"}))

    result, source = await classifier.classify_with_source(TEXT)

    assert source is Source.FALLBACK
    assert result == default_classifier().predict(TEXT)
    assert len(server.requests) == 2  # one try, one retry: bounded
    assert fallbacks("rate_limited") == before + 1


async def test_persistent_500_falls_back_after_one_retry(
    classifier: OpenAIClassifier, server: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    before = fallbacks("api_error")
    server.always(Reply.error(500))

    with caplog.at_level(logging.WARNING, logger="papo.ai"):
        result, source = await classifier.classify_with_source(TEXT)

    assert source is Source.FALLBACK
    assert result == default_classifier().predict(TEXT)
    assert len(server.requests) == 2
    assert fallbacks("api_error") == before + 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "api_error" in message and "HTTP 500" in message
    # The log must not carry the customer's words or the key.
    assert "camisetas" not in caplog.text and API_KEY not in caplog.text


async def test_client_error_is_not_retried_and_falls_back(classifier: OpenAIClassifier, server: FakeOpenAI) -> None:
    before = fallbacks("api_error")
    server.queue(Reply.error(401))
    assert (await classifier.classify_with_source(TEXT)).source is Source.FALLBACK
    assert len(server.requests) == 1
    assert fallbacks("api_error") == before + 1


async def test_slow_answer_beyond_the_timeout_falls_back(ai_settings: Settings, server: FakeOpenAI) -> None:
    before = fallbacks("timeout")
    server.always(Reply.answer(delay=5.0))
    fast = ai_settings.model_copy(update={"openai_timeout": 0.2})

    async with OpenAIClassifier(fast) as clf:
        started = time.monotonic()
        result, source = await clf.classify_with_source(TEXT)
        elapsed = time.monotonic() - started

    assert source is Source.FALLBACK
    assert result == default_classifier().predict(TEXT)
    assert fallbacks("timeout") == before + 1
    assert clf.deadline == pytest.approx(0.2 * 2 + 0.5)
    assert elapsed < clf.deadline + 0.3
    assert len(server.requests) <= 2


async def test_long_retry_after_cannot_hold_the_worker_past_the_deadline(
    ai_settings: Settings, server: FakeOpenAI
) -> None:
    # The SDK honours Retry-After up to two minutes; the overall deadline cuts that short.
    before = fallbacks("timeout")
    server.always(Reply.error(429, **{"retry-after": "30"}))
    fast = ai_settings.model_copy(update={"openai_timeout": 0.2})

    async with OpenAIClassifier(fast) as clf:
        started = time.monotonic()
        assert (await clf.classify_with_source(TEXT)).source is Source.FALLBACK
        elapsed = time.monotonic() - started

    assert elapsed < clf.deadline + 0.3
    assert len(server.requests) == 1
    assert fallbacks("timeout") == before + 1


async def test_unreachable_server_falls_back(ai_settings: Settings) -> None:
    before = fallbacks("connection")
    closed = ai_settings.model_copy(update={"openai_base_url": AnyHttpUrl("http://127.0.0.1:9/v1")})
    async with OpenAIClassifier(closed) as clf:
        assert (await clf.classify_with_source(TEXT)).source is Source.FALLBACK
    assert fallbacks("connection") == before + 1


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply.raw('{"intent": "purchase", "sentiment": '), "invalid_json"),
        (Reply.raw("Sure! The intent is purchase."), "invalid_json"),
        (Reply.raw('{"intent": "purch', finish_reason="length"), "invalid_json"),
        (Reply.answer(intent="buy"), "schema"),
        (Reply.answer(sentiment="angry"), "schema"),
        (Reply.answer(lead_score=1.5), "schema"),
        (Reply.answer(lead_score="0.9"), "schema"),
        (Reply.answer(language="fr"), "schema"),
        (Reply.raw('{"intent": "purchase", "sentiment": "positive"}'), "schema"),
        (Reply.raw("[]"), "schema"),
        (Reply.refused(), "refusal"),
        (Reply.raw(None), "empty"),
        (Reply.raw("   "), "empty"),
    ],
    ids=[
        "broken-json", "prose", "cut-off", "intent-buy", "sentiment-angry", "score-1.5", "score-string",
        "language-fr", "missing-fields", "array", "refusal", "null-content", "blank-content",
    ],
)
async def test_unusable_answers_fall_back(
    classifier: OpenAIClassifier, server: FakeOpenAI, reply: Reply, reason: str
) -> None:
    before = fallbacks(reason)
    server.queue(reply)

    result, source = await classifier.classify_with_source(TEXT)

    assert source is Source.FALLBACK
    assert result == default_classifier().predict(TEXT)
    assert fallbacks(reason) == before + 1
    assert len(server.requests) == 1  # a bad answer is not retried


async def test_cache_hit_makes_no_request(cached: OpenAIClassifier, server: FakeOpenAI, stores: Stores) -> None:
    server.queue(Reply.answer(intent="question", sentiment="neutral", lead_score=0.5, language="pt"))

    first = await cached.classify_with_source("preço?")
    again = await cached.classify_with_source("  preço? ")  # same text once normalised

    assert first.source is Source.OPENAI
    assert again == Classified(first.classification, Source.CACHE)
    assert len(server.requests) == 1
    key = cache_key(MODEL, "preço?")
    assert key.startswith(AI_CACHE) and len(key) == len(AI_CACHE) + 64
    stored = await cached_value(stores, key)
    assert stored["intent"] == "question" and stored["lead_score"] == 0.5
    assert 0 < await stores.redis.ttl(key) <= CACHE_TTL


async def test_cache_is_per_model_and_per_text(
    cached: OpenAIClassifier, ai_settings: Settings, server: FakeOpenAI, stores: Stores
) -> None:
    server.always(Reply.answer())
    await cached.classify("quero!")
    await cached.classify("quero o azul")
    other = ai_settings.model_copy(update={"openai_model": "another-model"})
    async with OpenAIClassifier(other, stores.redis) as clf:
        await clf.classify("quero!")
    assert len(server.requests) == 3
    assert cache_key(MODEL, "quero!") != cache_key("another-model", "quero!")


@pytest.mark.parametrize(
    "failure",
    [[Reply.error(500), Reply.error(500)], [Reply.raw("{not json")], [Reply.answer(intent="buy")]],
    ids=["outage", "broken-json", "schema"],
)
async def test_fallbacks_are_not_cached(
    cached: OpenAIClassifier, server: FakeOpenAI, stores: Stores, failure: list[Reply]
) -> None:
    server.queue(*failure, Reply.answer(intent="complaint", sentiment="negative", lead_score=0.1))

    first = await cached.classify_with_source("meu pedido não chegou")
    assert await stores.redis.keys(AI_CACHE + "*") == []
    second = await cached.classify_with_source("meu pedido não chegou")
    third = await cached.classify_with_source("meu pedido não chegou")

    assert [first.source, second.source, third.source] == [Source.FALLBACK, Source.OPENAI, Source.CACHE]
    assert second.classification.intent is Intent.COMPLAINT
    assert len(server.requests) == len(failure) + 1


async def test_unreadable_cache_entry_is_asked_again(
    cached: OpenAIClassifier, server: FakeOpenAI, stores: Stores
) -> None:
    await stores.redis.set(cache_key(MODEL, TEXT), '{"intent": "buy"}')
    server.queue(Reply.answer())
    assert (await cached.classify_with_source(TEXT)).source is Source.OPENAI
    assert (await cached_value(stores, cache_key(MODEL, TEXT)))["intent"] == "purchase"


async def test_works_without_redis(classifier: OpenAIClassifier, server: FakeOpenAI) -> None:
    server.always(Reply.answer())
    assert (await classifier.classify_with_source(TEXT)).source is Source.OPENAI
    assert (await classifier.classify_with_source(TEXT)).source is Source.OPENAI
    assert len(server.requests) == 2


async def test_blank_text_is_classified_locally_without_a_call(
    classifier: OpenAIClassifier, server: FakeOpenAI
) -> None:
    before = sum(fallbacks(r) for r in ("empty", "api_error"))
    assert (await classifier.classify_with_source("  \n")).source is Source.LOCAL
    assert server.requests == []
    assert sum(fallbacks(r) for r in ("empty", "api_error")) == before


async def test_contacts_come_from_the_text_not_the_model(classifier: OpenAIClassifier, server: FakeOpenAI) -> None:
    # The model "corrects" the phone and invents an e-mail: the text's own values win, inventions are dropped.
    server.queue(Reply.answer(phone="+55 11 99999-9999", email="cliente@exemplo.com"))
    result = await classifier.classify("quero fechar! meu zap (11) 98765-4321")
    assert result.phone == "11987654321"
    assert result.email is None


async def test_contacts_from_the_model_are_kept_when_they_are_in_the_text(
    classifier: OpenAIClassifier, server: FakeOpenAI
) -> None:
    text = "me chama no 0800 123 4567 ou maria.souza@loja.com.br"
    server.queue(Reply.answer(intent="info", phone="+55 0800 123 4567", email="maria.souza@loja.com.br"))
    result = await classifier.classify(text)
    assert result.phone == "08001234567"  # as the text writes it: the model's added country code is dropped
    assert result.email == "maria.souza@loja.com.br"


@pytest.mark.parametrize(
    ("text", "model_email", "model_phone", "expected"),
    [
        ("ligue (21) 3456-7890", None, None, (None, "2134567890")),
        ("ligue (21) 3456-7890", None, "21 99999 0000", (None, "2134567890")),
        ("fala comigo 0800 123 4567", None, "0800 123 4567", (None, "08001234567")),
        ("fala comigo 0800 123 4567", None, "0800 123 4568", (None, None)),
        ("pedido 12345", None, "12345", (None, None)),
        ("sem contato aqui", "a@b.com", "11987654321", (None, None)),
        ("Escreva para Ana@Loja.COM", "x@y.com", None, ("ana@loja.com", None)),
    ],
)
def test_ground_contacts(
    text: str, model_email: str | None, model_phone: str | None, expected: tuple[str | None, str | None]
) -> None:
    assert ground_contacts(text, model_email, model_phone) == expected
