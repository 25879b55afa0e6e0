"""One message must never stop a worker or poison a partition's clock: a real worker process fed
a shop's traffic laced with every poison found so far.

Each once broke a worker: a 760 KB rejected message crash-looped it (its dead letter was over
the producer's limit); 2,000 bytes of ``[[[[`` killed the processing agent; one user with a huge
cart crash-looped it on valid input; an event dated years ahead fired every cart of its
partition; a stalled topic released everything held and jumped a catching-up partition's clock.

Afterwards the worker is alive, every input offset is committed, valid + dead-lettered == sent,
and its outputs equal the offline replay's, for everything due up to the last event.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import orjson
from kafka import KafkaProducer

from agents.admin import ensure_topics
from agents.broker import EmbeddedBroker
from agents.generate import write_recording
from agents.recording import open_recording, read_recording, recording_line
from agents.replay import replay_offline
from agents.settings import Settings
from agents.topics import all_topics, input_topics
from schemas.limits import DEAD_LETTER_PREFIX_BYTES, MAX_ID_LENGTH, MAX_MESSAGE_BYTES
from schemas.timestamps import format_rfc3339, parse_rfc3339
from streams.cart import MAX_CART_LINES
from streams.config import DAY_MS, ProfileConfig
from streams.rules.loading import default_rulebook
from tests.integration.harness import WorkerProcess, canonical, committed_total, due_by, read_topic, wait_for

START_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z
COMPARED = ("triggers", "suppressions", "conversions", "dead-letters")


def longest(tag: str, limit: int = MAX_ID_LENGTH) -> str:
    """A valid id at its longest, in characters JSON must escape: the worst case for record sizes."""
    return tag + '"' * (limit - len(tag))


def poison_lines(at_ms: int) -> list[str]:
    """Every poison, stamped ``at_ms`` as its Kafka timestamp, with the worst valid user among them."""
    click = {"event_id": "p-1", "user_id": "victim", "ts": format_rfc3339(at_ms), "action": "view", "product_id": "p", "category": "shoes", "price": 5.0}
    lines = [
        # Over the size limit, though valid JSON: 1 MB. And 760 KB that is not JSON at all.
        recording_line(topic="clicks", key=b"victim", raw=orjson.dumps({**click, "pad": "x" * 1_000_000}), ts_ms=at_ms),
        recording_line(topic="purchases", key=b"victim", raw=b"\xff" * 760_000, ts_ms=at_ms),
        # Nested beyond any parser's recursion, bare and inside an otherwise valid event.
        recording_line(topic="clicks", key=b"victim", raw=b"[" * 2000 + b"]" * 2000, ts_ms=at_ms),
        recording_line(topic="searches", key=b"victim", raw=orjson.dumps(click)[:-1] + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}", ts_ms=at_ms),
        # A key that is not UTF-8, and one too long.
        recording_line(topic="clicks", key=b"\xff\xfevictim", raw=b"{oops", ts_ms=at_ms),
        recording_line(topic="clicks", key=b"k" * 5000, raw=orjson.dumps(click), ts_ms=at_ms),
        # A valid click dated 30 days ahead of its Kafka timestamp.
        recording_line(topic="clicks", key=b"victim", raw=orjson.dumps({**click, "event_id": "p-2", "ts": format_rfc3339(at_ms + 30 * DAY_MS)}), ts_ms=at_ms),
    ]
    # The worst valid user: a cart past its cap, more categories than are kept, more channels
    # than are kept, a long order; every id at its longest.
    user = longest("worst-")
    n = 0

    def valid(topic: str, **fields: Any) -> str:
        nonlocal n
        n += 1
        body = {"event_id": longest(f"w{n}-"), "user_id": user, "ts": format_rfc3339(at_ms + n), **fields}
        return recording_line(topic=topic, key=user.encode(), raw=orjson.dumps(body), ts_ms=at_ms + n)

    for k in range(20):
        lines.append(valid("consents", channel=longest(f"ch{k}-", 64), granted=False))
    for k in range(MAX_CART_LINES + 20):
        lines.append(valid("clicks", action="add_to_cart", product_id=longest(f"p{k}-"), category=longest(f"c{k % 30}-"), price=10.0, quantity=3))
    for k in range(40):
        for view in range(4):
            lines.append(valid("clicks", action="view", product_id=longest(f"v{k}.{view}-"), category=longest(f"k{k}-"), price=5.0))
    items = [{"product_id": longest(f"b{k}-"), "category": longest(f"bc{k}-"), "price": 1.0, "quantity": 1} for k in range(200)]
    lines.append(valid("purchases", order_id=longest("order-"), items=items, total=200.0))
    return lines


def build_recording(path: Path, *, partitions: int, count: int, seed: int, mean_gap_ms: float, poison: bool, pad: int = 0) -> int:
    """A generated shop; with ``poison``, the poison lines go in at a third of its way. ``pad``
    adds an unknown field of that many bytes to every valid event: a consumer then fetches fewer
    events per request, as it would with a shop's bigger events."""
    shop = path.with_suffix(".shop.jsonl")
    write_recording(shop, users=300, count=count, seed=seed, start_ms=START_MS, mean_gap_ms=mean_gap_ms, partitions=partitions, bad_fraction=0.01)
    lines = shop.read_text().splitlines()
    if pad:
        padded = [json.loads(line) for line in lines]
        for line in padded:
            if isinstance(line.get("value"), dict):
                line["value"]["pad"] = "x" * pad
        lines = [json.dumps(line, separators=(",", ":")) for line in padded]
    if poison:
        third = len(lines) // 3
        at_ms = json.loads(lines[third])["ts"]
        lines[third:third] = poison_lines(at_ms)
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def produce(recording: Path, settings: Settings) -> int:
    """Every line, in order, with its recorded Kafka timestamp; large enough for the oversized ones."""
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, max_request_size=8_000_000, max_in_flight_requests_per_connection=1, linger_ms=5)
    sent = 0
    with open_recording(recording, "r") as source:
        for item in read_recording(source):
            message = item.message
            producer.send(settings.topic(message.topic), key=message.key, value=message.value, timestamp_ms=message.timestamp_ms)
            sent += 1
    producer.flush()
    producer.close()
    return sent


def offline(recording: Path, tmp_path: Path, partitions: int) -> tuple[Counter[str], int]:
    out = tmp_path / "offline.jsonl"
    report = replay_offline(recording, out, book=default_rulebook(), partitions=partitions, profile_config=ProfileConfig())
    assert report.messages and not report.bad_lines
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    return Counter(canonical(line["topic"], line["value"]) for line in lines), sum(1 for line in lines if line["topic"] == "dead-letters")


def last_valid_event_ms(recording: Path) -> int:
    """The latest event time a worker applies: valid events only, far-future ones aside."""
    latest = 0
    with open_recording(recording, "r") as source:
        for item in read_recording(source):
            try:
                value = json.loads(item.message.value or b"")
                ts_ms = parse_rfc3339(value["ts"])[0]
            except (ValueError, KeyError, TypeError, RecursionError):
                continue
            if item.message.timestamp_ms is None or ts_ms - item.message.timestamp_ms <= 3_600_000:
                latest = max(latest, ts_ms)
    return latest


def live(settings: Settings, last_ms: int) -> tuple[Counter[str], list[dict[str, Any]]]:
    outputs: Counter[str] = Counter()
    letters = []
    for topic in COMPARED:
        for record in read_topic(settings, settings.topic(topic), quiet_s=1.0):
            value = json.loads(record.value)
            if topic == "dead-letters":
                letters.append(value)
                assert len(record.value) + len(record.key or b"") < 1_000_000
            if due_by(value, last_ms):
                outputs[canonical(topic, value)] += 1
    return outputs, letters


def all_committed(settings: Settings, sent: int) -> bool:
    return committed_total(settings, list(input_topics(settings).values())) == sent


@dataclass
class Run:
    """What a worker did with a recording, beside what the offline replay did with it."""

    sent: int
    metrics: dict[str, float]  # the worker's, once every offset was committed
    found: Counter[str]  # its outputs due by the last event, canonical
    expected: Counter[str]  # the offline replay's
    letters: list[dict[str, Any]]  # every dead letter it wrote
    offline_letters: int


def run_worker_on(recording: Path, settings: Settings, tmp_path: Path, *, meanwhile: Callable[[WorkerProcess], None] = lambda worker: None) -> Run:
    """Replay the recording offline, produce it into the broker, let a worker take all of it
    (``meanwhile`` acts on the way), and read back everything it wrote."""
    expected, offline_letters = offline(recording, tmp_path, settings.partitions)
    last_ms = last_valid_event_ms(recording)
    ensure_topics(settings, all_topics(settings))
    sent = produce(recording, settings)
    worker = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
    try:
        meanwhile(worker)
        wait_for(lambda: all_committed(settings, sent), timeout_s=120, what="every input offset committed")
        metrics = worker.metrics()
        assert worker.alive()
    finally:
        worker.stop()
    found, letters = live(settings, last_ms)
    assert b"Traceback" not in (tmp_path / "worker.log").read_bytes()
    expected_due = Counter({item: n for item, n in expected.items() if due_by(json.loads(item)[1], last_ms)})
    return Run(sent, metrics, found, expected_due, letters, offline_letters)


def assert_same_outputs(run: Run) -> None:
    only_live, only_offline = run.found - run.expected, run.expected - run.found
    assert not only_live and not only_offline, f"{sum(only_live.values())} only live, {sum(only_offline.values())} only offline"


def test_a_worker_survives_every_poison_pill_and_agrees_with_the_offline_replay(settings: Settings, tmp_path: Path) -> None:
    recording = tmp_path / "poisoned.jsonl"
    build_recording(recording, partitions=settings.partitions, count=3_000, seed=21, mean_gap_ms=1_000, poison=True)
    run = run_worker_on(recording, settings, tmp_path)

    letters, metrics = run.letters, run.metrics
    dead = sum(value for name, value in metrics.items() if name.startswith("nudge_dead_letters_total{"))
    taken = sum(value for name, value in metrics.items() if name.startswith("nudge_events_total{"))
    assert taken == run.sent and dead == len(letters) == run.offline_letters  # valid + dead-lettered == sent, on both sides
    reasons = Counter(letter["reason"] for letter in letters)
    assert reasons["too_large"] == 3 and reasons["future_timestamp"] == 1 and reasons["bad_json"] >= 3
    oversized = [letter for letter in letters if letter["reason"] == "too_large" and letter["value_length"] > MAX_MESSAGE_BYTES]
    assert 760_000 in {letter["value_length"] for letter in oversized} and len(oversized) == 2
    assert all(letter["truncated"] and len(base64.b64decode(letter["value_base64"])) == DEAD_LETTER_PREFIX_BYTES for letter in oversized)
    assert any(letter["key_base64"] == base64.b64encode(b"\xff\xfevictim").decode() for letter in letters)
    assert metrics.get("nudge_oversized_total{what=user_record}", 0) == 0
    assert_same_outputs(run)


def test_a_frozen_broker_during_catch_up_releases_nothing_early(tmp_path: Path) -> None:
    """The broker freezes (SIGSTOP) for 4 s while a worker catches up on a backlog, and partitions
    hold events for topics with unread data that cannot come. The worker, blocked on its own sends,
    once counted that time towards giving the topics up, and on waking released all it held: the
    clocks of a catching-up partition jumped hours ahead and fired the timers the held purchases
    should have cancelled. Only time the worker runs counts now, so it waits on, and the outputs
    are the offline replay's."""
    frozen: dict[str, float] = {}
    broker = EmbeddedBroker().start()

    def freeze(worker: WorkerProcess) -> None:
        wait_for(lambda: worker.events_taken() >= sent // 4, timeout_s=60, what="a quarter of the backlog taken")
        assert broker.pid is not None
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            time.sleep(4.0)  # the freeze itself: nothing to poll for while the broker is stopped
            frozen.update(worker.metrics())
        finally:
            os.kill(broker.pid, signal.SIGCONT)

    try:
        settings = Settings(broker=broker.url, partitions=2, data_dir=tmp_path / "data")
        recording = tmp_path / "backlog.jsonl"
        sent = build_recording(recording, partitions=settings.partitions, count=30_000, seed=8, mean_gap_ms=20_000, poison=False, pad=2_000)
        run = run_worker_on(recording, settings, tmp_path, meanwhile=freeze)
    finally:
        broker.stop()

    assert frozen["nudge_waiting_events{}"] > 0, "the freeze must find events held, or this test tests nothing"
    assert not [name for name, value in run.metrics.items() if name.startswith(("nudge_sync_stalls_total{", "nudge_sync_forced_releases_total{")) and value]
    assert_same_outputs(run)
