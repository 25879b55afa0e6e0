"""A compacted changelog read back whole with kafka-python: what compaction would keep of it.

The embedded broker's ListOffsets answers are short (../shared/BROKER.md), so the end of each
partition is never asked for: it is the high watermark that fetch responses carry, which is
right on that broker, and reading stops once every partition's position has reached it and the
caller's count of keys is there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from bench.reading import FETCH_MAX_WAIT_MS, ReaderFailed

POLL_MS = 200
STALL_S = 30.0  # a read that gets no record and does not reach its end for this long has failed
# Fetch as much as a response may carry: the read is of a whole topic, not of one record at a time.
FETCH_MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Compacted:
    records: int  # every record read, superseded ones included: what a restore reads too
    total_bytes: int  # keys and values of all of them
    value_sizes: dict[bytes, int]  # per key, the size of its last value: what compaction keeps


def read_compacted(*, bootstrap: list[str], topic: str, partitions: int, keys: int) -> Compacted:
    """Read ``topic`` from the start until at least ``keys`` keys are seen and nothing is left."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        fetch_max_bytes=FETCH_MAX_BYTES,
        max_partition_fetch_bytes=FETCH_MAX_BYTES,
        max_poll_records=100_000,
        # kafka-python checks each batch's CRC32C in pure Python, which made reading 15 times
        # slower; the broker is local and keeps records in memory.
        check_crcs=False,
    )
    try:
        assigned = [TopicPartition(topic, partition) for partition in range(partitions)]
        consumer.assign(assigned)
        for partition in assigned:
            consumer.seek(partition, 0)  # not seek_to_beginning: no ListOffsets at all
        sizes: dict[bytes, int] = {}
        records = total_bytes = 0
        last_progress = time.monotonic()
        while True:
            taken = consumer.poll(timeout_ms=POLL_MS)
            for batch in taken.values():
                for record in batch:
                    records += 1
                    total_bytes += len(record.key) + (0 if record.value is None else len(record.value))
                    if record.value is None:  # a tombstone: compaction drops the key
                        sizes.pop(record.key, None)
                    else:
                        sizes[record.key] = len(record.value)
            if taken:
                last_progress = time.monotonic()
            if len(sizes) >= keys and _at_end(consumer, assigned):
                return Compacted(records=records, total_bytes=total_bytes, value_sizes=sizes)
            if time.monotonic() - last_progress > STALL_S:
                raise ReaderFailed(f"reading {topic} back stalled at {len(sizes):,} of {keys:,} keys ({records:,} records)")
    finally:
        consumer.close()


def _at_end(consumer: KafkaConsumer, assigned: list[TopicPartition]) -> bool:
    for partition in assigned:
        highwater = consumer.highwater(partition)
        if highwater is None or consumer.position(partition) < highwater:
            return False
    return True
