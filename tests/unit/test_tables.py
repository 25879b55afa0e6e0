"""The pipeline's two views of a table (agents/tables.py), held to one behaviour: what a worker
reads back is what it wrote, partition by partition, whether Faust keeps the records in memory
or in RocksDB. The RocksDB cases run a real Faust RocksDB store (rocksdict) in a temporary
directory, and pin the one private part of Faust they use."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import faust
import pytest
from faust.types import TP

from agents.tables import MemoryTable, RocksTable

PARTITIONS = 3


def partition_of(key: str, value: str) -> int:
    """Test values carry their partition: ``"2:anything"``."""
    return int(value.split(":", 1)[0])


def rocks_store(directory: Path) -> Any:
    app = faust.App("tables-test", store="rocksdb://", datadir=str(directory), autodiscover=False)
    return app.Table("users", partitions=PARTITIONS, key_type=bytes, value_type=bytes).data


def rocks_table(store: Any, *, capacity: int = 100, locate: Callable[[str], int] = lambda key: 0) -> RocksTable[str]:
    return RocksTable(store, partition_of=partition_of, locate=locate, encode=str.encode, decode=bytes.decode, capacity=capacity)


class Kind:
    """Makes a table, and another over the same store: what a restarted worker would see."""

    def __init__(self, name: str, tmp_path: Path) -> None:
        self.name = name
        if name == "memory":
            data: dict[str, str] = {}
            self.make: Callable[[], Any] = lambda: MemoryTable(data, partition_of=partition_of)
        else:
            store = rocks_store(tmp_path)
            self.make = lambda: rocks_table(store)

    def table(self) -> Any:
        table = self.make()
        for partition in range(PARTITIONS):
            table.own(partition)
        return table


@pytest.fixture(params=["memory", "rocksdb"])
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> Kind:
    return Kind(request.param, tmp_path)


def test_a_record_written_is_read_back_and_listed_in_its_partition_alone(kind: Kind) -> None:
    table = kind.table()
    table["alice"] = "0:a"
    table["bob"] = "1:b"
    assert table["alice"] == "0:a" and table.get("bob") == "1:b"
    assert table.get("carol") is None and table.get("carol", "none") == "none"
    with pytest.raises(KeyError):
        table["carol"]
    assert dict(table.items_of(0)) == {"alice": "0:a"}
    assert dict(table.items_of(1)) == {"bob": "1:b"}
    assert dict(table.items_of(2)) == {}
    assert sorted(table) == ["alice", "bob"] and len(table) == 2


def test_a_change_is_seen_at_once_and_after_a_flush_by_a_new_view_of_the_store(kind: Kind) -> None:
    table = kind.table()
    table["alice"] = "0:a"
    table.flush()
    table["alice"] = "0:changed"
    table["bob"] = "2:b"
    assert dict(table.items_of(0)) == {"alice": "0:changed"}
    table.flush()
    again = kind.table()
    assert again["alice"] == "0:changed" and again["bob"] == "2:b"
    assert dict(again.items_of(2)) == {"bob": "2:b"}


def test_a_deleted_record_is_gone_at_once_and_after_a_flush(kind: Kind) -> None:
    table = kind.table()
    table["alice"] = "0:a"
    table["bob"] = "0:b"
    table.flush()
    del table["alice"]
    assert table.get("alice") is None and dict(table.items_of(0)) == {"bob": "0:b"}
    with pytest.raises(KeyError):
        del table["alice"]
    table.flush()
    assert kind.table().get("alice") is None
    table["alice"] = "0:again"  # erased, then back
    table.flush()
    assert kind.table()["alice"] == "0:again"


def test_a_partition_given_up_and_taken_again_reads_what_was_written(kind: Kind) -> None:
    table = kind.table()
    table["alice"] = "1:a"
    table.disown(1)
    table.own(1)
    assert table["alice"] == "1:a"


def test_faust_s_rocksdb_store_still_has_what_the_rocks_table_relies_on(tmp_path: Path) -> None:
    """``Store._db_for_partition`` is private to faust-streaming 0.15.3: if an upgrade renames or
    changes it, this fails before any worker does."""
    store = rocks_store(tmp_path)
    db = store._db_for_partition(1)
    assert db is store._db_for_partition(1)  # opened once, kept
    db.put(b"k", b"v")
    assert store._db_for_partition(1).get(b"k") == b"v" and store._db_for_partition(0).get(b"k") is None
    changelog = TP("tables-test-users-changelog", 1)
    store.set_persisted_offset(changelog, 41)
    assert store.persisted_offset(changelog) == 41
    assert store._db_for_partition(1).get(store.offset_key) == b"41"


def test_the_rocks_table_writes_back_only_on_flush_and_into_the_record_s_partition(tmp_path: Path) -> None:
    store = rocks_store(tmp_path)
    table = rocks_table(store)
    for partition in range(PARTITIONS):
        table.own(partition)
    table["alice"] = "2:a"
    assert store._db_for_partition(2).get(b"alice") is None  # not yet: its changelog record may not be acknowledged
    table.flush()
    assert store._db_for_partition(2).get(b"alice") == b"2:a"
    assert all(store._db_for_partition(p).get(b"alice") is None for p in (0, 1))
    assert dict(table.items_of(2)) == {"alice": "2:a"}  # the offset key is not a record
    store.set_persisted_offset(TP("tables-test-users-changelog", 2), 7)
    assert dict(rocks_table(store, locate=lambda key: 2).items_of(2)) == {"alice": "2:a"}


def test_the_rocks_table_finds_a_record_wherever_its_likely_partition_says_otherwise(tmp_path: Path) -> None:
    """Producers may partition by another rule than Kafka's default: the guess only goes first."""
    store = rocks_store(tmp_path)
    writer = rocks_table(store)
    for partition in range(PARTITIONS):
        writer.own(partition)
    writer["alice"] = "1:a"
    writer.flush()
    reader = rocks_table(store, locate=lambda key: 2)
    for partition in range(PARTITIONS):
        reader.own(partition)
    assert reader["alice"] == "1:a"
    reader.disown(1)
    assert reader.get("alice") is None  # a partition given up is not read


def test_the_rocks_table_keeps_at_most_its_capacity_of_unchanged_records_decoded(tmp_path: Path) -> None:
    store = rocks_store(tmp_path)
    table = rocks_table(store, capacity=2)
    table.own(0)
    for n in range(5):
        table[f"u{n}"] = f"0:{n}"
    assert len(table._cache) == 5  # changed records stay until they are written
    table.flush()
    assert list(table._cache) == ["u3", "u4"]  # the most recently used
    assert [table[f"u{n}"] for n in range(5)] == [f"0:{n}" for n in range(5)]  # the others from disk
    assert len(table._cache) == 2  # reading every user, as the daily sweep does, stays bounded
    table["u0"] = "0:changed"
    table["u1"] = "0:changed"
    assert [table[f"u{n}"] for n in range(2, 5)] == ["0:2", "0:3", "0:4"]
    assert {"u0", "u1"} <= set(table._cache)  # changed ones are never dropped before they are written
    table.flush()
    assert len(table._cache) == 2
    reader = rocks_table(store)
    reader.own(0)
    assert (reader["u0"], reader["u1"]) == ("0:changed", "0:changed")
