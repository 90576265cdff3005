"""`ai_reply`: an answer written by the configured OpenAI-compatible model from the business's own FAQ.

The model may only use the FAQ text; when the FAQ does not answer the question it must say so, and Papo
then sends the rule's fallback text (or nothing). Any error, timeout, refusal or malformed answer falls
back the same way: a customer never gets an invented answer or an error message.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

import openai

from papo import metrics
from papo.ai.openai_classifier import Budget, build_client

if TYPE_CHECKING:
    from papo.config import Settings

log = logging.getLogger(__name__)

MAX_REPLY_CHARS = 1000  # Instagram's text limit is 1000 bytes; the outbound sender enforces bytes
SYSTEM_PROMPT = """You answer customers of a small business on its behalf, in the customer's language,
in one to three short, friendly sentences. Use ONLY the facts in the FAQ below. If the FAQ does not
contain the answer, set "answerable" to false and leave "reply" empty. Never invent prices, dates,
addresses or policies. Never mention the FAQ or that you are an AI.

FAQ of {business}:
{faq}"""
RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "faq_reply",
        "strict": True,
        "schema": {
            "type": "object",
            "additionalProperties": False,
            "required": ["answerable", "reply"],
            "properties": {"answerable": {"type": "boolean"}, "reply": {"type": "string"}},
        },
    },
}
FAQ_FALLBACKS = metrics.Counter("papo_ai_reply_fallbacks_total", "ai_reply answers not written by the model")


class FaqResponder:
    """Writes FAQ answers with the configured model; None whenever the model cannot be trusted to."""

    def __init__(self, settings: Settings, client: openai.AsyncOpenAI | None = None) -> None:
        self.enabled = settings.openai_enabled
        self.client = client or (build_client(settings) if self.enabled else None)
        self.model = settings.openai_model
        self.deadline = float(settings.openai_timeout) * 2 + 0.5

    async def answer(self, faq: str | None, message: str | None, *, business: str | None = None,
                     budget: Budget | None = None) -> str | None:
        """The model's answer from the FAQ, or None (no model, no FAQ, not answerable, any failure, or the
        business's `budget` of model calls used up)."""
        if self.client is None or not (faq or "").strip() or not (message or "").strip():
            return None
        if budget is not None and not await budget.take():
            FAQ_FALLBACKS.inc(reason="quota")
            return None
        try:
            async with asyncio.timeout(self.deadline):
                response = await self.client.chat.completions.create(  # type: ignore[call-overload]
                    model=self.model,
                    messages=[
                        {"role": "system", "content": SYSTEM_PROMPT.format(business=business or "the business",
                                                                           faq=(faq or "")[:8000])},
                        {"role": "user", "content": (message or "")[:2000]},
                    ],
                    response_format=RESPONSE_FORMAT,
                )
            choice = response.choices[0].message
            if choice.refusal or not choice.content:
                raise ValueError("refused or empty")
            data = json.loads(choice.content)
            reply = str(data.get("reply") or "").strip()
            if data.get("answerable") is not True or not reply:
                FAQ_FALLBACKS.inc(reason="not_answerable")
                return None
            return reply[:MAX_REPLY_CHARS]
        except (openai.OpenAIError, TimeoutError, ValueError, KeyError, IndexError, TypeError) as exc:
            FAQ_FALLBACKS.inc(reason=type(exc).__name__)
            log.warning("ai_reply fell back: %s", type(exc).__name__)
            if budget is not None:
                await budget.give_back()
            return None

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self.client is not None:
            await self.client.close()
