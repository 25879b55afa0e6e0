"""Feed the synthetic shop into Kafka at a steady wall-clock rate, with event time running fast.

Event time advances ``time_scale`` times faster than the wall clock, so a demo sees a 30-minute
abandoned-cart rule fire after 30 wall seconds at ``time_scale=60``. Each event is sent when its
event time comes due on that scaled clock, so ``rate`` events per wall second go out on average.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from agents.errors import BrokerUnavailable, SettingsError
from agents.producer import CLOSE_TIMEOUT_S, DeliveryWatch, connect_producer
from agents.progress import PROGRESS_LINES
from agents.recording import open_recording, recording_line
from agents.settings import Settings
from agents.topics import input_topics
from schemas.timestamps import parse_rfc3339
from streams.partitioning import partition_for
from streams.rules.spec import RuleBook, RuleKind
from streams.traffic import CART_REMINDER_EFFECT, PlantedEffect, ShopSimulator

log = logging.getLogger(__name__)

# Send everything due within this much in one go, then sleep: batches, not a busy loop.
PACING_SLACK_S = 0.01
PROGRESS_EVERY_S = 1.0


def run_generator(
    settings: Settings,
    *,
    users: int,
    rate: float,
    seed: int,
    duration_s: float | None,
    time_scale: float,
    start_ms: int | None = None,
    bad_fraction: float = 0.0,
    planted: PlantedEffect | None = None,
    journeys: bool = False,
    stop: threading.Event | None = None,
    on_progress: Callable[[int], None] | None = None,
    say: Callable[[str], None] = lambda line: print(f"nudge generate: {line}", file=sys.stderr, flush=True),
) -> int:
    """Send shop events until ``duration_s`` wall seconds pass (never, if ``None``) or ``stop`` is
    set, and return how many were sent.

    Event time starts at ``start_ms`` (default: the wall clock now). ``bad_fraction`` mixes in
    malformed messages so dead letters show up. ``planted`` and ``journeys``: the shop's opt-in
    plants (streams/traffic.py). ``on_progress`` gets the running count about once a second, and
    the final count at the end.
    """
    if not rate > 0:
        raise SettingsError(f"rate must be positive, got {rate}")
    if not time_scale > 0:
        raise SettingsError(f"time scale must be positive, got {time_scale}")
    if duration_s is not None and not duration_s > 0:
        raise SettingsError(f"duration must be positive, got {duration_s}")
    if start_ms is None:
        start_ms = int(time.time() * 1000)
    try:
        simulator = ShopSimulator(
            users=users,
            seed=seed,
            start_ms=start_ms,
            # Event-time gap between events, so rate events span time_scale event-seconds.
            mean_gap_ms=1000 * time_scale / rate,
            bad_fraction=bad_fraction,
            planted=planted,
            journeys=journeys,
        )
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if stop is None:
        stop = threading.Event()
    producer = connect_producer(settings, client_id="nudge-generator")
    log.info("sending %g events/s from %d users, event time x%g", rate, users, time_scale)
    try:
        try:
            with DeliveryWatch(settings, say=say) as watch:
                sent = _pace(
                    producer,
                    watch,
                    simulator,
                    settings,
                    start_ms=start_ms,
                    duration_s=duration_s,
                    time_scale=time_scale,
                    stop=stop,
                    on_progress=on_progress,
                )
        finally:
            producer.close(timeout=CLOSE_TIMEOUT_S)
    except KafkaTimeoutError as exc:  # buffer full, or sends still pending at the end
        raise BrokerUnavailable(f"the Kafka broker at {settings.broker} stopped taking events: {exc}") from exc
    if on_progress is not None:
        on_progress(sent)
    return sent


def _pace(
    producer: KafkaProducer,
    watch: DeliveryWatch,
    simulator: ShopSimulator,
    settings: Settings,
    *,
    start_ms: int,
    duration_s: float | None,
    time_scale: float,
    stop: threading.Event,
    on_progress: Callable[[int], None] | None,
) -> int:
    """Send each message when its event time is due on the scaled clock, then flush."""
    topics = input_topics(settings)
    failures: list[Exception] = []  # filled by the producer's thread; sends are never awaited
    sent = 0
    wall_start_s = time.monotonic()
    next_progress_s = wall_start_s + PROGRESS_EVERY_S
    event_ms = start_ms
    for topic, user_id, value in simulator.events():
        if isinstance(value, dict):
            event_ms = parse_rfc3339(value["ts"])[0]
        # A malformed message has no trustworthy time: it goes out with the previous event.
        due_s = (event_ms - start_ms) / 1000 / time_scale
        if duration_s is not None and due_s >= duration_s:
            break
        ahead_s = wall_start_s + due_s - time.monotonic()
        if ahead_s > PACING_SLACK_S:
            stop.wait(ahead_s)
        if stop.is_set():
            break
        raw = json.dumps(value, separators=(",", ":")).encode() if isinstance(value, dict) else value
        # Stamped with its simulated time, as a shop on that clock would stamp it (and as a
        # recording of it would hold it), so a worker's check of event time against the
        # Kafka timestamp holds however fast event time runs.
        future = producer.send(topics[topic], value=raw, key=user_id.encode(), timestamp_ms=event_ms)
        future.add_errback(failures.append)
        watch.track(future)
        sent += 1
        if time.monotonic() >= next_progress_s:
            _raise_if_failed(failures, settings)
            if on_progress is not None:
                on_progress(sent)
            next_progress_s = time.monotonic() + PROGRESS_EVERY_S
    producer.flush(timeout=CLOSE_TIMEOUT_S)
    _raise_if_failed(failures, settings)
    return sent


def _raise_if_failed(failures: list[Exception], settings: Settings) -> None:
    if failures:
        raise BrokerUnavailable(
            f"{len(failures)} events were not delivered to {settings.broker}: {failures[0]}"
        )


def write_recording(
    out: Path,
    *,
    users: int,
    count: int,
    seed: int,
    start_ms: int,
    mean_gap_ms: float,
    partitions: int,
    bad_fraction: float = 0.0,
    planted: PlantedEffect | None = None,
    journeys: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
) -> int:
    """The same synthetic shop as a recording file: ``count`` messages, ``ts`` their event time,
    partitions and offsets as Kafka's default partitioner would give them; ``planted``: a known
    effect of a rule's message; ``journeys``: planted category pairs and consumables bought on a
    cycle (streams/traffic.py)."""
    try:
        simulator = ShopSimulator(
            users=users, seed=seed, start_ms=start_ms, mean_gap_ms=mean_gap_ms, bad_fraction=bad_fraction, planted=planted, journeys=journeys
        )
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    offsets: dict[tuple[str, int], int] = {}
    event_ms = start_ms
    started = time.monotonic()
    try:
        with open_recording(out, "w") as sink:
            for written, (topic, user_id, value) in enumerate(simulator.events(count), start=1):
                key = user_id.encode()
                if isinstance(value, dict):
                    event_ms = parse_rfc3339(value["ts"])[0]
                    raw = orjson.dumps(value)
                else:
                    raw = value  # a malformed message keeps the previous event's time
                partition = partition_for(key, partitions)
                offset = offsets.get((topic, partition), 0)
                offsets[(topic, partition)] = offset + 1
                sink.write(recording_line(topic=topic, key=key, raw=raw, partition=partition, offset=offset, ts_ms=event_ms))
                sink.write("\n")
                if progress is not None and not written % PROGRESS_LINES:
                    progress(written, count, time.monotonic() - started)
    except OSError as exc:
        raise SettingsError(f"cannot write {out}: {exc.strerror or exc}") from None
    return count


def planted_cart_effect(book: RuleBook) -> PlantedEffect:
    """``CART_REMINDER_EFFECT`` on the book's abandoned_cart rule, held out as that book holds it out."""
    rule = next((rule for rule in book.enabled if rule.kind is RuleKind.ABANDONED_CART), None)
    if rule is None:
        raise SettingsError("--plant-effect needs an abandoned_cart rule in the rules")
    return PlantedEffect(rule.name, dict(CART_REMINDER_EFFECT), book.holdout_fraction(rule), book.guardrails.holdout_salt)
