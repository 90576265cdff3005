"""Worker drain benchmark: how many queued webhook events one `papo worker` process persists per second.

    python bench/drain.py [--events 10000] [--rounds 4] [--baseline /path/to/older/checkout] [--profile DIR]

Each round queues `--events` signed WhatsApp text webhooks through `papo serve` (500 customers, as in
bench/ingest.py), stops it, then starts one worker and times it from its first stored message to the last
one ("once running": the start-up is left out). With `--baseline`, rounds alternate between this checkout
and the baseline's code (serve and worker run with PYTHONPATH pointing at it; it must have the webhook stream), and
the per-pair ratio is printed with the median and the worst pair. A first warm-up round creates the
customers' leads and conversations and is not counted. CPU per event is given per process (worker, the
embedded stores, and this script, which polls PostgreSQL). With `--profile DIR` each counted worker runs
under py-spy (installed separately) and its collapsed stacks are written to DIR (for flamegraph.pl or speedscope).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import e2e  # noqa: E402
import ingest  # noqa: E402


def env_for(urls: dict[str, str], data_dir: Path, port: int, code: Path | None) -> dict[str, str]:
    """The Papo processes' environment; with `code`, they run that checkout's code."""
    env = ingest.papo_env(urls, data_dir, port)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    return env


async def fill(urls: dict[str, str], data_dir: Path, code: Path | None, start: int, count: int,
               concurrency: int = 64) -> None:
    """Queue `count` new webhook events through `papo serve` (of the round's code: it sets up MongoDB's
    indexes)."""
    port = ingest.free_port()
    serve = subprocess.Popen([sys.executable, "-m", "papo", "serve"], env=env_for(urls, data_dir, port, code),
                             cwd=data_dir)
    try:
        await ingest.wait_http(f"http://127.0.0.1:{port}/healthz")
        bodies = [ingest.whatsapp_body(start + i) for i in range(count)]
        await ingest.load(f"http://127.0.0.1:{port}/webhooks/whatsapp", bodies, concurrency)
    finally:
        serve.terminate()
        serve.wait(timeout=20)


async def mongo_documents(mongo_url: str) -> dict[str, int]:
    """Documents in each collection of Papo's MongoDB database."""
    from papo.analytics.store import open_mongo

    client = open_mongo(mongo_url)
    try:
        db = client["papo"]
        return {name: await db[name].estimated_document_count() for name in await db.list_collection_names()}
    finally:
        await client.close()


async def drain(urls: dict[str, str], data_dir: Path, code: Path | None, profile: Path | None,
                label: str) -> dict[str, float]:
    """Run one worker until every queued event is a stored message: events/s once running (and counting the
    start-up), CPU per event per process, MongoDB documents per event."""
    before = await ingest.count_messages(urls["database_url"])
    docs_before = await mongo_documents(urls["mongo_url"])
    total = before + await ingest.queued_events(urls["redis_url"])
    worker = subprocess.Popen([sys.executable, "-m", "papo", "worker"], env=env_for(urls, data_dir, 8080, code),
                              cwd=data_dir)
    spy = None
    if profile is not None:  # attached, so the worker gets the SIGTERM itself and its CPU is counted
        spy = subprocess.Popen(["py-spy", "record", "--pid", str(worker.pid), "--rate", "100", "--nonblocking",
                                "--format", "raw", "-o", str(profile / f"{label}.txt")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first_at = first_count = None
        cpu0: dict[str, float] = {}
        started = time.perf_counter()
        done = before
        while done < total:
            await asyncio.sleep(0.05)
            done = await ingest.count_messages(urls["database_url"])
            if first_at is None and done > before:
                first_at, first_count = time.perf_counter(), done
                cpu0 = e2e.cpu_by_role(None, worker.pid)
            if time.perf_counter() - started > 300:
                raise RuntimeError(f"drain stalled at {done - before}/{total - before}")
        finished = time.perf_counter()
        cpu = e2e.cpu_by_role(None, worker.pid)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        if spy is not None:
            spy.wait(timeout=60)
    events = total - first_count
    result = {"rate": events / (finished - first_at), "with_start_up": (total - before) / (finished - started)}
    docs = await mongo_documents(urls["mongo_url"])
    result.update({f"docs_{name}": (n - docs_before.get(name, 0)) / (total - before) for name, n in docs.items()
                   if n != docs_before.get(name, 0)})
    result.update({f"cpu_{name}": (cpu[name] - cpu0.get(name, 0.0)) / events * 1e6 for name in cpu})
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10000, help="events queued per round")
    parser.add_argument("--rounds", type=int, default=4, help="counted rounds (per code version)")
    parser.add_argument("--baseline", type=Path, help="an older checkout to alternate with, round by round")
    parser.add_argument("--profile", type=Path, help="record each counted worker with py-spy into this folder")
    args = parser.parse_args()
    if args.profile is not None:
        if shutil.which("py-spy") is None:
            parser.error("--profile needs py-spy on PATH (pip install py-spy)")
        args.profile.mkdir(parents=True, exist_ok=True)
    versions: list[tuple[str, Path | None]] = [("this", None)]
    if args.baseline is not None:
        if not (args.baseline / "papo" / "__init__.py").exists():
            parser.error(f"--baseline {args.baseline}: no papo package there")
        versions.append(("baseline", args.baseline.resolve()))
    async with ingest.bench_stores() as (urls, data_dir):
        serial = 30_000_000
        await fill(urls, data_dir, None, serial, 2000)  # warm-up: leads and conversations for every customer
        serial += 2000
        await drain(urls, data_dir, None, None, "warm-up")
        results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in versions}
        for r in range(args.rounds):
            order = versions if r % 2 == 0 else versions[::-1]
            for name, code in order:
                await fill(urls, data_dir, code, serial, args.events)
                serial += args.events
                result = await drain(urls, data_dir, code, args.profile, f"{name}-{r}")
                results[name].append(result)
                cpu = ", ".join(f"{k[4:]} {v:.0f}" for k, v in result.items() if k.startswith("cpu_"))
                docs = ", ".join(f"{k[5:]} {v:.2f}" for k, v in result.items() if k.startswith("docs_"))
                print(f"round {r + 1} {name:8}: {result['rate']:6.0f} events/s once running; CPU µs/event: {cpu}; "
                      f"MongoDB documents/event: {docs}",
                      flush=True)
    print(f"worker drain, {args.events} events a round, one worker process, "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores")
    for name, rounds in results.items():
        rates = [r["rate"] for r in rounds]
        keys = [k for k in rounds[0] if k.startswith("cpu_")]
        cpu = ", ".join(f"{k[4:]} {statistics.median(r[k] for r in rounds):.0f}" for k in keys)
        print(f"  {name:8}: median {statistics.median(rates):.0f} events/s, worst round {min(rates):.0f}; "
              f"median CPU µs/event: {cpu}")
    if args.baseline is not None:
        ratios = [a["rate"] / b["rate"] for a, b in zip(results["this"], results["baseline"], strict=True)]
        print(f"  this / baseline: median {statistics.median(ratios):.2f}x, worst pair {min(ratios):.2f}x "
              f"(per pair: {', '.join(f'{x:.2f}' for x in ratios)})")


if __name__ == "__main__":
    asyncio.run(main())
