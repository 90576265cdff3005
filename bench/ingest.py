"""Ingest benchmark: webhook POSTs through Papo vs a bare aiohttp handler, and the worker's drain rate.

    python bench/ingest.py [--requests 6000] [--concurrency 64] [--drain 20000] [--client auto|wrk|python]

Both servers run as single processes on this machine and are loaded in the same run by the same client
(64 concurrent connections), so the figure that matters is the ratio, not the absolute rate (these
machines are shared and noisy). With `wrk` installed (Debian package `wrk`, `make bench-tools`) the load
comes from wrk (C, one thread), alternating bare/Papo rounds; otherwise from a Python aiohttp client,
which is itself the bottleneck for the bare handler and so flatters the ratio. Stores come from
PAPO_BENCH_DATABASE_URL/REDIS_URL/MONGO_URL, or an embedded stack in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from papo.adapters import meta  # noqa: E402
from papo.stack import Stack  # noqa: E402

APP_SECRET = "bench-app-secret"
ACCOUNT = "106540352242922"

BARE_SERVER = """
import asyncio, sys
from aiohttp import web
async def handle(request):
    await request.read()
    return web.json_response({"ok": True})
app = web.Application()
app.router.add_post("/webhooks/{platform}", handle)
if sys.argv[2] == "uvloop":
    import uvloop
    loop = uvloop.new_event_loop()
else:
    loop = asyncio.new_event_loop()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, loop=loop)
"""
LOOPS = ("asyncio", "uvloop")


def whatsapp_body(n: int) -> bytes:
    """A documented WhatsApp text webhook with a unique wamid."""
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "5511940028922", "phone_number_id": ACCOUNT},
            "contacts": [{"profile": {"name": f"Cliente {n % 500}"}, "wa_id": f"55119{n % 500:08d}"}],
            "messages": [{"from": f"55119{n % 500:08d}", "id": f"wamid.bench{n:09d}",
                          "timestamp": str(1767268800 + n), "type": "text",
                          "text": {"body": f"Oi, qual o preço do bolo? #{n}"}}],
        }}]}],
    }
    return json.dumps(payload).encode()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_http(url: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up")
            await asyncio.sleep(0.2)


async def load(url: str, bodies: list[bytes], concurrency: int) -> dict[str, float]:
    """POST every body with `concurrency` connections; requests/s and latency percentiles (ms)."""
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while not queue.empty():
            body = queue.get_nowait()
            headers = {"Content-Type": "application/json", meta.SIGNATURE_HEADER: meta.sign(body, APP_SECRET)}
            t0 = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
            latencies.append((time.perf_counter() - t0) * 1000)

    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": len(bodies) / elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "errors": errors,
    }


WRK_SCRIPT = """
local sigs, bodies, n = {}, {}, 0
for line in io.lines(os.getenv("PAPO_BENCH_BODIES")) do
  local tab = line:find("\\t", 1, true)
  n = n + 1
  sigs[n], bodies[n] = line:sub(1, tab - 1), line:sub(tab + 1)
end
local i = tonumber(os.getenv("PAPO_BENCH_START") or "0")
request = function()
  i = i % n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = sigs[i]},
                    bodies[i])
end
"""


def write_wrk_inputs(directory: Path, count: int) -> tuple[Path, Path]:
    """The wrk Lua script and a file of `count` signed bodies (signature TAB body per line)."""
    script, bodies = directory / "post.lua", directory / "bodies.txt"
    script.write_text(WRK_SCRIPT)
    with bodies.open("w") as out:
        for i in range(count):
            body = whatsapp_body(30_000_000 + i)
            out.write(f"{meta.sign(body, APP_SECRET)}\t{body.decode()}\n")
    return script, bodies


def _ms(text: str) -> float:
    value = float(re.match(r"[\d.]+", text).group())  # type: ignore[union-attr]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[text.lstrip("0123456789.")]


def wrk_load(url: str, script: Path, bodies: Path, *, start: int, seconds: int, concurrency: int,
             server: int) -> dict[str, float]:
    """One wrk round: requests/s, latency percentiles (ms) and the server's CPU time per request (µs)."""
    env = {**os.environ, "PAPO_BENCH_BODIES": str(bodies), "PAPO_BENCH_START": str(start)}
    proc = psutil.Process(server)
    before = sum(proc.cpu_times()[:2])
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         env=env, capture_output=True, text=True, check=True).stdout
    cpu = sum(proc.cpu_times()[:2]) - before
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "cpu_us": cpu / max(1, requests) * 1e6,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        # Anchored: "Req/Sec … 62.50%" must not be read as the 50th percentile.
        "p50_ms": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        "p99_ms": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def papo_env(urls: dict[str, str], data_dir: Path, port: int, loop: str = "auto") -> dict[str, str]:
    return {
        "PAPO_EVENT_LOOP": loop,
        **os.environ,
        "PAPO_DATABASE_URL": urls["database_url"],
        "PAPO_REDIS_URL": urls["redis_url"],
        "PAPO_MONGO_URL": urls["mongo_url"],
        "PAPO_SECRET_KEY": "bench-secret-key-0123456789",
        "PAPO_META_APP_SECRET": APP_SECRET,
        "PAPO_PORT": str(port),
        "PAPO_DATA_DIR": str(data_dir),
        "PAPO_LOG_LEVEL": "WARNING",
        "PAPO_YOUTUBE_API_URL": "http://127.0.0.1:9/",
    }


async def prepare(urls: dict[str, str], data_dir: Path) -> None:
    """Migrate, create a user and the WhatsApp account, start from empty streams."""
    env = papo_env(urls, data_dir, 8080)
    def run(*a: str) -> None:
        done = subprocess.run([sys.executable, "-m", "papo", *a], env=env, capture_output=True, text=True,
                              cwd=data_dir)
        if done.returncode != 0:
            raise RuntimeError(f"papo {' '.join(a)} failed: {done.stderr}")

    run("migrate")
    run("user", "create", "--email", "bench@papo.dev", "--name", "Bench", "--plan", "pro")
    run("account", "connect", "--user", "bench@papo.dev", "--platform", "whatsapp", "--account-id", ACCOUNT,
        "--token", "t")


@contextlib.asynccontextmanager
async def bench_stores() -> AsyncIterator[tuple[dict[str, str], Path]]:
    """Store URLs (PAPO_BENCH_*_URL, else an embedded stack in a temporary directory), migrated, with the
    bench's business and WhatsApp account; and the data directory the servers run in."""
    with tempfile.TemporaryDirectory(prefix="papo-bench-") as tmp:
        data_dir = Path(tmp)
        given = {k: os.environ.get(f"PAPO_BENCH_{k.upper()}") for k in ("database_url", "redis_url", "mongo_url")}
        with Stack(data_dir / "stack", **given) as stack:
            info = stack.start()
            urls = {"database_url": info.database_url, "redis_url": info.redis_url, "mongo_url": info.mongo_url}
            await prepare(urls, data_dir)
            yield urls, data_dir


async def serve_fake(handle: Any) -> tuple[int, web.AppRunner]:
    """Serve `handle` for every POST on a free local port (a fake platform API): the port, and the runner
    to clean up."""
    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return port, runner


def median_round(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The round with the median throughput (not the best one)."""
    return sorted(rounds, key=lambda r: r["rps"])[len(rounds) // 2]


async def set_fsync(redis_url: str, mode: str) -> None:
    """Redis's AOF fsync policy for the next rounds (the embedded Redis starts with `always`)."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    try:
        await client.config_set("appendfsync", mode)
    finally:
        await client.aclose()


async def queued_events(redis_url: str, *, trim: bool = False) -> int:
    """Work waiting for a worker: webhook bodies on the webhook stream (each bench body holds one event) and
    events on the inbound stream's partitions (each becomes one message); `trim` empties them first."""
    import redis.asyncio as aioredis

    from papo.config import Settings
    from papo.services.queues import inbound_spec, webhook_spec

    partitions = Settings.model_fields["stream_partitions"].default
    keys = [spec.key(p) for spec in (webhook_spec(partitions), inbound_spec(partitions)) for p in range(partitions)]
    client = aioredis.from_url(redis_url)
    try:
        if trim:
            for key in keys:
                await client.xtrim(key, maxlen=0, approximate=False)
        return sum([await client.xlen(key) for key in keys])
    finally:
        await client.aclose()


async def count_messages(database_url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        return await conn.fetchval("SELECT count(*) FROM messages")
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--drain", type=int, default=20000, help="events queued for the worker drain test")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator (auto: wrk when installed)")
    parser.add_argument("--rounds", type=int, default=4, help="wrk: alternating rounds per server")
    parser.add_argument("--seconds", type=int, default=5, help="wrk: seconds per round")
    parser.add_argument("--fsync", choices=("always", "everysec", "both"), default="both",
                        help="wrk: Redis appendfsync for the Papo rounds (both: alternate, and report the cost)")
    parser.add_argument("--loop", choices=(*LOOPS, "both"), default="uvloop",
                        help="event loop of both servers (both: alternate the two, appendfsync always, and"
                             " report each against the bare handler on the same loop)")
    args = parser.parse_args()
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    if args.loop == "both":
        if not use_wrk:
            parser.error("--loop both needs wrk (make bench-tools)")
        await compare_loops(args)
        return
    fsync_note = ""

    async with bench_stores() as (urls, data_dir):
        bare_port, papo_port = free_port(), free_port()
        bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port), args.loop])
        papo = subprocess.Popen([sys.executable, "-m", "papo", "serve"],
                                env=papo_env(urls, data_dir, papo_port, args.loop), cwd=data_dir)
        try:
            await wait_http(f"http://127.0.0.1:{bare_port}/")
            await wait_http(f"http://127.0.0.1:{papo_port}/healthz")
            warm = [whatsapp_body(10_000_000 + i) for i in range(500)]
            await load(f"http://127.0.0.1:{bare_port}/webhooks/whatsapp", warm, args.concurrency)
            await load(f"http://127.0.0.1:{papo_port}/webhooks/whatsapp", warm, args.concurrency)
            if use_wrk:
                modes = ["always", "everysec"] if args.fsync == "both" else [args.fsync]
                per_round = 60_000  # unique events per Papo round (more than one round can take here)
                script, body_file = write_wrk_inputs(data_dir, per_round * args.rounds * len(modes))
                bases: list[dict[str, float]] = []
                by_mode: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
                turn = 0
                for _ in range(args.rounds):  # alternate, so every server sees the same machine conditions
                    bases.append(wrk_load(f"http://127.0.0.1:{bare_port}/webhooks/whatsapp", script, body_file,
                                          start=0, seconds=args.seconds, concurrency=args.concurrency,
                                          server=bare.pid))
                    for mode in modes:
                        await set_fsync(urls["redis_url"], mode)
                        by_mode[mode].append(wrk_load(
                            f"http://127.0.0.1:{papo_port}/webhooks/whatsapp", script, body_file,
                            start=turn * per_round, seconds=args.seconds, concurrency=args.concurrency,
                            server=papo.pid))
                        turn += 1
                await set_fsync(urls["redis_url"], "always")
                ourss = by_mode[modes[0]]
                base, ours = (median_round(rounds) for rounds in (bases, ourss))
                ratios = [o["rps"] / b["rps"] for b, o in zip(bases, ourss, strict=True)]
                cpu = (statistics.median(b["cpu_us"] for b in bases), statistics.median(o["cpu_us"] for o in ourss))
                client = (f"wrk, {args.rounds} alternating rounds of {args.seconds} s, median round of each;"
                          f" Redis appendfsync {modes[0]}")
                for mode in modes[1:]:
                    other = [o["rps"] / b["rps"] for b, o in zip(bases, by_mode[mode], strict=True)]
                    cost = [a["rps"] / o["rps"] for a, o in zip(ourss, by_mode[mode], strict=True)]
                    fsync_note = (f"  appendfsync {mode}: ratio per round {', '.join(f'{r:.2f}' for r in other)}"
                                  f" (median {statistics.median(other):.2f}x); {modes[0]}/{mode} throughput per"
                                  f" round {', '.join(f'{c:.2f}' for c in cost)} (median"
                                  f" {statistics.median(cost):.2f}, worst {min(cost):.2f}); p99 {modes[0]}"
                                  f" {statistics.median(o['p99_ms'] for o in ourss):.1f} ms vs {mode}"
                                  f" {statistics.median(o['p99_ms'] for o in by_mode[mode]):.1f} ms")
            else:
                bodies = [whatsapp_body(i) for i in range(args.requests)]
                base = await load(f"http://127.0.0.1:{bare_port}/webhooks/whatsapp", bodies, args.concurrency)
                ours = await load(f"http://127.0.0.1:{papo_port}/webhooks/whatsapp", bodies, args.concurrency)
                ratios = [ours["rps"] / base["rps"]]
                cpu = None
                client = f"{args.requests} requests from a Python aiohttp client (it limits the bare handler)"
        finally:
            for proc in (bare, papo):
                proc.terminate()
                proc.wait(timeout=20)

        print(f"ingest, signed WhatsApp webhooks, {args.concurrency} connections, one server process each"
              f" on {args.loop}; {client}")
        print(f"  bare aiohttp handler : {base['rps']:8.0f} req/s  p50 {base['p50_ms']:6.2f} ms"
              f"  p99 {base['p99_ms']:6.2f} ms")
        print(f"  papo /webhooks       : {ours['rps']:8.0f} req/s  p50 {ours['p50_ms']:6.2f} ms"
              f"  p99 {ours['p99_ms']:6.2f} ms  errors {ours['errors']:.0f}")
        print(f"  ratio papo/bare      : median {statistics.median(ratios):.2f}x, worst {min(ratios):.2f}x"
              f" (per round: {', '.join(f'{r:.2f}' for r in ratios)}; {time.strftime('%Y-%m-%d')})")
        if fsync_note:
            print(fsync_note)
        if cpu is not None:  # steadier than throughput on a shared machine: what one request costs the server
            print(f"  server CPU per request: bare {cpu[0]:.0f} µs, papo {cpu[1]:.0f} µs (medians of the rounds)"
                  f" -> capacity ratio {cpu[0] / cpu[1]:.2f}x")
        print(f"  Little's law at {args.concurrency} connections: mean latency = {args.concurrency} / throughput"
              f" = {args.concurrency / ours['rps'] * 1000:.1f} ms for Papo")

        # Drain: exactly --drain queued events (the same figure whatever the client queued above), then time
        # one worker persisting them all.
        queued = await queued_events(urls["redis_url"])
        if queued > args.drain:
            queued = await queued_events(urls["redis_url"], trim=True)
        import drain  # bench/drain.py (it imports this module)

        if queued < args.drain:
            await drain.fill(urls, data_dir, None, 20_000_000, args.drain - queued, args.concurrency)
        result = await drain.drain(urls, data_dir, None, None, "ingest")
        print(f"worker drain: {args.drain} events, {result['with_start_up']:.0f} events/s including the process"
              f" start-up; {result['rate']:.0f} events/s once running (one worker process; bench/drain.py"
              " alternates rounds and gives CPU per event)")


async def compare_loops(args: argparse.Namespace) -> None:
    """A bare handler and `papo serve` on each event loop, all four alternating round by round (wrk)."""
    async with bench_stores() as (urls, data_dir):
        ports = {(kind, loop): free_port() for kind in ("bare", "papo") for loop in LOOPS}
        procs = {}
        for (kind, loop), port in ports.items():
            procs[kind, loop] = (
                subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port), loop]) if kind == "bare" else
                subprocess.Popen([sys.executable, "-m", "papo", "serve"], cwd=data_dir,
                                 env=papo_env(urls, data_dir, port, loop)))
        per_round = 60_000
        script, body_file = write_wrk_inputs(data_dir, per_round * args.rounds * len(LOOPS))
        results: dict[tuple[str, str], list[dict[str, float]]] = {key: [] for key in ports}
        try:
            warm = [whatsapp_body(10_000_000 + i) for i in range(500)]
            for (kind, _), port in ports.items():
                await wait_http(f"http://127.0.0.1:{port}/" + ("healthz" if kind == "papo" else ""))
                await load(f"http://127.0.0.1:{port}/webhooks/whatsapp", warm, args.concurrency)
            turn = 0
            for _ in range(args.rounds):
                for key, port in ports.items():
                    results[key].append(wrk_load(
                        f"http://127.0.0.1:{port}/webhooks/whatsapp", script, body_file,
                        start=turn * per_round if key[0] == "papo" else 0, seconds=args.seconds,
                        concurrency=args.concurrency, server=procs[key].pid))
                    turn += key[0] == "papo"
        finally:
            for proc in procs.values():
                proc.terminate()
                proc.wait(timeout=20)
    print(f"ingest by event loop, signed WhatsApp webhooks, wrk {args.concurrency} connections, {args.rounds}"
          f" alternating rounds of {args.seconds} s, appendfsync always ({time.strftime('%Y-%m-%d')})")
    for loop in LOOPS:
        bare, ours = results["bare", loop], results["papo", loop]
        ratios = [o["rps"] / b["rps"] for b, o in zip(bare, ours, strict=True)]
        p99 = {kind: statistics.median(r["p99_ms"] for r in runs) for kind, runs in (("bare", bare), ("papo", ours))}
        print(f"  {loop:8}: bare {median_round(bare)['rps']:7.0f} req/s p99 {p99['bare']:6.1f} ms"
              f" | papo {median_round(ours)['rps']:7.0f} req/s p99 {p99['papo']:6.1f} ms"
              f" errors {sum(o['errors'] for o in ours):.0f}"
              f" | papo/bare median {statistics.median(ratios):.2f}x worst {min(ratios):.2f}x"
              f" (rounds {', '.join(f'{r:.2f}' for r in ratios)});"
              f" CPU/request bare {statistics.median(b['cpu_us'] for b in bare):.0f} µs"
              f" papo {statistics.median(o['cpu_us'] for o in ours):.0f} µs")
    gain = [u["rps"] / a["rps"] for a, u in zip(results["papo", "asyncio"], results["papo", "uvloop"], strict=True)]
    print(f"  papo on uvloop / papo on asyncio: median {statistics.median(gain):.2f}x, worst {min(gain):.2f}x"
          f" (rounds {', '.join(f'{g:.2f}' for g in gain)})")


if __name__ == "__main__":
    asyncio.run(main())
