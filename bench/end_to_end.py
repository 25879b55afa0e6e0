"""One real worker end to end through the embedded broker: catch-up throughput, then live latency.

Catch-up is what a worker does after a deploy or an outage: a backlog waits on the broker and
the worker reads it as fast as it can, so events per second is the figure that matters. Live is
the steady state: events arrive at a fixed rate well below capacity, and what matters is how
long each waits between its Kafka timestamp and its effects being handed to the producer, which
the worker itself records in ``nudge_processing_latency_seconds``.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaProducer
from prometheus_client.samples import Sample

from agents.admin import ensure_topics
from agents.broker import EmbeddedBroker, free_port
from agents.settings import Settings
from agents.topics import all_topics, input_topics
from bench.stats import HistogramQuantile, bucket_deltas, histogram_quantile
from bench.worker import EVENTS, WorkerProcess, cpu_seconds, histogram_buckets, metric_total
from bench.workload import WireMessage, wire_messages

PARTITIONS = 4
TOPIC_PREFIX = "bench-"
LATENCY = "nudge_processing_latency_seconds"
# Faust starts in a few seconds and the embedded broker finishes a group join after half the
# 6 s session timeout; anything far beyond that is a hang worth failing on.
READY_TIMEOUT_S = 60.0
# The worker counts an event on taking it, but observes its latency only once the batch's
# outputs are acknowledged; this is how long that may lag at the end of a phase.
SETTLE_TIMEOUT_S = 10.0
POLL_S = 0.05  # /metrics polls: fine enough for phases of seconds, light on the worker
STALL_S = 30.0  # a catch-up or drain with no progress for this long has failed
# Live sends go out in small bursts every PACE_S rather than one sleep per event.
PACE_S = 0.01


@dataclass(frozen=True, slots=True)
class CatchUp:
    events: int
    produce_s: float  # pre-producing the backlog with kafka-python, flush included
    spawn_to_metrics_s: float  # process start until /metrics answers
    metrics_to_first_s: float  # until the first event is counted: mostly the consumer group join
    first_count: int  # events already counted at the first poll that saw any
    first_to_done_s: float  # from that poll until every event was counted
    metrics_to_done_s: float  # /metrics answering until every event was counted
    worker_cpu: float  # cores the worker used from first event to done (1.0 = one core busy)
    broker_cpu: float


@dataclass(frozen=True, slots=True)
class Live:
    rate: float  # events per second asked for
    sent: int
    send_s: float  # how long the paced sends took: sent / send_s is the rate achieved
    p50: HistogramQuantile
    p99: HistogramQuantile
    mean_s: float  # exact: from the histogram's sum and count
    worker_cpu: float  # cores the worker used during the sends
    broker_cpu: float


@dataclass(frozen=True, slots=True)
class EndToEndResult:
    catch_up: CatchUp
    live: Live


def run_end_to_end(*, events: int, live_rate: float, live_s: float) -> EndToEndResult:
    """Broker, topics, backlog, worker; every process started here is stopped before returning,
    on success, error or Ctrl-C alike (each is owned by a ``with`` block)."""
    live_count = int(live_rate * live_s)
    messages = wire_messages(events + live_count)  # one stream: live continues the backlog's event time
    with tempfile.TemporaryDirectory(prefix="nudge-bench-") as tmp, EmbeddedBroker() as broker:
        settings = Settings(
            broker=broker.url,
            topic_prefix=TOPIC_PREFIX,
            partitions=PARTITIONS,
            web_port=free_port(),
            data_dir=Path(tmp) / "data",
        )
        ensure_topics(settings, all_topics(settings))
        topics = input_topics(settings)
        bulk = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=20, batch_size=256 * 1024)
        try:
            started = time.monotonic()
            for message in messages[:events]:
                bulk.send(topics[message.topic], key=message.key, value=message.value)
            bulk.flush()
            produce_s = time.monotonic() - started
        finally:
            bulk.close()
        # No linger: a live event is sent at once, so its latency is the worker's, not the producer's.
        live_producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=0)
        try:
            with WorkerProcess(settings, log_path=Path(tmp) / "worker.log") as worker:
                catch_up = _catch_up(worker, broker, events, produce_s)
                live = _live(worker, broker, live_producer, topics, messages[events:], live_rate)
        finally:
            live_producer.close()
    return EndToEndResult(catch_up=catch_up, live=live)


def _catch_up(worker: WorkerProcess, broker: EmbeddedBroker, events: int, produce_s: float) -> CatchUp:
    spawned = time.monotonic()
    worker.wait_for(worker.scrape, timeout_s=READY_TIMEOUT_S, what="/metrics to answer", interval_s=POLL_S)
    answered = time.monotonic()
    first_count = int(
        worker.wait_for(
            lambda: _taken_if_any(worker), timeout_s=READY_TIMEOUT_S, what="the first event to be taken", interval_s=POLL_S
        )
    )
    first = time.monotonic()
    worker_cpu_0, broker_cpu_0 = cpu_seconds(worker.pid), _broker_cpu(broker)
    worker.wait_taken(events, stall_s=STALL_S, interval_s=POLL_S)
    done = time.monotonic()
    return CatchUp(
        events=events,
        produce_s=produce_s,
        spawn_to_metrics_s=answered - spawned,
        metrics_to_first_s=first - answered,
        first_count=first_count,
        first_to_done_s=done - first,
        metrics_to_done_s=done - answered,
        worker_cpu=(cpu_seconds(worker.pid) - worker_cpu_0) / (done - first),
        broker_cpu=(_broker_cpu(broker) - broker_cpu_0) / (done - first),
    )


def _live(
    worker: WorkerProcess,
    broker: EmbeddedBroker,
    producer: KafkaProducer,
    topics: dict[str, str],
    messages: list[WireMessage],
    rate: float,
) -> Live:
    """Send at a fixed rate, then read the latency histogram's growth over exactly this phase."""
    before = _settled(worker)
    taken_before = int(metric_total(before, EVENTS))
    worker_cpu_0, broker_cpu_0 = cpu_seconds(worker.pid), _broker_cpu(broker)
    started = time.monotonic()
    for index, message in enumerate(messages):
        ahead_s = started + index / rate - time.monotonic()
        if ahead_s > PACE_S:
            time.sleep(ahead_s)
        producer.send(topics[message.topic], key=message.key, value=message.value)
    producer.flush()
    send_s = time.monotonic() - started
    worker_cpu = (cpu_seconds(worker.pid) - worker_cpu_0) / send_s
    broker_cpu = (_broker_cpu(broker) - broker_cpu_0) / send_s
    worker.wait_taken(taken_before + len(messages), stall_s=STALL_S, interval_s=POLL_S)
    after = _settled(worker)
    buckets = bucket_deltas(histogram_buckets(before, LATENCY), histogram_buckets(after, LATENCY))
    count = metric_total(after, f"{LATENCY}_count") - metric_total(before, f"{LATENCY}_count")
    total_s = metric_total(after, f"{LATENCY}_sum") - metric_total(before, f"{LATENCY}_sum")
    return Live(
        rate=rate,
        sent=len(messages),
        send_s=send_s,
        p50=histogram_quantile(0.50, buckets),
        p99=histogram_quantile(0.99, buckets),
        mean_s=total_s / count,
        worker_cpu=worker_cpu,
        broker_cpu=broker_cpu,
    )


def _taken_if_any(worker: WorkerProcess) -> float | None:
    """Events counted so far, or ``None`` before the first: the consumer has joined and started."""
    samples = worker.scrape()
    taken = 0.0 if samples is None else metric_total(samples, EVENTS)
    return taken or None


def _settled(worker: WorkerProcess) -> list[Sample]:
    """A scrape in which every event taken has its latency observed, so a phase's histogram
    delta holds exactly that phase's events."""

    def probe() -> list[Sample] | None:
        samples = worker.scrape()
        if samples is None:
            return None
        observed = metric_total(samples, f"{LATENCY}_count")
        return samples if observed >= metric_total(samples, EVENTS) else None

    return worker.wait_for(probe, timeout_s=SETTLE_TIMEOUT_S, what="latencies of all taken events", interval_s=POLL_S)


def _broker_cpu(broker: EmbeddedBroker) -> float:
    if broker.pid is None:
        raise RuntimeError("the embedded broker is not running")
    return cpu_seconds(broker.pid)
