"""A plain Kafka producer for Nudge's tools, with timeouts that turn a dead broker into one line."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from kafka import KafkaProducer
from kafka.errors import KafkaConnectionError, KafkaTimeoutError

from agents.errors import BrokerUnavailable
from agents.security import kafka_client_security
from agents.settings import Settings

# Long enough for a broker that is still starting, short enough for a user to get an answer.
BROKER_TIMEOUT_MS = 10_000
# A broker that was reached and then pauses (a restart, a leader election, a stopped process) is
# waited for this long, sends retried all the while; past it, a send fails and the tool says so.
DELIVERY_TIMEOUT_MS = 120_000
# Past the delivery timeout every pending send has an outcome, so flushing and closing finish.
CLOSE_TIMEOUT_S = DELIVERY_TIMEOUT_MS / 1000 + 5
# Acknowledgements missing this long while sends wait: the tool says it is waiting.
STALL_NOTICE_S = 5.0


# What a replay may send in one request: a recording holds whatever its broker accepted, and the
# broker a replay goes to enforces its own limit (kafka-python's default is 1 MiB).
LARGEST_REPLAYED_MESSAGE = 16 * 1024 * 1024


def connect_producer(
    settings: Settings, *, client_id: str, in_order: bool = False, max_request_size: int = 1_048_576, create_topics: bool = True
) -> KafkaProducer:
    """``in_order`` keeps one request in flight per broker, so a retried batch cannot overtake the
    next one and every key's messages land in the order they were sent. ``create_topics=False``
    never lets a send create a topic on a broker that would auto-create it."""
    try:
        return KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=client_id,
            acks="all",
            linger_ms=5,
            max_in_flight_requests_per_connection=1 if in_order else 5,
            bootstrap_timeout_ms=BROKER_TIMEOUT_MS,
            max_block_ms=DELIVERY_TIMEOUT_MS,
            request_timeout_ms=BROKER_TIMEOUT_MS,
            delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
            max_request_size=max_request_size,
            allow_auto_create_topics=create_topics,
            **kafka_client_security(settings),
        )
    except (KafkaConnectionError, KafkaTimeoutError) as exc:  # 3.x has no NoBrokersAvailable
        raise BrokerUnavailable(f"cannot reach the Kafka broker at {settings.broker}") from exc


class DeliveryWatch:
    """Counts a tool's acknowledged sends, and says, one line each, when the broker stops
    acknowledging and when it answers again: a paused broker is waited for, not silently.

    It looks once a second from a thread of its own, since the sending loop itself may be the
    one waiting (kafka-python blocks a send while it has no live connection to the broker)."""

    def __init__(self, settings: Settings, *, say: Callable[[str], None]) -> None:
        self._broker = settings.broker
        self._say = say
        self.sent = 0
        self.acked = 0
        self._last_acked = 0
        self._quiet_since = time.monotonic()
        self._stalled = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="delivery-watch", daemon=True)

    def __enter__(self) -> DeliveryWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._done.wait(1.0):
            self.check()

    def track(self, future: Any) -> None:
        self.sent += 1
        future.add_callback(self._ack)

    def _ack(self, _metadata: Any) -> None:
        self.acked += 1  # the producer's I/O thread; an int's += is safe under the GIL

    def check(self) -> None:
        now = time.monotonic()
        if self.acked != self._last_acked or self.acked == self.sent:
            if self._stalled:
                self._say(f"the broker at {self._broker} answers again; {self.sent - self.acked} sends still waiting")
            self._last_acked, self._quiet_since, self._stalled = self.acked, now, False
        elif not self._stalled and now - self._quiet_since >= STALL_NOTICE_S:
            self._stalled = True
            waited = now - self._quiet_since
            self._say(
                f"the broker at {self._broker} has acknowledged nothing for {waited:.0f} s "
                f"({self.sent - self.acked} sends waiting): retrying for up to {DELIVERY_TIMEOUT_MS // 1000} s"
            )
