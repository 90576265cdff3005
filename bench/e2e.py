"""End-to-end benchmark: signed WhatsApp webhooks in → rule → reply received by a local fake Graph API.

    python bench/e2e.py [--rate 1000] [--seconds 5]

Each message comes from a different customer and asks a price, so a keyword rule answers every one.
Open-loop load at `--rate` messages/s; latency is from sending the webhook to the fake API receiving the
reply. `papo serve` and `papo worker` run as separate processes on this machine, with the local
classifier. Figures depend on the machine's load: compare runs made in the same conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ingest  # noqa: E402

from papo.adapters import meta  # noqa: E402


class FakeGraph:
    """Answers POST /{phone_number_id}/messages like the WhatsApp Cloud API and notes when each reply came."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}

    async def handle(self, request: web.Request) -> web.Response:
        data = await request.json()
        to = data.get("to") or data.get("recipient")
        self.received.setdefault(to, time.perf_counter())
        return web.json_response({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                                  "messages": [{"id": f"wamid.REPLY{len(self.received)}"}]})


def cpu_by_role(serve: int, worker: int) -> dict[str, float]:
    """CPU seconds used so far by each part of the run: this process (load + fake API), serve, worker, stores."""
    me = psutil.Process()
    roles = {"load+fake API": me}
    for child in me.children(recursive=True):
        try:
            name = " ".join(child.cmdline())
        except psutil.Error:
            continue
        role = ("serve" if child.pid == serve else "worker" if child.pid == worker else
                "postgresql" if "postgres" in name else "redis" if "redis" in name else
                "mongodb" if "secantus" in name or "mongod" in name else None)
        if role:
            roles.setdefault(role + "#" + str(child.pid), child)
    used: dict[str, float] = {}
    for key, proc in roles.items():
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        role = key.split("#")[0]
        used[role] = used.get(role, 0.0) + t.user + t.system
    return used


def body_for(n: int) -> tuple[str, bytes]:
    """A price question from customer n, timestamped now (inside the 24-hour window)."""
    customer = f"55119{n:08d}"
    payload = ingest.whatsapp_body(n).replace(f"55119{n % 500:08d}".encode(), customer.encode())
    old, new = f'"timestamp": "{1767268800 + n}"', f'"timestamp": "{int(time.time())}"'
    payload = payload.replace(old.encode(), new.encode())
    return customer, payload


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second offered")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    total = int(args.rate * args.seconds)

    fake = FakeGraph()
    fake_port, runner = await ingest.serve_fake(fake.handle)

    async with ingest.bench_stores() as (urls, data_dir):
        port = ingest.free_port()
        env = ingest.papo_env(urls, data_dir, port)
        env.update({"PAPO_GRAPH_API_URL": f"http://127.0.0.1:{fake_port}/",
                    "PAPO_OUTBOUND_WHATSAPP_PER_SECOND": "100000"})
        rule = subprocess.run(
            [sys.executable, "-m", "papo", "rules", "add", "--user", "bench@papo.dev", "--name", "Preço",
             "--trigger", "message", "--platform", "whatsapp", "--action", "send_message",
             "--condition", '{"keywords_any": ["preço"]}', "--data", '{"text": "Oi {first_name}! R$ 45."}'],
            env=env, capture_output=True, text=True, cwd=data_dir)
        if rule.returncode != 0:
            raise RuntimeError(rule.stderr)
        serve = subprocess.Popen([sys.executable, "-m", "papo", "serve"], env=env, cwd=data_dir)
        worker = subprocess.Popen([sys.executable, "-m", "papo", "worker"], env=env, cwd=data_dir)
        try:
            await ingest.wait_http(f"http://127.0.0.1:{port}/healthz")
            await asyncio.sleep(2)  # the worker takes its partitions
            sent: dict[str, float] = {}
            bodies = [body_for(n) for n in range(total)]
            connector = aiohttp.TCPConnector(limit=128)
            cpu_before = cpu_by_role(serve.pid, worker.pid)
            async with aiohttp.ClientSession(connector=connector) as session:
                async def post(customer: str, body: bytes) -> None:
                    headers = {"Content-Type": "application/json",
                               meta.SIGNATURE_HEADER: meta.sign(body, ingest.APP_SECRET)}
                    sent[customer] = time.perf_counter()
                    async with session.post(f"http://127.0.0.1:{port}/webhooks/whatsapp", data=body,
                                            headers=headers) as resp:
                        await resp.read()

                started = time.perf_counter()
                tasks = []
                for n, (customer, body) in enumerate(bodies):
                    delay = started + n / args.rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(post(customer, body)))
                await asyncio.gather(*tasks)
                deadline = time.perf_counter() + 120
                while len(fake.received) < total and time.perf_counter() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            finished = max(fake.received.values()) if fake.received else time.perf_counter()
            cpu_after = cpu_by_role(serve.pid, worker.pid)
        finally:
            for proc in (serve, worker):
                proc.terminate()
                proc.wait(timeout=30)
    await runner.cleanup()
    latencies = sorted((fake.received[c] - sent[c]) * 1000 for c in fake.received if c in sent)
    if not latencies:
        print("no replies arrived")
        return
    print(f"e2e: {total} webhooks offered at {args.rate:.0f}/s; {len(latencies)} replies received")
    print(f"  throughput {len(latencies) / (finished - started):.0f} replies/s"
          f"  p50 {statistics.median(latencies):.1f} ms  p95 {latencies[int(len(latencies) * 0.95) - 1]:.1f} ms"
          f"  max {latencies[-1]:.1f} ms")
    # Where the machine's CPU went, per reply: the ceiling any rate meets on these two cores.
    spent = {role: cpu_after.get(role, 0.0) - cpu_before.get(role, 0.0) for role in cpu_after}
    per_reply = {role: seconds * 1000 / len(latencies) for role, seconds in spent.items()}
    total = sum(per_reply.values())
    print("  CPU per reply: " + ", ".join(f"{role} {ms:.2f} ms" for role, ms in
                                          sorted(per_reply.items(), key=lambda kv: -kv[1])))
    print(f"  total {total:.2f} ms of CPU per reply -> at most {2000 / total:.0f} replies/s on 2 fully used cores"
          f" ({psutil.cpu_count()} here)")


if __name__ == "__main__":
    asyncio.run(main())
