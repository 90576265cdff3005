"""Partitioned streams: key names and the partition of a routing key (e.g. a conversation key)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from papo.constants import (
    PARTITION_DEAD,
    PARTITION_EPOCH,
    PARTITION_FAILURES,
    PARTITION_LEASE,
    PARTITION_SEEN,
    PARTITION_STREAM,
    partition_key,
    stream_tag,
    workers_key,
)


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A logical stream split into `partitions` Redis streams.

    Each partition's keys share one hash tag (`{name:p}`), so a partition's stream, dedupe keys and
    dead letters live in one Redis Cluster slot and a Lua script may touch them together.
    """

    name: str
    partitions: int
    group: str = "papo"

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ValueError("a stream needs at least one partition")

    def tag(self, partition: int) -> str:
        """The hash tag of a partition."""
        return stream_tag(self.name, partition)

    def key(self, partition: int) -> str:
        """The Redis stream of a partition."""
        return partition_key(self.name, partition, PARTITION_STREAM)

    def dead_key(self, partition: int) -> str:
        """The dead-letter stream of a partition."""
        return partition_key(self.name, partition, PARTITION_DEAD)

    def failures_key(self, partition: int) -> str:
        """Hash of entry id -> failed delivery count."""
        return partition_key(self.name, partition, PARTITION_FAILURES)

    def seen_key(self, partition: int, dedupe_key: str) -> str:
        """The dedupe marker of one event (same slot as its stream)."""
        return f"{self.seen_prefix(partition)}{dedupe_key}"

    def seen_prefix(self, partition: int) -> str:
        """What every dedupe marker of a partition starts with (built once per batch by the producer)."""
        return partition_key(self.name, partition, PARTITION_SEEN)

    def lease_key(self, partition: int) -> str:
        """Who owns a partition right now: "worker#epoch", expiring unless renewed."""
        return partition_key(self.name, partition, PARTITION_LEASE)

    def epoch_key(self, partition: int) -> str:
        """The partition's fencing counter: one more at every change of owner (never expires)."""
        return partition_key(self.name, partition, PARTITION_EPOCH)

    @property
    def workers_key(self) -> str:
        """Sorted set of live consumers (score = last heartbeat, ms)."""
        return workers_key(self.name)

    def partition_for(self, routing_key: str) -> int:
        """The partition of a routing key: stable across processes and machines (CRC-32, not hash())."""
        return zlib.crc32(routing_key.encode()) % self.partitions

    def consumer_name(self, partition: int) -> str:
        """One consumer name per partition: a new owner inherits the pending entries of a dead one."""
        return f"p{partition}"
