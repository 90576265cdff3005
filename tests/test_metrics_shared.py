"""SharedHistogram: observations from any process add up in one Redis hash, rendered as a Prometheus histogram."""

from __future__ import annotations

import asyncio

from papo.batching import AutoPipeline
from papo.metrics import SharedHistogram


async def test_observations_from_two_processes_add_up_and_unknown_fields_are_skipped(stores) -> None:
    histogram = SharedHistogram("papo_test_seconds", "test", (0.5, 1.0), "papo:metrics:test-seconds")
    worker_a, worker_b = AutoPipeline(stores.redis), AutoPipeline(stores.redis)  # two workers' pipelines
    await asyncio.gather(histogram.observe(worker_a, 0.2, platform="whatsapp"),
                         histogram.observe(worker_b, 0.7, platform="whatsapp"),
                         histogram.observe(worker_b, 9.0, platform="whatsapp"))
    await stores.redis.hset(histogram.key, mapping={"from-a-newer-version": "1", 'platform="x"|-1': "5"})

    lines = histogram.render(await stores.redis.hgetall(histogram.key))
    assert lines == [
        "# HELP papo_test_seconds test", "# TYPE papo_test_seconds histogram",
        'papo_test_seconds_bucket{platform="whatsapp",le="0.5"} 1',
        'papo_test_seconds_bucket{platform="whatsapp",le="1"} 2',
        'papo_test_seconds_bucket{platform="whatsapp",le="+Inf"} 3',
        'papo_test_seconds_sum{platform="whatsapp"} 9.9',
        'papo_test_seconds_count{platform="whatsapp"} 3',
    ]
