"""Redis Streams: versioned JSON entries, partitioned streams, consumer groups with leases, dead letters."""
