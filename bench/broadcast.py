"""Broadcast benchmark: a 10,000-recipient campaign sent through `papo worker` + `papo scheduler` to a fake Graph API.

    python bench/broadcast.py [--recipients 10000] [--rate 80] [--throttle-every 500] [--kill-at 4000]

Embedded stores in a temporary directory; `papo worker` (outbound) and `papo scheduler` (the campaign
runner) run as separate processes, the fake WhatsApp Cloud API in this one. The fake answers every
`--throttle-every`th send with 130429 (throughput reached), which the pipeline must back off from.
Measured: the time from the first to the last message received, the peak number of sends the fake
received within any one second (it must never be above `--rate`), and how many customers got the
message twice (must be 0). With `--kill-at N`, both processes are killed with SIGKILL once N customers
got it and started again: the campaign must resume, still nobody twice; sends in flight at the kill are
recorded as `unknown` (in doubt) and not resent.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ingest  # noqa: E402


class FakeCloudApi:
    """POST /{phone_number_id}/messages like the Cloud API; every Nth send answers 130429."""

    def __init__(self, throttle_every: int) -> None:
        self.throttle_every = throttle_every
        self.calls = 0
        self.throttled = 0
        self.accepted: list[tuple[float, str]] = []  # (arrival, to) of every accepted send
        self.arrivals: list[float] = []  # every send, throttled ones included

    async def handle(self, request: web.Request) -> web.Response:
        data = await request.json()
        now = time.monotonic()
        self.calls += 1
        self.arrivals.append(now)
        if self.throttle_every and self.calls % self.throttle_every == 0:
            self.throttled += 1
            return web.json_response({"error": {"message": "(#130429) Rate limit hit", "code": 130429,
                                                "type": "OAuthException"}}, status=400)
        to = data["to"]
        self.accepted.append((now, to))
        return web.json_response({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                                  "messages": [{"id": f"wamid.BC{len(self.accepted)}"}]})

    def distinct(self) -> int:
        return len({to for _, to in self.accepted})

    def peak_per_second(self) -> int:
        """The most sends (throttled ones included) that arrived within any one-second window."""
        times, peak, start = sorted(self.arrivals), 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            peak = max(peak, end - start + 1)
        return peak


async def seed(urls: dict[str, str], data_dir: Path, recipients: int) -> str:
    """The leads, an approved template and the broadcast (created now, sent once the scheduler runs)."""
    from papo.config import Settings
    from papo.models import ConnectedAccount, User
    from papo.runtime import StoreUrls, open_stores
    from papo.services.broadcasts import Segment, create_broadcast
    from papo.services.templates import add_template
    from tests.broadcasts.seed import seed_leads

    settings = Settings(_env_file=None, data_dir=data_dir, secret_key="bench-secret-key-0123456789", **urls)
    async with open_stores(StoreUrls(**urls), settings):
        user = await User.get(email="bench@papo.dev")
        account = await ConnectedAccount.get(user_id=user.id)
        await seed_leads(user.id, account.id, count=recipients, quality="hot")
        await add_template(user, platform="whatsapp", name="promo", content="Oi {first_name}! Cupom {cupom}.",
                           meta_template_name="promo_natal", language="pt_BR", approved=True)
        view = await create_broadcast(user, template="promo", segment=Segment(quality=("hot",)),
                                      variables={"cupom": "NATAL10"})
        return str(view.id)


async def outcome(urls: dict[str, str], data_dir: Path, broadcast_id: str) -> dict[str, Any]:
    """The broadcast's recipients by state, as Papo recorded them."""
    from papo.config import Settings
    from papo.models import User
    from papo.runtime import StoreUrls, open_stores
    from papo.services.broadcasts import get_broadcast

    settings = Settings(_env_file=None, data_dir=data_dir, secret_key="bench-secret-key-0123456789", **urls)
    async with open_stores(StoreUrls(**urls), settings):
        view = await get_broadcast(await User.get(email="bench@papo.dev"), broadcast_id)
        return {"status": view.status, "counts": view.counts}


def start(env: dict[str, str], data_dir: Path) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-m", "papo", role], env=env, cwd=data_dir)
            for role in ("worker", "scheduler")]


async def run(args: argparse.Namespace) -> None:
    fake = FakeCloudApi(args.throttle_every)
    fake_port, runner = await ingest.serve_fake(fake.handle)
    async with ingest.bench_stores() as (urls, data_dir):
        await ingest.set_fsync(urls["redis_url"], "everysec")
        broadcast_id = await seed(urls, data_dir, args.recipients)
        env = ingest.papo_env(urls, data_dir, ingest.free_port())
        env.update({"PAPO_GRAPH_API_URL": f"http://127.0.0.1:{fake_port}/",
                    "PAPO_OUTBOUND_BROADCAST_PER_SECOND": str(args.rate),
                    "PAPO_OUTBOUND_RETRY_BASE": "0.5", "PAPO_OUTBOUND_RETRY_MAX": "5"})
        procs = start(env, data_dir)
        killed_at = None
        try:
            deadline = time.monotonic() + args.recipients / args.rate * 3 + 120
            last_check = 0.0
            while time.monotonic() < deadline:
                if args.kill_at and killed_at is None and fake.distinct() >= args.kill_at:
                    for proc in procs:
                        proc.kill()  # SIGKILL: no draining, no goodbye
                    for proc in procs:
                        proc.wait()
                    killed_at = fake.distinct()
                    procs = start(env, data_dir)
                nearly = fake.distinct() >= args.recipients * 0.98
                if nearly and time.monotonic() - last_check > 3:
                    last_check = time.monotonic()
                    if (await outcome(urls, data_dir, broadcast_id))["status"] == "finished":
                        break
                await asyncio.sleep(0.25)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=30)
        final = await outcome(urls, data_dir, broadcast_id)
    await runner.cleanup()
    report(args, fake, final, killed_at)


def report(args: argparse.Namespace, fake: FakeCloudApi, final: dict[str, Any], killed_at: int | None) -> None:
    times = [at for at, _ in fake.accepted]
    twice = sum(1 for n in Counter(to for _, to in fake.accepted).values() if n > 1)
    elapsed = (max(times) - min(times)) if times else 0.0
    print(f"broadcast: {args.recipients} recipients at a limit of {args.rate:g}/s"
          + (f", both processes SIGKILLed after {killed_at} and restarted" if killed_at else ""))
    print(f"  received by the fake API: {fake.distinct()} customers, {fake.calls} requests "
          f"({fake.throttled} answered 130429)")
    print(f"  time first→last: {elapsed:.1f} s  ({fake.distinct() / elapsed if elapsed else 0:.1f} sends/s)")
    print(f"  peak in any one second: {fake.peak_per_second()} (limit {args.rate:g})")
    print(f"  customers who got it twice: {twice}")
    print(f"  Papo's record: {final['status']}, {final['counts']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=80.0, help="PAPO_OUTBOUND_BROADCAST_PER_SECOND")
    parser.add_argument("--throttle-every", type=int, default=500, help="every Nth send answers 130429 (0: never)")
    parser.add_argument("--kill-at", type=int, default=0, help="SIGKILL worker and scheduler after N customers")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
