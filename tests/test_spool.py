"""MongoDB down: analytics and AI interactions wait in Redis, then all reach MongoDB, once, with their types."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from papo.analytics import AnalyticsStore, open_mongo
from papo.analytics.spool import Spool
from papo.constants import MONGO_AI_INTERACTIONS, MONGO_SPOOL


async def test_documents_written_while_mongodb_is_down_arrive_once_it_is_back(stores) -> None:
    dead = open_mongo("mongodb://127.0.0.1:9", timeout_ms=300)  # nothing listens there
    down = AnalyticsStore(dead, "papo", redis=stores.redis)
    user, conversation = uuid.uuid4(), uuid.uuid4()
    when = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    try:
        first = await down.log_ai_interaction(user_id=user, conversation_id=conversation, platform="whatsapp",
                                              user_message="Quanto custa?", ai_response=None, sentiment="neutral",
                                              intent="question", lead_score=0.6, created_at=when)
        assert down.spool.down  # later writes go to Redis without waiting for MongoDB's timeout
        await down.log_event(user_id=user, event_type="message_sent", platform="whatsapp", data={"n": 1})
        await down.spool.insert(MONGO_AI_INTERACTIONS, [{"_id": first, "dup": True}])  # a retry of the first
    finally:
        await dead.close()
    assert await stores.redis.llen(MONGO_SPOOL) == 3
    assert await stores.analytics.ai_interactions.count_documents({}) == 0

    drain = Spool(stores.analytics.db, stores.redis)
    assert await drain.flush() == 3
    assert await drain.flush() == 0
    assert await stores.redis.llen(MONGO_SPOOL) == 0
    docs = await stores.analytics.ai_interactions.find({}).to_list(None)
    assert len(docs) == 1  # the retried document is the same document
    doc = docs[0]
    assert doc["user_id"] == user and doc["conversation_id"] == conversation  # BSON UUIDs, not strings
    assert doc["created_at"] == when and doc["intent"] == "question"
    events = await stores.analytics.analytics.find({"event_type": "message_sent"}).to_list(None)
    assert [e["user_id"] for e in events] == [user] and events[0]["data"] == {"n": 1}


async def test_a_second_flusher_waits_for_the_first(stores) -> None:
    await stores.redis.set(f"{MONGO_SPOOL}:lock", "1", px=5000)
    await Spool(stores.analytics.db, stores.redis).insert(MONGO_AI_INTERACTIONS, [{"x": 1}])  # MongoDB is up
    await stores.redis.rpush(MONGO_SPOOL, '{"c": "ai_interactions", "d": {"x": 2}}')
    assert await Spool(stores.analytics.db, stores.redis).flush() == 0  # locked: nothing read, nothing trimmed
    assert await stores.redis.llen(MONGO_SPOOL) == 1


async def test_a_process_started_during_a_backlog_writes_behind_it(stores) -> None:
    await stores.redis.rpush(MONGO_SPOOL, '{"c": "ai_interactions", "d": {"x": 1}}')  # another worker's outage
    fresh = Spool(stores.analytics.db, stores.redis)  # started after MongoDB came back: it never saw it down
    await fresh.insert(MONGO_AI_INTERACTIONS, [{"x": 2}])
    assert await stores.redis.llen(MONGO_SPOOL) == 2 and fresh.down  # queued behind, not into busy MongoDB
    assert await stores.analytics.ai_interactions.count_documents({}) == 0
    assert await fresh.flush() == 2 and not fresh.down
    await fresh.insert(MONGO_AI_INTERACTIONS, [{"x": 3}])  # the backlog is gone: straight to MongoDB
    assert await stores.redis.llen(MONGO_SPOOL) == 0
    assert await stores.analytics.ai_interactions.count_documents({}) == 3
