"""The classification contract shared by the local and the OpenAI-compatible classifiers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from papo.enums import Intent, LeadQuality, Sentiment, quality_for_score

LANGUAGES = ("pt", "es", "en", "other")


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    """What Papo understood of one customer message (DESIGN.md taxonomy)."""

    intent: Intent
    sentiment: Sentiment
    lead_score: float
    language: str
    confidence: float
    email: str | None = None
    phone: str | None = None

    def __post_init__(self) -> None:
        # Fail at construction: a bad value must not travel into the CRM or a stream entry.
        if not 0.0 <= self.lead_score <= 1.0:
            raise ValueError(f"lead_score out of [0, 1]: {self.lead_score!r}")
        if self.language not in LANGUAGES:
            raise ValueError(f"unknown language: {self.language!r}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence out of [0, 1]: {self.confidence!r}")

    @property
    def lead_quality(self) -> LeadQuality:
        """Cold, warm or hot, from the lead score."""
        return quality_for_score(self.lead_score)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape printed by `papo classify` and stored with AI interactions."""
        return {
            "intent": str(self.intent),
            "sentiment": str(self.sentiment),
            "lead_score": round(self.lead_score, 4),
            "lead_quality": str(self.lead_quality),
            "language": self.language,
            "email": self.email,
            "phone": self.phone,
            "confidence": round(self.confidence, 4),
        }


@runtime_checkable
class Classifier(Protocol):
    """Anything that turns a customer's text into a Classification."""

    async def classify(self, text: str) -> Classification:
        """Classify one message."""
        ...
