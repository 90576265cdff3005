"""Process-local counters rendered in Prometheus' text format at GET /metrics (no extra dependency)."""

from __future__ import annotations

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


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


REGISTRY: list[Counter] = []

WEBHOOK_EVENTS = Counter("papo_webhook_events_total", "Webhook events by platform and outcome")
WEBHOOK_REJECTED = Counter("papo_webhook_rejected_total", "Webhook requests refused, by reason")
EVENTS_PERSISTED = Counter("papo_events_persisted_total", "Inbound events written by workers")
CLASSIFIER_FALLBACKS = Counter("papo_classifier_fallbacks_total", "OpenAI classifications that fell back")


def render() -> str:
    """The whole registry as Prometheus text."""
    return "\n".join(line for counter in REGISTRY for line in counter.render()) + "\n"
