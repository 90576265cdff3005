"""The understanding stage: classify new customer messages, update the CRM, log AI interactions.

Runs after a batch is committed, on the messages stored for the first time only. Classification
results are kept on the BatchResult for the automation stage that follows.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from papo.adapters.events import EventKind
from papo.ai.openai_classifier import Classified, SourcedClassifier
from papo.constants import MONGO_AI_INTERACTIONS
from papo.enums import Intent, LeadQuality, Sentiment
from papo.runtime import Stores
from papo.services.crm import LeadState, score_leads
from papo.services.event_store import BatchResult, NewMessage
from papo.services.notify import COMPLAINT, HOT_LEAD, notify_owner
from papo.services.plans import AiBudget

log = logging.getLogger(__name__)

# Kinds whose text is the customer speaking to the business (a reaction's emoji or a share is not).
CLASSIFIED_KINDS = frozenset({EventKind.MESSAGE, EventKind.COMMENT, EventKind.STORY_REPLY, EventKind.POSTBACK,
                              EventKind.MENTION, EventKind.REFERRAL})
CONCURRENCY = 16  # parallel calls when the classifier is a remote model


def classifiable(new: NewMessage) -> bool:
    """A customer's own words worth classifying."""
    event = new.event
    return not event.is_echo and event.kind in CLASSIFIED_KINDS and bool((event.text or "").strip())


class UnderstandStage:
    """Classifies, scores leads, writes `ai_interactions` and `lead_qualified` analytics."""

    fills: ClassVar[frozenset[str]] = frozenset({"classifications", "leads"})  # for automation's rules
    reads: ClassVar[frozenset[str]] = frozenset({"new_messages"})

    def __init__(self, stores: Stores, classifier: SourcedClassifier) -> None:
        self.stores = stores
        self.classifier = classifier
        self._limit = asyncio.Semaphore(CONCURRENCY)

    async def __call__(self, result: BatchResult) -> None:
        """Run on one committed batch."""
        todo = [m for m in result.new_messages if classifiable(m)]
        if not todo:
            return
        texts = [m.event.text or "" for m in todo]
        batch = getattr(self.classifier, "classify_many_now", None)
        if batch is not None:  # the local model: one plain loop, no task per message
            answers = batch(texts)
        else:
            answers = list(await asyncio.gather(*(self._classify(text, m.user_id) for text, m in zip(texts, todo,
                                                                                                   strict=True))))
        classifications = [a.classification for a in answers]
        for message, classification in zip(todo, classifications, strict=True):
            result.classifications[message.message_id] = classification

        # A message understood by an earlier delivery (whose worker died before replying) is classified
        # again for the rules, but its lead is not scored twice nor its interaction logged twice.
        fresh = [(m, a) for m, a in zip(todo, answers, strict=True) if not m.understood]
        # Logged before the lead is marked understood: if this cannot be kept (MongoDB down and Redis
        # too), the batch fails and is retried, instead of a message marked understood with no record.
        await self._log_interactions(fresh)
        keys = list(dict.fromkeys((m.user_id, str(m.event.platform), m.event.remote_user_id) for m in todo))
        leads = await score_leads(keys, [(m, a.classification) for m, a in fresh])
        result.leads.update({key: lead for key, lead in leads.items()})
        if fresh:
            await self._after([m for m, _ in fresh], [a for _, a in fresh], leads)

    async def _classify(self, text: str, user_id: uuid.UUID) -> Classified:
        # Model calls count against the business's plan; past it the local classifier answers, and the
        # message is stored, scored and automated all the same.
        async with self._limit:
            return await self.classifier.classify_with_source(text, AiBudget(self.stores.redis, user_id))

    async def _log_interactions(self, fresh: list[tuple[NewMessage, Classified]]) -> None:
        """One `ai_interactions` document per classified message (kept in Redis while MongoDB is down)."""
        if not fresh:
            return
        now = datetime.now(UTC)
        docs: list[dict[str, Any]] = [
            {
                "_id": str(message.message_id),  # idempotent if the stage ever runs twice
                "user_id": message.user_id,
                "conversation_id": message.conversation_id,
                "platform": str(message.event.platform),
                "user_message": message.event.text,
                "ai_response": None,
                "sentiment": str(c.sentiment),
                "intent": str(c.intent),
                "lead_score": float(c.lead_score),
                "language": c.language,
                "confidence": float(c.confidence),
                "classifier": str(source),
                "created_at": now,
            }
            for message, (c, source) in fresh
        ]
        await self.stores.analytics.spool.insert(MONGO_AI_INTERACTIONS, docs)

    async def _after(self, todo: list[NewMessage], answers: list[Classified],
                     leads: dict[tuple[uuid.UUID, str, str], LeadState]) -> None:
        """Owner alerts, and `lead_qualified` when a lead's quality rose."""
        await self._alert(todo, answers, leads)
        qualified = [lead for lead in leads.values() if lead.qualified_from is not None and lead.quality is not None]
        conversations = {(m.user_id, m.event.remote_user_id): m.conversation_id for m in reversed(todo)}
        logged = await asyncio.gather(*(  # concurrent calls: one insert_many
            self.stores.analytics.log_event(
                user_id=lead.user_id, event_type="lead_qualified", platform=lead.platform,
                data={"conversation_id": conversations.get((lead.user_id, lead.remote_user_id)),
                      "lead_quality": str(lead.quality), "from": str(lead.qualified_from),
                      "lead_score": round(lead.score or 0.0, 4)},
            ) for lead in qualified), return_exceptions=True)
        for lead, result in zip(qualified, logged, strict=True):
            if isinstance(result, Exception):
                log.error("could not log lead_qualified for %s: %s", lead.remote_user_id, result)


    async def _alert(self, todo: list[NewMessage], answers: list[Classified],
                     leads: dict[tuple[uuid.UUID, str, str], LeadState]) -> None:
        """Owner alerts: a lead that just became hot, and every negative complaint."""
        for message, (c, _source) in zip(todo, answers, strict=True):
            event = message.event
            lead = leads.get((message.user_id, str(event.platform), event.remote_user_id))
            base = {"conversation_id": message.conversation_id, "remote_user_id": event.remote_user_id,
                    "customer": event.remote_user_name or event.remote_user_id, "platform": str(event.platform),
                    "text": event.text}
            try:
                if c.intent is Intent.COMPLAINT and c.sentiment is Sentiment.NEGATIVE:
                    await notify_owner(self.stores.redis, message.user_id, COMPLAINT, base,
                                       dedupe_key=f"complaint:{message.message_id}")
                if lead is not None and lead.quality is LeadQuality.HOT and lead.qualified_from is not None \
                        and message is _last_of(todo, message):
                    await notify_owner(self.stores.redis, message.user_id, HOT_LEAD,
                                       {**base, "score": round(lead.score or 0.0, 2)},
                                       dedupe_key=f"hot:{message.message_id}")
            except Exception:  # an alert must never stop the pipeline
                log.exception("could not queue an owner alert")


def _last_of(todo: list[NewMessage], message: NewMessage) -> NewMessage:
    """The last message of the same customer in this batch (one hot-lead alert per batch and lead)."""
    same = [m for m in todo if m.user_id == message.user_id and m.event.remote_user_id == message.event.remote_user_id
            and m.event.platform == message.event.platform]
    return same[-1]
