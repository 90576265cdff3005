"""`make chaos`: Papo's own fault-injection run, with a table of what was lost, doubled or reordered.

    python chaos/run.py [--short] [--customers N] [--messages M] [--interval S]

What runs: the embedded stores, one `papo serve`, two `papo worker` processes, a rule that answers every
customer message, and a local fake of the WhatsApp Cloud API. Each customer sends its messages in order,
as signed webhooks, retried until answered 200 (as Meta does), and about one in ten is delivered twice.
Meanwhile the run SIGKILLs a worker every few seconds and the web role once, crashes Redis (SIGKILL),
restarts PostgreSQL, stops MongoDB for a while, and the fake API storms 429s, then 500s, then answers
slowly. Roles the run did not kill and that exit count as "died by themselves" (and are started again,
as `restart: unless-stopped` would).

What it checks afterwards, from the stores and the fake API's own log: every message stored once, in the
order its customer sent it; one reply per message received by the fake API, none twice, in order; the
dead letters; the MongoDB documents (one ai_interactions per message, one message_sent per reply) after
MongoDB came back; and the time from the last webhook accepted to the last reply.

The exit code is 0 only if no message was lost, doubled or reordered, no reply was sent twice or out of
order, no role died by itself and the backlog drained. A reply is sent at most once (the outbound ledger):
one whose worker was SIGKILLed between claiming it and hearing the API's answer is never re-sent and is
reported as 'unknown' (WhatsApp has no idempotency key to make a second try safe); those are counted on
their own line, and any other missing reply fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import free_port, wait_http  # noqa: E402 — the benchmarks' helpers

from papo.adapters import meta  # noqa: E402
from papo.engine.model import action_id  # noqa: E402
from papo.pipeline.send import IN_DOUBT  # noqa: E402
from papo.stack import Stack  # noqa: E402

APP_SECRET = "chaos-app-secret"
ACCOUNT = "106540352242922"
EMAIL = "chaos@papo.dev"


# ---------------------------------------------------------------------------------------------- fake API

@dataclass
class FakeCloudApi:
    """POST /{phone_number_id}/messages like the WhatsApp Cloud API, with storms on demand."""

    mode: str = "ok"  # ok | 429 | 500 | slow
    delivered: list[tuple[str, str, float]] = field(default_factory=list)  # (to, wamid, when) answered 200
    refused: int = 0
    counter: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        data = await request.json()
        if self.mode == "429":
            self.refused += 1
            return web.json_response({"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException",
                                                 "code": 130429, "fbtrace_id": "chaos"}}, status=429)
        if self.mode == "500":
            self.refused += 1
            return web.json_response({"error": {"message": "An unexpected error has occurred.",
                                                 "type": "OAuthException", "code": 2, "is_transient": True}},
                                     status=500)
        if self.mode == "slow":
            await asyncio.sleep(3)
        self.counter += 1
        to = data.get("to") or ""
        wamid = f"wamid.REPLY{self.counter:07d}"
        self.delivered.append((to, wamid, time.monotonic()))
        return web.json_response({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                                  "messages": [{"id": wamid}]})


# ---------------------------------------------------------------------------------------------- roles

@dataclass
class Role:
    """One Papo process the run starts, kills and (like a restart policy) starts again."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    killed_by_us: bool = False
    kills: int = 0
    died: int = 0
    exits: list[int] = field(default_factory=list)

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=out)
        self.killed_by_us = False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.killed_by_us = True
            self.kills += 1
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def check(self) -> bool:
        """True if the process is running; counts an exit we did not cause."""
        if self.proc is None:
            return False
        code = self.proc.poll()
        if code is None:
            return True
        if not self.killed_by_us:
            self.died += 1
            self.exits.append(code)
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.killed_by_us = True
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------------------------------- load

def customer_phone(c: int) -> str:
    return f"55119{c:08d}"


def webhook(c: int, k: int, ts: int) -> tuple[str, bytes]:
    """Message k of customer c: a documented WhatsApp text webhook; returns its wamid and body."""
    wamid = f"wamid.CHAOS{c:05d}x{k:03d}"
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "5511940028922", "phone_number_id": ACCOUNT},
            "contacts": [{"profile": {"name": f"Cliente {c}"}, "wa_id": customer_phone(c)}],
            "messages": [{"from": customer_phone(c), "id": wamid, "timestamp": str(ts), "type": "text",
                          "text": {"body": f"Oi! Pergunta {k} do cliente {c}: vocês entregam hoje?"}}],
        }}]}],
    }
    return wamid, json.dumps(payload).encode()


@dataclass
class Load:
    posts: int = 0
    accepted: dict[str, float] = field(default_factory=dict)  # wamid -> when first answered 200 (monotonic)
    accepted_wall: dict[str, float] = field(default_factory=dict)  # the same, wall clock (vs created_at)
    redelivered: int = 0
    non_2xx: int = 0
    refused_conn: int = 0
    order: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))  # customer -> wamids


async def send_all(url: str, customers: int, messages: int, interval: float, load: Load) -> None:
    """Every customer sends its messages in order, each retried until 200; ~10% delivered twice."""
    rng = random.Random(7)
    base_ts = int(time.time())

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def deliver(body: bytes) -> None:
            headers = {"Content-Type": "application/json", meta.SIGNATURE_HEADER: meta.sign(body, APP_SECRET)}
            delay = 0.1
            while True:
                load.posts += 1
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        if resp.status == 200:
                            return
                        load.non_2xx += 1
                except (aiohttp.ClientError, TimeoutError):
                    load.refused_conn += 1
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)

        async def customer(c: int) -> None:
            await asyncio.sleep(rng.uniform(0, interval))
            for k in range(messages):
                wamid, body = webhook(c, k, base_ts + k)
                await deliver(body)
                load.accepted.setdefault(wamid, time.monotonic())
                load.accepted_wall.setdefault(wamid, time.time())
                load.order[c].append(wamid)
                if rng.random() < 0.1:  # Meta delivers some webhooks more than once
                    load.redelivered += 1
                    await deliver(body)
                pause = interval * rng.uniform(0.8, 1.2)
                if k < messages - 1:  # not after the last one: the drain is timed from the last webhook
                    await asyncio.sleep(pause)

        await asyncio.gather(*(customer(c) for c in range(customers)))


# ---------------------------------------------------------------------------------------------- faults

async def faults(stack: Stack, workers: list[Role], serve: Role, fake: FakeCloudApi, plan: dict[str, float],
                 stop: asyncio.Event, events: list[str]) -> None:
    """The fault schedule (seconds from the start of the load), each fault on its own timeline, plus a worker
    SIGKILL every few seconds until `stop`."""
    started = time.monotonic()
    rng = random.Random(11)

    def note(what: str) -> None:
        events.append(f"{time.monotonic() - started:6.1f} s  {what}")

    async def at(seconds: float) -> None:
        await asyncio.sleep(max(0.0, started + seconds - time.monotonic()))

    async def kill_web() -> None:
        await at(plan["kill_web"])
        serve.kill()
        note("SIGKILL serve")
        await asyncio.sleep(1.0)
        serve.start()

    async def store_outage(when: str, field: str, title: str, down: float, *, crash: bool) -> None:
        await at(plan[when])
        await asyncio.to_thread(stack.halt, field, crash=crash)
        note(f"{title} {'crashed (SIGKILL)' if crash else 'stopped'}")
        await asyncio.sleep(down)
        await asyncio.to_thread(stack.resume, field)
        note(f"{title} back")

    async def api(when: str, mode: str) -> None:
        await at(plan[when])
        fake.mode = mode
        note(f"fake API answers: {mode}")

    async def kill_workers() -> None:
        next_kill = plan["worker_every"]
        while not stop.is_set():
            await at(next_kill)
            if stop.is_set():
                return
            victim = rng.choice(workers)
            victim.kill()
            note(f"SIGKILL {victim.name}")
            await asyncio.sleep(rng.uniform(0.3, 1.0))
            victim.start()
            next_kill += plan["worker_every"] * rng.uniform(0.7, 1.3)

    killer = asyncio.create_task(kill_workers())
    await asyncio.gather(
        kill_web(),
        store_outage("crash_redis", "redis_url", "Redis", 2.0, crash=True),
        store_outage("restart_postgres", "database_url", "PostgreSQL", 2.0, crash=False),
        store_outage("stop_mongo", "mongo_url", "MongoDB", plan["mongo_down"], crash=False),
        api("storm_429", "429"), api("storm_500", "500"), api("slow", "slow"), api("calm", "ok"),
    )
    note("planned faults done (workers are still killed until the backlog is drained)")
    await stop.wait()
    killer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await killer


async def supervise(roles: list[Role], stop: asyncio.Event) -> None:
    """Start again any role that exited (and count it if we did not kill it)."""
    while not stop.is_set():
        for role in roles:
            if not role.check() and not role.killed_by_us:
                role.start()
        await asyncio.sleep(0.2)


# ---------------------------------------------------------------------------------------------- checks

async def measure(urls: dict[str, str], load: Load, fake: FakeCloudApi, rule_id: str,
                  expected: int) -> dict[str, object]:
    """Read what the stores and the fake API hold; the figures of the table."""
    import asyncpg
    import redis.asyncio as aioredis
    from pymongo import AsyncMongoClient

    conn = await asyncpg.connect(urls["database_url"].replace("postgres://", "postgresql://", 1))
    try:
        inbound = await conn.fetch(
            "SELECT m.platform_message_id, m.created_at, c.remote_user_id FROM messages m "
            "JOIN conversations c ON c.id = m.conversation_id WHERE m.sender = 'remote' "
            "ORDER BY m.platform_timestamp")
        replies = await conn.fetch("SELECT outbound_id, platform_message_id, delivery_status FROM messages "
                                   "WHERE sender = 'user' AND outbound_id IS NOT NULL")
    finally:
        await conn.close()
    redis = aioredis.from_url(urls["redis_url"], decode_responses=True)
    try:
        dead = in_doubt = 0
        async for key in redis.scan_iter(match="papo:{*}:dead"):
            for _id, fields in await redis.xrange(key):
                if fields.get("error", "").startswith(IN_DOUBT[:40]):
                    in_doubt += 1  # the outbound ledger's report of a reply in flight at a SIGKILL
                else:
                    dead += 1
        unknown = 0
        async for key in redis.scan_iter(match="papo:sent:*"):
            if await redis.hget(key, "state") == "unknown":
                unknown += 1
    finally:
        await redis.aclose()
    mongo = AsyncMongoClient(urls["mongo_url"], serverSelectionTimeoutMS=5000)
    try:
        db = mongo["papo"]
        ai_docs = await db["ai_interactions"].count_documents({})
        sent_docs = await db["analytics_logs"].count_documents({"event_type": "message_sent"})
    finally:
        await mongo.close()

    stored: dict[str, int] = defaultdict(int)
    per_customer: dict[str, list[tuple[object, str]]] = defaultdict(list)
    delays = sorted(row["created_at"].timestamp() - load.accepted_wall[row["platform_message_id"]]
                    for row in inbound if row["platform_message_id"] in load.accepted_wall)
    for row in inbound:
        stored[row["platform_message_id"]] += 1
        per_customer[row["remote_user_id"]].append((row["created_at"], row["platform_message_id"]))
    sent = set(load.accepted)
    lost = len(sent - set(stored))
    doubled = sum(n - 1 for n in stored.values() if n > 1)
    # Stored out of order: a later message of a customer written (committed) before an earlier one.
    out_of_order = 0
    for rows in per_customer.values():
        times = [t for t, _ in rows]
        out_of_order += sum(1 for a, b in itertools.pairwise(times) if b < a)

    # Replies: the fake API's log is the truth of what customers received.
    wamid_to_seq = {w: (c, k) for c, ws in load.order.items() for k, w in enumerate(ws)}
    outbound_to_msg = {action_id(f"whatsapp:{w}", rule_id): w for w in sent}
    reply_of: dict[str, str] = {}  # fake's reply wamid -> inbound wamid it answers
    recorded_sent = 0
    for row in replies:
        if row["outbound_id"] in outbound_to_msg and row["platform_message_id"]:
            reply_of[row["platform_message_id"]] = outbound_to_msg[row["outbound_id"]]
        if row["delivery_status"] == "sent":
            recorded_sent += 1
    got: dict[str, int] = defaultdict(int)
    for to, _w, _t in fake.delivered:
        got[to] += 1
    per_customer_expected = {customer_phone(c): len(ws) for c, ws in load.order.items()}
    replies_lost = sum(max(0, n - got.get(to, 0)) for to, n in per_customer_expected.items())
    replies_doubled = sum(max(0, got.get(to, 0) - n) for to, n in per_customer_expected.items())
    replies_out_of_order = 0
    last_seq: dict[int, int] = {}
    unmatched = 0
    for _to, wamid, _t in fake.delivered:
        answered = reply_of.get(wamid)
        if answered is None:  # sent, but the worker died before it could record the answer
            unmatched += 1
            continue
        c, k = wamid_to_seq[answered]
        if k < last_seq.get(c, -1):
            replies_out_of_order += 1
        last_seq[c] = max(k, last_seq.get(c, -1))
    return {
        "messages sent (unique)": len(sent), "webhook POSTs": load.posts, "redelivered": load.redelivered,
        "answered non-2xx / refused": f"{load.non_2xx} / {load.refused_conn}",
        "stored": len(stored),
        "webhook 200 -> stored (p50 / p99 / max)": (f"{delays[len(delays) // 2]:.2f} / "
                                                    f"{delays[int(len(delays) * 0.99) - 1]:.2f} / {delays[-1]:.2f} s")
        if delays else "-",
        "lost": lost, "duplicated": doubled, "out of order": out_of_order,
        "replies received by the API": len(fake.delivered), "replies lost": replies_lost,
        "replies sent twice": replies_doubled, "replies out of order": replies_out_of_order,
        "replies sent but not recorded (killed mid-send)": unmatched,
        "replies in flight at a SIGKILL (ledger 'unknown', never re-sent)": unknown,
        "replies lost otherwise": max(0, replies_lost - unknown),
        "API refusals (429/500)": fake.refused, "dead letters (besides in-doubt replies)": dead,
        "in-doubt replies in dead letters (for the owner to requeue)": in_doubt,
        "ai_interactions / stored": f"{ai_docs} / {len(stored)}",
        "message_sent logs / replies recorded": f"{sent_docs} / {recorded_sent}",
        "_ok": lost == 0 and doubled == 0 and out_of_order == 0 and replies_lost <= unknown and replies_doubled == 0
        and replies_out_of_order == 0 and dead == 0 and len(stored) == expected,
        "_mongo_ok": ai_docs == len(stored) and sent_docs == recorded_sent,
    }


# ---------------------------------------------------------------------------------------------- main

def papo(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "papo", *args], env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"papo {' '.join(args)} failed: {done.stderr}")
    return done.stdout


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the CI form: fewer customers, shorter faults")
    parser.add_argument("--customers", type=int)
    parser.add_argument("--messages", type=int, help="messages per customer (the reply cap is 20 an hour)")
    parser.add_argument("--interval", type=float, help="seconds between one customer's messages")
    args = parser.parse_args()
    customers = args.customers or (60 if args.short else 300)
    messages = args.messages or (6 if args.short else 12)
    interval = args.interval or (3.0 if args.short else 6.0)
    span = messages * interval  # about how long the load lasts
    plan = {  # seconds from the start of the load
        "worker_every": 4.0 if args.short else 5.0,
        "kill_web": 0.25 * span, "crash_redis": 0.35 * span, "restart_postgres": 0.5 * span,
        "storm_429": 0.6 * span, "storm_500": 0.68 * span, "slow": 0.74 * span, "calm": 0.8 * span,
        "stop_mongo": 0.15 * span, "mongo_down": 8.0 if args.short else 60.0,
    }

    fake = FakeCloudApi()
    app = web.Application()
    app.router.add_post("/{tail:.*}", fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    with tempfile.TemporaryDirectory(prefix="papo-chaos-") as tmp:
        data_dir = Path(tmp)
        with Stack(data_dir / "stack") as stack:
            info = stack.start()
            urls = {"database_url": info.database_url, "redis_url": info.redis_url, "mongo_url": info.mongo_url}
            port = free_port()
            env = {
                **os.environ, "PAPO_DATABASE_URL": urls["database_url"], "PAPO_REDIS_URL": urls["redis_url"],
                "PAPO_MONGO_URL": urls["mongo_url"], "PAPO_SECRET_KEY": "chaos-secret-key-0123456789",
                "PAPO_META_APP_SECRET": APP_SECRET, "PAPO_PORT": str(port), "PAPO_DATA_DIR": str(data_dir),
                "PAPO_LOG_LEVEL": "WARNING", "PAPO_GRAPH_API_URL": f"http://127.0.0.1:{fake_port}/",
                "PAPO_YOUTUBE_API_URL": "http://127.0.0.1:9/",
                # Faults are under test here, not the per-customer pacing of WhatsApp (tested elsewhere).
                "PAPO_OUTBOUND_WHATSAPP_PAIR_SECONDS": "0.5", "PAPO_OUTBOUND_WHATSAPP_PAIR_BURST": "20",
                "PAPO_OUTBOUND_RETRY_BASE": "0.5", "PAPO_OUTBOUND_RETRY_MAX": "4", "PAPO_OUTBOUND_MAX_ATTEMPTS": "8",
            }
            papo(env, data_dir, "migrate")
            papo(env, data_dir, "user", "create", "--email", EMAIL, "--name", "Chaos")
            papo(env, data_dir, "account", "connect", "--user", EMAIL, "--platform", "whatsapp",
                 "--account-id", ACCOUNT, "--token", "chaos-token")
            rule = json.loads(papo(env, data_dir, "rules", "add", "--user", EMAIL, "--name", "Resposta",
                                   "--trigger", "message", "--platform", "whatsapp", "--action", "send_message",
                                   "--data", '{"text": "Oi {first_name}! Já vamos responder.", "cooldown_seconds": 0}'))
            logs = ROOT / ".chaos-logs"  # kept after the run (gitignored): what each role printed
            shutil.rmtree(logs, ignore_errors=True)
            logs.mkdir()
            serve = Role("serve", [sys.executable, "-m", "papo", "serve"], env, data_dir, logs / "serve.log")
            workers = [Role(f"worker-{i}", [sys.executable, "-m", "papo", "worker"], env, data_dir,
                            logs / f"worker-{i}.log") for i in (1, 2)]
            roles = [serve, *workers]
            for role in roles:
                role.start()
            await wait_http(f"http://127.0.0.1:{port}/readyz")
            await asyncio.sleep(2)

            load, events, stop = Load(), [], asyncio.Event()
            expected = customers * messages
            print(f"chaos: {customers} customers x {messages} messages every ~{interval:.0f} s "
                  f"({expected} messages, ~{span:.0f} s of load)", flush=True)
            tasks = [asyncio.create_task(faults(stack, workers, serve, fake, plan, stop, events)),
                     asyncio.create_task(supervise(roles, stop))]
            await send_all(f"http://127.0.0.1:{port}/webhooks/whatsapp", customers, messages, interval, load)
            last_accepted = max(load.accepted.values())
            # Polled from the last webhook on, while the planned faults that are left (MongoDB coming back)
            # still run; workers are killed until the backlog is drained.
            marks: dict[str, float] = {}
            progress: list[str] = []
            drained_at = await _drained(urls, expected, within=180, marks=marks, progress=progress,
                                        since=last_accepted)
            stop.set()
            await asyncio.gather(*tasks)  # the planned faults end (MongoDB back) before anything is measured
            mongo_deadline = time.monotonic() + 60  # spooled documents reach MongoDB once it is back
            while True:
                figures = await measure(urls, load, fake, rule["id"], expected)
                if figures["_mongo_ok"] or time.monotonic() > mongo_deadline:
                    break
                await asyncio.sleep(1)
            for role in roles:
                role.stop()
                role.check()
    await runner.cleanup()

    died = sum(r.died for r in roles)
    drain = (drained_at - last_accepted) if drained_at else None
    figures.update({
        "time to drain after the last webhook": (f"{drain:.1f} s (every message stored after"
                                                 f" {marks['stored'] - last_accepted:.1f} s)")
        if drain is not None else "not drained in 180 s",
        "worker SIGKILLs / web SIGKILLs": f"{sum(w.kills for w in workers)} / {serve.kills}",
        "roles that died by themselves": died,
    })
    print("\nfaults:")
    for line in events:
        print(f"  {line}")
    print("\ndrain, after the last webhook:")
    for line in progress:
        print(f"  {line}")
    print("\nresult:")
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        if not key.startswith("_"):
            print(f"  {key:<{width}}  {value}")
    ok = bool(figures["_ok"]) and bool(figures["_mongo_ok"]) and died == 0 and drain is not None
    if died:
        print(f"  exit codes of roles that died: {[r.exits for r in roles]}")
    print("\nPASS" if ok else "\nFAIL")
    return 0 if ok else 1


async def _drained(urls: dict[str, str], expected: int, *, within: float, marks: dict[str, float],
                   progress: list[str], since: float) -> float | None:
    """When every message is stored and every reply settled (its ledger entry is final), or None.

    `progress` gets a line per second after `since` (the last webhook): what the drain time is made of."""
    import asyncpg
    import redis.asyncio as aioredis

    final = {"sent", "failed", "skipped", "unknown"}
    redis = aioredis.from_url(urls["redis_url"], decode_responses=True)
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            try:
                conn = await asyncpg.connect(urls["database_url"].replace("postgres://", "postgresql://", 1))
                try:
                    stored = await conn.fetchval("SELECT count(*) FROM messages WHERE sender = 'remote'")
                finally:
                    await conn.close()
                settled = 0
                if stored >= expected:
                    marks.setdefault("stored", time.monotonic())
                    keys = [key async for key in redis.scan_iter(match="papo:sent:*", count=1000)]
                    pipe = redis.pipeline(transaction=False)
                    for key in keys:  # one round trip: polling must not be what the drain time measures
                        pipe.hget(key, "state")
                    settled = sum(state in final for state in await pipe.execute())
                now = time.monotonic()
                if not progress or now - since >= len(progress):
                    progress.append(f"+{now - since:4.1f} s  stored {stored}/{expected}"
                                    + (f", replies settled {settled}/{expected}" if stored >= expected else ""))
                if stored >= expected and settled >= expected:
                    return now
            except (OSError, asyncpg.PostgresError, aioredis.RedisError):
                pass
            await asyncio.sleep(0.25)
        return None
    finally:
        await redis.aclose()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
