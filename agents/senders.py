"""``nudge senders``: stand-ins for the push, email and SMS senders, closing the loop in a demo.

Real senders consume ``triggers``, send the message and report back on ``engagements``. This one
reads the triggers the same way (its own consumer group, ``nudge-senders``, from the earliest
offset) and reports what the synthetic shop's shopper would have done with the message: the pure
``streams.responses`` decides, by the shopper's persona (the same ``--users`` and ``--seed`` as
``nudge generate`` give the same personas) and the channel.

Each engagement's event time is the trigger's plus a simulated delay, and it is sent when that
delay has passed on the wall clock, scaled like the generator's (``--time-scale``): an open 40
minutes of event time after the trigger goes out 40 s after the trigger was read at a scale of 60.
It is stamped with its event time as its Kafka timestamp, as the generator stamps the shop's
events, so the worker's future-skew check never rejects it however fast event time runs.
"""

from __future__ import annotations

import heapq
import logging
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import orjson
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from agents.errors import BrokerUnavailable, SettingsError
from agents.producer import CLOSE_TIMEOUT_S, DeliveryWatch, connect_producer
from agents.security import kafka_client_security
from agents.settings import Settings
from agents.topics import TRIGGERS
from schemas.events import InputTopic
from schemas.timestamps import BadTimestamp, parse_rfc3339
from streams.responses import engagement_value, persona_of, respond
from streams.traffic import Persona, assign_personas

log = logging.getLogger(__name__)

GROUP = "nudge-senders"  # prefixed like every other consumer group
POLL_TIMEOUT_MS = 200  # the longest a due engagement, or a stop, waits for a poll to return
ENGAGEMENTS = InputTopic.ENGAGEMENTS.value


@dataclass(slots=True)
class SendersReport:
    triggers: int = 0  # trigger messages read, malformed ones included
    malformed: int = 0  # of those, skipped: not a trigger this simulator can answer
    sent: Counter[str] = field(default_factory=Counter)  # engagements sent, by type
    pending: int = 0  # engagements not yet due when it stopped, never sent

    def summary(self) -> str:
        """
        >>> SendersReport(3, 1, Counter({"delivered": 2, "opened": 1}), 4).summary()
        'read 3 triggers (1 malformed, skipped); sent 3 engagements: 2 delivered, 1 opened; 4 not yet due at the stop'
        """
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.sent.items(), key=lambda item: -item[1])) or "none"
        return (
            f"read {self.triggers} triggers ({self.malformed} malformed, skipped); "
            f"sent {sum(self.sent.values())} engagements: {kinds}; {self.pending} not yet due at the stop"
        )


@dataclass(frozen=True, slots=True)
class Trigger:
    """What the simulator needs of a trigger; every other field is ignored."""

    trigger_id: str
    user_id: str
    channel: str
    ts_ms: int
    utc_offset_min: int


def parse_trigger(raw: bytes | None) -> Trigger | None:
    """A trigger's value, or ``None`` for one that cannot be answered (not JSON, a field missing
    or of the wrong type, a bad ``ts``): it is counted and skipped, never a crash.

    >>> parse_trigger(b'{"trigger_id": "t1", "user_id": "u0001", "channel": "push", "ts": "2026-11-25T10:00:00Z", "variant": "b"}')
    Trigger(trigger_id='t1', user_id='u0001', channel='push', ts_ms=1795600800000, utc_offset_min=0)
    >>> parse_trigger(b'{"trigger_id": "t1"}') is None and parse_trigger(b"\\xff") is None
    True
    """
    if raw is None:
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    fields = [body.get(name) for name in ("trigger_id", "user_id", "channel", "ts")]
    if not all(isinstance(value, str) and value for value in fields):
        return None
    try:
        ts_ms, offset_min = parse_rfc3339(body["ts"])
    except BadTimestamp:
        return None
    return Trigger(body["trigger_id"], body["user_id"], body["channel"], ts_ms, offset_min)


def run_senders(
    settings: Settings,
    *,
    users: int,
    seed: int,
    time_scale: float,
    duration_s: float | None,
    stop: threading.Event | None = None,
    say: Callable[[str], None] = lambda line: print(f"nudge senders: {line}", file=sys.stderr, flush=True),
) -> SendersReport:
    """Answer triggers until ``duration_s`` wall seconds pass (never, if ``None``) or ``stop`` is
    set; engagements not yet due then are dropped, the sent ones flushed."""
    if not time_scale > 0:
        raise SettingsError(f"time scale must be positive, got {time_scale:g}")
    if duration_s is not None and not duration_s > 0:
        raise SettingsError(f"duration must be positive, got {duration_s:g}")
    if users < 1:
        raise SettingsError(f"users must be at least 1, got {users}")
    personas = assign_personas(users, seed=seed)
    stop = stop or threading.Event()
    try:
        consumer = KafkaConsumer(
            settings.topic(TRIGGERS),
            bootstrap_servers=settings.bootstrap_servers,
            group_id=settings.topic(GROUP),
            auto_offset_reset="earliest",
            client_id="nudge-senders",
            request_timeout_ms=15_000,
            # Real Kafka's smallest allowed session timeout: the embedded broker finishes a join
            # only after about half of it, so kafka-python's 45 s would hold the first trigger
            # back by 23 s (../shared/BROKER.md), as it would the worker's (agents/app.py).
            session_timeout_ms=6_000,
            heartbeat_interval_ms=2_000,
            **kafka_client_security(settings),
        )
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot reach the Kafka broker at {settings.broker}: {exc}") from None
    report = SendersReport()
    try:
        producer = connect_producer(settings, client_id="nudge-senders", create_topics=False)
        try:
            with DeliveryWatch(settings, say=say) as watch:
                _answer(consumer, producer, watch, settings, personas, seed=seed, time_scale=time_scale, duration_s=duration_s, stop=stop, report=report)
        finally:
            producer.close(timeout=CLOSE_TIMEOUT_S)
    except KafkaTimeoutError as exc:
        raise BrokerUnavailable(f"the Kafka broker at {settings.broker} stopped taking engagements: {exc}") from exc
    except KafkaError as exc:
        raise BrokerUnavailable(f"reading {settings.topic(TRIGGERS)} from {settings.broker} failed: {exc}") from None
    finally:
        consumer.close()
    return report


def _answer(
    consumer: KafkaConsumer,
    producer: KafkaProducer,
    watch: DeliveryWatch,
    settings: Settings,
    personas: tuple[Persona, ...],
    *,
    seed: int,
    time_scale: float,
    duration_s: float | None,
    stop: threading.Event,
    report: SendersReport,
) -> None:
    topic = settings.topic(ENGAGEMENTS)
    failures: list[Exception] = []  # filled by the producer's thread
    # (wall time due, sequence, key, value, event time, type): the sequence keeps equal times in
    # the order they were scheduled, so a trigger's delivered never follows its opened.
    due: list[tuple[float, int, bytes, bytes, int, str]] = []
    scheduled = 0
    deadline = None if duration_s is None else time.monotonic() + duration_s
    while not stop.is_set():
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            break
        while due and due[0][0] <= now:
            _, _, key, value, ts_ms, kind = heapq.heappop(due)
            future = producer.send(topic, key=key, value=value, timestamp_ms=ts_ms)
            future.add_errback(failures.append)
            watch.track(future)
            report.sent[kind] += 1
        if failures:
            raise BrokerUnavailable(f"{len(failures)} engagements were not delivered to {settings.broker}: {failures[0]}")
        wait_s = POLL_TIMEOUT_MS / 1000
        if due:
            wait_s = min(wait_s, max(due[0][0] - now, 0.0))
        if deadline is not None:
            wait_s = min(wait_s, max(deadline - now, 0.0))
        batches = consumer.poll(timeout_ms=int(wait_s * 1000))
        read_at = time.monotonic()
        for records in batches.values():
            for record in records:
                report.triggers += 1
                trigger = parse_trigger(record.value)
                if trigger is None:
                    report.malformed += 1
                    continue
                persona = persona_of(trigger.user_id, personas)
                key = trigger.user_id.encode()
                for kind, ts_ms in respond(trigger.trigger_id, trigger.user_id, trigger.channel, trigger.ts_ms, persona, seed=seed):
                    engagement = engagement_value(trigger.trigger_id, trigger.user_id, trigger.channel, kind, ts_ms, trigger.utc_offset_min)
                    wall_s = read_at + (ts_ms - trigger.ts_ms) / 1000 / time_scale
                    heapq.heappush(due, (wall_s, scheduled, key, orjson.dumps(engagement), ts_ms, kind.value))
                    scheduled += 1
    report.pending = len(due)
    producer.flush(timeout=CLOSE_TIMEOUT_S)
    if failures:
        raise BrokerUnavailable(f"{len(failures)} engagements were not delivered to {settings.broker}: {failures[0]}")
