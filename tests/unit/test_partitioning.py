"""streams.partitioning must put every key on the partition Kafka's default partitioner picks.

kafka-python's murmur2 is the reference here: it is what produced the partitions of every topic
a worker reads, so an offline replay that disagreed with it would split users differently and
let each partition learn a different population.
"""

from __future__ import annotations

import random

import pytest
from kafka.partitioner.default import murmur2 as kafka_murmur2

from streams.partitioning import murmur2, partition_for

RANDOM_KEYS = 3000
MAX_KEY_LENGTH = 40
USER_IDS = [f"u{n:04d}" for n in range(1000)] + ["u1", "u-1", "21", "ann", "bob", "user-42@example.com", "ünïcode-üser"]


def kafka_partition(key: bytes, partitions: int) -> int:
    # kafka.partitioner.default.DefaultPartitioner.partition, without the cluster metadata.
    return (kafka_murmur2(key) & 0x7FFFFFFF) % partitions


def random_keys() -> list[bytes]:
    rng = random.Random(20261125)
    keys = [bytes(rng.randrange(256) for _ in range(rng.randrange(MAX_KEY_LENGTH + 1))) for _ in range(RANDOM_KEYS)]
    # Every length 0..40 at least once, so each tail (0 to 3 trailing bytes) is covered.
    keys += [bytes(rng.randrange(256) for _ in range(length)) for length in range(MAX_KEY_LENGTH + 1)]
    return keys


def test_murmur2_agrees_with_kafka_python_on_random_bytes():
    keys = random_keys()
    mismatches = [key for key in keys if murmur2(key) & 0x7FFFFFFF != kafka_murmur2(key) & 0x7FFFFFFF]
    assert mismatches == []
    # The signed form is the same 32 bits as kafka-python's unsigned one.
    assert [murmur2(key) & 0xFFFFFFFF for key in keys] == [kafka_murmur2(key) for key in keys]
    assert all(-(2**31) <= murmur2(key) < 2**31 for key in keys)
    assert any(murmur2(key) < 0 for key in keys)  # the signed form really is signed


@pytest.mark.parametrize(
    ("key", "java_value"),
    [
        # Kafka's own UtilsTest.testMurmur2 cases (Java's signed ints).
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_murmur2_gives_the_java_clients_values(key: bytes, java_value: int):
    assert murmur2(key) == java_value
    assert kafka_murmur2(key) == java_value & 0xFFFFFFFF  # and so does the reference


@pytest.mark.parametrize("partitions", [1, 2, 3, 4, 7, 12, 64])
def test_partition_for_agrees_with_kafka_python_for_user_ids(partitions: int):
    keys = [user.encode() for user in USER_IDS]
    assert [partition_for(key, partitions) for key in keys] == [kafka_partition(key, partitions) for key in keys]


@pytest.mark.parametrize("partitions", [1, 2, 4, 5, 16])
def test_partition_for_is_in_range_and_uses_every_partition(partitions: int):
    keys = random_keys() + [user.encode() for user in USER_IDS]
    chosen = [partition_for(key, partitions) for key in keys]
    assert all(0 <= number < partitions for number in chosen)
    assert set(chosen) == set(range(partitions))
