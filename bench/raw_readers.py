"""The floor under every Python stream processor: plain consumers that fetch and count, nothing more.

Whatever a framework does per event comes on top of fetching it, so these two rates tell how much
of a framework's time is the client library and the broker. Both run in this process, with each
library's defaults apart from the group and fetch timings the embedded broker needs.
"""

from __future__ import annotations

import os
import time

from kafka import KafkaConsumer

from bench.reading import FETCH_MAX_WAIT_MS, HEARTBEAT_INTERVAL_MS, SESSION_TIMEOUT_MS, ReaderRun, Stopwatch, follow

POLL_TIMEOUT_S = 1.0
CONFLUENT_BATCH = 1000  # most messages one ``consume`` call returns


def read_with_kafka_python(*, bootstrap: list[str], topics: list[str], events: int, broker_pid: int) -> ReaderRun:
    launched = time.monotonic()
    consumer = KafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id="peers-kafka-python",
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )
    try:
        stopwatch = Stopwatch("kafka-python", events=events, reader_pid=os.getpid(), broker_pid=broker_pid, launched=launched)
        taken = 0

        def poll() -> int:
            nonlocal taken
            taken += sum(map(len, consumer.poll(timeout_ms=int(POLL_TIMEOUT_S * 1000)).values()))
            return taken

        follow(stopwatch, poll)
        return stopwatch.done()
    finally:
        consumer.close()


def read_with_confluent_kafka(*, bootstrap: list[str], topics: list[str], events: int, broker_pid: int) -> ReaderRun:
    # Imported here: it comes with the `bench` extra, while `make test` imports every bench
    # module for its doctests without it.
    from confluent_kafka import Consumer, KafkaException

    launched = time.monotonic()
    consumer = Consumer(
        {
            "bootstrap.servers": ",".join(bootstrap),
            "group.id": "peers-confluent-kafka",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
            "fetch.wait.max.ms": FETCH_MAX_WAIT_MS,
        }
    )
    try:
        consumer.subscribe(topics)
        stopwatch = Stopwatch("confluent-kafka", events=events, reader_pid=os.getpid(), broker_pid=broker_pid, launched=launched)
        taken = 0

        def consume() -> int:
            nonlocal taken
            # ``consume`` waits until it has all the messages it may return, or its timeout: so it
            # asks for one until the clock starts, and never for more than are left.
            wanted = min(CONFLUENT_BATCH, events - taken) if taken else 1
            messages = consumer.consume(num_messages=wanted, timeout=POLL_TIMEOUT_S)
            for message in messages:
                if message.error() is not None:
                    raise KafkaException(message.error())
            taken += len(messages)
            return taken

        follow(stopwatch, consume)
        return stopwatch.done()
    finally:
        consumer.close()
