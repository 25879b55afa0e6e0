"""A plain Kafka producer for Nudge's tools, with timeouts that turn a dead broker into one line."""

from __future__ import annotations

from kafka import KafkaProducer
from kafka.errors import KafkaConnectionError, KafkaTimeoutError

from agents.errors import BrokerUnavailable
from agents.security import kafka_client_security
from agents.settings import Settings

# Long enough for a broker that is still starting, short enough for a user to get an answer.
BROKER_TIMEOUT_MS = 10_000
# A send not acknowledged by then fails, so a dead broker is reported instead of buffered for.
DELIVERY_TIMEOUT_MS = 20_000
# Past the delivery timeout every pending send has an outcome, so flushing and closing finish.
CLOSE_TIMEOUT_S = DELIVERY_TIMEOUT_MS / 1000 + 5


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
            max_block_ms=BROKER_TIMEOUT_MS,
            request_timeout_ms=BROKER_TIMEOUT_MS,
            delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
            max_request_size=max_request_size,
            allow_auto_create_topics=create_topics,
            **kafka_client_security(settings),
        )
    except (KafkaConnectionError, KafkaTimeoutError) as exc:  # 3.x has no NoBrokersAvailable
        raise BrokerUnavailable(f"cannot reach the Kafka broker at {settings.broker}") from exc
