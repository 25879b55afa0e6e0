"""``nudge replay``: a recording through the core in-process (offline), or back into Kafka.

Offline, the output is JSON Lines in the recording's own shape, one line per message a worker
would have produced: ``{"topic": "triggers" | "suppressions" | "conversions" | "dead-letters",
"key": ..., "value": {...}}``. Its ``emitted_at`` (and a dead letter's ``rejected_at``) is the
event time of the decision, not the wall clock, so replaying twice gives the same bytes.
"""

from __future__ import annotations

import gc
import io
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import orjson
from kafka.errors import KafkaError

from agents.errors import BrokerUnavailable, SettingsError
from agents.producer import CLOSE_TIMEOUT_S, LARGEST_REPLAYED_MESSAGE, DeliveryWatch, connect_producer
from agents.progress import PROGRESS_LINES
from agents.recording import BadLine, Recorded, open_recording, open_sink, read_recording
from agents.scrub import ScrubReport, Scrubber
from agents.settings import Settings
from schemas.limits import DEFAULT_MAX_FUTURE_SKEW_MS
from schemas.outputs import DeadLetter, Output, Response, decided_at_ms, encode_output
from schemas.timestamps import BadTimestamp, parse_rfc3339
from streams.config import ProfileConfig
from streams.replay import OfflineReplay
from streams.rules.spec import RuleBook
from streams.uplift import RuleOutcomes

log = logging.getLogger(__name__)

REPORTED_BAD_LINES = 20  # listed one by one; the rest are only counted
PROGRESS_EVERY_S = 0.5


@dataclass(slots=True)
class ReplayReport:
    lines: int = 0
    messages: int = 0
    bad_lines: list[BadLine] = field(default_factory=list)
    outputs: dict[str, int] = field(default_factory=dict)  # output topic -> lines written
    responses: dict[str, int] = field(default_factory=dict)  # offline: engagements matched to their trigger, by type
    outcomes: dict[str, RuleOutcomes] = field(default_factory=dict)  # offline: per rule, for uplift
    elapsed_s: float = 0.0
    scrubbed: ScrubReport | None = None  # with scrub: what was left out


def _lines(path: Path, source: Iterable[str], scrub: bool, report: ReplayReport) -> Iterable[str]:
    """The recording's lines, without erased users' messages when asked to scrub (see
    ``agents.scrub``): a replay of someone else's recording need not bring the forgotten back."""
    if not scrub:
        return source
    scrubber = Scrubber(path)
    report.scrubbed = scrubber.report
    return scrubber.lines(source)


def replay_offline(
    path: Path,
    out: Path,
    *,
    book: RuleBook,
    partitions: int,
    profile_config: ProfileConfig,
    max_future_skew_ms: int = DEFAULT_MAX_FUTURE_SKEW_MS,
    progress: Callable[[int, int, float], None] | None = None,
    scrub: bool = False,
) -> ReplayReport:
    """Replay with Python's cycle collector off.

    A replay builds up every user's state and keeps it, and the collector re-scans that growing
    heap for cycles it does not have: the offline path creates none, which a test holds it to
    (reference counting frees everything). Measured on the 1,000,000-event benchmark recording:
    32,000 events/s with the collector on (even with thresholds raised for it), 36,000 with it off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _replay_offline(
            path,
            out,
            book=book,
            partitions=partitions,
            profile_config=profile_config,
            max_future_skew_ms=max_future_skew_ms,
            progress=progress,
            scrub=scrub,
        )
    finally:
        if was_enabled:
            gc.enable()


def _replay_offline(
    path: Path,
    out: Path,
    *,
    book: RuleBook,
    partitions: int,
    profile_config: ProfileConfig,
    max_future_skew_ms: int,
    progress: Callable[[int, int, float], None] | None,
    scrub: bool,
) -> ReplayReport:
    report = ReplayReport()
    total = _count_lines(path) if progress is not None else 0  # before the clock starts: not the replay's time
    replay = OfflineReplay(book, partitions=partitions, profile_config=profile_config, max_future_skew_ms=max_future_skew_ms)
    started = time.perf_counter()
    try:
        with open_recording(path, "r") as source, open_sink(out) as sink:
            for item in read_recording(_lines(path, source, scrub, report)):
                report.lines += 1
                if isinstance(item, BadLine):
                    report.bad_lines.append(item)
                    continue
                report.messages += 1
                outputs = replay.feed(item.message)
                if outputs:  # most messages decide nothing yet
                    _write(sink, outputs, replay, report)
                if progress is not None and not report.lines % PROGRESS_LINES:
                    progress(report.lines, total, time.perf_counter() - started)
            _write(sink, replay.finish(), replay, report)
        report.outcomes = replay.outcomes()
    except OSError as exc:
        raise SettingsError(f"cannot replay {path} into {out}: {exc.strerror or exc}") from None
    except EOFError:
        raise SettingsError(f"{path} ends in the middle of its gzip stream") from None
    report.elapsed_s = time.perf_counter() - started
    return report


def _write(sink: io.BufferedIOBase, outputs: Iterable[Output | DeadLetter], replay: OfflineReplay, report: ReplayReport) -> None:
    """Each output as a line whose value is, byte for byte, the message a worker would have sent,
    but that ``emitted_at`` (``rejected_at``) is the event time it was decided at."""
    for output in outputs:
        if isinstance(output, Response):  # a worker counts it in its metrics and publishes nothing
            report.responses[output.type] = report.responses.get(output.type, 0) + 1
            continue
        topic, key, value = encode_output(output, emitted_at_ms=decided_at_ms(output, otherwise_ms=replay.last_event_ms or 0))
        text_key = output.key_text if isinstance(output, DeadLetter) else (key or b"").decode()
        sink.write(b'{"topic":' + orjson.dumps(topic) + b',"key":' + orjson.dumps(text_key) + b',"value":' + value + b"}\n")
        report.outputs[topic] = report.outputs.get(topic, 0) + 1


def replay_to_broker(
    path: Path,
    settings: Settings,
    *,
    speed: float | None,
    stop: threading.Event | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    scrub: bool = False,
) -> ReplayReport:
    """Produce the recording into Kafka, keyed as recorded, each line after the gap to the previous
    one divided by ``speed`` (``None``: as fast as possible). ``progress(sent, total, elapsed_s)``."""
    if speed is not None and not speed > 0:
        raise SettingsError(f"speed must be positive, got {speed}")
    stop = stop or threading.Event()
    total = _count_lines(path)
    report = ReplayReport()
    failures: list[Exception] = []
    producer = connect_producer(settings, client_id="nudge-replay", in_order=True, max_request_size=LARGEST_REPLAYED_MESSAGE)
    watch = DeliveryWatch(settings, say=lambda line: print(f"nudge replay: {line}", file=sys.stderr, flush=True))
    started = time.monotonic()
    first_ms: int | None = None
    next_progress = started
    try:
        with open_recording(path, "r") as source, watch:
            for item in read_recording(_lines(path, source, scrub, report)):
                report.lines += 1
                if isinstance(item, BadLine):
                    report.bad_lines.append(item)
                    continue
                if stop.is_set():
                    break
                if speed is not None:
                    at_ms = _time_of(item)
                    if at_ms is not None:
                        first_ms = at_ms if first_ms is None else first_ms
                        ahead_s = started + (at_ms - first_ms) / 1000 / speed - time.monotonic()
                        if ahead_s > 0 and stop.wait(ahead_s):
                            break
                message = item.message
                # The recorded Kafka timestamp goes with it: a worker checks an event's time
                # against it, as the offline replay does, so both take the same messages.
                future = producer.send(settings.topic(message.topic), key=message.key, value=message.value, timestamp_ms=message.timestamp_ms)
                future.add_errback(failures.append)
                watch.track(future)
                report.messages += 1
                now = time.monotonic()
                if progress is not None and now >= next_progress:
                    progress(report.messages, total, now - started)
                    next_progress = now + PROGRESS_EVERY_S
                if failures:
                    break
            producer.flush(timeout=CLOSE_TIMEOUT_S)
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}") from None
    except KafkaError as exc:
        raise BrokerUnavailable(f"the replay into {settings.broker} failed: {exc}") from None
    finally:
        producer.close(timeout=CLOSE_TIMEOUT_S)
    if failures:
        raise BrokerUnavailable(f"{len(failures)} messages were not delivered to {settings.broker}: {failures[0]}")
    report.elapsed_s = time.monotonic() - started
    if progress is not None:
        progress(report.messages, total, report.elapsed_s)
    return report


def _time_of(item: Recorded) -> int | None:
    """When the message happened: the recorded Kafka timestamp, else the event's own time."""
    if item.message.timestamp_ms is not None:
        return item.message.timestamp_ms
    try:
        value = orjson.loads(item.message.value or b"")
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, dict) and isinstance(value.get("ts"), str):
        try:
            return parse_rfc3339(value["ts"])[0]
        except BadTimestamp:
            return None
    return None


def _count_lines(path: Path) -> int:
    try:
        with open_recording(path, "r") as source:
            return sum(1 for line in source if line.strip())
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}") from None
