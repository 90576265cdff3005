"""Counters and histograms in Prometheus' text format at GET /metrics (no extra dependency).

`Counter` and `Histogram` live in the process that serves /metrics. `SharedHistogram` is for the processes
that serve none (workers): they add to a Redis hash and every `papo serve` reads it at a scrape.
"""

from __future__ import annotations

import asyncio
import bisect
import threading
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from papo.constants import METRICS_REPLY_SECONDS, METRICS_WEBHOOK_EVENTS


class Counter:
    """A monotonically increasing counter with labels."""

    def __init__(self, name: str, help_: str) -> None:
        self.name = name
        self.help = help_
        self._values: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)
        self._lock = threading.Lock()
        REGISTRY.append(self)

    def inc(self, amount: float = 1, **labels: str) -> None:
        """Add `amount` (>= 0) to the series with these labels."""
        if amount < 0:
            raise ValueError("counters only go up")
        if amount == 0:
            return
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[key] += amount

    def value(self, **labels: str) -> float:
        """The current value of one series (0 when never incremented)."""
        return self._values.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> list[str]:
        """Prometheus exposition lines for this counter."""
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        for key, value in sorted(self._values.items()):
            label = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
            lines.append(f"{self.name}{{{label}}} {value:g}" if label else f"{self.name} {value:g}")
        return lines


class Histogram:
    """Observations counted into cumulative buckets (upper bounds in seconds), with their sum and count."""

    def __init__(self, name: str, help_: str, buckets: tuple[float, ...]) -> None:
        self.name = name
        self.help = help_
        self.buckets = tuple(sorted(buckets))
        # labels -> [count per bucket (not cumulative) ..., +Inf count, sum]
        self._series: dict[tuple[tuple[str, str], ...], list[float]] = {}
        self._lock = threading.Lock()
        REGISTRY.append(self)

    def observe(self, value: float, **labels: str) -> None:
        """Count one observation (seconds) in the series with these labels."""
        key = tuple(sorted(labels.items()))
        index = bisect.bisect_left(self.buckets, value)  # the first bucket whose bound is >= value
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = [0.0] * (len(self.buckets) + 2)
            series[index] += 1
            series[-1] += value

    def render(self) -> list[str]:
        """Prometheus exposition lines: _bucket (cumulative, le=…), _sum and _count per series."""
        series = {",".join(f'{k}="{_escape(v)}"' for k, v in key): counts for key, counts in self._series.items()}
        return _histogram_lines(self.name, self.help, self.buckets, series)


def _histogram_lines(name: str, help_: str, buckets: tuple[float, ...], series: Mapping[str, list[float]]) -> list[str]:
    """Exposition lines of a histogram: per label string, counts per bucket (not cumulative), +Inf, then the sum."""
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} histogram"]
    for label, counts in sorted(series.items()):
        sep = "," if label else ""
        total = 0.0
        for bound, count in zip((*buckets, float("inf")), counts[:-1], strict=True):
            total += count
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            lines.append(f'{name}_bucket{{{label}{sep}le="{le}"}} {total:g}')
        suffix = f"{{{label}}}" if label else ""
        lines.append(f"{name}_sum{suffix} {counts[-1]:.6g}")
        lines.append(f"{name}_count{suffix} {total:g}")
    return lines


class SharedHistogram:
    """A histogram kept in one Redis hash, so several worker processes add to it and `papo serve` shows it.

    Per series (its label string) one field per bucket, not cumulative (`<labels>|<bucket index>`, the
    last index is +Inf) and the sum (`<labels>|sum`): an observation is one HINCRBY and one HINCRBYFLOAT,
    queued on a pipeline the caller already sends.
    """

    def __init__(self, name: str, help_: str, buckets: tuple[float, ...], key: str) -> None:
        self.name = name
        self.help = help_
        self.buckets = tuple(sorted(buckets))
        self.key = key

    async def observe(self, auto: Any, value: float, **labels: str) -> None:
        """Count one observation (seconds) through `auto` (a papo.batching.AutoPipeline)."""
        series = _label_string(labels)
        index = bisect.bisect_left(self.buckets, value)
        await asyncio.gather(auto.call("hincrby", self.key, f"{series}|{index}", 1),
                             auto.call("hincrbyfloat", self.key, f"{series}|sum", value))

    def render(self, fields: Mapping[Any, Any]) -> list[str]:
        """Prometheus exposition lines from the hash's fields (as HGETALL returns them)."""
        series: dict[str, list[float]] = {}
        for raw_field, raw_value in fields.items():
            field = raw_field.decode() if isinstance(raw_field, bytes) else str(raw_field)
            label, _, slot = field.rpartition("|")
            try:
                value = float(raw_value)
                position = len(self.buckets) + 1 if slot == "sum" else int(slot)
            except ValueError:
                continue  # a field this version does not know
            if 0 <= position <= len(self.buckets) + 1:
                series.setdefault(label, [0.0] * (len(self.buckets) + 2))[position] += value
        return _histogram_lines(self.name, self.help, self.buckets, series)


class SharedCounter:
    """A counter kept in one Redis hash (field = its label string), for processes that serve no /metrics."""

    def __init__(self, name: str, help_: str, key: str) -> None:
        self.name = name
        self.help = help_
        self.key = key

    def queue_inc(self, pipe: Any, amount: int, **labels: str) -> None:
        """Add `amount` to a series on a pipeline (or CommandBuffer) the caller sends anyway."""
        if amount > 0:
            pipe.hincrby(self.key, _label_string(labels), amount)

    def render(self, fields: Mapping[Any, Any]) -> list[str]:
        """Prometheus exposition lines from the hash's fields (as HGETALL returns them)."""
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        for raw_field, raw_value in sorted(fields.items()):
            label = raw_field.decode() if isinstance(raw_field, bytes) else str(raw_field)
            lines.append(f"{self.name}{{{label}}} {float(raw_value):g}")
        return lines

    def parse(self, fields: Mapping[Any, Any], **labels: str) -> float:
        """One series' value out of the hash's fields (0 when never counted)."""
        want = _label_string(labels)
        return sum(float(v) for k, v in fields.items() if (k.decode() if isinstance(k, bytes) else k) == want)


def _label_string(labels: Mapping[str, str]) -> str:
    """A series' labels as the one string the Redis-kept metrics use for a hash field (sorted, escaped)."""
    return ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


REGISTRY: list[Counter | Histogram] = []

WEBHOOK_REJECTED = Counter("papo_webhook_rejected_total", "Webhook requests refused, by reason")
EVENTS_PERSISTED = Counter("papo_events_persisted_total", "Inbound events written by workers")
CLASSIFIER_FALLBACKS = Counter("papo_classifier_fallbacks_total", "OpenAI classifications that fell back")
WEBHOOK_SECONDS = Histogram("papo_webhook_seconds", "Time to answer a webhook POST, by platform and status class",
                            (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))

# Recorded by the outbound workers into Redis (papo.constants.METRICS_REPLY_SECONDS), shown by every serve.
REPLY_SECONDS = SharedHistogram(
    "papo_reply_seconds",
    "From an inbound message taken in by a webhook to the automated reply accepted by the platform, by platform",
    (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0), METRICS_REPLY_SECONDS)
# Counted by the worker stage that parses webhook bodies (papo.pipeline.fanout): queued, duplicate,
# unknown_account, malformed.
WEBHOOK_EVENTS = SharedCounter("papo_webhook_events_total", "Webhook events by platform and outcome",
                               METRICS_WEBHOOK_EVENTS)


def render() -> str:
    """The whole registry as Prometheus text."""
    return "\n".join(line for counter in REGISTRY for line in counter.render()) + "\n"
