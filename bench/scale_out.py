"""One worker against two on one backlog of 8 partitions: what Faust's rebalancing buys.

Each run has its own app id, so its own consumer group and changelogs, and reads the whole
backlog. A run is timed from the moment its workers stop rebalancing (they own every partition
between them) until every event's outputs are acknowledged, and counts only the events taken in
that span: a second worker joins a few seconds after the first, and the catch-up its rebalance
interrupts is not the rate of two workers. On a 2-core machine that also runs the broker, two
workers cannot be twice as fast as one; the ratio says how much of the second core they use.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kafka import KafkaProducer

from agents.admin import ensure_topics
from agents.broker import EmbeddedBroker, free_port
from agents.settings import Settings
from agents.topics import all_topics, input_topics
from bench.worker import EVENTS, OBSERVED, WorkerFailed, WorkerProcess, cpu_seconds, metric_total
from bench.workload import wire_messages

PARTITIONS = 8
TOPIC_PREFIX = "scale-"
POLL_S = 0.05
TIMEOUT_S = 180.0


@dataclass(frozen=True, slots=True)
class ScaleRun:
    workers: int
    events: int  # taken between the end of the rebalancing and the last event
    seconds: float
    cores: float  # CPU the workers used over the span, together (1.0 = one core busy)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds


@dataclass(frozen=True, slots=True)
class ScaleOutResult:
    backlog: int
    one: ScaleRun
    two: ScaleRun


def run_scale_out(*, events: int, progress: Callable[[str], None]) -> ScaleOutResult:
    """Broker, backlog, then one worker, then two; every process is stopped before returning."""
    with tempfile.TemporaryDirectory(prefix="nudge-bench-scale-") as tmp, EmbeddedBroker() as broker:
        base = Settings(broker=broker.url, topic_prefix=TOPIC_PREFIX, partitions=PARTITIONS, data_dir=Path(tmp))
        ensure_topics(base, all_topics(base))
        topics = input_topics(base)
        producer = KafkaProducer(bootstrap_servers=base.bootstrap_servers, linger_ms=20, batch_size=256 * 1024)
        try:
            for message in wire_messages(events):
                producer.send(topics[message.topic], key=message.key, value=message.value)
            producer.flush()
        finally:
            producer.close()
        progress("one worker")
        one = _run(base, workers=1, events=events, folder=Path(tmp))
        progress("two workers")
        two = _run(base, workers=2, events=events, folder=Path(tmp))
    return ScaleOutResult(backlog=events, one=one, two=two)


def _run(base: Settings, *, workers: int, events: int, folder: Path) -> ScaleRun:
    settings = dataclasses.replace(base, app_id=f"nudge-{workers}")
    ensure_topics(settings, all_topics(settings))  # this run's changelogs
    processes = [
        WorkerProcess(
            dataclasses.replace(settings, web_port=free_port(), data_dir=folder / f"run{workers}-worker{n}"),
            log_path=folder / f"run{workers}-worker{n}.log",
        )
        for n in range(workers)
    ]
    for process in processes:
        process.__enter__()
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while _owned(processes) != set(range(PARTITIONS)):
            _check(deadline, processes, "the workers to own every partition between them")
            time.sleep(POLL_S)
        started, taken_then = time.monotonic(), _total(processes, EVENTS)
        cpu_then = sum(cpu_seconds(process.pid) for process in processes)
        while _total(processes, OBSERVED) < events:
            _check(deadline, processes, "every event's outputs acknowledged")
            time.sleep(POLL_S)
        seconds = time.monotonic() - started
        cpu = sum(cpu_seconds(process.pid) for process in processes) - cpu_then
        return ScaleRun(workers=workers, events=events - int(taken_then), seconds=seconds, cores=cpu / seconds)
    finally:
        for process in processes:
            process.stop()


def _owned(processes: list[WorkerProcess]) -> set[int]:
    """The partitions the workers own between them now, each counted once only if no other
    worker claims it too (a rebalance under way)."""
    claims: list[int] = []
    for process in processes:
        url = f"http://{process.settings.web_host}:{process.settings.web_port}/segments/lifecycle:new/count"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                claims += json.loads(response.read())["partitions"]
        except OSError:
            return set()
    return set(claims) if len(claims) == len(set(claims)) else set()


def _total(processes: list[WorkerProcess], name: str) -> float:
    total = 0.0
    for process in processes:
        samples = process.scrape()
        if samples is None:
            raise WorkerFailed(f"a worker stopped answering /metrics\n{process.log_tail()}")
        total += metric_total(samples, name)
    return total


def _check(deadline: float, processes: list[WorkerProcess], what: str) -> None:
    if time.monotonic() > deadline:
        raise WorkerFailed(f"timed out after {TIMEOUT_S:g} s waiting for {what}\n" + "\n".join(p.log_tail() for p in processes))
