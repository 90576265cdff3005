"""The campaign runner (part of `papo scheduler`): feeds due broadcasts to the outbound stream, a little at a time.

Each round starts broadcasts that fell due, then for every running one: copies the outcomes the outbound
pipeline recorded (papo.services.broadcast_send.sync), claims as many pending recipients as leave at most
`in_flight` queued and unsettled, and appends their requests to the outbound stream. The sends themselves
are the outbound pipeline's: its Redis token buckets hold a campaign to `outbound_broadcast_per_second`
per account (default 80/s, WhatsApp's per-number throughput) plus the per-customer pair limit, and its
backoff on 130429 pauses every campaign send of that account (131056 waits for that customer only).
Keeping few requests in flight means replies to customers never queue behind a whole campaign, and a
cancelled campaign stops within a second.

Restarts: claims are committed before the append; a queued recipient with no outcome after
`broadcast_requeue_after` seconds (at once, the first time a runner sees the broadcast) is looked up in
the send ledger: never claimed → appended again (the stream's dedupe marker drops it if the first append
happened); settled → its outcome copied; in doubt → recorded as unknown, never resent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from papo.enums import Platform
from papo.resilience import Outage
from papo.runtime import Stores
from papo.services import broadcast_send as store
from papo.services.broadcasts import get_broadcast
from papo.services.notify import BROADCAST_FINISHED, notify_owner
from papo.services.queues import OutboundQueue
from papo.services.send_ledger import SENT_KEY, SendLedger
from papo.services.window import WindowChecker

if TYPE_CHECKING:
    from papo.config import Settings

log = logging.getLogger(__name__)

WINDOW_PLATFORMS = frozenset({Platform.INSTAGRAM, Platform.FACEBOOK})  # only inside their messaging window
FULL_SYNC_EVERY = 5.0  # seconds between full passes (deliveries, reads, replies, orphans) per broadcast
FINISHED_SYNC_EVERY = 30.0  # finished broadcasts keep getting deliveries, reads and replies for a while
BATCH = 500  # recipients claimed at most per broadcast and round


class BroadcastRunner:
    """One runner; several may run (claims use SKIP LOCKED, sends are deduplicated by outbound id)."""

    def __init__(self, stores: Stores, settings: Settings) -> None:
        self.stores = stores
        self.queue = OutboundQueue.from_settings(stores.redis, settings)
        self.window = WindowChecker(stores.redis, hours=settings.outbound_window_hours,
                                    margin_seconds=settings.outbound_window_margin)
        self.hours = settings.outbound_window_hours
        rate = settings.outbound_broadcast_per_second
        self.in_flight = max(20, int(rate * 2))  # two seconds of sends: the buckets never run dry
        self.requeue_after = settings.broadcast_requeue_after
        self.ledger = SendLedger(stores.redis)
        self._accounts: dict[uuid.UUID, dict[uuid.UUID, str]] = {}
        self._last_full: dict[uuid.UUID, float] = {}
        self._last_finished_sync = float("-inf")
        self.queued = 0

    async def round(self) -> int:
        """One pass over every running broadcast; how many requests it appended."""
        for bid in await store.start_due():
            log.info("broadcast %s started", bid)
        appended = 0
        for campaign in await store.running():
            appended += await self._advance(campaign)
        if time.monotonic() - self._last_finished_sync >= FINISHED_SYNC_EVERY:
            self._last_finished_sync = time.monotonic()
            for bid in await store.recently_finished():
                await store.sync(bid)
        self.queued += appended
        return appended

    async def _advance(self, campaign: store.Campaign) -> int:
        now = time.monotonic()
        first_sight = campaign.id not in self._last_full
        full = now - self._last_full.get(campaign.id, float("-inf")) >= FULL_SYNC_EVERY
        await store.sync(campaign.id, queued_only=not full)
        appended = 0
        if full:
            self._last_full[campaign.id] = now
            appended += await self._heal(campaign, older_than=0.0 if first_sight else self.requeue_after)
        room = self.in_flight - await store.in_flight(campaign.id)
        rows = await store.claim(campaign.id, min(room, BATCH))
        appended += await self._append(campaign, rows)
        if not rows and room > 0 and await store.finish_if_done(campaign.id):
            self._last_full.pop(campaign.id, None)
            self._accounts.pop(campaign.id, None)
            await self._finished(campaign)
        return appended

    async def _finished(self, campaign: store.Campaign) -> None:
        """Tell the owner how the campaign went (once: the alert's dedupe key is the broadcast's id)."""
        view = await get_broadcast(campaign.user_id, str(campaign.id))  # brings the outcomes up to date first
        funnel = view.funnel()
        log.info("broadcast %s finished: %s", campaign.id, view.counts)
        await notify_owner(self.stores.redis, campaign.user_id, BROADCAST_FINISHED, {
            "broadcast_id": str(campaign.id), "name": view.name, "total": view.total, "sent": funnel["sent"],
            "failed": funnel["failed"], "skipped": funnel["skipped"],
        }, dedupe_key=f"{BROADCAST_FINISHED}:{campaign.id}")

    async def _append(self, campaign: store.Campaign, rows: list[dict[str, Any]]) -> int:
        """Build and append the requests of claimed recipients (skipping those that cannot be sent now)."""
        if not rows:
            return 0
        accounts = await self._account_ids(campaign.id)
        requests, gone, closed = [], [], {}
        for row in rows:
            if row["conversation_id"] is None or row["account_id"] not in accounts:
                gone.append(row["id"])
                continue
            if Platform(row["platform"]) in WINDOW_PLATFORMS:
                state = await self.window.state(str(row["conversation_id"]))
                if not state.open:
                    closed[row["id"]] = state.reason(self.hours)
                    continue
            requests.append(store.request_for(campaign, row, accounts[row["account_id"]]))
        await store.skip(gone, "the conversation or its connected account no longer exists")
        for recipient_id, reason in closed.items():
            await store.skip([recipient_id], reason)
        if requests:
            await self.queue.enqueue_many(requests)
        return len(requests)

    async def _heal(self, campaign: store.Campaign, *, older_than: float) -> int:
        """Queued recipients without an outcome: append again, copy the ledger's outcome, or mark in doubt."""
        rows = await store.orphans(campaign.id, older_than=older_than)
        again = []
        for row in rows:
            entry = await self.ledger.get(row["outbound_id"])
            if entry is None:
                again.append(row)
            elif entry.state == "sending" and not await self._stale(row["outbound_id"]):
                continue  # a worker is sending it right now
            elif entry.state == "sending" or (entry.state in ("sent", "failed", "skipped", "unknown", "gave_up")
                                              and entry.recorded):
                # In doubt, or settled while its conversation went away (so no `messages` row says so).
                outcome = entry.outcome
                await store.settle(row["id"], "unknown" if entry.state == "sending" else
                                   ("failed" if entry.state == "gave_up" else entry.state),
                                   platform_message_id=outcome.platform_message_id if outcome else None,
                                   error=(outcome.error if outcome else None) or store.IN_DOUBT)
        if again:
            log.warning("broadcast %s: %d queued recipient(s) had no request on the stream; appending them again",
                        campaign.id, len(again))
        return await self._append(campaign, again) if again else 0

    async def _stale(self, outbound_id: str) -> bool:
        """Whether a send claimed in the ledger started long enough ago for its worker to be gone."""
        started = await self.stores.redis.hget(SENT_KEY + outbound_id, "started")
        try:
            return time.time() - float(started or 0) > self.requeue_after
        except ValueError:
            return True

    async def _account_ids(self, bid: uuid.UUID) -> dict[uuid.UUID, str]:
        if bid not in self._accounts:
            self._accounts[bid] = await store.account_ids(bid)
        return self._accounts[bid]


async def run_broadcasts(stores: Stores, settings: Settings, stop: asyncio.Event) -> None:
    """Run campaign rounds until `stop` is set (with `papo scheduler`, and in `papo up`)."""
    interval = settings.broadcast_interval
    runner = BroadcastRunner(stores, settings)
    outage = Outage(log, "broadcast round")
    while not stop.is_set():
        timeout = interval
        try:
            busy = bool(await store.running())
            await runner.round()
            if not busy:
                due = await store.next_due_in()
                timeout = min(2.0, due) if due is not None else 2.0
            outage.ok()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a store hiccup must not stop the campaigns: the next round retries
            timeout = outage.failed(exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(0.05, timeout))
    log.info("broadcast runner stopped (%d requests appended)", runner.queued)
