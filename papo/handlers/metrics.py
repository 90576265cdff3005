"""`GET /metrics` in Prometheus' text format: this process's counters and histograms, and the queues.

The queue figures are read from Redis at each scrape, so any one web process shows them for the whole
deployment: per stream and partition the entries read but not yet acknowledged (`papo_stream_pending`),
the entries not yet read by the group (`papo_stream_lag`, Redis 7+), and the dead letters waiting for
the owner (`papo_dead_letters`). So are the figures of the processes that serve no /metrics: the reply
latency the outbound workers record (`papo_reply_seconds`) and the admin bot's heartbeat
(`papo_bot_connected`), and what became of each webhook event once a worker parsed it (`papo_webhook_events_total`).
"""

import logging

from aiohttp import web

from papo import app_keys, metrics
from papo.constants import BOT_HEARTBEAT
from papo.services.posts import posts_spec
from papo.services.queues import inbound_spec, outbound_spec, webhook_spec
from papo.streams.spec import StreamSpec

log = logging.getLogger(__name__)


async def metrics_view(request: web.Request) -> web.Response:
    """This process's counters, then the queue gauges (left out, with a log line, if Redis is down)."""
    text = metrics.render()
    try:
        text += "\n".join([*await _queue_lines(request.app), *await _shared_lines(request.app)]) + "\n"
    except Exception as exc:  # a scrape during a Redis outage still gets the process's own metrics
        log.warning("metrics: queue gauges left out: %s: %s", type(exc).__name__, exc)
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


async def _queue_lines(app: web.Application) -> list[str]:
    partitions = app[app_keys.SETTINGS].stream_partitions
    specs: list[StreamSpec] = [webhook_spec(partitions), inbound_spec(partitions), outbound_spec(partitions),
                               posts_spec(partitions)]
    pipe = app[app_keys.STORES].redis.pipeline(transaction=False)
    for spec in specs:
        for partition in range(spec.partitions):
            pipe.xinfo_groups(spec.key(partition))
            pipe.xlen(spec.dead_key(partition))
    answers = iter(await pipe.execute(raise_on_error=False))
    pending, lag, dead = [], [], []
    for spec in specs:
        for partition in range(spec.partitions):
            groups, dead_count = next(answers), next(answers)
            labels = f'stream="{spec.name}",partition="{partition}"'
            group = next((g for g in groups if g.get("name") == spec.group), None) \
                if isinstance(groups, list) else None  # no stream yet: an error, nothing queued
            pending.append(f"papo_stream_pending{{{labels}}} {int(group['pending']) if group else 0}")
            if group is not None and group.get("lag") is not None:
                lag.append(f"papo_stream_lag{{{labels}}} {int(group['lag'])}")
            dead.append(f"papo_dead_letters{{{labels}}} {dead_count if isinstance(dead_count, int) else 0}")
    lines = ["# HELP papo_stream_pending Entries read by a worker and not yet acknowledged",
             "# TYPE papo_stream_pending gauge", *pending,
             "# HELP papo_dead_letters Entries in a partition's dead letters (papo dead-letters)",
             "# TYPE papo_dead_letters gauge", *dead]
    if lag:
        lines += ["# HELP papo_stream_lag Entries no worker has read yet", "# TYPE papo_stream_lag gauge", *lag]
    return lines


async def _shared_lines(app: web.Application) -> list[str]:
    """What workers and the bot recorded in Redis: the reply latency histogram and the bot's heartbeat."""
    pipe = app[app_keys.STORES].redis.pipeline(transaction=False)
    pipe.hgetall(metrics.REPLY_SECONDS.key)
    pipe.hgetall(metrics.WEBHOOK_EVENTS.key)
    pipe.exists(BOT_HEARTBEAT)
    latency, events, beating = await pipe.execute()
    return [*metrics.REPLY_SECONDS.render(latency or {}), *metrics.WEBHOOK_EVENTS.render(events or {}),
            "# HELP papo_bot_connected 1 when the admin bot reached Telegram (a poll, or its webhook delivering) "
            "in the last minute",
            "# TYPE papo_bot_connected gauge", f"papo_bot_connected {1 if beating else 0}"]


def setup(app: web.Application) -> None:
    """Register /metrics."""
    app.router.add_get("/metrics", metrics_view)
