"""``nudge senders`` against the embedded broker: triggers in, the engagements the pure
``streams.responses`` predicts out, each naming its trigger and decoding as the worker reads it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from kafka import KafkaConsumer, KafkaProducer

from agents.admin import ensure_topics
from agents.settings import Settings
from agents.topics import all_topics
from schemas.decoding import Rejection, decode_event
from schemas.timestamps import format_rfc3339
from streams.responses import persona_of, respond
from streams.traffic import assign_personas
from tests.integration.harness import REPO

START_MS = 1_795_600_800_000
TIME_SCALE = 3600  # an hour of event time per wall second
USERS, SEED = 1000, 1  # `nudge senders`' defaults, which are `nudge generate`'s
WAIT_S = 12.0


def _triggers() -> list[dict[str, object]]:
    """Triggers on every channel whose engagements all fall within 90 minutes of event time, so
    they are all due within a couple of wall seconds."""
    personas = assign_personas(USERS, seed=SEED)
    chosen: list[dict[str, object]] = []
    for index in range(200):
        user_id, channel = f"u{index:04d}", ("push", "email", "sms")[index % 3]
        trigger_id = f"trig-{index}"
        answer = respond(trigger_id, user_id, channel, START_MS, persona_of(user_id, personas), seed=SEED)
        if answer[-1][1] - START_MS < 90 * 60_000:
            ts = format_rfc3339(START_MS, 60)
            chosen.append({"trigger_id": trigger_id, "user_id": user_id, "rule": "abandoned_cart", "ts": ts, "emitted_at": ts, "channel": channel,
                           "payload": {}, "reason": "test", "propensity": None, "uplift": None, "variant": "a"})  # fmt: skip
        if len(chosen) == 9:
            return chosen
    raise AssertionError("too few quick triggers")


def test_senders_answer_each_trigger_with_the_engagements_the_core_predicts(settings: Settings) -> None:
    ensure_topics(settings, all_topics(settings))
    triggers = _triggers()
    personas = assign_personas(USERS, seed=SEED)
    expected = {
        (str(trigger["trigger_id"]), kind.value)
        for trigger in triggers
        for kind, _ in respond(str(trigger["trigger_id"]), str(trigger["user_id"]), str(trigger["channel"]), START_MS,
                               persona_of(str(trigger["user_id"]), personas), seed=SEED)  # fmt: skip
    }
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    for trigger in triggers:
        producer.send(settings.topic("triggers"), key=str(trigger["user_id"]).encode(), value=json.dumps(trigger).encode())
    producer.send(settings.topic("triggers"), key=b"u0001", value=b"{not json")
    producer.flush()
    producer.close()

    env = {key: value for key, value in os.environ.items() if not key.startswith("NUDGE_")}
    env.update({"PYTHONPATH": str(REPO), **settings.to_environ()})
    command = [sys.executable, "-m", "agents.cli", "senders", "--time-scale", str(TIME_SCALE), "--duration", "60"]
    senders = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    consumer = KafkaConsumer(settings.topic("engagements"), bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest", group_id=None)
    seen: list[tuple[bytes, bytes, int]] = []
    try:
        deadline = time.monotonic() + WAIT_S
        while len(seen) < len(expected) and time.monotonic() < deadline and senders.poll() is None:
            for records in consumer.poll(timeout_ms=200).values():
                seen += [(record.key, record.value, record.timestamp) for record in records]
    finally:
        consumer.close()
        senders.send_signal(signal.SIGTERM)  # stops it cleanly, with its summary
        _, stderr = senders.communicate(timeout=30)
    assert senders.returncode == 0, stderr
    assert "read 10 triggers (1 malformed, skipped)" in stderr and "Traceback" not in stderr, stderr

    got = set()
    for key, raw, kafka_ts_ms in seen:
        event = decode_event("engagements", raw, key, kafka_ts_ms=kafka_ts_ms)
        assert not isinstance(event, Rejection), (raw, event)
        got.add((event.trigger_id, event.type.value))
    assert got == expected and len(seen) == len(expected)
