"""``nudge forget``: ask the workers to erase a user, through the ``erasures`` topic.

The request goes through Kafka like any event, keyed by the user, so the worker that owns the
user applies it in order with the user's other events and writes the tombstone that makes the
changelog forget them too.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from kafka.errors import KafkaError

from agents.admin import existing_topics
from agents.errors import BrokerUnavailable, SettingsError
from agents.producer import CLOSE_TIMEOUT_S, connect_producer
from agents.settings import Settings
from schemas.limits import MAX_ID_LENGTH
from schemas.events import InputTopic
from schemas.timestamps import format_rfc3339


def erasure_request(user_id: str, *, now_ms: int) -> dict[str, Any]:
    """The wire event; its id is unique, so two requests for one user are two requests.

    >>> sorted(erasure_request("u1", now_ms=0))
    ['event_id', 'ts', 'user_id']
    """
    if not user_id or len(user_id) > MAX_ID_LENGTH:
        raise SettingsError(f"a user id has 1 to {MAX_ID_LENGTH} characters, got {len(user_id)}")
    return {"event_id": f"forget-{uuid.uuid4()}", "user_id": user_id, "ts": format_rfc3339(now_ms)}


def forget(settings: Settings, user_id: str, *, now_ms: int | None = None) -> dict[str, Any]:
    """Send the erasure request and wait until the broker has it; returns what was sent."""
    request = erasure_request(user_id, now_ms=int(time.time() * 1000) if now_ms is None else now_ms)
    topic = settings.topic(InputTopic.ERASURES.value)
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
    return request
