"""Benchmark the local classifier on one core: classifications per second and latency percentiles.

    python bench/classify.py [--n 20000]

Texts come from the corpus (all languages, all lengths). The baseline in the same run is the cost of
only normalising each text, so the ratio shows what the model adds on top of reading the message.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from papo.ai import dataset
from papo.ai.local import LocalClassifier
from papo.ai.text import normalize

TARGET_PER_SECOND = 5000


def measure(fn: Callable[[str], object], texts: list[str]) -> tuple[float, float, float]:
    """(calls per second, p50 µs, p99 µs) for calling fn on every text once."""
    samples = []
    clock = time.perf_counter_ns
    started = clock()
    for text in texts:
        t0 = clock()
        fn(text)
        samples.append(clock() - t0)
    elapsed = (clock() - started) / 1e9
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1000
    return len(texts) / elapsed, statistics.median(samples) / 1000, p99


def main() -> int:
    """Run the benchmark and print the figures; exit 1 below the target rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="classifications to time (default: %(default)s)")
    args = parser.parse_args()
    corpus = [e.text for e in dataset.load()]
    texts = (corpus * (args.n // len(corpus) + 1))[: args.n]
    classifier = LocalClassifier()
    started = time.perf_counter()
    classifier.predict("warm-up: load the model")
    load_ms = (time.perf_counter() - started) * 1000
    for text in texts[:500]:  # warm caches before timing
        classifier.predict(text)
    base_rate, base_p50, base_p99 = measure(normalize, texts)
    rate, p50, p99 = measure(classifier.predict, texts)
    mean_chars = statistics.mean(len(t) for t in texts)
    print(f"texts: {len(texts)} from the corpus (mean {mean_chars:.0f} chars); model load {load_ms:.0f} ms")
    print(
        f"baseline normalize only : {base_rate:10,.0f} /s   p50 {base_p50:6.1f} µs   p99 {base_p99:6.1f} µs"
    )
    print(f"classify (full result)  : {rate:10,.0f} /s   p50 {p50:6.1f} µs   p99 {p99:6.1f} µs")
    print(f"classify / normalize cost ratio: {base_rate / rate:.2f}x")
    print(f"target {TARGET_PER_SECOND:,}/s on one core: {'ok' if rate >= TARGET_PER_SECOND else 'BELOW'}")
    return 0 if rate >= TARGET_PER_SECOND else 1


if __name__ == "__main__":
    raise SystemExit(main())
