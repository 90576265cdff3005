"""Process-local counters and histograms in Prometheus' text format at GET /metrics (no extra dependency)."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict


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
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, series in sorted(self._series.items()):
            label = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
            sep = "," if label else ""
            total = 0.0
            for bound, count in zip((*self.buckets, float("inf")), series[:-1], strict=True):
                total += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                lines.append(f'{self.name}_bucket{{{label}{sep}le="{le}"}} {total:g}')
            suffix = f"{{{label}}}" if label else ""
            lines.append(f"{self.name}_sum{suffix} {series[-1]:.6g}")
            lines.append(f"{self.name}_count{suffix} {total:g}")
        return lines


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


REGISTRY: list[Counter | Histogram] = []

WEBHOOK_EVENTS = Counter("papo_webhook_events_total", "Webhook events by platform and outcome")
WEBHOOK_REJECTED = Counter("papo_webhook_rejected_total", "Webhook requests refused, by reason")
EVENTS_PERSISTED = Counter("papo_events_persisted_total", "Inbound events written by workers")
CLASSIFIER_FALLBACKS = Counter("papo_classifier_fallbacks_total", "OpenAI classifications that fell back")
WEBHOOK_SECONDS = Histogram("papo_webhook_seconds", "Time to answer a webhook POST, by platform and status class",
                            (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))


def render() -> str:
    """The whole registry as Prometheus text."""
    return "\n".join(line for counter in REGISTRY for line in counter.render()) + "\n"
