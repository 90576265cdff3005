"""The webhook stream's stage: parse each verified body into events and fan them out to their conversations.

A webhook request only verifies the body, checks its envelope and appends it to its platform's partition
of the webhook stream (papo.handlers.webhooks). This stage, in the worker, does the rest, a batch at a
time: the adapter's full parse, the owner lookup (events of accounts nobody connected are dropped and
counted), the dedupe-and-append to the conversation partitions of the inbound stream, and the raw body
for the archive, all in one pipelined round trip.

Order: the webhook stream is partitioned by platform and a partition has one reader at a time (its fenced
lease, papo.streams.consumer), so bodies are parsed in the order they were accepted and each
conversation's events reach its partition in that order.
Exactly once: the append script sets each event's dedupe marker together with its append, so Meta's
retries of a body, and the events of a batch read again after a worker died before its ack, are dropped;
the archive keys each body by its webhook entry id, so a body read twice is archived once.
A body whose envelope passed but whose inside the adapter refuses is counted `malformed`, logged and
settled (it stays in the archive, for `papo replay` after a fix): the platform was answered 200 already.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import redis.asyncio as aioredis

from papo import metrics
from papo.adapters.adapter_registry import AdapterRegistry
from papo.adapters.base import PayloadError
from papo.adapters.errors import UnknownPlatformError
from papo.adapters.events import InboundEvent
from papo.constants import RAW_STREAM, RAW_STREAM_MAXLEN, account_key
from papo.services.account_index import CachedOwners
from papo.services.queues import body_bytes, event_item, inbound_spec
from papo.streams import codec
from papo.streams.consumer import Entry
from papo.streams.producer import Item, Producer

log = logging.getLogger(__name__)


class WebhookFanout:
    """The handler of the webhook stream's consumer (papo.worker)."""

    def __init__(self, redis: aioredis.Redis, adapters: AdapterRegistry, partitions: int) -> None:
        self.redis = redis
        self.adapters = adapters
        self.inbound = Producer(redis, inbound_spec(partitions))
        self.owners = CachedOwners(redis)
        self.bodies = 0

    async def handle(self, entries: list[Entry]) -> None:
        """Parse, look up, dedupe and append a batch of bodies, archive them, count the outcomes."""
        counts: Counter[tuple[str, str]] = Counter()
        bodies: list[dict[str, Any]] = []
        parsed: list[InboundEvent] = []
        for entry in entries:
            platform = str(entry.data.get("platform", ""))
            raw = body_bytes(entry.data)
            # Stream ids are unique per partition only: the archive's key names the partition too.
            text = entry.data["body"] if "body" in entry.data else raw.decode("utf-8", "replace")
            bodies.append({"id": f"webhook:{entry.partition}:{entry.id}", "platform": platform,
                           "received_at": entry.data.get("received_at", 0), "body": text})
            try:
                parsed.extend(self.adapters.get_adapter(platform).parse(raw))
            except (PayloadError, UnknownPlatformError) as exc:
                counts[platform, "malformed"] += 1
                log.warning("webhook body %s (%s) left unparsed: %s", entry.id, platform, exc)
        keys = [account_key(event.platform, event.account_id) for event in parsed]
        owners = await self.owners.owners(keys) if keys else {}
        items: list[Item] = []
        platforms: list[str] = []
        for event, key in zip(parsed, keys, strict=True):
            if not owners.get(key):
                counts[event.platform, "unknown_account"] += 1
                log.info("dropped a %s %s event for unknown account %s", event.platform, event.kind, event.account_id)
                continue
            try:
                items.append(event_item(event))
            except PayloadError as exc:
                counts[event.platform, "malformed"] += 1
                log.warning("a %s %s event cannot be queued: %s", event.platform, event.kind, exc)
                continue
            platforms.append(event.platform)
        pipe = self.redis.pipeline(transaction=False)
        plan = self.inbound.queue_on(pipe, items)
        pipe.xadd(RAW_STREAM, codec.encode({"bodies": bodies}), maxlen=RAW_STREAM_MAXLEN, approximate=True)
        ids = await self.inbound.execute_appends(pipe, plan)
        for platform, entry_id in zip(platforms, ids[:len(items)], strict=True):
            counts[platform, "queued" if entry_id is not None else "duplicate"] += 1
        tally = self.redis.pipeline(transaction=False)
        for (platform, outcome), n in counts.items():
            metrics.WEBHOOK_EVENTS.queue_inc(tally, n, platform=platform, outcome=outcome)
        await tally.execute()
        self.bodies += len(entries)
