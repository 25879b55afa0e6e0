"""How one reader's pass over the backlog is timed, the same way for every reader it is compared with.

A reader is seen at three moments: launched (its consumer built, or its process spawned), first
seen holding events, and done. Launch to first event is start-up plus the consumer group join,
which the embedded broker stretches to half the session timeout; it is reported apart, because a
rate that includes it measures the join, not the reader. The rate counts only the events taken
after the first observation, over the time from it to the last, so the events already held at
that observation (a first batch) are left out rather than credited to a span that did not
include their fetching. A reader seen only now and then, which may hold events it has not yet
processed when first seen, is timed from the last look that saw none instead (see :func:`follow`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from bench.worker import cpu_seconds

# Python and a framework start in a few seconds, and a group join on the embedded broker takes
# half the 6 s session timeout; anything far beyond that is a hang worth failing on.
READY_TIMEOUT_S = 60.0
STALL_S = 30.0  # a reader that takes no event for this long has failed
# What every reader asks of the group coordinator: the embedded broker finishes a join only
# after half the session timeout, so a short one keeps the join at about 3 s.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 2000
# The embedded broker holds a fetch for its whole max wait even when data has arrived, so a
# reader asking for Kafka's usual 500 ms would idle half of each second near the backlog's end.
# Nudge's worker asks for 50 ms on this broker (agents/embedded_compat.py); so does every peer
# whose client has the setting, so that none is timed on the broker's quirk instead of its work.
FETCH_MAX_WAIT_MS = 50


class ReaderFailed(RuntimeError):
    """A reader exited, stalled or never started; the message says which and why."""


@dataclass(frozen=True, slots=True)
class ReaderRun:
    name: str
    events: int  # the whole backlog: every reader reads all of it
    start_s: float  # launch until the first event was seen: start-up and the group join
    timed_events: int  # events taken after the first observation
    timed_s: float  # from the first observation to the last event
    reader_cpu_s: float  # CPU the reader used over the timed span
    broker_cpu_s: float

    @property
    def events_per_s(self) -> float:
        return self.timed_events / self.timed_s

    @property
    def reader_cores(self) -> float:
        """1.0 = one core busy all through the timed span."""
        return self.reader_cpu_s / self.timed_s

    @property
    def broker_cores(self) -> float:
        return self.broker_cpu_s / self.timed_s


@dataclass(frozen=True, slots=True)
class Mark:
    """A moment, with the CPU the reader and the broker had used by then."""

    at: float
    reader_cpu_s: float
    broker_cpu_s: float


class Stopwatch:
    """The three moments of one reader, with its CPU and the broker's over the timed span.

    Times are ``time.monotonic()``, which on Linux is one clock for every process, so a child
    may report the moment it saw an event and the parent can still compare it with the launch.
    """

    def __init__(self, name: str, *, events: int, reader_pid: int, broker_pid: int, launched: float) -> None:
        self.name = name
        self.events = events
        self.reader_pid = reader_pid
        self.broker_pid = broker_pid
        self.launched = launched
        self._first: tuple[Mark, int] | None = None

    @property
    def started(self) -> bool:
        return self._first is not None

    def mark(self, *, at: float | None = None) -> Mark:
        """Now, or the moment ``at`` a child reported, with the CPU used so far."""
        return Mark(
            at=time.monotonic() if at is None else at,
            reader_cpu_s=cpu_seconds(self.reader_pid),
            broker_cpu_s=cpu_seconds(self.broker_pid),
        )

    def first(self, mark: Mark, *, count: int) -> None:
        """The first observation: ``count`` events already taken at ``mark``."""
        self._first = (mark, count)

    def done(self, *, at: float | None = None) -> ReaderRun:
        """Every event taken, at ``at`` (default: now)."""
        if self._first is None:
            raise ReaderFailed(f"{self.name}: done before its first event")
        first, first_count = self._first
        last = self.mark(at=at)
        return ReaderRun(
            name=self.name,
            events=self.events,
            start_s=first.at - self.launched,
            timed_events=self.events - first_count,
            timed_s=last.at - first.at,
            reader_cpu_s=last.reader_cpu_s - first.reader_cpu_s,
            broker_cpu_s=last.broker_cpu_s - first.broker_cpu_s,
        )


def follow(
    stopwatch: Stopwatch,
    taken: Callable[[], int | None],
    *,
    pause_s: float = 0.0,
    start_at_last_empty: bool = False,
    explain: Callable[[], str] | None = None,
) -> None:
    """Ask ``taken`` for the events taken so far (``None``: no answer this time) until it counts
    the whole backlog; then the caller decides when the reader is done.

    The first answer above zero is the first observation, unless ``start_at_last_empty``: a
    reader that counts a whole take at once, before processing it, is first seen already holding
    thousands of events it has yet to process, so its clock starts at the last answer of zero
    instead, with every event inside the span, which makes its rate a lower bound. Fails if the
    count stops moving, with what ``explain`` adds (a log tail), so a hung reader costs seconds,
    not the whole run.
    """
    last, last_change, last_empty = 0, stopwatch.launched, stopwatch.mark()
    while True:
        count = taken()
        now = time.monotonic()
        if count == 0 and start_at_last_empty:
            last_empty = stopwatch.mark(at=now)
        elif count:
            if not stopwatch.started:
                if start_at_last_empty:
                    stopwatch.first(last_empty, count=0)
                else:
                    stopwatch.first(stopwatch.mark(at=now), count=count)
            if count >= stopwatch.events:
                return
            if count > last:
                last, last_change = count, now
        if now - last_change > (STALL_S if stopwatch.started else READY_TIMEOUT_S):
            detail = "" if explain is None else f"\n{explain()}"
            raise ReaderFailed(f"{stopwatch.name}: stuck at {last:,} of {stopwatch.events:,} events{detail}")
        if pause_s:
            time.sleep(pause_s)
