"""Nudge beside its peers: one backlog on one broker, read whole by five readers in turn.

Absolute rates on a shared 2-core machine drift by 20 % from one run to the next, and another
host may be twice as fast, so Nudge's catch-up rate means little alone. Here it is set beside
readers measured minutes apart on the same machine, broker and backlog: two plain consumers
(the floor any Python reader stands on), a Quix Streams app and a trivial Faust agent (what a
team would otherwise write), and the real ``nudge worker``. Their ratios are what carries over
to another machine. Each reader has its own consumer group, so each reads the backlog from the
start, and runs alone, so none takes CPU from another.
"""

from __future__ import annotations

import tempfile
import time
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kafka import KafkaProducer

from agents.admin import ensure_topics
from agents.broker import EmbeddedBroker, free_port
from agents.settings import Settings
from agents.topics import all_topics, input_topics
from bench import faust_peer, quix_peer
from bench.peer_process import PeerProcess, peer_command
from bench.raw_readers import read_with_confluent_kafka, read_with_kafka_python
from bench.reading import ReaderRun, Stopwatch, follow
from bench.worker import EVENTS, WorkerProcess, metric_total
from bench.workload import wire_messages

PARTITIONS = 4
TOPIC_PREFIX = "peers-"
NUDGE = "Nudge worker"
NUDGE_NO_MODELS = "Nudge worker, models off"  # its own group and changelogs: the cost of the models, same run
DEFAULT_RULES = Path(__file__).resolve().parents[1] / "streams" / "rules" / "default.yaml"
# The worker observes an event's latency once its batch's outputs are acknowledged: this is how
# long that may lag behind taking the last event.
SETTLE_TIMEOUT_S = 10.0
POLL_S = 0.05  # /metrics polls: fine enough for runs of seconds, light on the worker


@dataclass(frozen=True, slots=True)
class PeersResult:
    events: int
    produce_s: float  # pre-producing the backlog with kafka-python, flush included
    runs: list[ReaderRun]  # in the order they ran, Nudge's last

    @property
    def nudge(self) -> ReaderRun:
        return next(run for run in self.runs if run.name == NUDGE)


def run_peers(*, events: int, progress: Callable[[str], None]) -> PeersResult:
    """Broker, topics, backlog, then each reader; every process started here is stopped before
    returning, on success, error or Ctrl-C alike (each is owned by a ``with`` block)."""
    with tempfile.TemporaryDirectory(prefix="nudge-bench-peers-") as tmp, EmbeddedBroker() as broker:
        folder = Path(tmp)
        settings = Settings(
            broker=broker.url,
            topic_prefix=TOPIC_PREFIX,
            partitions=PARTITIONS,
            web_port=free_port(),
            data_dir=folder / "nudge-data",
        )
        rules = folder / "no-models.yaml"
        rules.write_text(DEFAULT_RULES.read_text(encoding="utf-8") + "\nmodels:\n  enabled: false\n", encoding="utf-8")
        no_models = dataclasses.replace(
            settings, app_id=f"{settings.app_id}-no-models", rules=str(rules), web_port=free_port(), data_dir=folder / "nudge-no-models"
        )
        ensure_topics(
            settings, all_topics(settings) + all_topics(no_models) + faust_peer.topic_specs(PARTITIONS) + quix_peer.topic_specs(PARTITIONS)
        )
        by_logical_name = input_topics(settings)
        topics = list(by_logical_name.values())
        produce_s = _produce(settings, topics=by_logical_name, events=events)
        broker_pid = _pid(broker)
        bootstrap = settings.bootstrap_servers
        runs = []
        progress("kafka-python")
        runs.append(read_with_kafka_python(bootstrap=bootstrap, topics=topics, events=events, broker_pid=broker_pid))
        progress("confluent-kafka")
        runs.append(read_with_confluent_kafka(bootstrap=bootstrap, topics=topics, events=events, broker_pid=broker_pid))
        for name, module, extra in [
            ("Quix Streams", "bench.quix_peer", []),
            ("Faust agent", "bench.faust_peer", ["--partitions", str(PARTITIONS)]),
        ]:
            progress(name)
            data_dir = folder / module
            data_dir.mkdir()
            args = [*peer_command(bootstrap=broker.bootstrap, inputs=topics, events=events, data_dir=data_dir), *extra]
            with PeerProcess(name, module=module, args=args, log_path=folder / f"{module}.log") as peer:
                runs.append(peer.watch(events=events, broker_pid=broker_pid))
        progress(NUDGE)
        runs.append(_read_with_nudge(settings, events=events, broker_pid=broker_pid, log_path=folder / "worker.log"))
        progress(NUDGE_NO_MODELS)
        runs.append(_read_with_nudge(no_models, events=events, broker_pid=broker_pid, log_path=folder / "worker-no-models.log", name=NUDGE_NO_MODELS))
    return PeersResult(events=events, produce_s=produce_s, runs=runs)


def _produce(settings: Settings, *, topics: dict[str, str], events: int) -> float:
    """The backlog, once, for every reader; the seconds it took, serializing excluded."""
    messages = wire_messages(events)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=20, batch_size=256 * 1024)
    try:
        started = time.monotonic()
        for message in messages:
            producer.send(topics[message.topic], key=message.key, value=message.value)
        producer.flush()
        return time.monotonic() - started
    finally:
        producer.close()


def _read_with_nudge(settings: Settings, *, events: int, broker_pid: int, log_path: Path, name: str = NUDGE) -> ReaderRun:
    """The real worker, seen through /metrics.

    It counts an event when it takes it, a whole take at once, so its clock starts at the last
    look that counted none, and stops only once every event's outputs are acknowledged too (its
    latency histogram has observed them all): the rate is a lower bound.
    """
    launched = time.monotonic()
    with WorkerProcess(settings, log_path=log_path) as worker:
        stopwatch = Stopwatch(name, events=events, reader_pid=worker.pid, broker_pid=broker_pid, launched=launched)

        def counted() -> int | None:
            samples = worker.scrape()
            return None if samples is None else int(metric_total(samples, EVENTS))

        follow(stopwatch, counted, pause_s=POLL_S, start_at_last_empty=True, explain=worker.log_tail)
        worker.wait_observed(events, timeout_s=SETTLE_TIMEOUT_S, interval_s=POLL_S)
        return stopwatch.done()


def _pid(broker: EmbeddedBroker) -> int:
    if broker.pid is None:
        raise RuntimeError("the embedded broker is not running")
    return broker.pid
