"""Ten thousand hostile and valid messages into a real worker: every one is counted, and every
dead letter carries the exact key and bytes of the message it stands for.

The hostile ones are what a careless or malicious producer sends: broken JSON, wrong types,
impossible values, missing fields, bad timestamps, empty and binary bodies, keys that are not
UTF-8 or not the user. Each message's place (topic, partition, offset) is known from the broker's
acknowledgement, so each dead letter is checked against the one message it names."""

from __future__ import annotations

import base64
import random
import time
from pathlib import Path

import orjson
from kafka import KafkaProducer

from agents.admin import ensure_topics
from agents.settings import Settings
from agents.topics import all_topics
from schemas.timestamps import format_rfc3339
from tests.integration.exactness import all_committed
from tests.integration.harness import WorkerProcess, read_topic, wait_for

MESSAGES = 10_500


def hostile(rng: random.Random, n: int, now_ms: int) -> tuple[str, bytes | None, bytes | None]:
    """One message: a valid click two times in three, else one of the hostile kinds."""
    user = f"u{rng.randrange(300)}"
    valid = {"event_id": f"e{n}", "user_id": user, "ts": format_rfc3339(now_ms + n), "action": "view", "product_id": f"p{n % 50}", "category": "shoes", "price": 10.0}
    kind = rng.randrange(15)
    if kind < 10:
        return "clicks", user.encode(), orjson.dumps(valid)
    if kind == 10:
        return "clicks", user.encode(), orjson.dumps(valid)[: rng.randrange(1, 60)]  # cut short
    if kind == 11:
        return "purchases", bytes([0xFF, 0xFE]) + user.encode(), orjson.dumps({**valid, "items": "all of them"})  # key not UTF-8, wrong type
    if kind == 12:
        return "clicks", user.encode(), orjson.dumps({**valid, "price": -1, "ts": "yesterday"})  # impossible value, bad time
    if kind == 13:
        return "searches", None, rng.randbytes(rng.randrange(0, 40))  # no key, binary or empty body
    return "consents", user.encode(), orjson.dumps({"event_id": f"e{n}", "user_id": "someone-else", "ts": valid["ts"], "channel": "push", "granted": True})


def test_every_hostile_message_is_counted_and_dead_lettered_with_its_exact_key_and_bytes(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(settings, all_topics(settings))
    rng = random.Random(15)
    now_ms = int(time.time() * 1000) - 60_000
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=5)
    sent: dict[tuple[str, int, int], tuple[bytes | None, bytes | None]] = {}
    futures = []
    for n in range(MESSAGES):
        topic, key, value = hostile(rng, n, now_ms)
        futures.append((settings.topic(topic), topic, key, value, producer.send(settings.topic(topic), key=key, value=value)))
    producer.flush()
    for _, logical, key, value, future in futures:
        place = future.get(timeout=30)
        sent[(logical, place.partition, place.offset)] = (key, value)
    producer.close()

    worker = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
    try:
        wait_for(lambda: all_committed(settings, MESSAGES), timeout_s=180, what="every input offset committed")
        metrics = worker.metrics()
        assert worker.alive()
    finally:
        worker.stop()
    assert b"Traceback" not in (tmp_path / "worker.log").read_bytes()

    letters = [orjson.loads(record.value) for record in read_topic(settings, settings.topic("dead-letters"), quiet_s=1.0)]
    taken = sum(value for name, value in metrics.items() if name.startswith("nudge_events_total{"))
    dead = sum(value for name, value in metrics.items() if name.startswith("nudge_dead_letters_total{"))
    assert taken == MESSAGES and dead == len(letters) > MESSAGES // 5
    places = set()
    for letter in letters:
        place = (letter["source_topic"], letter["partition"], letter["offset"])
        places.add(place)
        key, value = sent[place]
        found_key = base64.b64decode(letter["key_base64"]) if letter["key_base64"] is not None else (None if letter["key"] is None else letter["key"].encode())
        assert found_key == key, letter
        found_value = None if letter["value_base64"] is None else base64.b64decode(letter["value_base64"])
        assert found_value == value and not letter["truncated"], letter
    assert len(places) == len(letters)  # one dead letter per rejected message, never two
    assert any(letter["key_base64"] for letter in letters) and any(letter["value_base64"] == "" for letter in letters)
