"""One real ``nudge worker`` process, as an operator would run it, seen only through /metrics.

The benchmark must measure the worker that ships, so it spawns the real command line and reads
its Prometheus endpoint instead of reaching into the process.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Callable, TypeVar

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from agents.settings import Settings

REPO = Path(__file__).resolve().parents[1]
STOP_GRACE_S = 15.0  # Faust's shutdown stops its services one by one; this is ample
LOG_TAIL_CHARS = 3000
EVENTS = "nudge_events_total"  # input events a worker took, by topic
OBSERVED = "nudge_processing_latency_seconds_count"  # events whose outputs are acknowledged
_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")

T = TypeVar("T")


class WorkerFailed(RuntimeError):
    """The worker exited or stalled; the message carries the tail of its log."""


class WorkerProcess:
    """A ``nudge worker`` subprocess that is always stopped when its ``with`` block ends."""

    def __init__(self, settings: Settings, *, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> WorkerProcess:
        settings = dataclasses.replace(self.settings, log_level="warning")
        env = {**os.environ, "PYTHONPATH": str(REPO), **settings.to_environ()}
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "agents.cli", "worker"],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self._running().pid

    def stop(self) -> None:
        """SIGTERM for a clean Faust shutdown, SIGKILL if it does not finish in time."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def scrape(self) -> list[Sample] | None:
        """Every sample of /metrics, or ``None`` while the web server does not answer yet."""
        self._running()
        url = f"http://{self.settings.web_host}:{self.settings.web_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
        except OSError:  # refused, reset or timed out (URLError is one too): not serving yet
            return None
        return [sample for family in text_string_to_metric_families(text) for sample in family.samples]

    def wait_for(self, probe: Callable[[], T | None], *, timeout_s: float, what: str, interval_s: float) -> T:
        """Poll ``probe`` until it returns something other than ``None``; fail with the log."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = probe()
            if result is not None:
                return result
            if time.monotonic() > deadline:
                raise WorkerFailed(f"timed out after {timeout_s:g} s waiting for {what}\n{self.log_tail()}")
            time.sleep(interval_s)

    def wait_taken(self, until: int, *, stall_s: float, interval_s: float, first_event_s: float | None = None) -> None:
        """Wait until ``until`` events are taken, failing only if the count stops moving for
        ``stall_s`` (``first_event_s`` before the first one, which waits for the group join)."""
        last, last_change = -1.0, time.monotonic()
        while True:
            samples = self.scrape()
            taken = -1.0 if samples is None else metric_total(samples, EVENTS)
            if taken >= until:
                return
            now = time.monotonic()
            patience_s = stall_s if last > 0 or first_event_s is None else first_event_s
            if taken > last:
                last, last_change = taken, now
            elif now - last_change > patience_s:
                raise WorkerFailed(f"stuck at {last:.0f} of {until:,} events for {patience_s:g} s\n{self.log_tail()}")
            time.sleep(interval_s)

    def wait_observed(self, events: int, *, timeout_s: float, interval_s: float) -> None:
        """Wait until the outputs of ``events`` events are acknowledged (their latency observed)."""

        def all_observed() -> bool | None:
            samples = self.scrape()
            return None if samples is None or metric_total(samples, OBSERVED) < events else True

        self.wait_for(all_observed, timeout_s=timeout_s, what="the outputs of every event", interval_s=interval_s)

    def log_tail(self) -> str:
        text = self.log_path.read_text(errors="replace")
        return f"--- worker log ({self.log_path}) ---\n{text[-LOG_TAIL_CHARS:]}"

    def _running(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise WorkerFailed("the worker is not running")
        if self._proc.poll() is not None:
            raise WorkerFailed(f"the worker exited with status {self._proc.returncode}\n{self.log_tail()}")
        return self._proc


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far, from /proc: how busy the worker and the
    broker were tells whether a phase was bound by the worker's CPU or by something else."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3 of the full line, utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS_PER_S


def metric_total(samples: list[Sample], name: str) -> float:
    """A metric summed over all its labels, e.g. events taken over all topics."""
    return sum(sample.value for sample in samples if sample.name == name)


def histogram_buckets(samples: list[Sample], name: str) -> dict[float, float]:
    """Cumulative counts of a histogram, keyed by upper bound (``+Inf`` included)."""
    return {float(s.labels["le"]): s.value for s in samples if s.name == f"{name}_bucket"}
