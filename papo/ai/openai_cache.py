"""Redis cache of model answers, keyed by a hash of (prompt version, model, normalised text).

Customers send the same short messages over and over ("preço?", "quero!", "obrigado"), so caching saves
most calls. The value is the validated model answer as JSON, not the final Classification: contact
data is grounded in the actual text on every read (see openai_answer.ground_contacts). The cache is
an optimisation only; a Redis error is logged and the classification goes on without it.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata

import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.exceptions import RedisError

from papo.ai.openai_answer import PROMPT_VERSION, Answer
from papo.constants import AI_CACHE

logger = logging.getLogger(__name__)

# Belongs with the other key names in papo/constants.py; kept here until that file takes it.
CACHE_TTL = 7 * 24 * 3600  # seconds: long enough to matter, short enough that a better model shows up


def normalise(text: str) -> str:
    """The text as the cache sees it: Unicode NFC, whitespace runs collapsed, ends stripped.

    Case is kept: "QUERO!!!" and "quero" can differ in tone, and e-mail/phone grounding needs the text.
    """
    return " ".join(unicodedata.normalize("NFC", text).split())


def cache_key(model: str, text: str) -> str:
    """`papo:ai:cache:<sha256>` for this model and text (the prompt version is hashed in too)."""
    material = f"v{PROMPT_VERSION}\x00{model}\x00{normalise(text)}".encode()
    return AI_CACHE + hashlib.sha256(material).hexdigest()


class AnswerCache:
    """Get and put validated answers in Redis with a TTL."""

    def __init__(self, redis: aioredis.Redis, ttl: int = CACHE_TTL) -> None:
        self._redis = redis
        self._ttl = ttl

    async def get(self, model: str, text: str) -> Answer | None:
        """The cached answer, or None on a miss, an unreadable value or a Redis error."""
        try:
            raw = await self._redis.get(cache_key(model, text))
        except RedisError as exc:
            logger.warning("classification cache unavailable (%s); asking the model", type(exc).__name__)
            return None
        if raw is None:
            return None
        try:
            return Answer.model_validate_json(raw)
        except ValidationError:
            # Written by another version or damaged: ask again, the put overwrites it.
            logger.warning("unreadable classification cache entry; asking the model")
            return None

    async def put(self, model: str, text: str, answer: Answer) -> None:
        """Store an answer the model gave (never a fallback: an outage must not stick for a week)."""
        try:
            await self._redis.set(cache_key(model, text), answer.model_dump_json(), ex=self._ttl)
        except RedisError as exc:
            logger.warning("could not write the classification cache (%s)", type(exc).__name__)
