"""MongoDB indexes: what the queries read, nothing more (each one is written on every insert)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, DESCENDING

from papo.constants import MONGO_AI_INTERACTIONS, MONGO_ANALYTICS
from papo.runtime import Stores
from papo.services.stats import top_intents


async def test_indexes_of_earlier_versions_are_dropped_and_the_queries_still_answer(stores: Stores) -> None:
    db = stores.analytics.db
    # A database an earlier version set up: two more indexes, read by no query.
    await db[MONGO_ANALYTICS].create_index(
        [("user_id", ASCENDING), ("event_type", ASCENDING), ("created_at", DESCENDING)])
    await db[MONGO_AI_INTERACTIONS].create_index([("conversation_id", ASCENDING), ("created_at", DESCENDING)])

    await stores.analytics.ensure_indexes()
    await stores.analytics.ensure_indexes()  # idempotent: nothing left to drop is not an error

    for collection in (MONGO_ANALYTICS, MONGO_AI_INTERACTIONS):
        assert sorted(await db[collection].index_information()) == ["_id_", "user_id_1_created_at_-1"]

    owner, other = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    for user, intent in ((owner, "purchase"), (owner, "purchase"), (owner, "question"), (other, "complaint")):
        await stores.analytics.log_ai_interaction(
            user_id=user, conversation_id=uuid.uuid4(), platform="whatsapp", user_message="quero 2",
            ai_response=None, sentiment="positive", intent=intent, lead_score=0.8)
    await stores.analytics.log_event(user_id=owner, event_type="message_sent", platform="whatsapp")
    intents = await top_intents(stores.analytics, owner, now - timedelta(hours=1), now + timedelta(hours=1))
    assert intents == (("purchase", 2), ("question", 1))
    assert [e["event_type"] for e in await stores.analytics.recent_events(owner)] == ["message_sent"]
