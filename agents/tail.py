"""``nudge tail TOPIC``: print a Nudge topic's messages as they arrive, one JSON line each.

What an operator reaches for first ("is anything coming out?"), without a Kafka client of their
own: Debian's ``kcat`` is built on a librdkafka too old for the embedded broker. Each line holds
the message's place, its key and its value: the value's JSON when it is JSON (every output topic),
else its text, else its bytes in base64 (a hostile input message).
"""

from __future__ import annotations

import base64
import json
import sys
import time
from typing import Any, TextIO

import orjson
from kafka import KafkaConsumer
from kafka.errors import KafkaError

from agents.errors import BrokerUnavailable
from agents.security import kafka_client_security
from agents.settings import Settings
from agents.topic_reader import assign_whole


def render(topic: str, partition: int, offset: int, timestamp_ms: int, key: bytes | None, value: bytes | None) -> str:
    """
    >>> render("triggers", 1, 7, 0, b"u1", b'{"rule":"cart"}')
    '{"topic": "triggers", "partition": 1, "offset": 7, "timestamp_ms": 0, "key": "u1", "value": {"rule": "cart"}}'
    >>> render("clicks", 0, 3, 0, b"\\xff", b"\\xfe\\x00")
    '{"topic": "clicks", "partition": 0, "offset": 3, "timestamp_ms": 0, "key_base64": "/w==", "value_base64": "/gA="}'
    """
    line: dict[str, Any] = {"topic": topic, "partition": partition, "offset": offset, "timestamp_ms": timestamp_ms}
    line.update(_field("key", key))
    if value is not None:
        try:
            line["value"] = orjson.loads(value)
        except orjson.JSONDecodeError:
            line.update(_field("value", value))
    else:
        line["value"] = None
    return json.dumps(line, ensure_ascii=False)


def _field(name: str, raw: bytes | None) -> dict[str, Any]:
    if raw is None:
        return {name: None}
    try:
        return {name: raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{name}_base64": base64.b64encode(raw).decode("ascii")}


def tail(settings: Settings, topic: str, *, from_beginning: bool, max_messages: int | None, duration_s: float | None, out: TextIO = sys.stdout) -> int:
    """Print messages until ``max_messages``, ``duration_s`` or Ctrl-C; returns how many."""
    name = settings.topic(topic)
    try:
        consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False, client_id="nudge-tail", **kafka_client_security(settings))
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot reach the Kafka broker at {settings.broker}: {exc}") from None
    printed = 0
    try:
        assign_whole(
            consumer,
            [name],
            from_beginning=from_beginning,
            missing=lambda name: f"no topic {name!r} on {settings.broker} (topics are named without the prefix, which --topic-prefix gives)",
        )
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while (deadline is None or time.monotonic() < deadline) and (max_messages is None or printed < max_messages):
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    print(render(topic, record.partition, record.offset, record.timestamp, record.key, record.value), file=out, flush=True)
                    printed += 1
                    if max_messages is not None and printed >= max_messages:
                        return printed
    except KeyboardInterrupt:
        pass
    except KafkaError as exc:
        raise BrokerUnavailable(f"reading {name} from {settings.broker} failed: {exc}") from None
    finally:
        consumer.close()
    return printed
