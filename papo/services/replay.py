"""Run archived raw webhooks through the pipeline again (after a fix, or once an account is connected)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from papo.adapters.adapter_registry import AdapterRegistry
from papo.adapters.base import PayloadError
from papo.constants import MONGO_RAW_WEBHOOKS
from papo.runtime import Stores
from papo.services.queues import Queues

log = logging.getLogger(__name__)


async def replay(stores: Stores, queues: Queues, adapters: AdapterRegistry, *, platform: str | None = None,
                 since: datetime | None = None, limit: int = 10_000) -> dict[str, int]:
    """Re-parse archived bodies (verified when they arrived) and queue their events again.

    The dedupe markers are bypassed on purpose; the database's unique keys keep every message single,
    and later stages only act on messages stored for the first time, so nothing is sent twice.
    """
    query: dict[str, Any] = {}
    if platform:
        query["platform"] = platform
    if since:
        query["received_at"] = {"$gte": since}
    counts = {"bodies": 0, "events": 0, "unparsable": 0}
    cursor = stores.analytics.db[MONGO_RAW_WEBHOOKS].find(query).sort("received_at", 1).limit(limit)
    async for doc in cursor:
        counts["bodies"] += 1
        try:
            events = adapters.get_adapter(doc["platform"]).parse(doc["body"].encode("utf-8"))
        except (PayloadError, KeyError) as exc:
            counts["unparsable"] += 1
            log.warning("replay: archived body %s cannot be parsed: %s", doc["_id"], exc)
            continue
        await queues.enqueue_replay(events)
        counts["events"] += len(events)
    return counts
