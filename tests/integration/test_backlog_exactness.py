"""Exact on a backlog, every time: workers catching up on tens of thousands of events give the
offline replay's outputs, id for id and payload for payload, with no fault, after a SIGKILL and
a restart (tables in memory or in RocksDB), and after one of two workers is SIGKILLed and the other takes its partitions over.

Small runs passed when big ones did not: on a 50,000-event backlog a worker once gave thousands
of triggers the offline replay did not (timestamp synchronization's give-up jumped clocks), and
restarted workers stopped committing for minutes. Each case ends only when every input offset is
committed.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Callable

import pytest

from agents.settings import Settings
from streams.partitioning import partition_for
from tests.integration.exactness import Comparison, all_committed, horizon_ms, live_outputs, offline_outputs, produce, shop_recording, write_lines
from agents.topics import input_topics
from tests.integration.harness import CommitWatch, WorkerProcess, wait_for

EVENTS = 50_000
USERS = 3_000
SEED = 5


def backlog(tmp_path: Path, settings: Settings) -> tuple[Path, int, Comparison]:
    """The backlog, in the broker before any worker starts, and what the offline replay makes of it."""
    recording = tmp_path / "backlog.jsonl"
    write_lines(recording, shop_recording(tmp_path / "shop.jsonl", partitions=settings.partitions, count=EVENTS, seed=SEED, users=USERS, mean_gap_ms=500))
    offline = offline_outputs(recording, tmp_path / "offline.jsonl", settings.partitions)
    sent = produce(recording, settings)
    return recording, sent, Comparison.of(offline, [], horizon_ms(recording, settings.partitions))


def finish(settings: Settings, recording: Path, sent: int, expected: Comparison, *workers: WorkerProcess) -> None:
    try:
        wait_for(lambda: all_committed(settings, sent), timeout_s=180, what="every input offset committed", interval_s=0.5)
        assert all(worker.alive() for worker in workers)
    finally:
        for worker in workers:
            worker.stop()
    found = Comparison.of([], live_outputs(settings), horizon_ms(recording, settings.partitions)).found
    dataclasses.replace(expected, found=found).assert_same(keep_in=recording.parent)


def taken_at_least(workers: list[WorkerProcess], count: float) -> Callable[[], bool]:
    return lambda: sum(worker.events_taken() for worker in workers) >= count


def test_a_worker_catching_up_on_a_backlog_gives_the_offline_replay_s_outputs(settings: Settings, tmp_path: Path) -> None:
    recording, sent, expected = backlog(tmp_path, settings)
    worker = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
    finish(settings, recording, sent, expected, worker)


@pytest.mark.parametrize("store", ["memory", "rocksdb"])
def test_a_worker_killed_after_its_first_commit_and_restarted_gives_the_offline_replay_s_outputs(
    settings: Settings, tmp_path: Path, report: Callable[[str], None], store: str
) -> None:
    """Killed once it has committed some offsets and not others: the restarted worker restores
    its tables (from the changelog, or with ``rocksdb`` from its own disk and the changelog's
    tail), recognises what it applied after the last commit, and reads the rest."""
    settings = dataclasses.replace(settings, store=store)
    recording, sent, expected = backlog(tmp_path, settings)
    watch = CommitWatch(settings, list(input_topics(settings).values()))
    try:
        first = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
        try:
            wait_for(lambda: watch.total() > 0, timeout_s=120, what="a first commit", interval_s=0.01)
        finally:
            first.kill()  # SIGKILL: no final commit, no flush
        committed = watch.total()
    finally:
        watch.close()
    assert committed < sent, "the worker finished before it was killed: nothing left to prove"
    killed_at = time.monotonic()
    restarted = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()  # the same data directory
    finish(settings, recording, sent, expected, restarted)
    report(
        f"store {store}: SIGKILL after the first commit ({committed:,} of {sent:,} events committed): "
        f"restart until every offset committed {time.monotonic() - killed_at:.1f} s"
    )


@pytest.mark.parametrize(("standby_replicas", "store"), [(0, "memory"), (1, "memory"), (0, "rocksdb")])
def test_two_workers_share_the_partitions_and_one_takes_over_when_the_other_is_killed(
    settings: Settings, tmp_path: Path, report: Callable[[str], None], standby_replicas: int, store: str
) -> None:
    """With standby replicas, each worker keeps the other's tables warm, so a takeover needs no
    recovery from the changelog; both are measured on every run. With ``rocksdb``, the survivor
    builds the taken partitions' databases from the changelog."""
    settings = dataclasses.replace(settings, partitions=8, standby_replicas=standby_replicas, store=store)
    recording, sent, expected = backlog(tmp_path, settings)
    survivor = WorkerProcess(settings, log_path=tmp_path / "worker-1.log").start(wait=False)
    doomed = WorkerProcess(settings, log_path=tmp_path / "worker-2.log").start(wait=False)
    survivor.wait_ready()
    doomed.wait_ready()
    try:
        wait_for(lambda: survivor.partitions() and doomed.partitions(), timeout_s=60, what="both workers owning partitions")
        # Any worker answers for any user: Faust's table routing forwards to the owner.
        users = {json.loads(line)["key"] for line in recording.read_text().splitlines()}
        theirs = sorted(user for user in users if user and partition_for(user.encode(), settings.partitions) in doomed.partitions())
        status, profile = survivor.profile(theirs[0])
        assert (status, profile["user_id"]) == (200, theirs[0])
        # Uplift too: the worker asked adds the other's counts to its own, for every partition.
        wait_for(taken_at_least([survivor, doomed], sent / 4), timeout_s=120, what="a quarter of the backlog taken", interval_s=0.05)
        uplift = survivor.uplift()
        assert (uplift["complete"], uplift["partitions"]) == (True, list(range(8))), uplift
        assert sum(rule["treated"]["sent"] + rule["holdout"]["sent"] for rule in uplift["rules"]) > 0
        wait_for(taken_at_least([survivor, doomed], sent / 2), timeout_s=120, what="half the backlog taken", interval_s=0.05)
    finally:
        doomed.kill()
    killed_at = time.monotonic()
    wait_for(lambda: sorted(survivor.partitions()) == list(range(8)), timeout_s=90, what="the survivor owning every partition", interval_s=0.1)
    takeover_s = time.monotonic() - killed_at
    finish(settings, recording, sent, expected, survivor)
    report(
        f"two workers, 8 partitions, one SIGKILLed at half the backlog: takeover {takeover_s:.1f} s "
        f"(store {store}, standby replicas: {settings.standby_replicas}; the group notices after the {6} s session timeout)"
    )
