"""The end-to-end benchmark's table, without a broker: its catch-up row must say what it timed."""

from __future__ import annotations

import re

from bench.end_to_end import CatchUp, EndToEndResult, Live
from bench.report import end_to_end_table
from bench.stats import HistogramQuantile

LIVE = Live(
    rate=500.0,
    sent=1_500,
    send_s=3.0,
    p50=HistogramQuantile(0.02, 0.01, 0.025),
    p99=HistogramQuantile(0.09, 0.05, 0.1),
    mean_s=0.03,
    worker_cpu=0.2,
    broker_cpu=0.1,
)


def catch_up(first_count: int) -> CatchUp:
    return CatchUp(
        events=5_000,
        produce_s=1.0,
        spawn_to_metrics_s=2.0,
        metrics_to_first_s=3.0,
        first_count=first_count,
        first_to_done_s=0.5,
        metrics_to_done_s=3.5,
        worker_cpu=0.9,
        broker_cpu=0.1,
    )


def row(table: str, first: str) -> list[str]:
    (line,) = [line for line in table.splitlines() if line.strip().startswith(first)]
    return re.split(r"\s{2,}", line.strip())


def test_the_catch_up_is_timed_over_the_events_after_the_first_look() -> None:
    cells = row(end_to_end_table(EndToEndResult(catch_up(1_000), LIVE)), "catch-up from first event to all")
    # 4,000 events in 0.5 s; 0.9 cores over 0.5 s for 4,000 events is 112 µs each.
    assert cells[1:3] == ["8,000", "0.5"] and "(112 µs CPU per event)" in cells[3]


def test_a_backlog_taken_whole_at_the_first_look_is_said_to_be_too_small_to_time() -> None:
    """A fetch is delivered whole, so `make bench --quick` once divided by zero here."""
    cells = row(end_to_end_table(EndToEndResult(catch_up(5_000), LIVE)), "catch-up from first event to all")
    assert cells[1:] == ["0.5", "every event was counted at the first look: too small a backlog to time"]
