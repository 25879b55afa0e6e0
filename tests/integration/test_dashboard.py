"""``/dashboard`` in a real browser: headless Chromium (Debian's ``chromium``, which .ci/run
installs where it is missing) loads the page from a real worker while events flow, twice. Its
numbers move between the loads and match what /metrics says at that moment; the last triggers
name the users who earned them; a screenshot is kept in the test's temporary directory."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from agents.settings import Settings
from streams.config import MINUTE_MS
from tests.integration.harness import Shop, WorkerProcess, cart_only, wait_for
from tests.integration.test_worker import advance_all_partitions

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def browse(url: str, *extra: str) -> str:
    """The page's DOM after its script has had a few (virtual) seconds to fetch and draw."""
    assert CHROMIUM is not None, "the dashboard test needs Debian's chromium (apt-get install chromium; .ci/run does it)"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,1000", "--virtual-time-budget=3000", *extra, url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def shown(dom: str) -> dict[str, str]:
    return dict(re.findall(r'id="([a-z-]+)">([^<]*)<', dom))


def totals(worker: WorkerProcess) -> tuple[float, float, float]:
    samples = worker.metrics()
    events = sum(value for name, value in samples.items() if name.startswith("nudge_events_total{"))
    triggers = sum(value for name, value in samples.items() if name.startswith("nudge_triggers_total{"))
    dead = sum(value for name, value in samples.items() if name.startswith("nudge_dead_letters_total{"))
    return events, triggers, dead


def test_the_dashboard_moves_with_the_worker_and_matches_its_metrics(settings: Settings, tmp_path: Path) -> None:
    worker = WorkerProcess(cart_only(settings, tmp_path, delay_s=60), log_path=tmp_path / "worker.log").start()
    shop = Shop(settings)
    url = f"http://127.0.0.1:{worker.web_port}/dashboard"
    try:
        loads = []
        for round_number, users in enumerate((range(0, 8), range(8, 20))):
            now_ms = int(time.time() * 1000)
            for n in users:
                shop.click(f"user-{n}", now_ms - 10 * MINUTE_MS, "add_to_cart", product=f"p{n}")  # due long ago: fires at the next event
            advance_all_partitions(shop, settings, now_ms)  # every partition's clock past the reminders' deadlines
            shop.send("clicks", "someone", b"not json")  # one dead letter per round
            shop.flush()
            sent = len(shop.sent)
            wait_for(lambda: totals(worker)[0] >= sent and totals(worker)[1] >= users.stop, timeout_s=30, what=f"round {round_number} taken and fired")
            before = totals(worker)
            screenshot = tmp_path / f"dashboard-{round_number}.png"
            dom = browse(url, "--dump-dom")
            browse(url, f"--screenshot={screenshot}")
            after = totals(worker)
            assert before == after, "the worker moved while the page loaded: the comparison below would race"
            page = shown(dom)
            loads.append(page)
            assert float(page["events-total"]) == after[0] and float(page["triggers-total"]) == after[1], (page, after)
            assert float(page["dead-letters"]) == after[2] == round_number + 1
            assert page["error"] == ""
            assert f"user-{users.stop - 1}" in dom  # the latest triggers name their users
            assert screenshot.exists() and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
        first, second = loads
        assert float(second["events-total"]) > float(first["events-total"]) and float(second["triggers-total"]) > float(first["triggers-total"])
    finally:
        worker.stop()
        shop.close()
