"""The state benchmark's input and table, without a broker: every user must have a record to
size, and the table must say which figures meet the 2 KiB budget and how each was measured."""

from __future__ import annotations

import dataclasses
import re

import pytest

from bench.report import state_table
from bench.state import TARGET_BYTES_PER_USER, Restore, StateResult
from bench.state_workload import state_messages
from bench.worker import STOP_GRACE_S
from schemas.decoding import Rejection, decode_event
from schemas.events import Click

MIB = 2**20


def result(*, record_sizes: list[int], loaded_rss: int, restored_rss: int, users: int = 1_000) -> StateResult:
    return StateResult(
        users=users,
        events=3_000,
        produce_s=1.0,
        catch_up_s=2.0,
        changelog_records=1_400,
        changelog_bytes=2 * MIB,
        record_sizes=sorted(record_sizes),
        empty_rss_bytes=100 * MIB,
        loaded_rss_bytes=loaded_rss,
        loaded_peak_rss_bytes=loaded_rss + MIB,
        stop_s=1.5,
        restore=Restore(
            spawn_to_metrics_s=1.2,
            spawn_to_assigned_s=5.0,
            spawn_to_serving_s=12.0,
            rss_bytes=restored_rss,
            peak_rss_bytes=restored_rss,
            events_retaken=0,
        ),
    )


def rows(table: str, first: str) -> list[list[str]]:
    """The cells of each table line that begins with ``first``; cells are two or more spaces apart."""
    return [re.split(r"\s{2,}", line.strip()) for line in table.splitlines() if line.strip().startswith(first)]


def test_every_user_gets_two_to_four_valid_clicks_in_event_time_order() -> None:
    messages = list(state_messages(2_000))
    events = [decode_event(m.topic, m.value, m.key) for m in messages]
    assert not [event for event in events if isinstance(event, Rejection)]
    clicks = [event for event in events if isinstance(event, Click)]
    assert len(clicks) == len(events)
    per_user: dict[str, int] = {}
    for click in clicks:
        per_user[click.user_id] = per_user.get(click.user_id, 0) + 1
    assert len(per_user) == 2_000 and set(per_user.values()) == {2, 3, 4}
    assert [m.key.decode() for m in messages] == [click.user_id for click in clicks]
    times = [click.ts_ms for click in clicks]
    assert times == sorted(times)
    assert list(state_messages(2_000)) == messages  # the same stream on every run


def test_the_table_judges_averages_against_the_budget() -> None:
    users = 1_000
    table = state_table(
        result(
            record_sizes=[1_000] * 989 + [1_900] * 11,
            loaded_rss=100 * MIB + users * 4_096,  # 4 KiB per user over the empty worker
            restored_rss=100 * MIB + users * 1_024,
            users=users,
        )
    )
    (record,) = rows(table, "users changelog record")
    assert record[1:4] == ["1,010", "1,900", "yes"]  # 989 of 1,000 at 1,000 B: the p99 is 1,900
    (loaded,) = rows(table, "worker memory after catch-up")
    assert loaded[1:] == ["4,096", "no", "(RSS 104 MiB - empty worker's 100 MiB) / 1,000 users"]  # no p99 for memory
    (restored,) = rows(table, "worker memory after restore")
    assert restored[1:3] == ["1,024", "yes"]
    assert f"average < {TARGET_BYTES_PER_USER:,}" in table


def test_the_table_times_each_phase_of_the_restore() -> None:
    table = state_table(result(record_sizes=[1_000] * 1_000, loaded_rss=200 * MIB, restored_rss=150 * MIB))
    (serving,) = rows(table, "spawn until restored and serving")
    # 1,400 changelog records over the 7 s from assignment to serving.
    assert serving[1:] == ["12.0", "200 changelog records/s over the last 7.0 s"]
    (assigned,) = rows(table, "spawn until it is given every partition")
    assert assigned[1] == "5.0"
    assert "RSS 150 MiB (peak 150 MiB), 0 input events taken again" in table


@pytest.mark.parametrize("users", [0, 10**7])
def test_user_counts_outside_the_id_width_are_refused(users: int) -> None:
    with pytest.raises(ValueError, match="users must be between"):
        next(state_messages(users))


def test_a_worker_killed_after_the_grace_is_called_so() -> None:
    killed = dataclasses.replace(result(record_sizes=[1_000], loaded_rss=200 * MIB, restored_rss=150 * MIB), stop_s=STOP_GRACE_S + 0.1)
    (stop,) = rows(state_table(killed), "SIGTERM to the caught-up worker")
    assert stop[2] == f"SIGKILLed: still running {STOP_GRACE_S:g} s after SIGTERM"


def test_a_rocksdb_run_says_the_worker_restarted_on_its_own_disk() -> None:
    rocks = dataclasses.replace(result(record_sizes=[1_000], loaded_rss=200 * MIB, restored_rss=150 * MIB), store="rocksdb")
    table = state_table(rocks)
    assert "(rocksdb store)" in table
    (started,) = rows(table, "the same worker restarted on its own disk")
    assert started[1] == "1.2"
    (serving,) = rows(table, "spawn until restored and serving")
    assert "changelog records/s" not in serving[2] and "the changelog's tail" in serving[2]
    assert "fresh worker" not in table
