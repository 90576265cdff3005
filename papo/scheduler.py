"""`papo scheduler`: queue posts when they fall due — exactly once, even with several schedulers running.

It also runs the campaign runner (papo.pipeline.broadcast) alongside.

Each round claims due posts with one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n)
RETURNING` (a post is taken by one scheduler only; the claim bumps the post's `publish_run`), then appends
one entry per post to the `posts` stream with the dedupe key `post:<id>:<run>:<scheduled_for>`. The claim
commits before the append, so a scheduler that dies in between leaves the post "queued" without an entry:
every scheduler re-offers such posts at start and every `posts_requeue_after` seconds, and the dedupe key
drops the offer when the entry did reach the stream. Posts that fell due while no scheduler ran are simply
due now: the first round catches up on all of them, oldest first. Between rounds the scheduler sleeps until
the next post is due (at most `posts_scheduler_interval` seconds, so new posts are seen quickly).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from papo.pipeline.broadcast import run_broadcasts
from papo.resilience import Outage, keep_alive, until_done
from papo.runtime import Stores, StoreUrls, open_stores, stop_on_signals
from papo.services.media import sweep_media
from papo.services.posts import enqueue_due, requeue_queued, seconds_to_next_due

if TYPE_CHECKING:
    from papo.config import Settings

MEDIA_SWEEP_EVERY = 3600.0  # seconds between sweeps of uploads no post uses (papo.services.media)

log = logging.getLogger(__name__)


async def schedule_round(stores: Stores, *, partitions: int, batch: int = 100) -> int:
    """Queue every post due now (in batches of `batch`); returns how many were queued."""
    queued = 0
    while True:
        ids = await enqueue_due(stores.redis, partitions=partitions, limit=batch)
        queued += len(ids)
        if len(ids) < batch:
            return queued


async def run_scheduler(stores: Stores, settings: Settings, stop: asyncio.Event) -> None:
    """Queue due posts until `stop` is set (the `papo scheduler` role; `papo up` runs it too)."""
    interval = settings.posts_scheduler_interval
    batch = settings.posts_scheduler_batch
    requeue_after = settings.posts_requeue_after
    partitions = settings.stream_partitions
    campaigns = asyncio.create_task(run_broadcasts(stores, settings, stop), name="broadcasts")
    try:
        await _run_posts(stores, settings, stop, interval=interval, batch=batch, requeue_after=requeue_after,
                         partitions=partitions)
    finally:
        if not stop.is_set():  # the posts half failed or was cancelled: the campaigns stop with it
            campaigns.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await campaigns


async def _run_posts(stores: Stores, settings: Settings, stop: asyncio.Event, *, interval: float, batch: int,
                     requeue_after: float, partitions: int) -> None:
    """The posts half of the scheduler."""
    healed = await until_done("scheduler start", lambda: requeue_queued(stores.redis, partitions=partitions,
                                                                         older_than=0), log, stop=stop)
    if healed:
        log.warning("scheduler: %d queued post(s) had no stream entry (a scheduler stopped mid-way); queued now",
                    healed)
    last_sweep = time.monotonic()
    last_media_sweep = float("-inf")  # at start, then every MEDIA_SWEEP_EVERY seconds
    log.info("scheduler started (every %.1fs at most)", interval)
    outage = Outage(log, "scheduler round")
    while not stop.is_set():
        wait: float | None = interval
        try:
            queued = await schedule_round(stores, partitions=partitions, batch=batch)
            if queued:
                log.info("scheduler: queued %d due post(s)", queued)
            if time.monotonic() - last_sweep >= requeue_after:
                last_sweep = time.monotonic()
                healed = await requeue_queued(stores.redis, partitions=partitions, older_than=requeue_after)
                if healed:
                    log.warning("scheduler: re-queued %d post(s) whose entry was missing", healed)
            if time.monotonic() - last_media_sweep >= MEDIA_SWEEP_EVERY:
                last_media_sweep = time.monotonic()
                deleted = await sweep_media(settings)
                if deleted:
                    log.info("scheduler: deleted %d uploaded file(s) no post uses", len(deleted))
            wait = await seconds_to_next_due()
            outage.ok()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a store hiccup must not stop the schedule: the next round retries
            wait = outage.failed(exc)
        timeout = interval if wait is None else max(0.05, min(interval, wait))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=timeout)
    log.info("scheduler stopped")


async def run_scheduler_process(settings: Settings, urls: StoreUrls) -> None:
    """The `papo scheduler` process: open stores, run until SIGINT/SIGTERM, close."""
    stop = asyncio.Event()
    stop_on_signals(stop)
    async with open_stores(urls, settings, pool_max=4) as stores:
        await asyncio.gather(keep_alive("scheduler", stop), run_scheduler(stores, settings, stop))
