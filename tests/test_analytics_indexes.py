"""MongoDB indexes: what the queries read, nothing more (each one is written on every insert)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, DESCENDING

from papo.analytics.store import BY_BUSINESS_AND_DATE
from papo.constants import MONGO_AI_INTERACTIONS, MONGO_ANALYTICS
from papo.runtime import Stores
from papo.services.customer_data import ai_filter, analytics_filter
from papo.services.stats import top_intents

KEPT = "user_id_1_created_at_-1"


def index_names(plan: object) -> set[str]:
    """Every index an explain() plan reads (the plan's nesting differs between server versions)."""
    if isinstance(plan, dict):
        found = {plan["indexName"]} if "indexName" in plan else set()
        return found.union(*(index_names(v) for v in plan.values()))
    if isinstance(plan, list):
        return set().union(*(index_names(v) for v in plan))
    return set()


async def test_indexes_of_earlier_versions_are_dropped_and_the_queries_still_answer(stores: Stores) -> None:
    db = stores.analytics.db
    # A database an earlier version set up: two more indexes, read by no query.
    await db[MONGO_ANALYTICS].create_index(
        [("user_id", ASCENDING), ("event_type", ASCENDING), ("created_at", DESCENDING)])
    await db[MONGO_AI_INTERACTIONS].create_index([("conversation_id", ASCENDING), ("created_at", DESCENDING)])

    await stores.analytics.ensure_indexes()
    await stores.analytics.ensure_indexes()  # idempotent: nothing left to drop is not an error

    for collection in (MONGO_ANALYTICS, MONGO_AI_INTERACTIONS):
        assert sorted(await db[collection].index_information()) == ["_id_", KEPT]

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

    # The kept index is what those queries read. The data requests add the conversation to the filter, which the
    # embedded server plans as a collection scan unless told: they hint the index (customer_data, customer_erase).
    since = now - timedelta(days=30)
    who = type("Customer", (), {"user_id": owner})()
    plans = [
        await db[MONGO_AI_INTERACTIONS].find({"user_id": owner, "created_at": {"$gte": since, "$lt": now}}).explain(),
        await db[MONGO_ANALYTICS].find({"user_id": owner}).sort("created_at", DESCENDING).limit(50).explain(),
        await db[MONGO_AI_INTERACTIONS].find(ai_filter(who, [uuid.uuid4()]), hint=BY_BUSINESS_AND_DATE).explain(),
        await db[MONGO_ANALYTICS].find(analytics_filter(who, [uuid.uuid4()]), hint=BY_BUSINESS_AND_DATE).explain(),
    ]
    assert [index_names(plan.get("queryPlanner", plan)) for plan in plans] == [{KEPT}] * 4
