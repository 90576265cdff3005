"""`papo worker`: the inbound consumer (and, as they arrive, the other background roles)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence

import aiohttp

from papo.adapters.adapter_registry import default_registry
from papo.ai.openai_classifier import SourcedClassifier, make_classifier
from papo.config import Settings
from papo.pipeline.archive import RawArchiver
from papo.pipeline.automate import AutomateStage
from papo.pipeline.engagement import run_engagement
from papo.pipeline.fanout import WebhookFanout
from papo.pipeline.lifecycle import AccountLifecycle
from papo.pipeline.optout import OptOutStage
from papo.pipeline.persist import InboundPipeline, Stage
from papo.pipeline.publish import run_publisher
from papo.pipeline.send import run_outbound
from papo.pipeline.understand import UnderstandStage
from papo.pipeline.youtube_poller import YouTubePoller
from papo.resilience import keep_alive, supervise, until_done
from papo.runtime import Stores, StoreUrls, open_stores, stop_on_signals, token_cipher, tune_gc
from papo.services import account_index
from papo.services.queues import Queues, inbound_spec, webhook_spec
from papo.streams.consumer import Handler, PartitionedConsumer
from papo.streams.spec import StreamSpec

log = logging.getLogger(__name__)


def worker_id() -> str:
    """A name unique to this process on this machine."""
    return f"{socket.gethostname()}-{os.getpid()}"


def inbound_stages(stores: Stores, settings: Settings, classifier: SourcedClassifier) -> list[Stage]:
    """The worker's stages in their order (InboundPipeline checks it against what each reads and fills)."""
    return [UnderstandStage(stores, classifier), OptOutStage(stores, settings), AutomateStage(stores, settings)]


async def run_roles(stores: Stores, settings: Settings, stop: asyncio.Event, *, stages: Sequence[Stage] | None = None,
                    name: str | None = None) -> None:
    """Run the worker's consumers on open stores until `stop` is set, then drain."""
    name = name or worker_id()
    # A worker may start while Redis is down: it waits for it (and `stop`) instead of exiting.
    if await until_done("account index rebuild", lambda: account_index.rebuild(stores.redis), log,
                        stop=stop) is None and stop.is_set():
        return
    classifier = make_classifier(settings, stores.redis)
    if stages is None:
        stages = inbound_stages(stores, settings, classifier)
    pipeline = InboundPipeline(stores, stages)
    tolerance = settings.tiktok_signature_tolerance
    fanout = WebhookFanout(stores.redis, default_registry(tiktok_tolerance=tolerance, kwai_tolerance=tolerance),
                           settings.stream_partitions)

    def consumer_of(spec: StreamSpec, handler: Handler) -> PartitionedConsumer:
        # combine: the small batches its partitions read together are handled together (one parse-and-append
        # round trip for the webhook stream; persisted and understood together for the inbound stream).
        return PartitionedConsumer(stores.redis, spec, handler, worker_id=name, batch=settings.worker_batch,
                                   lease_ms=settings.worker_lease_ms, max_deliveries=settings.worker_max_deliveries,
                                   combine=True)

    webhooks = consumer_of(webhook_spec(settings.stream_partitions), fanout.handle)
    consumer = consumer_of(inbound_spec(settings.stream_partitions), pipeline.handle)
    archiver = RawArchiver(stores, worker_id=name)
    queues = Queues(stores.redis, settings.stream_partitions)
    log.info("worker %s started (%d inbound partitions)", name, settings.stream_partitions)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        cipher = token_cipher(settings)
        poller = YouTubePoller(stores, settings, queues, cipher, session)
        lifecycle = AccountLifecycle(stores, settings, session, cipher)
        try:
            roles = {
                "webhook fan-out": webhooks.run,
                "inbound consumer": consumer.run,
                "raw archive": archiver.run,
                "youtube poller": poller.run,
                "account lifecycle": lifecycle.run,
                "outbound": lambda stop: run_outbound(stores, settings, stop, session, cipher=cipher, worker_id=name),
                "publisher": lambda stop: run_publisher(stores, settings, stop, session, cipher, name),
                "engagement": lambda stop: run_engagement(stores, settings, stop, session, cipher, name),
                "mongodb spool": stores.analytics.spool.run,
            }
            await asyncio.gather(keep_alive("worker", stop),
                                 *(supervise(what, role, stop, log) for what, role in roles.items()))
        finally:
            await classifier.aclose()
            await queues.aclose()
    log.info("worker %s stopped: %d webhook bodies, %d events, %d raw bodies archived", name, fanout.bodies,
             consumer.processed, archiver.archived)


async def run_worker(settings: Settings, urls: StoreUrls) -> None:
    """The `papo worker` process: open stores, run until SIGINT/SIGTERM, drain, close."""
    stop = asyncio.Event()
    stop_on_signals(stop)
    async with open_stores(urls, settings, pool_max=max(4, settings.stream_partitions + 6)) as stores:
        tune_gc()
        await run_roles(stores, settings, stop)
