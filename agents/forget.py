"""``nudge forget``: ask the workers to erase a user, through the ``erasures`` topic.

The request goes through Kafka like any event, keyed by the user, so the worker that owns the
user applies it in order with the user's other events and writes the tombstone that makes the
changelog forget them too.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from agents.admin import existing_topics
from agents.errors import BrokerUnavailable, NudgeError, SettingsError
from agents.producer import CLOSE_TIMEOUT_S, connect_producer
from agents.security import kafka_client_security
from agents.settings import Settings
from agents.topic_reader import assign_whole
from schemas.limits import MAX_ID_LENGTH
from schemas.events import InputTopic
from schemas.outputs import ERASURES_DONE
from schemas.timestamps import format_rfc3339


def erasure_request(user_id: str, *, now_ms: int) -> dict[str, Any]:
    """The wire event; its id is unique, so two requests for one user are two requests.

    >>> sorted(erasure_request("u1", now_ms=0))
    ['event_id', 'ts', 'user_id']
    """
    if not user_id or len(user_id) > MAX_ID_LENGTH:
        raise SettingsError(f"a user id has 1 to {MAX_ID_LENGTH} characters, got {len(user_id)}")
    return {"event_id": f"forget-{uuid.uuid4()}", "user_id": user_id, "ts": format_rfc3339(now_ms)}


def forget(settings: Settings, user_id: str, *, now_ms: int | None = None, wait_s: float | None = None) -> dict[str, Any]:
    """Send the erasure request and wait until the broker has it; returns what was sent. With
    ``wait_s``, wait that long for the owning worker's confirmation on ``erasures-done`` too,
    and return it (``found``, ``erased_at``) in the answer."""
    request = erasure_request(user_id, now_ms=int(time.time() * 1000) if now_ms is None else now_ms)
    topic = settings.topic(InputTopic.ERASURES.value)
    if wait_s is None:
        _send(settings, topic, user_id, request)
        return request
    with _confirmations(settings) as confirmations:
        _send(settings, topic, user_id, request)
        return {**request, **_await(confirmations, request["event_id"], settings, wait_s)}


def _send(settings: Settings, topic: str, user_id: str, request: dict[str, Any]) -> None:
    if not existing_topics(settings, [topic]):
        # A broker that auto-creates topics would take the request into a topic no worker reads.
        raise SettingsError(
            f"no topic {topic!r} on {settings.broker}: no Nudge worker has run with topic prefix "
            f"{settings.topic_prefix!r} there (a mistyped --topic-prefix?); nothing was sent"
        )
    producer = connect_producer(settings, client_id="nudge-forget", create_topics=False)
    try:
        future = producer.send(
            topic,
            key=user_id.encode(),
            value=json.dumps(request, separators=(",", ":")).encode(),
        )
        future.get(timeout=CLOSE_TIMEOUT_S)
    except KafkaError as exc:
        raise BrokerUnavailable(f"the erasure request did not reach {settings.broker}: {exc}") from exc
    finally:
        producer.close(timeout=CLOSE_TIMEOUT_S)


@contextmanager
def _confirmations(settings: Settings) -> Iterator[KafkaConsumer]:
    """A reader of ``erasures-done`` placed at its end before the request goes out, so the
    confirmation cannot slip past it."""
    topic = settings.topic(ERASURES_DONE)
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False, client_id="nudge-forget", **kafka_client_security(settings))
    try:
        assign_whole(
            consumer,
            [topic],
            from_beginning=False,
            missing=lambda name: f"no topic {name!r} on {settings.broker}: no Nudge worker has run with topic prefix {settings.topic_prefix!r} there",
        )
        yield consumer
    finally:
        consumer.close()


def _await(consumer: KafkaConsumer, event_id: str, settings: Settings, wait_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            for record in records:
                done = json.loads(record.value)
                if done.get("event_id") == event_id:
                    return {"found": done["found"], "erased_at": done["erased_at"]}
    raise NudgeError(
        f"no worker confirmed the erasure within {wait_s:g} s: is a worker running on {settings.broker} with topic "
        f"prefix {settings.topic_prefix!r}? The request stays on its topic and is applied when one runs"
    )
