"""Documents that must reach MongoDB even while it is down: written at once, else kept in Redis until it is back.

Analytics and AI interactions are not in the path of a reply, so a MongoDB outage must neither stall the
pipeline nor lose them. `Spool.insert` tries MongoDB (unless it is known to be down); when MongoDB cannot
be reached the documents go to a Redis list instead, as canonical Extended JSON (UUIDs, datetimes and
ObjectIds keep their BSON types). `Spool.run` (a worker role) moves them to MongoDB once it answers.

While a backlog is being moved, every process writes behind it, to Redis, even one started after MongoDB
came back: a MongoDB busy with the backlog (the embedded one spends most of a millisecond per document)
would otherwise hold up every reply whose `message_sent` it records. Whether there is a backlog is read
from Redis at most once a second while there is none.

Every document gets its `_id` before the first try, so a write that reached MongoDB but whose answer was
lost is a duplicate key on the retry (ignored), never a second document.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from typing import Any

import redis.asyncio as aioredis
from bson import ObjectId, json_util
from bson.binary import UuidRepresentation
from bson.json_util import JSONMode, JSONOptions
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure

from papo.constants import MONGO_SPOOL, lock_key
from papo.resilience import Outage

log = logging.getLogger(__name__)

_JSON = JSONOptions(json_mode=JSONMode.CANONICAL, uuid_representation=UuidRepresentation.STANDARD, tz_aware=True)
FLUSH_BATCH = 500
LOCK_MS = 30_000  # a flush of one batch takes far less; a dead flusher's lock lapses
BACKLOG_CHECK_EVERY = 1.0  # seconds an empty spool is believed empty without asking Redis again
DUPLICATE_KEY = 11000


async def insert_ignoring_duplicates(db: AsyncDatabase, collection: str, docs: list[dict[str, Any]]) -> None:
    """insert_many, unordered; documents already there (same `_id`) are fine."""
    try:
        await db[collection].insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        if any(err.get("code") != DUPLICATE_KEY for err in exc.details.get("writeErrors", [])):
            raise


class Spool:
    """MongoDB writes with a Redis fallback (one per process; `run` drains it in a worker)."""

    def __init__(self, db: AsyncDatabase, redis: aioredis.Redis | None, *, key: str = MONGO_SPOOL) -> None:
        self.db = db
        self.redis = redis
        self.key = key
        self.down = False  # MongoDB failed, or a backlog is being moved: write to Redis without trying
        self.spooled = 0
        self._empty_until = 0.0  # monotonic time until which the spool is taken to be empty

    async def insert(self, collection: str, docs: list[dict[str, Any]]) -> None:
        """Store `docs` in `collection` now, or in the spool if MongoDB cannot be reached."""
        if not docs:
            return
        for doc in docs:
            doc.setdefault("_id", ObjectId())
        if not self.down and self.redis is not None and await self._backlog():
            self.down = True  # behind the backlog, until a flush of this process finds the spool empty
        if not self.down or self.redis is None:
            try:
                await insert_ignoring_duplicates(self.db, collection, docs)
                return
            except ConnectionFailure as exc:  # ServerSelectionTimeoutError, AutoReconnect, NetworkTimeout
                if self.redis is None:
                    raise
                if not self.down:
                    log.warning("MongoDB unreachable (%s): keeping %s documents in Redis until it is back",
                                type(exc).__name__, collection)
                self.down = True
        await self.redis.rpush(self.key, *(json_util.dumps({"c": collection, "d": d}, json_options=_JSON)
                                           for d in docs))
        self.spooled += len(docs)

    async def _backlog(self) -> bool:
        """Whether documents wait in the spool (another process saw MongoDB down)."""
        now = time.monotonic()
        if now < self._empty_until:
            return False
        assert self.redis is not None
        if await self.redis.llen(self.key):
            return True
        self._empty_until = now + BACKLOG_CHECK_EVERY
        return False

    async def flush(self) -> int:
        """Move spooled documents to MongoDB (oldest first); how many. Raises if MongoDB is still down.

        One flusher at a time (a short lock): two would read the same head of the list, and the second
        trim would drop documents nobody had written yet.
        """
        assert self.redis is not None
        moved = 0
        lock = lock_key(self.key)
        while True:
            if not await self.redis.set(lock, "1", nx=True, px=LOCK_MS):
                return moved  # another worker is flushing
            try:
                raw = await self.redis.lrange(self.key, 0, FLUSH_BATCH - 1)
                if not raw:
                    self.down = False
                    return moved
                by_collection: dict[str, list[dict[str, Any]]] = defaultdict(list)
                for item in raw:
                    entry = json_util.loads(item, json_options=_JSON)
                    by_collection[entry["c"]].append(entry["d"])
                for collection, docs in by_collection.items():
                    await insert_ignoring_duplicates(self.db, collection, docs)
                await self.redis.ltrim(self.key, len(raw), -1)
                moved += len(raw)
            finally:
                with contextlib.suppress(Exception):
                    await self.redis.delete(lock)

    async def run(self, stop: asyncio.Event, *, every: float = 1.0) -> None:
        """Drain the spool whenever it holds documents, until `stop`."""
        outage = Outage(log, "MongoDB spool")
        while not stop.is_set():
            wait = every
            try:
                moved = await self.flush()
                if moved:
                    log.warning("MongoDB spool: %d document(s) kept during an outage are in MongoDB now", moved)
                outage.ok()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # MongoDB or Redis still down: the documents stay in the spool
                wait = min(every * 5, outage.failed(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
