"""The closed-loop benchmark's table: per seed, every setting's open rate and best's ratio to the
best fixed channel of that seed."""

from __future__ import annotations

from bench.loop import SETTINGS, run_loops
from bench.report import loop_table


def test_the_table_compares_best_with_the_best_fixed_channel_of_each_seed() -> None:
    runs = run_loops(seeds=(1,), users=60, events=3_000)
    assert [run.setting for run in runs] == list(SETTINGS)
    by = {run.setting: run.report for run in runs}
    fixed = max(by[name].open_rate for name in ("push", "email", "sms"))
    table = loop_table(runs, users=60, events=3_000)
    assert f"{by['best'].open_rate / fixed:.2f}x" in table
    assert all(f"{by[name].open_rate:.1%}" in table for name in SETTINGS)
    assert all(report.triggers > 0 for report in by.values())
