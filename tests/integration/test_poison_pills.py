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
from pathlib import Path
from typing import Any

import orjson

from agents.broker import EmbeddedBroker
from agents.recording import recording_line
from agents.settings import Settings
from schemas.limits import DEAD_LETTER_PREFIX_BYTES, MAX_ID_LENGTH, MAX_MESSAGE_BYTES
from schemas.timestamps import format_rfc3339
from streams.cart import MAX_CART_LINES
from streams.config import DAY_MS
from tests.integration.exactness import Comparison, all_committed, horizon_ms, live_outputs, offline_outputs, produce, shop_recording, values, write_lines
from tests.integration.harness import WorkerProcess, wait_for


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


def poisoned_shop(path: Path, *, partitions: int) -> Path:
    """A generated shop with every poison a third of its way in."""
    lines = shop_recording(path.with_suffix(".shop.jsonl"), partitions=partitions, count=3_000, seed=21)
    third = len(lines) // 3
    lines[third:third] = poison_lines(json.loads(lines[third])["ts"])
    write_lines(path, lines)
    return path


def test_a_worker_survives_every_poison_pill_and_agrees_with_the_offline_replay(settings: Settings, tmp_path: Path) -> None:
    recording = poisoned_shop(tmp_path / "poisoned.jsonl", partitions=settings.partitions)
    offline = offline_outputs(recording, tmp_path / "offline.jsonl", settings.partitions)
    sent = produce(recording, settings)
    worker = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
    try:
        wait_for(lambda: all_committed(settings, sent), timeout_s=120, what="every input offset committed")
        metrics = worker.metrics()
        assert worker.alive()
    finally:
        worker.stop()
    assert b"Traceback" not in (tmp_path / "worker.log").read_bytes()
    live = live_outputs(settings)

    letters = values(live, "dead-letters")
    dead = sum(value for name, value in metrics.items() if name.startswith("nudge_dead_letters_total{"))
    taken = sum(value for name, value in metrics.items() if name.startswith("nudge_events_total{"))
    # valid + dead-lettered == sent, and the offline replay dead-letters the same messages
    assert taken == sent and dead == len(letters) == sum(1 for topic, _ in offline if topic == "dead-letters")
    reasons = Counter(letter["reason"] for letter in letters)
    assert reasons["too_large"] == 3 and reasons["future_timestamp"] == 1 and reasons["bad_json"] >= 3
    oversized = [letter for letter in letters if letter["reason"] == "too_large" and letter["value_length"] > MAX_MESSAGE_BYTES]
    assert 760_000 in {letter["value_length"] for letter in oversized} and len(oversized) == 2
    assert all(letter["truncated"] and len(base64.b64decode(letter["value_base64"])) == DEAD_LETTER_PREFIX_BYTES for letter in oversized)
    assert any(letter["key_base64"] == base64.b64encode(b"\xff\xfevictim").decode() for letter in letters)
    assert metrics.get("nudge_oversized_total{what=user_record}", 0) == 0
    # The poison lines went into the recording without offsets of their own, so the recorded
    # offsets of dead letters are not the broker's: every other byte must match.
    Comparison.of(offline, live, horizon_ms(recording, settings.partitions), places=False).assert_same()


def test_a_frozen_broker_during_catch_up_releases_nothing_early(tmp_path: Path) -> None:
    """The broker freezes (SIGSTOP) for 4 s while a worker catches up on a backlog, and partitions
    hold events for topics with unread data that cannot come. The worker, blocked on its own sends,
    once counted that time towards giving the topics up, and on waking released all it held: the
    clocks of a catching-up partition jumped hours ahead and fired the timers the held purchases
    should have cancelled. Only time the worker runs counts now, so it waits on, and the outputs
    are the offline replay's."""
    with EmbeddedBroker() as broker:
        settings = Settings(broker=broker.url, partitions=2, data_dir=tmp_path / "data")
        recording = tmp_path / "backlog.jsonl"
        write_lines(recording, shop_recording(tmp_path / "shop.jsonl", partitions=2, count=30_000, seed=8, mean_gap_ms=20_000, pad=2_000))
        offline = offline_outputs(recording, tmp_path / "offline.jsonl", settings.partitions)
        sent = produce(recording, settings)
        worker = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
        try:
            wait_for(lambda: worker.events_taken() >= sent // 4, timeout_s=60, what="a quarter of the backlog taken")
            assert broker.pid is not None
            os.kill(broker.pid, signal.SIGSTOP)
            try:
                time.sleep(4.0)  # the freeze itself: nothing to poll for while the broker is stopped
                frozen = worker.metrics()
            finally:
                os.kill(broker.pid, signal.SIGCONT)
            wait_for(lambda: all_committed(settings, sent), timeout_s=120, what="every input offset committed")
            metrics = worker.metrics()
        finally:
            worker.stop()
        live = live_outputs(settings)

    assert frozen["nudge_waiting_events{}"] > 0, "the freeze must find events held, or this test tests nothing"
    assert not [name for name, value in metrics.items() if name.startswith(("nudge_sync_stalls_total{", "nudge_sync_forced_releases_total{")) and value]
    Comparison.of(offline, live, horizon_ms(recording, settings.partitions)).assert_same()
