"""Real worker processes and plain Kafka clients for the integration tests.

Nothing here is mocked: workers are ``nudge worker`` processes, events are produced and triggers
read with kafka-python against the embedded broker, and metrics come from a real HTTP scrape.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from agents.broker import free_port
from agents.lifetime import die_with_parent
from agents.settings import Settings
from schemas.timestamps import parse_rfc3339
from tests.wire import click_value, purchase_value

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 40.0


CART_ONLY_RULES = """
guardrails:
  holdout: {{fraction: 0}}
  frequency_cap: off
  quiet_hours: off
rules:
  - name: abandoned_cart
    kind: abandoned_cart
    channel: push
    params: {{delay: {delay_s}s}}
"""


def cart_only(settings: Settings, directory: Path, *, delay_s: int) -> Settings:
    """Settings whose worker runs abandoned_cart alone, without guardrails: the rule as such."""
    path = directory / "cart-only-rules.yaml"
    path.write_text(CART_ONLY_RULES.format(delay_s=delay_s))
    return dataclasses.replace(settings, rules=str(path))


def wait_for(predicate: Callable[[], Any], *, timeout_s: float, what: str, interval_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


class WorkerProcess:
    """One ``nudge worker`` process; its log is kept beside the test's data for post-mortems.

    Each worker has a data directory of its own, named after its log (a worker restarted with the
    same log takes up the same directory), as several workers on one host must."""

    def __init__(self, settings: Settings, *, log_path: Path) -> None:
        self.settings = settings
        self.web_port = free_port()
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_start = 0  # where this run's lines begin in a log a restart appends to

    def start(self, *, wait: bool = True) -> WorkerProcess:
        """Spawn the worker; by default, return once it is ready (see ``wait_ready``)."""
        settings = dataclasses.replace(self.settings, web_port=self.web_port, data_dir=self.settings.data_dir / self.log_path.stem)
        env = {**os.environ, "PYTHONPATH": str(REPO), **settings.to_environ()}
        log = open(self.log_path, "ab")
        self._log_start = log.tell()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "agents.cli", "worker"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )  # a SIGKILLed test run takes its workers with it
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> WorkerProcess:
        try:
            wait_for(self._ready, timeout_s=READY_TIMEOUT_S, what=f"worker ready (log: {self.log_path})")
        except BaseException:
            self.kill()
            raise
        return self

    def _ready(self) -> bool:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise AssertionError(f"worker exited with {self._proc.returncode}: {self.log_path.read_text()[-3000:]}")
        with open(self.log_path, "rb") as log:
            log.seek(self._log_start)
            return b"[^Worker]: Ready" in log.read()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit, no flush."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(10)
            self._proc = None

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()
        self._proc = None

    def metrics(self) -> dict[str, float]:
        """Scrape /metrics like Prometheus does and flatten it to ``name{labels}`` -> value."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}"] = sample.value
        return samples

    def profile(self, user: str) -> tuple[int, dict[str, Any]]:
        """``GET /profiles/{user}``: the HTTP status and the JSON body."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/profiles/{user}", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def decisions(self, user: str) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/profiles/{user}/decisions", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def segment_count(self, name: str) -> dict[str, Any]:
        """``GET /segments/{name}/count``: the JSON body, whatever the status."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/segments/{name}/count", timeout=5) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            return json.loads(error.read())

    def uplift(self) -> dict[str, Any]:
        """``GET /uplift``: uplift per rule over every worker's partitions."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/uplift", timeout=15) as response:
            return json.loads(response.read())

    def events_taken(self) -> float:
        return sum(value for name, value in self.metrics().items() if name.startswith("nudge_events_total{"))

    def partitions(self) -> list[int]:
        """The partitions this worker owns now (every segment count names them)."""
        return self.segment_count("lifecycle:new")["partitions"]


class Shop:
    """Produces wire-format events the way a shop would: JSON values keyed by user_id, each
    stamped with its event time as its Kafka timestamp, as a shop's producer on that clock does
    (a worker dead-letters an event far ahead of its timestamp; these scenarios run in event time)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=5)
        self.sent: list[tuple[str, str, bytes]] = []  # (logical topic, user, value) in send order

    def send(self, topic: str, user: str, value: dict[str, Any] | bytes) -> None:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        stamp = parse_rfc3339(value["ts"])[0] if isinstance(value, dict) and isinstance(value.get("ts"), str) else None
        self.producer.send(self.settings.topic(topic), key=user.encode(), value=raw, timestamp_ms=stamp)
        self.sent.append((topic, user, raw))

    def click(
        self, user: str, ts_ms: int, action: str, product: str = "p1", price: float = 10.0, quantity: int = 1, *, category: str = "shoes"
    ) -> None:
        self.send("clicks", user, click_value(user, ts_ms, action, product, price, quantity, category=category))

    def purchase(self, user: str, ts_ms: int, items: list[tuple[str, float, int]]) -> None:
        self.send("purchases", user, purchase_value(user, ts_ms, items))

    def flush(self) -> None:
        self.producer.flush()

    def close(self) -> None:
        self.producer.close()


class CommitWatch:
    """The worker's consumer group's committed offsets, asked as often as a test likes over one
    connection (a new consumer per look takes long enough to miss a commit's moment)."""

    def __init__(self, settings: Settings, topics: list[str]) -> None:
        from agents.topics import faust_app_id

        self._consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=faust_app_id(settings), enable_auto_commit=False)
        self._partitions = [TopicPartition(t, p) for t in topics for p in range(settings.partitions)]

    def total(self) -> int:
        """How many input messages are committed, over all partitions."""
        return sum(self._consumer.committed(partition) or 0 for partition in self._partitions)

    def close(self) -> None:
        self._consumer.close()


def committed_total(settings: Settings, topics: list[str]) -> int:
    """How many input messages the worker's consumer group has committed, over all partitions."""
    watch = CommitWatch(settings, topics)
    try:
        return watch.total()
    finally:
        watch.close()


def read_topic(settings: Settings, topic: str, *, quiet_s: float = 2.0, limit_s: float = 30.0) -> list[Any]:
    """Every message of a topic, read until it has been quiet for ``quiet_s``.

    Reading "to the end" by ``end_offsets`` is wrong on the embedded broker (its ListOffsets
    answer is short), so this reads until nothing more arrives instead.
    """
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + limit_s
        last_new = time.monotonic()
        while time.monotonic() - last_new < quiet_s and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
                last_new = time.monotonic()
        return records
    finally:
        consumer.close()


def triggers(settings: Settings, **kwargs: Any) -> list[dict[str, Any]]:
    return [json.loads(record.value) for record in read_topic(settings, settings.topic("triggers"), **kwargs)]


def due_by(value: dict[str, Any], last_ms: int) -> bool:
    ts = value.get("ts")
    return ts is None or parse_rfc3339(ts)[0] <= last_ms
