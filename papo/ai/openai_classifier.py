"""The OpenAI-compatible classifier, its fallback to the local one, and the factory that picks a classifier.

One `AsyncOpenAI` client per classifier asks a chat-completions model for a strict JSON answer
(openai_answer.py). Answers are cached in Redis (openai_cache.py). Whatever goes wrong — an API error,
a timeout, a rate limit that outlasts the retry, a refusal, output that is not JSON or breaks the
schema — the message is classified by the local model instead, counted in
`papo_classifier_fallbacks_total{reason=…}` and logged at WARNING without the text or the key.

Time budget. Each HTTP attempt is limited to `settings.openai_timeout` (default 3 s, applied by the SDK
to connecting, sending and each read). The SDK retries once (`max_retries=1`) on connection errors,
timeouts, 408/409/429 and 5xx, after a pause of ~0.4–0.5 s or what the server's Retry-After asks. An
overall deadline of `timeout × attempts + 0.5 s × retries` (6.5 s by default) wraps the whole call, so a
server that trickles bytes or asks to retry after a minute still cannot hold a worker longer than that.

Which classifier answered: `classify_with_source(text)` returns `Classified(classification, source)`
with `source` one of `openai` (a fresh model answer), `openai_cache` (a cached model answer), `local`
(the local classifier is the configured one) or `local_fallback` (the model failed; the local answer
was used). `classify(text)` is the plain `Classifier` Protocol.
"""

from __future__ import annotations

import asyncio
import logging
from enum import StrEnum
from types import TracebackType
from typing import NamedTuple, Protocol, Self, runtime_checkable

import openai
import redis.asyncio as aioredis
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from pydantic import ValidationError

from papo import metrics
from papo.ai.base import Classification, Classifier
from papo.ai.local import LocalClassifier, default_classifier
from papo.ai.openai_answer import RESPONSE_FORMAT, SYSTEM_PROMPT, Answer, user_content
from papo.ai.openai_cache import CACHE_TTL, AnswerCache
from papo.config import Settings

logger = logging.getLogger(__name__)

OPENAI_API_URL = "https://api.openai.com/v1"
# Local servers (Ollama, vLLM, llama.cpp) want some bearer token and accept any.
PLACEHOLDER_API_KEY = "not-needed"
MAX_RETRIES = 1
RETRY_PAUSE = 0.5  # seconds: the SDK's first backoff (INITIAL_RETRY_DELAY, less up to 25 % jitter)


class Source(StrEnum):
    """Which classifier produced a Classification (stored with each AI interaction)."""

    OPENAI = "openai"
    CACHE = "openai_cache"
    LOCAL = "local"
    FALLBACK = "local_fallback"
    QUOTA = "local_quota"  # the business's plan has no AI calls left this month


class FallbackReason(StrEnum):
    """The `reason` label of papo_classifier_fallbacks_total."""

    TIMEOUT = "timeout"  # an attempt or the overall deadline ran out
    RATE_LIMITED = "rate_limited"  # 429 again after the retry
    CONNECTION = "connection"  # refused, reset, DNS…
    API_ERROR = "api_error"  # any other error status (5xx after the retry, 400, 401, 404…)
    REFUSAL = "refusal"  # message.refusal set
    EMPTY = "empty"  # no choice, or no content
    INVALID_JSON = "invalid_json"  # content is not JSON (or was cut off)
    SCHEMA = "schema"  # JSON that breaks the schema (unknown intent, score outside [0, 1]…)


class Classified(NamedTuple):
    """A Classification and the classifier that produced it."""

    classification: Classification
    source: Source


class Budget(Protocol):
    """A business's allowance of model calls (papo.services.plans): asked before each call to the model."""

    async def take(self) -> bool:
        """Count one call; False when none is left (the local classifier answers instead)."""
        ...

    async def give_back(self) -> None:
        """The call taken was not answered after all (the local classifier answered): return it."""
        ...


@runtime_checkable
class SourcedClassifier(Classifier, Protocol):
    """A Classifier that also says which classifier answered, and holds resources to close."""

    async def classify_with_source(self, text: str, budget: Budget | None = None) -> Classified:
        """Classify one message and name the classifier that answered."""
        ...

    async def aclose(self) -> None:
        """Release network resources (idempotent)."""
        ...


class _Fallback(Exception):
    """Internal: the model's answer cannot be used."""

    def __init__(self, reason: FallbackReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class LocalOnlyClassifier:
    """The local classifier behind the SourcedClassifier interface (no OpenAI configured)."""

    def __init__(self, local: LocalClassifier | None = None) -> None:
        self._local = local or default_classifier()

    async def classify(self, text: str) -> Classification:
        """Classifier Protocol."""
        return self._local.predict(text)

    async def classify_with_source(self, text: str, budget: Budget | None = None) -> Classified:
        """Classify locally; the source is always `local` (no model call, so no budget spent)."""
        return Classified(self._local.predict(text), Source.LOCAL)

    def classify_many_now(self, texts: list[str]) -> list[Classified]:
        """Classify a batch synchronously: the local model needs no event-loop round trips."""
        return [Classified(c, Source.LOCAL) for c in self._local.predict_many(texts)]

    async def aclose(self) -> None:
        """Nothing to release."""


def build_client(settings: Settings, *, max_retries: int = MAX_RETRIES) -> openai.AsyncOpenAI:
    """The AsyncOpenAI client for these settings: base URL, key (or a placeholder), timeout, retries.

    Both the base URL and the key are passed explicitly, so OPENAI_* environment variables never
    redirect Papo's traffic or credentials; the PAPO_OPENAI_* settings are the only source.
    """
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else PLACEHOLDER_API_KEY
    base_url = settings.url("openai_base_url") if settings.openai_base_url else OPENAI_API_URL
    return openai.AsyncOpenAI(
        api_key=key, base_url=base_url, timeout=settings.openai_timeout, max_retries=max_retries
    )


class OpenAIClassifier:
    """Classifies with an OpenAI-compatible chat model; falls back to the local classifier on any failure."""

    def __init__(
        self,
        settings: Settings,
        redis: aioredis.Redis | None = None,
        *,
        local: LocalClassifier | None = None,
        client: openai.AsyncOpenAI | None = None,
        max_retries: int = MAX_RETRIES,
        cache_ttl: int = CACHE_TTL,
    ) -> None:
        self._model = settings.openai_model
        self._client = client or build_client(settings, max_retries=max_retries)
        self._local = local or default_classifier()
        self._cache = AnswerCache(redis, cache_ttl) if redis is not None else None
        # The classifier owns the client (aclose closes it); an injected one brings its own retry count.
        retries = self._client.max_retries
        self._deadline = settings.openai_timeout * (retries + 1) + RETRY_PAUSE * retries

    @property
    def deadline(self) -> float:
        """Seconds one classification may wait for the model, retry included, before falling back."""
        return self._deadline

    @property
    def model(self) -> str:
        """The model name sent with each request (PAPO_OPENAI_MODEL)."""
        return self._model

    async def classify(self, text: str) -> Classification:
        """Classifier Protocol: the model's classification, or the local one when the model fails."""
        return (await self.classify_with_source(text)).classification

    async def classify_with_source(self, text: str, budget: Budget | None = None) -> Classified:
        """Classify one message: cache, then the model, then (on failure) the local classifier.

        With a `budget`, each model call (not a cache hit) is counted first; none left, the local classifier
        answers (source `local_quota`); a call that fails is given back.
        """
        if not text.strip():
            # Nothing for a model to read (a sticker, an empty caption): not worth a call, not a failure.
            return Classified(self._local.predict(text), Source.LOCAL)
        if self._cache is not None:
            cached = await self._cache.get(self._model, text)
            if cached is not None:
                return Classified(cached.to_classification(text), Source.CACHE)
        if budget is not None and not await budget.take():
            return Classified(self._local.predict(text), Source.QUOTA)
        try:
            answer = await self._ask(text)
        except _Fallback as failure:
            if budget is not None:
                await budget.give_back()
            return self._fall_back(text, failure)
        if self._cache is not None:
            await self._cache.put(self._model, text, answer)
        return Classified(answer.to_classification(text), Source.OPENAI)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _ask(self, text: str) -> Answer:
        """One chat completion (with the SDK's retry) turned into a validated Answer, or _Fallback."""
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": user_content(text)},
        ]
        try:
            async with asyncio.timeout(self._deadline):
                completion = await self._client.chat.completions.create(
                    model=self._model, messages=messages, response_format=RESPONSE_FORMAT
                )
        except TimeoutError:
            raise _Fallback(FallbackReason.TIMEOUT, f"no answer within {self._deadline:g} s") from None
        except openai.APITimeoutError:
            raise _Fallback(FallbackReason.TIMEOUT, "request timed out") from None
        except openai.APIConnectionError as exc:
            raise _Fallback(FallbackReason.CONNECTION, _cause(exc)) from None
        except openai.RateLimitError as exc:
            raise _Fallback(FallbackReason.RATE_LIMITED, _status(exc)) from None
        except openai.APIStatusError as exc:
            raise _Fallback(FallbackReason.API_ERROR, _status(exc)) from None
        except openai.OpenAIError as exc:
            # e.g. a response the SDK cannot read at all.
            raise _Fallback(FallbackReason.API_ERROR, type(exc).__name__) from None
        return _answer_from(completion)

    def _fall_back(self, text: str, failure: _Fallback) -> Classified:
        metrics.CLASSIFIER_FALLBACKS.inc(reason=str(failure.reason))
        # Neither the customer's text nor the key goes into the log; the detail is a status or a type name.
        logger.warning(
            "model %s unusable (%s: %s); classifying with the local model",
            self._model, failure.reason, failure.detail,
        )
        return Classified(self._local.predict(text), Source.FALLBACK)


def _answer_from(completion: ChatCompletion) -> Answer:
    """The validated Answer in a completion, or _Fallback naming what is wrong with it."""
    if not completion.choices:
        raise _Fallback(FallbackReason.EMPTY, "no choices")
    choice = completion.choices[0]
    if choice.message.refusal:
        raise _Fallback(FallbackReason.REFUSAL, "the model refused")
    content = choice.message.content
    if not content or not content.strip():
        raise _Fallback(FallbackReason.EMPTY, f"no content (finish_reason={choice.finish_reason})")
    try:
        return Answer.model_validate_json(content)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise _Fallback(
                FallbackReason.INVALID_JSON, f"content is not JSON (finish_reason={choice.finish_reason})"
            ) from None
        # Field names and error types only: the input values could quote the customer.
        fields = ", ".join(sorted({f"{'.'.join(map(str, e['loc'])) or '<root>'}:{e['type']}" for e in errors}))
        raise _Fallback(FallbackReason.SCHEMA, fields) from None


def _status(exc: openai.APIStatusError) -> str:
    request_id = exc.request_id or "-"
    return f"HTTP {exc.status_code}, request id {request_id}"


def _cause(exc: openai.APIConnectionError) -> str:
    cause = exc.__cause__
    return type(cause).__name__ if cause is not None else type(exc).__name__


def make_classifier(settings: Settings, redis: aioredis.Redis | None = None) -> SourcedClassifier:
    """The classifier for these settings: OpenAI-compatible when a key or base URL is set, else local.

    `redis` enables the answer cache (OpenAI only). Call `aclose()` on the result when done.
    """
    if settings.openai_enabled:
        return OpenAIClassifier(settings, redis)
    return LocalOnlyClassifier()
