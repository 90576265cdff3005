"""`analytics_logs` and `ai_interactions` in the `papo` database, with the seed's document shapes."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from papo.analytics.spool import Spool
from papo.batching import Coalescer
from papo.constants import MONGO_AI_INTERACTIONS, MONGO_ANALYTICS

# The one secondary index of `analytics_logs` and `ai_interactions`: one business's documents by date. The
# embedded server plans it only for filters on its own fields, so queries that add another field hint it.
BY_BUSINESS_AND_DATE = [("user_id", ASCENDING), ("created_at", DESCENDING)]
# Created by versions before 2026-12-08; no query used them.
UNUSED_INDEXES = (
    (MONGO_ANALYTICS, "user_id_1_event_type_1_created_at_-1"),
    (MONGO_AI_INTERACTIONS, "conversation_id_1_created_at_-1"),
)
ANALYTICS_EVENTS = frozenset({"message_sent", "message_received", "post_published", "lead_qualified"})


def open_mongo(url: str, *, timeout_ms: int = 5000) -> AsyncMongoClient:
    """A client for `url`; UUIDs are stored as standard BSON UUIDs (binary subtype 4)."""
    return AsyncMongoClient(
        url,
        uuidRepresentation="standard",
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
    )


def _uuid(value: uuid.UUID | str | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


class AnalyticsStore:
    """Writes and reads Papo's analytics documents. Must be used on the loop that created the client."""

    def __init__(self, client: AsyncMongoClient, database: str = "papo", *,
                 redis: aioredis.Redis | None = None) -> None:
        self.client = client
        self.db: AsyncDatabase = client[database]
        # With Redis, writes survive a MongoDB outage (kept there until it is back; `papo worker` drains it).
        self.spool = Spool(self.db, redis)
        self.analytics = self.db[MONGO_ANALYTICS]
        self.ai_interactions = self.db[MONGO_AI_INTERACTIONS]
        # Events logged by concurrent tasks (a batch's replies) go out as one insert_many.
        self._events: Coalescer[dict[str, Any], Any] = Coalescer(self._insert_events)

    async def ensure_indexes(self) -> None:
        """Create the indexes the queries need, and drop those of earlier versions nothing reads (idempotent).

        Every index is a write on every insert: the embedded MongoDB spends ~200 µs of CPU a document per
        secondary index, more than the document itself. One business's documents by date serve every
        query: the stats (`ai_interactions` by business and date), the recent events, and the rare data
        requests, which filter one business's documents by conversation.
        """
        await self.analytics.create_index(BY_BUSINESS_AND_DATE)
        await self.ai_interactions.create_index(BY_BUSINESS_AND_DATE)
        for collection, name in UNUSED_INDEXES:
            with contextlib.suppress(OperationFailure):  # not there (a new database): nothing to drop
                await self.db[collection].drop_index(name)

    async def ping(self) -> None:
        """Raise if MongoDB does not answer."""
        await self.client.admin.command("ping")

    async def log_event(
        self,
        *,
        user_id: uuid.UUID | str,
        event_type: str,
        platform: str | None,
        data: dict[str, Any] | None = None,
        created_at: datetime | None = None,
        doc_id: str | None = None,
    ) -> Any:
        """Insert an `analytics_logs` document (with those of concurrent callers); returns its `_id`.

        `doc_id` makes the event idempotent: logged again (a redelivery after a crash), it is a duplicate
        key and stays one document. Without it the document gets a fresh ObjectId.
        """
        if event_type not in ANALYTICS_EVENTS:
            allowed = ", ".join(sorted(ANALYTICS_EVENTS))
            raise ValueError(f"event_type {event_type!r} is not one of: {allowed}")
        doc = {
            "user_id": _uuid(user_id),
            "event_type": event_type,
            "platform": platform,
            "data": data or {},
            "created_at": created_at or datetime.now(UTC),
        }
        if doc_id is not None:
            doc["_id"] = doc_id
        return await self._events.submit(doc)

    async def _insert_events(self, docs: list[dict[str, Any]]) -> list[Any]:
        await self.spool.insert(MONGO_ANALYTICS, docs)  # gives each its _id first
        return [doc["_id"] for doc in docs]

    async def log_ai_interaction(
        self,
        *,
        user_id: uuid.UUID | str,
        conversation_id: uuid.UUID | str | None,
        platform: str,
        user_message: str,
        ai_response: str | None,
        sentiment: str,
        intent: str,
        lead_score: float,
        created_at: datetime | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Any:
        """Insert an `ai_interactions` document (seed shape, plus optional extra keys)."""
        doc: dict[str, Any] = {
            "user_id": _uuid(user_id),
            "conversation_id": _uuid(conversation_id),
            "platform": platform,
            "user_message": user_message,
            "ai_response": ai_response,
            "sentiment": sentiment,
            "intent": intent,
            "lead_score": float(lead_score),
            "created_at": created_at or datetime.now(UTC),
        }
        if extra:
            doc.update(extra)
        await self.spool.insert(MONGO_AI_INTERACTIONS, [doc])
        return doc["_id"]

    async def recent_events(self, user_id: uuid.UUID | str, *, limit: int = 50) -> list[dict[str, Any]]:
        """The newest analytics events of one business."""
        cursor = self.analytics.find({"user_id": _uuid(user_id)}).sort("created_at", DESCENDING).limit(limit)
        return await cursor.to_list(length=limit)
