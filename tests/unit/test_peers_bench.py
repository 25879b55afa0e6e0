"""The side-by-side catch-up benchmark's arithmetic and table, without a broker or the peers'
libraries: how each reader's span is chosen decides every ratio it prints."""

from __future__ import annotations

import itertools
import os
import time

import pytest

from bench import reading
from bench.peers import NUDGE, PeersResult
from bench.reading import ReaderFailed, ReaderRun, Stopwatch, follow
from bench.report import peers_table


def run(name: str, *, events_per_s: float) -> ReaderRun:
    return ReaderRun(
        name=name, events=10_000, start_s=3.0, timed_events=9_000, timed_s=9_000 / events_per_s, reader_cpu_s=1.0, broker_cpu_s=0.1
    )


def stopwatch(events: int) -> Stopwatch:
    return Stopwatch("reader", events=events, reader_pid=os.getpid(), broker_pid=os.getpid(), launched=time.monotonic())


def test_the_table_prints_each_rate_and_nudges_ratio_to_it() -> None:
    result = PeersResult(
        events=10_000,
        produce_s=1.0,
        runs=[run("kafka-python", events_per_s=20_000), run("Faust agent", events_per_s=1_000), run(NUDGE, events_per_s=5_000)],
    )
    lines = peers_table(result).splitlines()
    header = lines.index(next(line for line in lines if line.split()[:2] == ["reader", "events/s"]))
    kafka_python, faust, nudge, ratios = (line.split() for line in lines[header + 1 : header + 5])
    assert kafka_python[1:3] == ["20,000", "0.25x"]
    assert faust[2:4] == ["1,000", "5.00x"]
    assert nudge[2:4] == ["5,000", "3.0"]  # no ratio to itself: its launch time follows
    assert " ".join(ratios) == f"{NUDGE} / kafka-python 0.25x, {NUDGE} / Faust agent 5.00x"


def test_a_first_batch_is_left_out_of_the_rate() -> None:
    clock = stopwatch(1_000)
    follow(clock, iter([0, 0, 400, 1_000]).__next__)
    assert clock.done().timed_events == 600


def test_a_reader_counting_whole_takes_is_timed_from_its_last_empty_look() -> None:
    clock = stopwatch(1_000)
    follow(clock, iter([None, 0, 0, None, 700, 1_000]).__next__, start_at_last_empty=True)
    assert clock.done().timed_events == 1_000


def test_a_reader_that_never_starts_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "READY_TIMEOUT_S", 0.05)
    with pytest.raises(ReaderFailed, match="stuck at 0 of 1,000 events"):
        follow(stopwatch(1_000), itertools.repeat(0).__next__, pause_s=0.01)
