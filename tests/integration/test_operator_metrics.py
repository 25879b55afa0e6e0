"""What an operator reads on /metrics besides Nudge's own counts: the process, the build, the
users and timers each partition holds, how far each partition's clock is behind the wall, and the
consumer lag, from a real worker scraped as Prometheus scrapes it."""

from __future__ import annotations

import time
from pathlib import Path

from agents.settings import Settings
from streams.config import MINUTE_MS
from tests.integration.harness import Shop, WorkerProcess, wait_for


def test_metrics_show_the_process_the_build_users_timers_clock_age_and_lag(settings: Settings, tmp_path: Path) -> None:
    worker = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
    shop = Shop(settings)
    try:
        t0_ms = int(time.time() * 1000) - 10 * MINUTE_MS
        users = [f"user-{n}" for n in range(12)]
        for n, user in enumerate(users):
            shop.click(user, t0_ms + n * 1000, "add_to_cart", product=f"p{n}", price=10.0)  # each arms a cart reminder
        shop.flush()
        wait_for(lambda: worker.events_taken() >= len(users), timeout_s=30, what="events taken")

        def settled() -> dict[str, float] | None:
            samples = worker.metrics()
            lag = sum(value for name, value in samples.items() if name.startswith("nudge_consumer_lag{"))
            return samples if lag == 0 and any(name.startswith("nudge_consumer_lag{") for name in samples) else None

        samples = wait_for(settled, timeout_s=30, what="the committed offsets to reach the end")
        owned = [str(p) for p in range(settings.partitions)]
        assert sum(samples[f"nudge_users{{partition={p}}}"] for p in owned) == len(users)
        assert sum(samples[f"nudge_pending_timers{{partition={p}}}"] for p in owned) >= len(users)
        # The clocks follow the events' time (ten minutes ago), then the wall once idle: either way, behind now.
        ages = [samples[f"nudge_watermark_age_seconds{{partition={p}}}"] for p in owned]
        assert all(0 <= age < 15 * 60 for age in ages), ages
        assert samples["process_cpu_seconds_total{}"] > 0 and samples["process_resident_memory_bytes{}"] > 0
        assert any(name.startswith("python_info{") for name in samples)
        [build] = [name for name in samples if name.startswith("nudge_build_info{")]
        assert "version=0.1.0" in build and ("core=compiled (mypyc)" in build or "core=pure Python" in build)
    finally:
        worker.stop()
        shop.close()


def test_a_worker_starts_with_a_banner_a_person_can_read_and_without_faust_s_tables(settings: Settings, tmp_path: Path) -> None:
    worker = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
    worker.stop()
    log = (tmp_path / "worker.log").read_text()
    banner = log.split("\n[", 1)[0]
    assert banner.startswith("nudge worker 0.1.0 (core: ")
    assert f"{settings.partitions} partitions, replication 1, topic prefix '{settings.topic_prefix}'" in banner
    assert "the shipped default: abandoned_cart, abandoned_interest, cross_sell, replenishment, win_back, winter_sale" in banner
    assert f"http://127.0.0.1:{worker.web_port}/metrics" in banner and "open to any caller" in banner
    assert "+Topic Partition Set" not in log and "Highwater - Active" not in log  # Faust's tables, kept to warnings
    assert "[^Worker]: Ready" in log and len(log.splitlines()) < 80
