"""/dashboard/data (agents/dashboard.py): the snapshot a worker's page draws, read from the same
registry /metrics renders, so the two agree by construction; the latest triggers; percentiles."""

from __future__ import annotations

from agents.dashboard import RECENT_TRIGGERS, _quantile, snapshot
from agents.metrics import Metrics
from builders import T0_MS


def test_the_snapshot_sums_the_metrics_by_what_the_page_shows():
    metrics = Metrics()
    metrics.events.labels("clicks").inc(40)
    metrics.events.labels("purchases").inc(2)
    metrics.triggers.labels("cart", "push", "").inc(3)
    metrics.triggers.labels("cart", "email", "a").inc(1)
    metrics.suppressions.labels("cart", "holdout", "").inc(2)
    metrics.conversions.labels("cart", "treated", "", "false").inc(1)
    metrics.conversions.labels("cart", "treated", "", "true").inc(1)
    metrics.dead_letters.labels("bad_json").inc(5)
    metrics.consumer_lag.labels("clicks", "3").set(7)
    for seconds in (0.003, 0.004, 0.2):
        metrics.latency.observe(seconds)
    for n in range(RECENT_TRIGGERS + 5):
        metrics.recent_triggers.add(T0_MS + n, "cart", f"u{n}", "push")
    data = snapshot(metrics.registry, metrics.recent_triggers)
    assert data["events"] == {"clicks": 40.0, "purchases": 2.0}
    assert data["triggers"] == {"cart": 4.0} and data["suppressions"] == {"cart": {"holdout": 2.0}}
    assert data["conversions"] == {"cart": {"treated": 2.0}} and data["dead_letters"] == 5.0
    assert data["lag"] == {"clicks/3": 7.0}
    assert len(data["recent"]) == RECENT_TRIGGERS and data["recent"][0] == {"ts": "2026-11-25T09:00:00.054Z", "rule": "cart", "user_id": f"u{RECENT_TRIGGERS + 4}", "channel": "push"}
    assert data["latency_ms"]["p50"] is not None and data["latency_ms"]["p50"] <= data["latency_ms"]["p99"]


def test_percentiles_are_bucket_upper_bounds():
    buckets = [(0.005, 50.0), (0.01, 90.0), (0.05, 99.0), (float("inf"), 100.0)]
    assert (_quantile(buckets, 0.5), _quantile(buckets, 0.9), _quantile(buckets, 0.95), _quantile(buckets, 0.999)) == (5.0, 10.0, 50.0, 50.0)
    assert _quantile([(0.005, 0.0), (float("inf"), 0.0)], 0.5) is None
