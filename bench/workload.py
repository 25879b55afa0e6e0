"""The benchmarks' input: one seeded synthetic shop, turned into wire bytes before any clock starts.

Simulating and serializing an event costs about as much as processing it, so both happen up
front; the timed loops see only what a worker gets from Kafka: a topic, a key and JSON bytes.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from streams.traffic import ShopSimulator

USERS = 10_000
SEED = 1
START_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z: fixed, so every run processes the same events
# Event-time gap between consecutive messages. Each of the 10,000 shoppers then acts every few
# minutes (loyal buyers more often than bargain hunters), and 200,000 events span about three
# hours, so 30-minute abandoned-cart timers are armed, cancelled and fired all through a run,
# not only at its end.
MEAN_GAP_MS = 50.0


class WireMessage(NamedTuple):
    topic: str  # logical input topic: clicks, searches, purchases
    key: bytes  # the user id, which is the Kafka message key
    value: bytes  # compact JSON, as `nudge generate` sends it


def wire_messages(count: int) -> list[WireMessage]:
    """The first ``count`` messages of the benchmark shop; the same list on every call."""
    simulator = ShopSimulator(users=USERS, seed=SEED, start_ms=START_MS, mean_gap_ms=MEAN_GAP_MS)
    return [
        WireMessage(
            message.topic,
            message.user_id.encode(),
            message.value
            if isinstance(message.value, bytes)
            else json.dumps(message.value, separators=(",", ":")).encode(),
        )
        for message in simulator.events(count)
    ]


def event_time_span_h(count: int) -> float:
    """Hours of event time ``count`` messages cover, on average; tells a reader whether timers fire."""
    return count * MEAN_GAP_MS / 3_600_000
