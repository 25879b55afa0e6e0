"""``nudge record``: capture live topics into a recording, without disturbing the workers.

The recorder joins no consumer group and commits nothing: it assigns itself every partition of
the topics it records, so the workers' group, offsets and assignment never notice it.

With ``scrub``, the users who asked to be forgotten during the recording are left out of it (see
``agents.scrub``). Their earlier messages are known to be theirs only once the request arrives,
so the messages go to a hidden file next to the recording first, which is scrubbed into the
recording and removed when the recording stops, however it stops.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from agents.errors import BrokerUnavailable, SettingsError
from agents.recording import open_recording, recording_line
from agents.scrub import ERASURES, ScrubReport, scrub as scrub_recording
from agents.security import kafka_client_security
from agents.settings import Settings
from agents.topic_reader import assign_whole

POLL_TIMEOUT_MS = 200


@dataclass(slots=True)
class RecordReport:
    written: int  # messages recorded, before any scrubbing
    scrubbed: ScrubReport | None = None  # with scrub: what was left out


def record(
    settings: Settings,
    *,
    topics: list[str],
    out: Path,
    from_beginning: bool,
    duration_s: float | None,
    max_messages: int | None,
    stop: threading.Event | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    scrub: bool = False,
) -> RecordReport:
    """Write messages until ``duration_s`` passes, ``max_messages`` are written or ``stop`` is set;
    ``progress`` hears how many so far, of ``max_messages`` (0: no set number), about once a poll."""
    if duration_s is None and max_messages is None and stop is None:
        raise SettingsError("say when to stop: --duration or --max-messages")
    if not scrub:
        return RecordReport(_record(settings, topics, out, from_beginning, duration_s, max_messages, stop, progress))
    if ERASURES not in topics:
        raise SettingsError("--scrub needs the erasures topic among --topics: it is how the recording knows who asked to be forgotten")
    raw = out.with_name(f".{out.name}.unscrubbed")
    try:
        written = _record(settings, topics, raw, from_beginning, duration_s, max_messages, stop, progress)
        return RecordReport(written, scrub_recording(raw, out))
    finally:
        raw.unlink(missing_ok=True)


def _record(
    settings: Settings,
    topics: list[str],
    out: Path,
    from_beginning: bool,
    duration_s: float | None,
    max_messages: int | None,
    stop: threading.Event | None,
    progress: Callable[[int, int, float], None] | None,
) -> int:
    stop = stop or threading.Event()
    logical_of = {settings.topic(topic): topic for topic in topics}
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            client_id="nudge-recorder",
            request_timeout_ms=15_000,
            **kafka_client_security(settings),
        )
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot reach the Kafka broker at {settings.broker}: {exc}") from None
    written = 0
    try:
        assign_whole(consumer, logical_of, from_beginning=from_beginning, missing=lambda name: f"topic {name} does not exist on {settings.broker}")
        started = time.monotonic()
        deadline = None if duration_s is None else started + duration_s
        with open_recording(out, "w") as sink:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                if progress is not None:
                    progress(written, max_messages or 0, time.monotonic() - started)
                for batch in consumer.poll(timeout_ms=POLL_TIMEOUT_MS).values():
                    for message in batch:
                        sink.write(
                            recording_line(
                                topic=logical_of[message.topic],
                                key=message.key,
                                raw=message.value,
                                partition=message.partition,
                                offset=message.offset,
                                ts_ms=message.timestamp,
                            )
                        )
                        sink.write("\n")
                        written += 1
                        if max_messages is not None and written >= max_messages:
                            return written
    except KafkaError as exc:
        raise BrokerUnavailable(f"recording from {settings.broker} failed: {exc}") from None
    except OSError as exc:
        raise SettingsError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        consumer.close()
    return written
