"""Factories for engine tests: events, rules, classifications, a fixed clock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from papo.adapters.events import EventKind, InboundEvent
from papo.ai.base import Classification
from papo.engine import RuleView
from papo.enums import Intent, Platform, Sentiment

# Wednesday 2026-03-04 15:00 UTC = 12:00 in São Paulo (UTC-3, no DST since 2019).
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
_ids = itertools.count(1)


def event(text: str | None = "oi", *, kind: EventKind = EventKind.MESSAGE,
          platform: Platform = Platform.WHATSAPP, at: datetime = NOW, **kw: Any) -> InboundEvent:
    """A customer event; each call gets a fresh message id (hence a fresh dedupe key)."""
    kw.setdefault("platform_message_id", f"mid.{next(_ids)}")
    kw.setdefault("remote_user_id", "5511999990000")
    kw.setdefault("remote_user_name", "Maria Silva")
    return InboundEvent(platform=platform, kind=kind, account_id="acc1", timestamp=at, text=text, **kw)


def rule(name: str = "r", *, trigger: str = "message", platform: str = "any", action: str = "send_message",
         condition: dict[str, Any] | None = None, data: dict[str, Any] | None = None, age: int = 0,
         rule_id: str | None = None, active: bool = True) -> RuleView:
    """A compiled rule; `age` orders creation (higher = created later)."""
    if data is None:
        data = {
            "send_message": {"text": f"reply from {name}"},
            "tag_lead": {"tags": [name]},
            "notify_owner": {"message": f"{name}: {{text}}"},
            "ai_reply": {"faq": "Abrimos às 9h.", "fallback_text": "Já respondemos!"},
        }[action]
    return RuleView.from_row(
        id=rule_id or name, name=name, trigger=trigger, platform=platform, action=action,
        condition=condition or {}, action_data=data,
        created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=age), is_active=active,
    )


def classification(intent: str = "question", sentiment: str = "neutral", score: float = 0.5,
                   language: str = "pt") -> Classification:
    """A Classification with chosen values."""
    return Classification(intent=Intent(intent), sentiment=Sentiment(sentiment), lead_score=score,
                          language=language, confidence=0.9)
