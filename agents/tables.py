"""The worker's view of a Faust table's data: users (or partitions' populations) by key.

The pipeline reads a record, changes it in place during a step, and hands the changed ones to
the changelog once per step. Faust's in-memory store holds the very objects, so that is all
it takes (``MemoryTable``). Faust's RocksDB store does not fit that as it is: every read decodes
a new object, and it takes a write only inside a Faust stream event, whose message names the
partition's database, while a step delivered a fetch at a time has none. So ``RocksTable`` keeps
the records a step reads or changes in a cache, and writes the changed ones into each partition's
database in one batch once their changelog records are acknowledged, as Faust's own recovery
writes changelog records (``Store.apply_changelog_batch``); the worker then records the
changelog offset they reach (``set_persisted_offset``), so a restart reads only the tail.

It reads the partitions' databases itself, never through ``Store.get``: inside a Faust stream
event (a step is one) that looks only in the database of the event's partition, and a fetch
brings several partitions' users. A restarted worker once lost its users that way.

RocksTable leans on one private part of faust-streaming 0.15.3, ``Store._db_for_partition``,
which tests/unit/test_tables.py pins.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Generic, Iterator, MutableMapping, TypeVar

V = TypeVar("V")


class MemoryTable(MutableMapping[str, V], Generic[V]):
    """Faust's in-memory store as it is: its values are the live objects."""

    def __init__(self, data: MutableMapping[str, V], *, partition_of: Callable[[str, V], int]) -> None:
        self._data = data
        self._partition_of = partition_of

    def __getitem__(self, key: str) -> V:
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def __setitem__(self, key: str, value: V) -> None:
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def items_of(self, partition: int) -> Iterator[tuple[str, V]]:
        partition_of = self._partition_of
        return ((key, value) for key, value in self._data.items() if partition_of(key, value) == partition)

    def flush(self) -> None:
        """Nothing to write: the store holds the objects themselves."""

    def own(self, partition: int) -> None:
        """Nothing to open: Faust's recovery filled the store."""

    def disown(self, partition: int) -> None:
        """Nothing cached apart from the store."""


class RocksTable(MutableMapping[str, V], Generic[V]):
    """Faust's RocksDB store behind a write-back cache of at most ``capacity`` records, apart from
    changed ones, which stay until ``flush``: a daily sweep reads every user of a partition, and
    memory stays bounded through it."""

    def __init__(
        self,
        store: Any,
        *,
        partition_of: Callable[[str, V], int],
        locate: Callable[[str], int],
        encode: Callable[[V], bytes],
        decode: Callable[[bytes], V],
        capacity: int,
    ) -> None:
        """``locate(key)``: the partition a key most likely lives in, looked in first."""
        self._store = store
        self._partition_of = partition_of
        self._locate = locate
        self._encode = encode
        self._decode = decode
        self._capacity = capacity
        self._owned: list[int] = []  # the partitions this worker holds, whose databases it reads
        self._cache: OrderedDict[str, V] = OrderedDict()  # least recently used first
        self._dirty: dict[str, int] = {}  # key -> partition: to write at the next flush
        self._deleted: dict[str, int] = {}  # key -> partition: to delete at the next flush

    def _db(self, partition: int) -> Any:
        return self._store._db_for_partition(partition)

    def _read(self, key: str) -> V | None:
        if key in self._deleted:
            return None
        raw_key = key.encode()
        likely = self._locate(key)
        for partition in sorted(self._owned, key=lambda owned: owned != likely):
            raw_value = self._db(partition).get(raw_key)
            if raw_value is not None:
                return self._decode(raw_value)
        return None

    def __getitem__(self, key: str) -> V:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        cache = self._cache
        value = cache.get(key)
        if value is not None:
            cache.move_to_end(key)
            return value
        value = self._read(key)
        if value is None:
            return default
        cache[key] = value
        if len(cache) > self._capacity:
            self._trim()
        return value

    def __setitem__(self, key: str, value: V) -> None:
        self._cache[key] = value
        self._cache.move_to_end(key)
        self._dirty[key] = self._partition_of(key, value)
        self._deleted.pop(key, None)

    def __delitem__(self, key: str) -> None:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        del self._cache[key]
        partition = self._dirty.pop(key, None)
        self._deleted[key] = self._partition_of(key, value) if partition is None else partition

    def __iter__(self) -> Iterator[str]:
        for partition in list(self._owned):
            for key, _ in self.items_of(partition):
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def items_of(self, partition: int) -> Iterator[tuple[str, V]]:
        """The partition's records, changed ones as they are now, read from its database alone."""
        partition_of = self._partition_of
        cached = {key: value for key, value in self._cache.items() if partition_of(key, value) == partition}
        yield from cached.items()
        offset_key = self._store.offset_key
        for raw_key, raw_value in self._db(partition).items():
            if raw_key == offset_key:
                continue
            key = raw_key.decode()
            if key not in cached and key not in self._deleted:
                yield key, self._decode(raw_value)

    def flush(self) -> None:
        """Write every change since the last flush into the partitions' databases, one batch each."""
        from rocksdict import WriteBatch

        batches: dict[int, Any] = {}
        for key, partition in self._dirty.items():
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = WriteBatch(raw_mode=True)
            batch.put(key.encode(), self._encode(self._cache[key]))
        for key, partition in self._deleted.items():
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = WriteBatch(raw_mode=True)
            batch.delete(key.encode())
        for partition, batch in batches.items():
            self._db(partition).write(batch)
        self._dirty.clear()
        self._deleted.clear()
        self._trim()

    def _trim(self) -> None:
        """Drop the least recently used unchanged records beyond the capacity. A changed one
        stays until it is written. Dropping one a step still holds is harmless: the engine
        hands every change back through ``__setitem__`` at once, and a later ``get`` reads the
        unchanged record again from its database."""
        cache, dirty = self._cache, self._dirty
        passed = 0
        while len(cache) > self._capacity and passed < len(cache):
            key = next(iter(cache))
            if key in dirty:
                cache.move_to_end(key)
                passed += 1
            else:
                del cache[key]

    def own(self, partition: int) -> None:
        """Take the partition up: its database (recovered by Faust) is the truth, not the cache."""
        self.disown(partition)
        self._db(partition)
        self._owned.append(partition)

    def disown(self, partition: int) -> None:
        """Give the partition up: flush, then drop its cached records."""
        self.flush()
        partition_of = self._partition_of
        for key in [key for key, value in self._cache.items() if partition_of(key, value) == partition]:
            del self._cache[key]
        if partition in self._owned:
            self._owned.remove(partition)
