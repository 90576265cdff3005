"""Hot-path benchmark: how much of a webhook's CPU is work that issue 17 point 1 would move to a worker stage.

    python bench/hotpath.py [--rounds 4] [--seconds 5] [--concurrency 64] [--iterations 5000]
                            [--part both|breakdown|wrk] [--ladder]

Point 1 proposes a minimal webhook request: check the size, verify the signature, check it is JSON of the
platform's envelope, make it durable, answer; and a first worker stage that parses the events, looks up the
owners, deduplicates and fans out to the conversation partitions. Before that is built, two measurements:

1. Breakdown (in process, no I/O): each step of papo's webhook path timed alone over `--iterations` signed
   WhatsApp text webhooks (bench/ingest.py's `whatsapp_body`), calling papo's own functions in the order
   papo.handlers.webhooks and papo.services.queues call them: signature, JSON + envelope, the adapter's
   entry parsing into InboundEvents, the owner lookup (CachedOwners, cache hits), the event's dict and its
   JSON, the partition and dedupe keys of the append script calls, the raw-archive entry, hiredis packing,
   reply matching, the response and the metrics. Every step works chunk by chunk (CHUNK requests, as
   Queues batches them) and drops a chunk's output before the next, as a server does. All steps run in
   turn 15 times (a noisy moment falls on all of them); each step's median process CPU time per request is
   printed, with the fastest run and its share of the sum, and the same for the minimal path's steps.
   The Redis round trip is not in this part: part 2 measures it, with everything else a server pays.
2. End to end (wrk, as bench/ingest.py): three single-process servers against the same Redis, in
   alternating rounds of `--seconds`: the bare aiohttp handler, `papo serve`, and a prototype minimal
   server defined here (not in papo/): papo's app shape (error middleware, client_max_size, static route,
   the webhook metric), papo's signature check, papo's envelope check (orjson), and one XADD of the raw
   body to one of `stream_partitions` shard streams (CRC-32 of the first entry's id: the bench's one
   WhatsApp Business Account lands on one shard, as a real account would), the writes of
   concurrent requests pipelined the way Queues pipelines papo's (one write per loop iteration or per
   CHUNK requests, IN_FLIGHT writes at most, on papo.streams.wire's connection). All on uvloop (papo's
   default when installed), Redis with appendfsync always (papo's default: an answered webhook is on
   disk). Per round the ratio to bare; the median and worst ratio; p99; the server's CPU per request and
   Redis's (which the append script and dedupe markers load, and the minimal XADD mostly does not).
   `--ladder` adds two servers between minimal and papo, which put papo's work back a piece at a time
   (the events parsed and their owners looked up; then papo's own Queues write), so each piece's cost is
   also known where it counts, in a loaded server: there it costs several times what part 1's tight loops
   say (their code and data stay in the CPU's caches; a server's request shares them with aiohttp, uvloop
   and the kernel's network stack). Part 1 ranks the steps; part 2 says what they cost.

The minimal server is an upper bound for point 1's hot path: it leaves out what a real one would add
(dedupe of Meta's retries before the fan-out, unknown accounts, per-account shards), and the worker stage
it needs costs CPU elsewhere. Stores come from PAPO_BENCH_DATABASE_URL/REDIS_URL/MONGO_URL, or an
embedded stack in a temporary directory (bench/ingest.py's `bench_stores`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hiredis
import psutil
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import (  # noqa: E402
    APP_SECRET,
    BARE_SERVER,
    bench_stores,
    free_port,
    load,
    papo_env,
    queued_events,
    wait_http,
    whatsapp_body,
    write_wrk_inputs,
    wrk_load,
)

from papo import jsonfast, metrics  # noqa: E402
from papo.adapters import meta  # noqa: E402
from papo.adapters.adapter_registry import default_registry  # noqa: E402
from papo.adapters.base import PayloadError, SignatureError, WebhookSecrets  # noqa: E402
from papo.adapters.events import InboundEvent  # noqa: E402
from papo.config import Settings  # noqa: E402
from papo.constants import RAW_STREAM, RAW_STREAM_MAXLEN, account_key, stream_tag  # noqa: E402
from papo.handlers.errors import error_middleware, json_error  # noqa: E402
from papo.runtime import loop_factory, redis_pool, tune_gc  # noqa: E402
from papo.services.account_index import CachedOwners  # noqa: E402
from papo.services.queues import CHUNK, FLUSH_TIMEOUT, IN_FLIGHT, Queues, inbound_spec  # noqa: E402
from papo.streams import codec  # noqa: E402
from papo.streams.producer import Item, Producer  # noqa: E402
from papo.streams.wire import CommandBuffer, PipelinedRedis  # noqa: E402

PLATFORM = "whatsapp"
REPEATS = 15  # timings per step; the median is reported (and the fastest, to show the noise)
PARTITIONS = Settings.model_fields["stream_partitions"].default
RAW_SHARD = "hotraw"  # the minimal server's shard streams: papo:{hotraw:<n>}:stream


def shard_key(shard: int) -> str:
    return f"{stream_tag(RAW_SHARD, shard)}:stream"


def signed_headers(body: bytes) -> CIMultiDictProxy[str]:
    """The headers as aiohttp hands them to the handler (case-insensitive, read-only)."""
    return CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json",
                                         meta.SIGNATURE_HEADER: meta.sign(body, APP_SECRET)}))


# -- 1. breakdown ------------------------------------------------------------------------------------------


class Steps:
    """Named steps over the requests chunk by chunk (CHUNK requests, as Queues batches them), each a
    function of a chunk's index and of what the steps before it made for that chunk.

    Timed round-robin: every one of the REPEATS runs times every step once, so a noisy moment on this
    shared machine falls on all steps alike. A timed run drops each chunk's output before the next chunk,
    as a server frees a request's objects once it is answered: keeping thousands of fresh JSON buffers
    alive made orjson.dumps 10-20 times slower (the allocator grew the heap for each one).
    """

    def __init__(self, chunks: int) -> None:
        self.chunks = range(chunks)
        self.steps: list[tuple[str, str, Callable[[int], Any]]] = []

    def add(self, path: str, name: str, step: Callable[[int], Any]) -> list[Any]:
        """Keep `step` (of path "papo", "minimal" or "both") and run it on every chunk once: its outputs,
        one per chunk, feed the next steps."""
        self.steps.append((path, name, step))
        return [step(c) for c in self.chunks]

    def timed(self, requests: int) -> dict[str, list[tuple[str, float, float]]]:
        """Per path, each step's median and fastest process CPU time in µs per request."""
        times: list[list[int]] = [[] for _ in self.steps]
        # The inputs (thousands of parsed requests) out of the collector's sight, as `papo serve` freezes
        # its start-up: a server holds only the requests in flight, and its collections walk those alone.
        gc.freeze()
        for _ in range(REPEATS):
            for spent, (_, _, step) in zip(times, self.steps, strict=True):
                started = time.process_time_ns()
                for c in self.chunks:
                    step(c)
                spent.append(time.process_time_ns() - started)
        out: dict[str, list[tuple[str, float, float]]] = {"papo": [], "minimal": []}
        for spent, (path, name, _) in zip(times, self.steps, strict=True):
            for one in ("papo", "minimal") if path == "both" else (path,):
                out[one].append((name, statistics.median(spent) / requests / 1000, min(spent) / requests / 1000))
        return out


def without_io(coro: Any) -> Any:
    """Run a coroutine that never suspends (cache hits only) to its end, outside the event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the step waited for I/O (an owner cache miss?)")


def chunks(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]


def pack(commands: Sequence[Sequence[Any]]) -> bytes:
    """What papo.streams.wire writes for a batch of commands."""
    return b"".join([hiredis.pack_command(tuple(command)) for command in commands])


async def breakdown(redis_url: str, iterations: int) -> dict[str, list[tuple[str, float, float]]]:
    """µs of process CPU per request for each step of papo's path and of the minimal one (same bodies)."""
    import redis.asyncio as aioredis

    all_bodies = [whatsapp_body(40_000_000 + i) for i in range(iterations)]
    bodies = chunks(all_bodies)
    headers = chunks([signed_headers(body) for body in all_bodies])
    adapter = default_registry().get_adapter(PLATFORM)
    secrets = WebhookSecrets(meta_app_secret=APP_SECRET)
    redis = aioredis.Redis(connection_pool=redis_pool(redis_url))
    owners_cache = CachedOwners(redis, ttl=1e9)  # hits only: the one miss here fills it
    await owners_cache.owners([account_key(PLATFORM, body_account(all_bodies[0]))])
    await redis.aclose(close_connection_pool=True)
    producer = Producer(redis, inbound_spec(PARTITIONS))  # queue_on only: no I/O
    loop = asyncio.get_running_loop()
    steps = Steps(len(bodies))
    tune_gc()  # as `papo serve` after start-up

    def signature(c: int) -> None:
        for head, body in zip(headers[c], bodies[c], strict=True):
            secret = None
            if getattr(adapter, "signing_account", None) is None:  # handlers.webhooks._secret_for
                secret = secrets.signing_secret(PLATFORM)
            adapter.verify(head, body, secret or "", now=time.time())

    steps.add("both", "signature (HMAC-SHA256 of the body)", signature)
    envelopes = steps.add("both", "JSON parse + envelope check (orjson)",
                          lambda c: [meta.load_envelope(body) for body in bodies[c]])

    # papo today: handlers.webhooks._receive, then services.queues.Queues.enqueue and _send.
    per_request = steps.add("papo", "adapter parse into InboundEvents",
                            lambda c: [parse_entries(obj, entries) for obj, entries in envelopes[c]])

    async def lookups(c: int) -> list[list[InboundEvent]]:
        out = []
        for events in per_request[c]:
            keys = [account_key(event.platform, event.account_id) for event in events]
            owners = await owners_cache.owners(keys)
            out.append([event for event, key in zip(events, keys, strict=True) if owners.get(key)])
        return out

    known = steps.add("papo", "owner lookup (CachedOwners hit) + filter", lambda c: without_io(lookups(c)))
    dicts = steps.add("papo", "event to_dict", lambda c: [[event.to_dict() for event in events]
                                                         for events in known[c]])

    def encode(c: int) -> list[list[Item]]:  # Queues.enqueue
        return [[Item(data["conversation_key"], data, event.dedupe_key, codec.encode_data(data))
                 for event, data in zip(events, datas, strict=True)]
                for events, datas in zip(known[c], dicts[c], strict=True)]

    items = steps.add("papo", "event JSON for the stream (orjson)", encode)

    def plan(c: int) -> tuple[CommandBuffer, Any]:  # Queues._send: the append script calls of a chunk
        buffer = CommandBuffer()
        return buffer, producer.queue_on(buffer, [item for request in items[c] for item in request])

    plans = steps.add("papo", "partition + dedupe keys (EVALSHA per partition)", plan)

    def archive(c: int) -> CommandBuffer:  # Queues.enqueue's raw body; one archive XADD per chunk (_send)
        raws = [{"platform": PLATFORM, "received_at": time.time(), "body": raw.decode("utf-8", "replace")}
                for raw in bodies[c]]
        buffer = CommandBuffer()
        buffer.xadd(RAW_STREAM, codec.encode({"bodies": raws}), maxlen=RAW_STREAM_MAXLEN, approximate=True)
        return buffer

    archives = steps.add("papo", "raw-archive entry (body as a JSON string)", archive)
    steps.add("papo", "RESP packing (hiredis)", lambda c: pack([*plans[c][0].commands, *archives[c].commands]))

    def papo_replies(c: int) -> None:  # Redis's answers matched to the requests' futures (queues._resolve)
        chunk_plan = plans[c][1]
        replies: list[Any] = [[f"1767268800000-{i}" for i in positions] for _, positions in chunk_plan.calls]
        replies.append("1767268800000-0")
        ids = Producer.appended_ids(chunk_plan, replies)
        start = 0
        for request in items[c]:
            loop.create_future().set_result(ids[start:start + len(request)])
            start += len(request)

    steps.add("papo", "reply matching + request futures", papo_replies)
    steps.add("papo", "response body + web.Response", lambda c: [
        web.Response(body=jsonfast.dumpb({"received": len(events), "queued": len(kept), "duplicates": 0,
                                          "unknown_account": len(events) - len(kept)}),
                     content_type="application/json") for events, kept in zip(per_request[c], known[c], strict=True)])

    def papo_metrics(c: int) -> None:
        for kept in known[c]:
            metrics.WEBHOOK_EVENTS.inc(len(kept), platform=PLATFORM, outcome="queued")
            metrics.WEBHOOK_SECONDS.observe(0.002, platform=PLATFORM, status="2xx")

    steps.add("papo", "metrics (events counter, seconds histogram)", papo_metrics)

    # The minimal path after the envelope: which shard, one raw XADD, its reply, its answer (RawShards).
    shards = steps.add("minimal", "shard (CRC-32 of the entry id)",
                       lambda c: [shard_of(entries) for _, entries in envelopes[c]])

    def raw_xadds(c: int) -> CommandBuffer:
        buffer = CommandBuffer()
        for shard, body in zip(shards[c], bodies[c], strict=True):
            buffer.xadd(shard_key(shard), raw_fields(body))
        return buffer

    buffers = steps.add("minimal", "raw XADD (body bytes as they are)", raw_xadds)
    steps.add("minimal", "RESP packing (hiredis)", lambda c: pack(buffers[c].commands))

    def minimal_replies(c: int) -> None:
        for i in range(len(buffers[c].commands)):
            loop.create_future().set_result(f"1767268800000-{i}")

    steps.add("minimal", "reply matching + request futures", minimal_replies)
    steps.add("minimal", "response body + web.Response", lambda c: [
        web.Response(body=jsonfast.dumpb({"received": len(entries)}), content_type="application/json")
        for _, entries in envelopes[c]])
    steps.add("minimal", "metrics (seconds histogram)", lambda c: [
        metrics.WEBHOOK_SECONDS.observe(0.002, platform=PLATFORM, status="2xx") for _ in bodies[c]])
    return steps.timed(len(all_bodies))


def body_account(body: bytes) -> str:
    return jsonfast.loads(body)["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"]


def shard_of(entries: Sequence[Any]) -> int:
    """The raw shard of a body: CRC-32 of its first entry's id (the WABA, page or IG account)."""
    first = str(entries[0].get("id", "")) if entries else ""
    return zlib.crc32(first.encode()) % PARTITIONS


def raw_fields(body: bytes) -> dict[str, Any]:
    return {"v": codec.VERSION, "platform": PLATFORM, "received_at": repr(time.time()), "body": body}


MOVED = {"adapter parse into InboundEvents", "owner lookup (CachedOwners hit) + filter", "event to_dict",
         "event JSON for the stream (orjson)", "partition + dedupe keys (EVALSHA per partition)"}


def print_breakdown(steps: dict[str, list[tuple[str, float, float]]], iterations: int) -> tuple[float, float]:
    """Print both paths' steps; returns the two totals (µs per request)."""
    papo, minimal = steps["papo"], steps["minimal"]
    total, small = sum(us for _, us, _ in papo), sum(us for _, us, _ in minimal)
    print(f"breakdown: process CPU per request of each step, {iterations} signed WhatsApp text webhooks"
          f" (1 event each), median (and fastest) of {REPEATS} round-robin runs, chunks of {CHUNK};"
          f" no Redis round trip")
    print(f"  {'papo /webhooks today':50} {'µs':>6} {'(min)':>6} {'share':>6}   point 1")
    for name, us, fastest in papo:
        print(f"  {name:50} {us:6.2f} {fastest:6.2f} {us / total:6.1%}"
              f"   {'moves to stage 1' if name in MOVED else 'stays'}")
    print(f"  {'total':50} {total:6.2f} {sum(f for _, _, f in papo):6.2f}")
    moved = sum(us for name, us, _ in papo if name in MOVED)
    print(f"  moved by point 1: {moved:.2f} µs = {moved / total:.1%} of these steps (the raw-archive entry,"
          f" packing, replies, response and metrics change shape, they do not disappear)")
    print(f"  {'minimal path':50} {'µs':>6} {'(min)':>6} {'share':>6}")
    for name, us, fastest in minimal:
        print(f"  {name:50} {us:6.2f} {fastest:6.2f} {us / small:6.1%}")
    print(f"  {'total':50} {small:6.2f} {sum(f for _, _, f in minimal):6.2f}"
          f"   saving {total - small:.2f} µs per request in these steps")
    return total, small


# -- 2. the minimal server ---------------------------------------------------------------------------------


class RawShards:
    """The minimal path's durable write: one XADD of the raw body per request, batched like papo's Queues.

    The requests of one loop iteration go out together, a chunk of CHUNK as soon as it is complete, at
    most IN_FLIGHT writes waiting for Redis, each write bounded by FLUSH_TIMEOUT; on papo.streams.wire's
    pipelined connection, as papo's webhook writes.
    """

    def __init__(self, wire: PipelinedRedis) -> None:
        self.wire = wire
        self._pending: list[tuple[int, dict[str, Any], asyncio.Future[str]]] = []
        self._in_flight = 0

    async def append(self, shard: int, fields: dict[str, Any]) -> str:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str] = loop.create_future()
        self._pending.append((shard, fields, done))
        if len(self._pending) >= CHUNK:
            self._send()
        elif len(self._pending) == 1:
            loop.call_soon(self._send)
        return await done

    def _send(self) -> None:
        if not self._pending or self._in_flight >= IN_FLIGHT:
            return
        batch, self._pending = self._pending, []
        self._in_flight += 1
        buffer = CommandBuffer()
        for shard, fields, _ in batch:
            buffer.xadd(shard_key(shard), fields)
        sent = self.wire.send(buffer.commands)
        timer = asyncio.get_running_loop().call_later(FLUSH_TIMEOUT, self._expire, sent)
        sent.add_done_callback(lambda sent: (timer.cancel(), self._deliver(batch, sent)))

    def _expire(self, sent: asyncio.Future[list[Any]]) -> None:
        if not sent.done():
            sent.set_exception(TimeoutError(f"Redis did not answer within {FLUSH_TIMEOUT:g} s"))
            self.wire.drop()

    def _deliver(self, batch: list[tuple[int, dict[str, Any], asyncio.Future[str]]],
                 sent: asyncio.Future[list[Any]]) -> None:
        self._in_flight -= 1
        if self._pending:
            self._send()
        error = None if sent.cancelled() else sent.exception()
        for i, (_, _, done) in enumerate(batch):
            if done.done():
                continue
            if sent.cancelled():
                done.cancel()
            elif error is not None:
                done.set_exception(error)
            elif isinstance(reply := sent.result()[i], Exception):
                done.set_exception(reply)
            else:
                done.set_result(reply)


def minimal_app(settings: Settings, redis: Any, stage: str = "minimal") -> web.Application:
    """Size check (client_max_size), signature, envelope, one durable raw XADD, answer.

    The --ladder stages put papo's work back one piece at a time: "minimal+parse" also parses the events
    and looks up their owners (and still writes the raw body alone); "minimal+queues" writes them with
    papo's Queues.enqueue instead (dedupe script per partition and raw archive), which is papo's handler
    but for its wrapper and secret lookup.
    """
    adapter = default_registry().get_adapter(PLATFORM)
    secret = settings.meta_app_secret.get_secret_value() if settings.meta_app_secret else ""
    raw = RawShards(PipelinedRedis.like(redis))
    queues = Queues(redis, settings.stream_partitions)
    owners_cache = CachedOwners(redis)

    async def receive(request: web.Request) -> web.Response:
        started = time.perf_counter()
        body = await request.read()  # aiohttp answers 413 itself past client_max_size
        try:
            adapter.verify(request.headers, body, secret, now=time.time())
            obj, entries = meta.load_envelope(body)
        except SignatureError:
            return json_error(403, "invalid signature", "the request is not signed with the secret Papo holds")
        except PayloadError as exc:
            return json_error(400, "malformed body", str(exc))
        if stage == "minimal":
            await raw.append(shard_of(entries), raw_fields(body))
        else:
            events = parse_entries(obj, entries)
            keys = [account_key(event.platform, event.account_id) for event in events]
            owners = await owners_cache.owners(keys)
            known = [event for event, key in zip(events, keys, strict=True) if owners.get(key)]
            if stage == "minimal+parse":
                await raw.append(shard_of(entries), raw_fields(body))
            else:
                await queues.enqueue(known, platform=PLATFORM, raw=body)
        response = web.Response(body=jsonfast.dumpb({"received": len(entries)}), content_type="application/json")
        metrics.WEBHOOK_SECONDS.observe(time.perf_counter() - started, platform=PLATFORM, status="2xx")
        return response

    app = web.Application(middlewares=[error_middleware], client_max_size=settings.webhook_max_body)
    app.router.add_post(f"/webhooks/{PLATFORM}", receive)
    return app


def parse_entries(obj: str, entries: Sequence[Any]) -> list[InboundEvent]:
    """MetaAdapter.parse after its load_envelope: every entry through its object's parser."""
    parser = meta.entry_parser(obj)
    events: list[InboundEvent] = []
    for entry in entries:
        events.extend(parser(entry))  # type: ignore[misc]
    return events


async def serve_minimal(port: int, stage: str) -> None:
    import redis.asyncio as aioredis

    settings = Settings()
    redis = aioredis.Redis(connection_pool=redis_pool(settings.redis_url or ""))
    runner = web.AppRunner(minimal_app(settings, redis, stage), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    tune_gc()
    await asyncio.Event().wait()


# -- 2. end to end -----------------------------------------------------------------------------------------

SERVERS = ("bare", "papo", "minimal")
LADDER = ("minimal+parse", "minimal+queues")  # --ladder: papo's work put back on the minimal server
DEDUPED = ("papo", "minimal+queues")  # these drop a body seen before: each round sends new ones


async def redis_pid(redis_url: str) -> int | None:
    """The Redis server's process, when it runs on this machine (its CPU per request is reported)."""
    import redis.asyncio as aioredis

    if urlsplit(redis_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    client = aioredis.from_url(redis_url)
    try:
        return int((await client.info("server"))["process_id"])
    finally:
        await client.aclose()


async def queued(redis_url: str, *, trim: bool = False) -> int:
    """Entries in the inbound partitions and the raw shards (what the last round wrote: nothing consumes
    them here); `trim` empties them first, between rounds."""
    import redis.asyncio as aioredis

    inbound = await queued_events(redis_url, trim=trim)
    client = aioredis.from_url(redis_url)
    try:
        if trim:
            for shard in range(PARTITIONS):
                await client.xtrim(shard_key(shard), maxlen=0, approximate=False)
        return inbound + sum([await client.xlen(shard_key(shard)) for shard in range(PARTITIONS)])
    finally:
        await client.aclose()


async def end_to_end(urls: dict[str, str], data_dir: Path,
                     args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    kinds = (*SERVERS, *LADDER) if args.ladder else SERVERS
    ports = {kind: free_port() for kind in kinds}
    env = papo_env(urls, data_dir, ports["papo"], "uvloop")
    procs = {
        "bare": subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(ports["bare"]), "uvloop"]),
        "papo": subprocess.Popen([sys.executable, "-m", "papo", "serve"], env=env, cwd=data_dir),
        **{stage: subprocess.Popen([sys.executable, __file__, "--serve-minimal", str(ports[stage]), stage],
                                   env=env, cwd=data_dir) for stage in kinds[2:]},
    }
    per_round = args.seconds * 8000  # unique bodies per Papo round (more than one round takes)
    script, body_file = write_wrk_inputs(data_dir, per_round * args.rounds * len(set(DEDUPED) & set(kinds)))
    rpid = await redis_pid(urls["redis_url"])
    redis_proc = psutil.Process(rpid) if rpid else None
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    fresh = 0  # the next unsent bodies, for the servers that dedupe
    try:
        warm = [whatsapp_body(10_000_000 + i) for i in range(500)]
        for kind, port in ports.items():
            await wait_http(f"http://127.0.0.1:{port}/" + ("healthz" if kind == "papo" else ""))
            await load(f"http://127.0.0.1:{port}/webhooks/{PLATFORM}", warm, args.concurrency)
        for turn in range(args.rounds):  # alternate, so every server sees the same machine conditions
            for kind, port in ports.items():
                await queued(urls["redis_url"], trim=True)
                before = sum(redis_proc.cpu_times()[:2]) if redis_proc else 0.0
                one = wrk_load(f"http://127.0.0.1:{port}/webhooks/{PLATFORM}", script, body_file,
                               start=fresh if kind in DEDUPED else 0, seconds=args.seconds,
                               concurrency=args.concurrency, server=procs[kind].pid)
                fresh += per_round if kind in DEDUPED else 0
                if redis_proc:
                    one["redis_us"] = ((sum(redis_proc.cpu_times()[:2]) - before)
                                       / max(1.0, one["rps"] * args.seconds) * 1e6)
                results[kind].append(one)
                print(f"  round {turn + 1} {kind:14} {one['rps']:7.0f} req/s  p99 {one['p99_ms']:6.1f} ms"
                      f"  CPU {one['cpu_us']:4.0f} µs/request  errors {one['errors']:.0f}"
                      f"  stream entries written {await queued(urls['redis_url'])}", flush=True)
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=20)
    return results


def print_end_to_end(results: dict[str, list[dict[str, float]]], args: argparse.Namespace,
                     in_process: tuple[float, float] | None) -> None:
    bare = results["bare"]
    print(f"end to end: wrk {args.concurrency} connections, {args.rounds} alternating rounds of {args.seconds} s,"
          f" one process each on uvloop, Redis appendfsync always, {PARTITIONS} raw shards (medians of the rounds)")
    cpu: dict[str, float] = {}
    both: dict[str, float] = {}
    for kind, rounds in results.items():
        ratios = [r["rps"] / b["rps"] for b, r in zip(bare, rounds, strict=True)]
        cpu[kind] = statistics.median(r["cpu_us"] for r in rounds)
        both[kind] = statistics.median(r["cpu_us"] + r.get("redis_us", 0.0) for r in rounds)
        busy = statistics.median(r["rps"] * r["cpu_us"] / 1e6 for r in rounds)
        redis_us = (f"  Redis {statistics.median(r['redis_us'] for r in rounds):3.0f} µs/req"
                    if "redis_us" in rounds[0] else "")
        print(f"  {kind:14}: {statistics.median(r['rps'] for r in rounds):7.0f} req/s"
              f"  p99 {statistics.median(r['p99_ms'] for r in rounds):6.1f} ms"
              f"  CPU {cpu[kind]:4.0f} µs/req ({busy:.0%} of a core){redis_us}"
              f"  errors {sum(r['errors'] for r in rounds):.0f}"
              + ("" if kind == "bare" else f"  /bare median {statistics.median(ratios):.2f}x worst"
                 f" {min(ratios):.2f}x (rounds {', '.join(f'{r:.2f}' for r in ratios)})"))
    gain = [m["rps"] / p["rps"] for p, m in zip(results["papo"], results["minimal"], strict=True)]
    print(f"  minimal/papo throughput: median {statistics.median(gain):.2f}x, worst {min(gain):.2f}x"
          f" (rounds {', '.join(f'{g:.2f}' for g in gain)})")
    print(f"  server CPU beyond bare: papo {cpu['papo'] - cpu['bare']:.0f} µs, minimal"
          f" {cpu['minimal'] - cpu['bare']:.0f} µs per request -> capacity ratio to bare: papo"
          f" {cpu['bare'] / cpu['papo']:.2f}x, minimal {cpu['bare'] / cpu['minimal']:.2f}x; counting Redis's CPU"
          f" too (it shares these cores): papo {both['bare'] / both['papo']:.2f}x,"
          f" minimal {both['bare'] / both['minimal']:.2f}x")
    if in_process is not None:
        print(f"  in-process steps of part 1: papo {in_process[0]:.0f} µs, minimal {in_process[1]:.0f} µs per request;"
              f" end to end the minimal server saves {cpu['papo'] - cpu['minimal']:.0f} µs of server CPU and"
              f" {both['papo'] - both['minimal'] - cpu['papo'] + cpu['minimal']:.0f} µs of Redis CPU")
    if all(stage in cpu for stage in LADDER):
        steps = [("minimal", "minimal"), ("minimal+parse", "+ parse and owner lookup"),
                 ("minimal+queues", "+ papo's Queues write instead of the raw XADD"),
                 ("papo", "+ papo's handler wrapper, secret lookup, app")]
        print("  ladder, server CPU µs/request (Redis's in brackets): " + " -> ".join(
            f"{label} {cpu[kind]:.0f} [{both[kind] - cpu[kind]:.0f}]"
            + ("" if i == 0 else f" ({cpu[kind] - cpu[steps[i - 1][0]]:+.0f})")
            for i, (kind, label) in enumerate(steps)))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="wrk: alternating rounds per server")
    parser.add_argument("--seconds", type=int, default=5, help="wrk: seconds per round")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=5000, help="breakdown: webhooks per timed run")
    parser.add_argument("--part", choices=("both", "breakdown", "wrk"), default="both")
    parser.add_argument("--ladder", action="store_true",
                        help="wrk: two more servers between minimal and papo, to place papo's extra CPU")
    parser.add_argument("--serve-minimal", nargs=2, metavar=("PORT", "STAGE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    async with bench_stores() as (urls, data_dir):
        in_process = None
        if args.part != "wrk":
            in_process = print_breakdown(await breakdown(urls["redis_url"], args.iterations), args.iterations)
        if args.part != "breakdown":
            print_end_to_end(await end_to_end(urls, data_dir, args), args, in_process)
    print(f"  (run started {started}, finished {time.strftime('%H:%M UTC', time.gmtime())})")


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=loop_factory("auto")) as runner:  # uvloop, as the servers
        if "--serve-minimal" in sys.argv:
            at = sys.argv.index("--serve-minimal")
            runner.run(serve_minimal(int(sys.argv[at + 1]), sys.argv[at + 2]))
        else:
            runner.run(main())
