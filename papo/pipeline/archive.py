"""Raw webhook bodies -> MongoDB `raw_webhooks`, so `papo replay` can run them through the pipeline again.

The raw stream is not partitioned (order does not matter here): several workers share it through one
consumer group, and XAUTOCLAIM hands a dead worker's pending entries to a live one.

Nothing waits for the archive, so it is written in large batches: after a read that did not fill a batch
the archiver lets entries gather for `linger` seconds. The embedded MongoDB spends ~250 µs of CPU on every
insert command besides ~25 µs a document; read as they came (a few bodies each, ~50 reads a second at
300 webhooks/s) the commands cost more than the documents.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from pymongo.errors import BulkWriteError
from redis.exceptions import ResponseError

from papo.constants import CONSUMER_GROUP, MONGO_RAW_WEBHOOKS, RAW_STREAM
from papo.resilience import Outage, pause, until_done
from papo.runtime import Stores
from papo.streams import codec

log = logging.getLogger(__name__)


class RawArchiver:
    """Copies raw bodies into MongoDB, acking each entry only once it is stored."""

    def __init__(self, stores: Stores, *, worker_id: str, batch: int = 200, min_idle_ms: int = 60_000,
                 linger: float = 1.0) -> None:
        self.stores = stores
        self.worker_id = worker_id
        self.batch = batch
        self.min_idle_ms = min_idle_ms
        self.linger = linger
        self.archived = 0

    async def _ensure_group(self) -> None:
        try:
            await self.stores.redis.xgroup_create(RAW_STREAM, CONSUMER_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _store(self, entries: list[tuple[str, dict[str, str]]]) -> None:
        docs = []
        for entry_id, fields in entries:
            try:
                data = codec.decode(fields)
            except codec.CodecError:
                log.exception("raw entry %s is not decodable; dropping it", entry_id)
                continue
            # The webhook fan-out writes the bodies of a batch as one entry ({"bodies": [...]}), each with its
            # webhook stream entry id: a batch read again after a crash archives each body once.
            bodies = data.get("bodies")
            if not isinstance(bodies, list):
                bodies = [data]  # one body per entry (earlier versions, and any other producer)
            for n, body in enumerate(bodies):
                docs.append({
                    "_id": body.get("id") or (entry_id if len(bodies) == 1 else f"{entry_id}/{n}"),
                    "platform": body.get("platform"),
                    "body": body.get("body"),
                    "received_at": datetime.fromtimestamp(float(body.get("received_at", 0)), UTC),
                })
        if docs:
            try:
                await self.stores.analytics.db[MONGO_RAW_WEBHOOKS].insert_many(docs, ordered=False)
            except BulkWriteError as exc:  # re-delivered entries: duplicates of what is stored are fine
                if any(err.get("code") != 11000 for err in exc.details.get("writeErrors", [])):
                    raise
        await self.stores.redis.xack(RAW_STREAM, CONSUMER_GROUP, *(i for i, _ in entries))
        self.archived += len(entries)

    async def run(self, stop: asyncio.Event) -> None:
        """Archive until `stop` is set."""
        await until_done("raw archive group", self._ensure_group, log, stop=stop)
        redis = self.stores.redis
        outage = Outage(log, "raw archive")
        claim_at = 0.0  # a dead worker's entries are idle a minute before they can be claimed: look now and then
        while not stop.is_set():
            try:
                now = time.monotonic()
                if now >= claim_at:
                    _, claimed, *_ = await redis.xautoclaim(
                        RAW_STREAM, CONSUMER_GROUP, self.worker_id, self.min_idle_ms, "0-0", count=self.batch
                    )
                    if claimed:
                        await self._store([(i, f) for i, f in claimed if f])
                    claim_at = now + (0 if len(claimed) >= self.batch else self.min_idle_ms / 4000)
                reply = await redis.xreadgroup(
                    CONSUMER_GROUP, self.worker_id, {RAW_STREAM: ">"}, count=self.batch, block=500
                )
                read = sum(len(items) for _stream, items in reply or [])
                for _stream, items in reply or []:
                    if items:
                        await self._store(items)
                outage.ok()
                if 0 < read < self.batch:  # a trickle: let the next entries gather into one insert
                    await pause(stop, self.linger)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the archive must not stop the worker; entries stay pending and retry
                await outage.wait(exc, stop)
