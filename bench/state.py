"""The worker's state at scale: bytes per user, and how long a fresh worker takes to restore it.

A worker holds every user of its partitions in a Faust in-memory table and can only start
serving once it has read that table back from the changelog, so the size of a user's state
decides both the memory a host needs and the downtime of every deploy or failover. One run:
each user makes one short visit (bench/state_workload.py); a worker catches up on all of it;
the users changelog is read back to size each user's last record (what compaction keeps); the
worker's resident memory is compared with an empty worker's, started on the same broker and
topics before any event existed; then the worker is stopped and a fresh one, with a new data
directory, restores the table, timed until it owns every partition and counts every user.
With ``store="rocksdb"`` the workers keep their tables on disk, and the second worker is the
first one restarted on its own data directory: what that store is for.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from kafka import KafkaProducer
from prometheus_client.samples import Sample

from agents.admin import ensure_topics
from agents.broker import EmbeddedBroker, free_port
from agents.settings import Settings
from agents.topics import all_topics, changelog_topic, input_topics
from bench.changelog import read_compacted
from bench.memory import peak_resident_bytes, resident_bytes
from bench.state_workload import state_messages
from bench.stats import percentile
from bench.worker import EVENTS, WorkerProcess, metric_total
from streams.segments import LIFECYCLE

PARTITIONS = 4
TOPIC_PREFIX = "state-"
EMPTY_APP_ID = "nudge-empty"  # its own consumer group and changelogs, on the same input topics
TARGET_BYTES_PER_USER = 2048  # the team's budget: under 2 KiB per user, on average
SEGMENT_USERS = "nudge_segment_users"
# Faust starts in a few seconds and the embedded broker finishes a group join after half the
# 6 s session timeout; anything far beyond that is a hang worth failing on.
READY_TIMEOUT_S = 60.0
# A restore reads every changelog record, superseded ones too (the embedded broker never
# compacts); slower than this many records a second is a failure, not a measurement.
SLOWEST_RESTORE_RECORDS_PER_S = 2_000
SETTLE_TIMEOUT_S = 30.0  # outputs of the last batch acknowledged after its events were counted
STALL_S = 30.0  # a catch-up whose count does not move for this long has failed
EMPTY_SETTLE_S = 2.0  # an idle worker's first fetches and timers allocate what they keep
POLL_S = 0.1  # fine enough for phases of seconds, light on the worker
# The producer packs records into big batches: producing is set-up here, not what is measured.
PRODUCER_BATCH_BYTES = 1024 * 1024
PRODUCER_LINGER_MS = 50


@dataclass(frozen=True, slots=True)
class Restore:
    spawn_to_metrics_s: float  # Python and Faust start-up
    spawn_to_assigned_s: float  # until the group has given it every partition (Faust's /router/)
    spawn_to_serving_s: float  # until it owns every partition and its segments count every user
    rss_bytes: int  # resident memory once serving
    peak_rss_bytes: int
    events_retaken: int  # input events it took again: non-zero if offsets were not all committed


@dataclass(frozen=True, slots=True)
class StateResult:
    users: int
    events: int
    produce_s: float  # generating and producing the backlog, flush included
    catch_up_s: float  # worker spawn until every event was taken and its outputs acknowledged
    changelog_records: int  # every record in the users changelog, superseded ones included
    changelog_bytes: int  # their keys and values
    record_sizes: list[int]  # per user, the size of the value of its last record, sorted
    empty_rss_bytes: int  # a worker serving every partition, before any event existed
    loaded_rss_bytes: int  # the worker after catch-up, once its changelog was read back
    loaded_peak_rss_bytes: int
    stop_s: float  # SIGTERM until the caught-up worker exited
    restore: Restore
    store: str = "memory"  # memory: a fresh worker restores; rocksdb: the worker restarts on its own disk

    @property
    def record_mean(self) -> float:
        return sum(self.record_sizes) / len(self.record_sizes)

    @property
    def record_p99(self) -> int:
        return int(percentile(self.record_sizes, 0.99))

    @property
    def loaded_bytes_per_user(self) -> float:
        return (self.loaded_rss_bytes - self.empty_rss_bytes) / self.users

    @property
    def restored_bytes_per_user(self) -> float:
        return (self.restore.rss_bytes - self.empty_rss_bytes) / self.users


def run_state(*, users: int, progress: Callable[[str], None], store: str = "memory") -> StateResult:
    """Broker, topics, empty worker, backlog, caught-up worker, restored worker; every process
    started here is stopped before returning, on success, error or Ctrl-C alike (each is owned
    by a ``with`` block)."""
    with tempfile.TemporaryDirectory(prefix="nudge-bench-state-") as tmp, EmbeddedBroker() as broker:
        folder = Path(tmp)
        settings = Settings(
            broker=broker.url,
            topic_prefix=TOPIC_PREFIX,
            partitions=PARTITIONS,
            web_port=free_port(),
            data_dir=folder / "caught-up",
            store=store,
        )
        empty_settings = dataclasses.replace(settings, app_id=EMPTY_APP_ID, web_port=free_port(), data_dir=folder / "empty")
        ensure_topics(settings, all_topics(settings) + all_topics(empty_settings))
        progress("an empty worker, for the baseline memory")
        with WorkerProcess(empty_settings, log_path=folder / "empty.log") as empty:
            _wait_serving(empty, users=0, timeout_s=READY_TIMEOUT_S)
            time.sleep(EMPTY_SETTLE_S)
            empty_rss = resident_bytes(empty.pid)
        progress(f"generating and producing {users:,} users' visits")
        started = time.monotonic()
        events = _produce(settings, users=users)
        produce_s = time.monotonic() - started
        progress(f"a worker catching up on {events:,} events")
        spawned = time.monotonic()
        with WorkerProcess(settings, log_path=folder / "caught-up.log") as worker:
            _wait_caught_up(worker, events=events)
            catch_up_s = time.monotonic() - spawned
            progress("reading the users changelog back")
            compacted = read_compacted(
                bootstrap=settings.bootstrap_servers, topic=changelog_topic(settings), partitions=PARTITIONS, keys=users
            )
            loaded_rss, loaded_peak = resident_bytes(worker.pid), peak_resident_bytes(worker.pid)
            stopping = time.monotonic()
            worker.stop()
            stop_s = time.monotonic() - stopping
        restarted = store == "rocksdb"
        progress("the worker restarting on its own disk" if restarted else f"a fresh worker restoring {compacted.records:,} changelog records")
        restore = _restore(
            dataclasses.replace(settings, web_port=free_port(), data_dir=settings.data_dir if restarted else folder / "restored"),
            users=users,
            timeout_s=READY_TIMEOUT_S + compacted.records / SLOWEST_RESTORE_RECORDS_PER_S,
            log_path=folder / "restored.log",
        )
    return StateResult(
        users=users,
        events=events,
        produce_s=produce_s,
        catch_up_s=catch_up_s,
        changelog_records=compacted.records,
        changelog_bytes=compacted.total_bytes,
        record_sizes=sorted(compacted.value_sizes.values()),
        empty_rss_bytes=empty_rss,
        loaded_rss_bytes=loaded_rss,
        loaded_peak_rss_bytes=loaded_peak,
        stop_s=stop_s,
        restore=restore,
        store=store,
    )


def _produce(settings: Settings, *, users: int) -> int:
    """The whole backlog, generated as it is sent so a million users' events are never all held;
    returns how many events were sent."""
    topics = input_topics(settings)
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, linger_ms=PRODUCER_LINGER_MS, batch_size=PRODUCER_BATCH_BYTES
    )
    try:
        sent = 0
        for message in state_messages(users):
            producer.send(topics[message.topic], key=message.key, value=message.value)
            sent += 1
        producer.flush()
        return sent
    finally:
        producer.close()


def _wait_caught_up(worker: WorkerProcess, *, events: int) -> None:
    """Every event taken, failing only if the count stops moving; then every output acknowledged."""
    worker.wait_taken(events, stall_s=STALL_S, first_event_s=READY_TIMEOUT_S, interval_s=POLL_S)
    worker.wait_observed(events, timeout_s=SETTLE_TIMEOUT_S, interval_s=POLL_S)


def _restore(settings: Settings, *, users: int, timeout_s: float, log_path: Path) -> Restore:
    spawned = time.monotonic()
    with WorkerProcess(settings, log_path=log_path) as worker:
        worker.wait_for(worker.scrape, timeout_s=READY_TIMEOUT_S, what="/metrics to answer", interval_s=POLL_S)
        answered = time.monotonic()
        worker.wait_for(
            lambda: _assigned_everything(worker), timeout_s=READY_TIMEOUT_S, what="every partition assigned", interval_s=POLL_S
        )
        assigned = time.monotonic()
        samples = _wait_serving(worker, users=users, timeout_s=timeout_s)
        serving = time.monotonic()
        return Restore(
            spawn_to_metrics_s=answered - spawned,
            spawn_to_assigned_s=assigned - spawned,
            spawn_to_serving_s=serving - spawned,
            rss_bytes=resident_bytes(worker.pid),
            peak_rss_bytes=peak_resident_bytes(worker.pid),
            events_retaken=int(metric_total(samples, EVENTS)),
        )


def _wait_serving(worker: WorkerProcess, *, users: int, timeout_s: float) -> list[Sample]:
    """Wait until the worker's pipeline owns every partition and its lifecycle segments add up
    to ``users``: the table's recover callback hands partitions to the pipeline only after
    Faust's recovery is complete, and their segment counts are rebuilt from the restored
    records, so both together mean every user is back. Returns the scrape that showed it."""

    def probe() -> list[Sample] | None:
        samples = worker.scrape()  # first: it fails at once, with the log, if the worker has exited
        if samples is None:
            return None
        owned = _get_json(worker, f"/segments/{LIFECYCLE}new/count")
        if owned is None or owned["partitions"] != list(range(worker.settings.partitions)):
            return None
        counted = sum(s.value for s in samples if s.name == SEGMENT_USERS and s.labels["segment"].startswith(LIFECYCLE))
        return samples if counted == users else None

    return worker.wait_for(probe, timeout_s=timeout_s, what=f"every partition owned and {users:,} users restored", interval_s=POLL_S)


def _assigned_everything(worker: WorkerProcess) -> bool | None:
    """Whether Faust's router (the group assignment, known once the join completes) gives this
    worker every partition of the users table."""
    if worker.scrape() is None:  # first: it fails at once, with the log, if the worker has exited
        return None
    routes = _get_json(worker, "/router/")
    if not routes:
        return None
    topic = changelog_topic(worker.settings)
    owned = {partition for tables in routes.values() for partition in tables.get(topic, [])}
    return True if owned == set(range(worker.settings.partitions)) else None


def _get_json(worker: WorkerProcess, path: str) -> Any:
    """A JSON answer of the worker's web server, or ``None`` while it does not answer yet."""
    url = f"http://{worker.settings.web_host}:{worker.settings.web_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except OSError:  # refused, reset, timed out or an error status (HTTPError is one too)
        return None
