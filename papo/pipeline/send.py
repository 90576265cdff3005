"""The outbound stage: a partitioned stream of OutboundMessages, sent through each platform within its rules.

Per request, in order: ledger check (sent at most once, see papo.services.send_ledger) → window check (24 h,
template fallback or a recorded skip) → private-reply rules (7 days, one per comment) → rate limits
(Redis token buckets) → claim → send → record (`messages` row + `analytics_logs` `message_sent`).
Retryable errors are retried with exponential backoff and jitter on redelivery; after `max_attempts` the
request is recorded as failed and moved to the partition's dead letters. The stream is partitioned by
conversation, and a batch's conversations are sent concurrently while each keeps its own order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from papo import metrics
from papo.adapters.errors import PayloadError, UnknownPlatformError
from papo.adapters.senders import (
    InDoubt,
    NotSupported,
    OutboundKind,
    OutboundMessage,
    PairRateLimited,
    RateLimited,
    RetryableError,
    SenderRegistry,
    SendError,
    default_senders,
)
from papo.batching import AutoPipeline
from papo.config import Settings
from papo.constants import CAMPAIGN_PAUSE
from papo.crypto import CryptoError, TokenCipher
from papo.enums import Platform
from papo.pipeline.ratelimit import RateLimiter, send_buckets
from papo.resilience import pause
from papo.runtime import Stores
from papo.services import NotFound, account_cache, comment_claim, handoff, sent_record
from papo.services.account_cache import AccountProfile
from papo.services.notify import REPLY_FAILED, notify_owner
from papo.services.queues import DEFAULT_PARTITIONS, outbound_spec
from papo.services.send_ledger import CLAIMABLE, Outcome, SendLedger
from papo.services.window import WindowChecker
from papo.streams import codec
from papo.streams.consumer import Entry, PartitionedConsumer, Retry

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 5  # Settings.worker_max_deliveries' default
OUTCOMES = metrics.Counter("papo_outbound_total", "Outbound requests by platform and outcome.")
IN_DOUBT_HINT = "not resent to avoid a duplicate; check the platform, then release the outbound id and requeue"
IN_DOUBT = f"a worker stopped between the API call and recording its answer: {IN_DOUBT_HINT}"


@dataclasses.dataclass(frozen=True, slots=True)
class OutboundSettings:
    """Outbound behaviour; each field `x` is read from the setting `outbound_x` (PAPO_OUTBOUND_X) when present."""

    partitions: int = DEFAULT_PARTITIONS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_base: float = 1.0  # seconds before the 2nd attempt; doubles each time (with jitter)
    retry_max: float = 30.0
    window_hours: float = 24.0
    window_margin: float = 60.0  # treat the window as closed this many seconds early
    private_reply_days: float = 7.0
    whatsapp_per_second: float = 80.0
    instagram_per_second: float = 100.0
    messenger_per_second: float = 300.0
    private_replies_per_hour: float = 750.0
    whatsapp_pair_seconds: float = 6.0  # about one message per 6 s to one customer…
    whatsapp_pair_burst: float = 5.0  # …after a small burst
    youtube_replies_per_day: float = 150.0  # comments.insert costs 50 of the 10,000 daily quota units
    kwai_per_second: float = 50.0
    broadcast_per_second: float = 80.0  # broadcast sends per account (WhatsApp: per phone number)
    limiter_max_wait: float = 60.0
    concurrency: int = 32  # conversations sent at once per partition (bounded: Redis/PostgreSQL pools)
    account_cache_ttl: int = 300
    instagram_base: str = "graph_api_url"  # "instagram_api_url" for Instagram-Login tokens (graph.instagram.com)
    graph_api_url: str = "https://graph.facebook.com/v23.0"
    instagram_api_url: str = "https://graph.instagram.com/v23.0"
    youtube_api_url: str = "https://www.googleapis.com"
    tiktok_api_url: str = "https://open.tiktokapis.com"

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundSettings:
        """Read from Settings: `outbound_<field>` when defined, the shared base URLs and stream settings."""
        values: dict[str, Any] = {f.name: getattr(settings, f"outbound_{f.name}") for f in dataclasses.fields(cls)
                                  if f"outbound_{f.name}" in Settings.model_fields}
        for name in ("graph_api_url", "instagram_api_url", "youtube_api_url", "tiktok_api_url"):
            values[name] = settings.url(name)
        values["partitions"] = settings.stream_partitions
        return cls(**values)


class RetryLater(Retry):
    """A retryable failure: the consumer redelivers the entry (after our backoff)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """What to do with a request: send `send` (maybe the fallback), or skip with `skip`."""

    send: OutboundMessage | None
    skip: str | None = None
    fallback_used: bool = False


class OutboundPipeline:
    """Handles batches of one outbound partition (the PartitionedConsumer calls `handle`)."""

    def __init__(self, stores: Stores, settings: OutboundSettings, *, session: aiohttp.ClientSession,
                 cipher: TokenCipher, senders: SenderRegistry | None = None, worker_id: str = "papo",
                 stop: asyncio.Event | None = None) -> None:
        self.stores = stores
        self.stop = stop  # set: a backoff is cut short (the entry stays pending for the next worker)
        self.redis = stores.redis
        self.settings = settings
        self.session = session
        self.cipher = cipher
        self.senders = senders or default_senders()
        self.worker_id = worker_id
        self.spec = outbound_spec(settings.partitions)
        # The batch's conversations run concurrently: their Redis commands share pipelines (papo.batching).
        self.auto = AutoPipeline(stores.redis)
        self.ledger = SendLedger(stores.redis, auto=self.auto)
        self.limiter = RateLimiter(stores.redis, auto=self.auto)
        self.recorder = sent_record.MessageRecorder()
        self.window = WindowChecker(self.auto, hours=settings.window_hours,  # type: ignore[arg-type]
                                    margin_seconds=settings.window_margin)
        self.outcomes: Counter[str] = Counter()
        self._slots = asyncio.Semaphore(max(1, settings.concurrency))

    # ------------------------------------------------------------ batches

    async def handle(self, entries: list[Entry]) -> None:
        """Send a batch: conversations concurrently, each conversation's requests in order."""
        groups: dict[str, list[Entry]] = {}
        for entry in entries:
            groups.setdefault(str(entry.data.get("conversation_id") or entry.id), []).append(entry)
        results = await asyncio.gather(*(self._run_group(g) for g in groups.values()), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result  # the consumer redelivers; entries already settled are no-ops then

    async def _run_group(self, entries: list[Entry]) -> None:
        async with self._slots:
            for entry in entries:
                try:
                    request = OutboundMessage.from_dict(entry.data)
                except PayloadError as exc:
                    await self._dead_letter(entry, f"undecodable outbound request: {exc}")
                    continue
                await self.process(request, entry=entry)

    # ------------------------------------------------------------ one request

    async def process(self, request: OutboundMessage, *, entry: Entry | None = None) -> str:
        """Take one request to a final state (or raise RetryLater); returns the ledger state."""
        found = await self.ledger.get(request.outbound_id)
        if found is not None and found.state == "sending":
            return await self._in_doubt(request, found.attempts, entry)
        # "gave_up" may be sent again, but only from a requeued entry, not the one already dead-lettered.
        settled = found is not None and (found.state not in CLAIMABLE or (
            entry is not None and found.dead_entry == entry.id))
        if found is not None and settled:
            await self._finish(request, found.state, found.outcome, recorded=found.recorded, logged=found.logged)
            return found.state
        try:
            profile = await account_cache.load_account(self.auto, request.account_id,  # type: ignore[arg-type]
                                                 ttl=self.settings.account_cache_ttl)
        except NotFound as exc:
            return await self._settle_without_send(request, "failed", str(exc))
        plan = await self._plan(request)
        if plan.send is not None and request.campaign_id:
            await self._campaign_pause(request.account_id)
        if plan.send is not None:
            try:
                await self.limiter.acquire(send_buckets(plan.send, self.settings),
                                           max_wait=self.settings.limiter_max_wait)
            except TimeoutError as exc:
                attempts = await self.ledger.note_retry(request.outbound_id)
                return await self._retry(request, RateLimited(f"Papo's own rate limit: {exc}"), attempts, entry)
        claimed, state, attempts = await self.ledger.claim(request.outbound_id, self.worker_id)
        if not claimed:  # another worker took it meanwhile: finish its outcome, or report it if unfinished
            if state == "sending":
                return await self._in_doubt(request, attempts, entry)
            return await self.process(request, entry=entry)
        if plan.send is None:
            return await self._settle(request, "skipped", Outcome("skipped", error=plan.skip, text=request.text,
                                                                  attempts=attempts))
        if request.kind is OutboundKind.PRIVATE_REPLY and not await comment_claim.claim_comment(
                self.redis, request, days=self.settings.private_reply_days):
            return await self._settle(request, "skipped", Outcome(
                "skipped", error="this comment already got its one private reply", text=request.text,
                attempts=attempts))
        return await self._send(request, plan, profile, attempts, entry)

    async def _send(self, request: OutboundMessage, plan: Plan, profile: AccountProfile, attempts: int,
                    entry: Entry | None) -> str:
        assert plan.send is not None
        sent = plan.send
        text, template = sent.text, None
        if sent.template is not None:
            text, template = sent.template.preview or f"[template {sent.template.name}]", sent.template.name
        base: dict[str, Any] = {"text": text, "template": template, "fallback_used": plan.fallback_used,
                                "attempts": attempts}
        try:
            token = profile.credential(self.cipher)
            sender = self.senders.get_sender(sent.platform)
            result = await sender.send(sent, token, self.session, self._base_url(sent.platform, profile))
        except InDoubt as exc:
            return await self._in_doubt(request, attempts, entry, error=f"{exc.describe()}: {IN_DOUBT_HINT}")
        except RetryableError as exc:
            return await self._retry(request, exc, attempts, entry)
        except NotSupported as exc:
            return await self._settle(request, "skipped", Outcome("skipped", error=exc.describe(), **base))
        except (SendError, CryptoError, NotFound, UnknownPlatformError) as exc:
            error = exc.describe() if isinstance(exc, SendError) else str(exc)
            if isinstance(exc, SendError) and exc.account_problem:
                await account_cache.forget_account(self.redis, request.account_id)
                await account_cache.report_account_problem(self.redis, request.account_id, error, request.outbound_id)
                log.warning("account %s needs its owner: %s", request.account_id, error)
            if request.kind is OutboundKind.PRIVATE_REPLY:
                await comment_claim.release_comment(self.redis, request)
            return await self._settle(request, "failed", Outcome("failed", error=error, **base))
        outcome = Outcome("sent", platform_message_id=result.platform_message_id, recipient=result.recipient, **base)
        return await self._settle(request, "sent", outcome)

    # ------------------------------------------------------------ platform rules

    async def _plan(self, request: OutboundMessage) -> Plan:
        """Window and private-reply rules: the request as is, its template fallback, or a skip."""
        now = datetime.now(UTC)
        if request.kind is OutboundKind.PRIVATE_REPLY:
            if request.platform not in (Platform.INSTAGRAM, Platform.FACEBOOK):
                return Plan(None, skip=f"{request.platform} has no private replies to comments")
            age = now - request.comment_created_at if request.comment_created_at else timedelta(0)
            if age > timedelta(days=self.settings.private_reply_days):
                return Plan(None, skip=f"private replies are allowed within {self.settings.private_reply_days:g} "
                                       f"days of the comment; this one is {age.days} days old")
            return Plan(request)
        if request.kind is not OutboundKind.REPLY or request.template is not None:
            return Plan(request)  # comment replies have no window; templates are allowed outside it
        if not self.window.applies_to(request.platform):
            return Plan(request)
        state = await self.window.state(request.conversation_id, now=now)
        if state.open:
            return Plan(request)
        reason = state.reason(self.settings.window_hours)
        if request.fallback is not None and request.platform is Platform.WHATSAPP:
            return Plan(dataclasses.replace(request, template=request.fallback, buttons=()), fallback_used=True)
        if request.fallback is not None:
            reason += f"; {request.platform} has no templates to fall back on"
        return Plan(None, skip=reason)

    async def _campaign_pause(self, account_id: str) -> None:
        """Wait out a throughput backoff the platform asked of this account's campaign sends."""
        waited = 0.0
        while waited < self.settings.limiter_max_wait:
            left = await self.redis.pttl(CAMPAIGN_PAUSE + account_id)
            if left is None or left <= 0:
                return
            pause = min(left / 1000.0, self.settings.limiter_max_wait - waited)
            await asyncio.sleep(pause)
            waited += pause

    def _base_url(self, platform: Platform, profile: AccountProfile) -> str:
        s = self.settings
        match platform:
            case Platform.WHATSAPP | Platform.FACEBOOK:
                return s.graph_api_url
            case Platform.INSTAGRAM:
                return s.instagram_api_url if s.instagram_base == "instagram_api_url" else s.graph_api_url
            case Platform.YOUTUBE:
                return s.youtube_api_url
            case Platform.TIKTOK:
                return s.tiktok_api_url
            case _:
                return profile.callback_url or ""

    # ------------------------------------------------------------ outcomes

    async def _retry(self, request: OutboundMessage, exc: SendError, attempts: int, entry: Entry | None) -> str:
        """Back off and let the consumer redeliver; after max_attempts, record the failure and dead-letter."""
        if attempts >= self.settings.max_attempts:
            error = f"gave up after {attempts} attempts: {exc.describe()}"
            if entry is not None:
                await self.ledger.settle(request.outbound_id, "gave_up", dead_entry=entry.id)
                await self._dead_letter(entry, error)
            await self._settle(request, "gave_up", Outcome("failed", error=error, text=request.text, attempts=attempts))
            return "gave_up"
        await self.ledger.settle(request.outbound_id, "retry", error=exc.describe())
        delay = min(self.settings.retry_max, self.settings.retry_base * 2 ** (attempts - 1))
        delay = max(delay / 2 + random.uniform(0, delay / 2), min(exc.retry_after or 0.0, self.settings.retry_max))
        if request.campaign_id and isinstance(exc, RateLimited) and not isinstance(exc, PairRateLimited):
            # The number's throughput (130429): every campaign send of the account waits, not just this one.
            await self.redis.set(CAMPAIGN_PAUSE + request.account_id, exc.describe()[:200],
                                 px=max(1, int(delay * 1000)))
        # The one line per attempt (the consumer adds none for a RetryLater), counted like "gave up after N".
        log.warning("outbound %s to %s: attempt %d of %d failed (%s); retrying in %.2fs", request.outbound_id,
                    request.platform, attempts, self.settings.max_attempts, exc.describe(), delay)
        self._count(request, "retry")
        await pause(self.stop, delay)
        raise RetryLater(exc.describe())

    async def _in_doubt(self, request: OutboundMessage, attempts: int, entry: Entry | None,
                        error: str = IN_DOUBT) -> str:
        """Report, never resend: record the message as 'unknown' and put the entry in the dead letters."""
        log.warning("outbound %s is in doubt: %s", request.outbound_id, error)
        await self._settle(request, "unknown", Outcome("unknown", error=error, text=request.text, attempts=attempts))
        if entry is not None:
            await self._dead_letter(entry, error)
        return "unknown"

    async def _settle_without_send(self, request: OutboundMessage, status: str, error: str) -> str:
        claimed, state, attempts = await self.ledger.claim(request.outbound_id, self.worker_id)
        if not claimed:
            return state
        return await self._settle(request, status, Outcome(status, error=error, text=request.text, attempts=attempts))

    async def _settle(self, request: OutboundMessage, state: str, outcome: Outcome) -> str:
        """Write the outcome to the ledger at once, then the slower records."""
        failed = outcome.status == "failed"
        # A failed request is kept whole in the ledger: the owner's "retry" sends exactly it again.
        extra = {"request": json.dumps(request.to_dict(), ensure_ascii=False)} if failed else {}
        writes = [self.ledger.settle(request.outbound_id, state, outcome, **extra)]
        if state == "sent":  # before the platform's echo of it is read: Papo's own, not the owner's by hand
            writes.append(handoff.remember_sent(self.auto, request.platform, outcome.platform_message_id))
        await asyncio.gather(*writes)  # one pipelined round trip (the ledger's state goes first)
        self._count(request, state)
        if state == "sent" and request.received_at is not None:
            await metrics.REPLY_SECONDS.observe(self.auto, max(0.0, (datetime.now(UTC) - request.received_at)
                                                               .total_seconds()), platform=str(request.platform))
        if failed:
            log.warning("outbound %s to %s failed: %s", request.outbound_id, request.platform, outcome.error)
        message_id = await self._finish(request, state, outcome, recorded=False, logged=False)
        if failed and not request.campaign_id:  # a campaign's failures are on its card
            await self._tell_owner(request, outcome, message_id)
        return state

    async def _tell_owner(self, request: OutboundMessage, outcome: Outcome, message_id: Any) -> None:
        """A reply that never reached the customer is the owner's to know: one alert per conversation a day,
        however many replies or attempts fail there (the row itself says 'failed' in the bot). The alert
        names the failed message, which its "retry" button sends again."""
        day = datetime.now(UTC).date().isoformat()
        try:
            await notify_owner(self.stores.redis, request.user_id, REPLY_FAILED, {
                "conversation_id": request.conversation_id, "platform": str(request.platform),
                "remote_user_id": request.recipient_id, "text": request.text or "",
                "error": outcome.error or "", "message_id": str(message_id) if message_id else None,
            }, dedupe_key=f"{REPLY_FAILED}:{request.conversation_id}:{day}")
        except aioredis.RedisError as exc:  # the failure itself is recorded; the alert is a courtesy
            log.warning("outbound %s: could not alert the owner: %s", request.outbound_id, exc)

    async def _finish(self, request: OutboundMessage, state: str, outcome: Outcome | None, *,
                      recorded: bool, logged: bool) -> Any:
        """The `messages` row, then (for sent replies) the analytics event; each done once. The row's id
        when it was written now."""
        if outcome is None:
            return None
        message_id = None
        done = []
        if not recorded:
            message_id = await self.recorder.record(request, outcome)
            done.append("recorded")
        if state == "sent" and not logged:
            await sent_record.log_sent(self.stores.analytics, request, outcome, message_id)
            done.append("logged")
        # One write for both flags: a crash before it only repeats the row upsert and the analytics insert,
        # both keyed by the outbound id, so each stays one.
        await self.ledger.flag(request.outbound_id, *done)
        return message_id

    async def _dead_letter(self, entry: Entry, error: str) -> None:
        """Move an entry to its partition's dead letters ourselves (it is acked when handle returns)."""
        pipe = self.redis.pipeline(transaction=True)
        fields = {**codec.encode(entry.data), "error": error[-4000:], "source_id": entry.id}
        pipe.xadd(self.spec.dead_key(entry.partition), fields)
        pipe.hdel(self.spec.failures_key(entry.partition), entry.id)
        await pipe.execute()

    def _count(self, request: OutboundMessage, state: str) -> None:
        self.outcomes[state] += 1
        OUTCOMES.inc(platform=str(request.platform), outcome=state)


def outbound_consumer(stores: Stores, pipeline: OutboundPipeline, *, worker_id: str, batch: int = 64,
                      lease_ms: int = 1_500) -> PartitionedConsumer:
    """The consumer `papo worker` runs for the outbound stream (its own dead-lettering is only a backstop)."""
    return PartitionedConsumer(
        stores.redis, pipeline.spec, pipeline.handle, worker_id=worker_id, batch=batch, lease_ms=lease_ms,
        max_deliveries=pipeline.settings.max_attempts + 1,
        # Not combined (a backoff sleep in one partition must not hold the others): the partitions' Redis,
        # SQL and MongoDB writes are shared anyway, through the pipeline's coalescers.
    )


async def run_outbound(stores: Stores, settings: Settings, stop: asyncio.Event, session: aiohttp.ClientSession, *,
                       cipher: TokenCipher, worker_id: str) -> None:
    """Send until `stop` is set (what `papo worker` adds to its roles)."""
    pipeline = OutboundPipeline(stores, OutboundSettings.from_settings(settings), session=session, cipher=cipher,
                                worker_id=worker_id, stop=stop)
    consumer = outbound_consumer(stores, pipeline, worker_id=worker_id, batch=settings.worker_batch,
                                 lease_ms=settings.worker_lease_ms)
    await consumer.run(stop)
    log.info("outbound %s stopped: %s", worker_id, dict(pipeline.outcomes))
