"""The inbound worker stage: stream entries -> conversations and messages in PostgreSQL -> next stages.

Classification and automation plug in as `stages`: each gets the BatchResult of a committed batch
(only messages inserted for the first time), so a redelivered webhook never runs them twice. Each stage
says which BatchResult fields it fills and reads, and the pipeline refuses an order that cannot work.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from papo import metrics
from papo.adapters.base import ACCOUNT_KINDS, EventKind, InboundEvent, PayloadError
from papo.constants import (
    ACTIVE_BY_USER,
    ACTIVE_CONVERSATION,
    ACTIVE_TTL,
    INBOUND_STREAM,
    MONGO_PLATFORM_EVENTS,
    account_key,
)
from papo.pipeline import lifecycle
from papo.runtime import Stores
from papo.services import account_index, whatsapp_ids
from papo.services.account_index import AccountOwner
from papo.services.event_store import BatchResult, persist_batch, stages_done
from papo.streams.consumer import Entry

log = logging.getLogger(__name__)

# A stage may declare, as class attributes (ClassVar[frozenset[str]]), the BatchResult fields it `fills`,
# those it `reads` (an earlier stage must fill them) and those it `reads_if_filled` (fine when no stage
# fills them, wrong when a later one does). A plain callable declares nothing and fits anywhere.
Stage = Callable[[BatchResult], Awaitable[None]]
# What persistence (and `handle`) put on the BatchResult before the first stage runs.
PERSISTED = frozenset({"new_messages", "conversations", "updated", "statuses", "interactions", "skipped",
                       "received_at"})
OWNER_TTL = 30.0  # seconds an account lookup is trusted in-process


def _declared(stage: Stage, kind: str) -> frozenset[str]:
    return frozenset(getattr(stage, kind, ()))


def _name(stage: Stage) -> str:
    return getattr(stage, "__qualname__", None) or type(stage).__name__


def check_order(stages: Sequence[Stage]) -> None:
    """Raise ValueError, naming the stage and the field, when a stage reads what no earlier stage fills."""
    known = {f.name for f in dataclasses.fields(BatchResult)}
    declared = [(_name(s), _declared(s, "fills"), _declared(s, "reads"), _declared(s, "reads_if_filled"))
                for s in stages]
    filled = set(PERSISTED)
    for i, (name, fills, reads, optional) in enumerate(declared):
        if unknown := sorted((fills | reads | optional) - known):
            raise ValueError(f"stage {name} declares {', '.join(unknown)}: not a BatchResult field")
        later = {f: n for n, fs, _, _ in reversed(declared[i + 1:]) for f in fs}  # field -> first later filler
        if missing := sorted(reads - filled):
            field_name = missing[0]
            where = f"{later[field_name]} fills it after" if field_name in later else "no stage fills it"
            raise ValueError(f"stage {name} reads BatchResult.{field_name}, but no stage before it fills it "
                             f"({where})")
        if early := sorted(optional & later.keys()):
            field_name = early[0]
            raise ValueError(f"stage {name} reads BatchResult.{field_name}, but {later[field_name]} fills it "
                             f"only after it")
        filled |= fills


class InboundPipeline:
    """Handles batches of one inbound partition (the PartitionedConsumer calls `handle`)."""

    def __init__(self, stores: Stores, stages: Sequence[Stage] = (), *, stream: str = INBOUND_STREAM) -> None:
        check_order(stages)
        self.stores = stores
        self.stream = stream
        self.stages = list(stages)
        self._owners = account_index.CachedOwners(stores.redis, ttl=OWNER_TTL)

    async def handle(self, entries: list[Entry]) -> None:
        """Persist a batch in order, refresh the active-conversation cache, run the next stages."""
        events: list[InboundEvent] = []
        received: dict[str, datetime] = {}
        for entry in entries:
            try:
                events.append(InboundEvent.from_dict(entry.data))
            except PayloadError:
                log.exception("skipping undecodable inbound entry %s", entry.id)
                continue
            if (at := entry.appended_at) is not None:  # the webhook appended it: reply latency counts from here
                received[events[-1].dedupe_key] = at
        events = await whatsapp_ids.file_under_user_ids(self.stores.redis, events)
        owners = await self._lookup(events)
        epochs = {entry.partition: entry.epoch for entry in entries}
        result = await persist_batch(events, owners, fence=(self.stream, epochs))
        result.received_at = received
        metrics.EVENTS_PERSISTED.inc(len(events) - result.skipped)
        await self._cache_active(result)
        await self._record_account_events(events, owners)
        await lifecycle.on_inbound(self.stores, events, owners)  # last event seen; revocations disconnect
        for stage in self.stages:
            await stage(result)
        await stages_done(result)

    async def _lookup(self, events: list[InboundEvent]) -> dict[str, list[AccountOwner]]:
        return await self._owners.owners(account_key(e.platform, e.account_id) for e in events)

    async def _cache_active(self, result: BatchResult) -> None:
        """Keep recently active conversations in Redis: ids, last message and last customer message."""
        if not result.conversations:
            return
        last_inbound: dict[uuid.UUID, datetime] = {}
        for new in result.new_messages:
            if not new.event.is_echo:
                ts = new.event.timestamp
                last_inbound[new.conversation_id] = max(ts, last_inbound.get(new.conversation_id, ts))
        pipe = self.stores.redis.pipeline(transaction=False)
        recent: dict[str, dict[str, float]] = {}  # per owner, one ZADD and one EXPIRE for the whole batch
        for conv_id, (user_id, latest) in result.conversations.items():
            key = f"{ACTIVE_CONVERSATION}{conv_id}"
            mapping = {
                "user_id": str(user_id),
                "platform": str(latest.platform),
                "account": latest.account_id,
                "remote_user_id": latest.remote_user_id,
                "last_message_at": latest.timestamp.isoformat(),
            }
            if conv_id in last_inbound:
                mapping["last_inbound_at"] = last_inbound[conv_id].isoformat()
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, ACTIVE_TTL)
            recent.setdefault(f"{ACTIVE_BY_USER}{user_id}", {})[str(conv_id)] = latest.timestamp.timestamp()
        for key, members in recent.items():
            pipe.zadd(key, members, gt=True)
            pipe.expire(key, ACTIVE_TTL)
        await pipe.execute()

    async def _record_account_events(self, events: list[InboundEvent], owners: dict[str, list[AccountOwner]]) -> None:
        """Account-level events (video published, publish status, system notices) go to MongoDB."""
        docs = []
        for event in events:
            if event.kind not in ACCOUNT_KINDS and event.kind is not EventKind.SYSTEM:
                continue
            for account_id, user_id in owners.get(account_key(event.platform, event.account_id), []):
                docs.append({
                    "_id": f"{account_id}:{event.dedupe_key}",  # idempotent on redelivery
                    "user_id": user_id,
                    "account_id": account_id,
                    "platform": str(event.platform),
                    "kind": str(event.kind),
                    "event": event.to_dict(),
                    "created_at": datetime.now(UTC),
                })
        if not docs:
            return
        await self.stores.analytics.spool.insert(MONGO_PLATFORM_EVENTS, docs)  # a redelivery: same _id, kept once
