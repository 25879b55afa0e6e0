"""The scale-out table: two workers' rate against one's, from the events each run timed."""

from __future__ import annotations

from bench.report import scale_out_table
from bench.scale_out import ScaleOutResult, ScaleRun


def test_the_ratio_is_of_rates_over_the_timed_spans_not_of_whole_backlogs():
    one = ScaleRun(workers=1, events=100_000, seconds=5.0, cores=0.96)
    two = ScaleRun(workers=2, events=50_000, seconds=2.0, cores=1.5)  # the rest went before the rebalance ended
    table = scale_out_table(ScaleOutResult(backlog=100_000, one=one, two=two))
    assert "two workers / one: 1.25x" in table
    assert "20,000" in table and "25,000" in table and "50,000" in table
