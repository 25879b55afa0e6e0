"""The worker's processing, free of Faust: input messages in, messages to send and table writes out.

The Faust glue (agents/app.py) feeds it batches and timer ticks, then carries out what it
returns: it sends the outputs, waits for the broker to acknowledge them, writes each changed
user to the table changelog once, and only then acknowledges the input. That order is the
at-least-once guarantee: an input is never committed before its triggers and its state are
durable, and a redelivered input is recognised by the offsets kept in the user's record.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, MutableMapping, Sequence, TypeVar, Union

from agents.metrics import Metrics
from agents.records import UserRecord, encode_population, encode_record
from agents.tables import MemoryTable, RocksTable
from schemas.events import EngagementType, Erasure, Event
from schemas.limits import DEFAULT_MAX_FUTURE_SKEW_MS, MAX_OUTPUT_BYTES, MAX_POPULATION_RECORD_BYTES, MAX_USER_RECORD_BYTES
from schemas.outputs import Conversion, DeadLetter, ErasureDone, Output, Response, Suppression, Trigger, encode_output
from streams.config import ProfileConfig
from streams.learning import Learner
from streams.message import Message
from streams.population import Population
from streams.rules.spec import RuleBook
from streams.runner import Held, PartitionRunner
from streams.segments import LIFECYCLE
from streams.state import UserState
from streams.uplift import RuleOutcomes, total

log = logging.getLogger(__name__)

# How long a partition may hold events back waiting for a topic that has unread data and delivers
# none of it (Kafka Streams' max.task.idle.ms). Past it, the partition gives up on that topic only
# at the pace of the wall clock: events are released up to the partition's clock when the wait
# began plus the wall time since, as an idle partition's clock advances. Releasing everything it
# held instead once moved a catching-up partition's clock hours ahead and fired thousands of
# timers that the stalled topic's purchases should have cancelled.
MAX_SYNC_WAIT_S = 2.0
# The most one look at a stalled partition adds to its wait: a longer gap since the last look was
# the worker itself not running (blocked on a frozen broker, paused, swapped out), and a topic
# cannot be blamed for data the worker was in no state to fetch. The tick looks every 0.25 s.
MAX_WAIT_STEP_S = 0.5
# Flow control, as Kafka Streams' buffered.records.per.partition: a topic partition holding this
# many events for synchronization is paused until it holds fewer than RESUME_BELOW. A topic sparse
# in event time for its bytes (purchases beside clicks) otherwise runs ahead fetch after fetch,
# and what it held reached the look-ahead below, whose forced releases break event-time order.
PAUSE_ABOVE = 2_000
RESUME_BELOW = 500
# Events a partition holds for synchronization at most; past it, the earliest goes, breaking
# event-time order, so it is a last resort for memory: flow control keeps a partition far below
# it, and a step brings at most MAX_RECORDS_PER_STEP records (the embedded broker answers a fetch
# with a topic partition's whole backlog, however little was asked for).
MAX_HELD_EVENTS = 50_000
MAX_RECORDS_PER_STEP = 5_000


V = TypeVar("V")
Table = Union[MemoryTable[V], RocksTable[V]]
"""How the pipeline reaches a table: agents/tables.py."""

Incoming = tuple[int, Message]
"""An input message and the partition it was read from."""


@dataclass(slots=True)
class Outgoing:
    topic: str  # logical output topic: triggers, suppressions, conversions, dead-letters
    partition: int
    key: bytes | None
    value: bytes


@dataclass(slots=True)
class Outcome:
    outputs: list[Outgoing] = field(default_factory=list)
    changed: dict[str, UserRecord] = field(default_factory=dict)  # user -> record to write once
    erased: dict[str, int] = field(default_factory=dict)  # user -> partition, to write a tombstone for
    populations: dict[int, Population] = field(default_factory=dict)  # partition -> population to write
    done: list[Incoming] = field(default_factory=list)  # applied: to commit once the writes are durable

    def next_offsets(self) -> dict[tuple[str, int], int]:
        """Per logical topic and partition, the offset after the last message applied: what may be
        committed once the writes are durable. Within a topic partition messages are released in
        offset order, so every earlier one was applied too (or in an earlier step)."""
        offsets: dict[tuple[str, int], int] = {}
        for partition, message in self.done:
            key = (message.topic, partition)
            if message.offset >= offsets.get(key, 0):
                offsets[key] = message.offset + 1
        return offsets


class _PartitionUsers(MutableMapping[str, UserState]):
    """The engine's view of one partition's users in the table, noting which it changed or erased."""

    def __init__(self, table: Table[UserRecord], partition: int) -> None:
        self._table = table
        self._partition = partition
        self.changed: dict[str, UserRecord] = {}
        self.erased: dict[str, int] = {}

    def collect_into(self, outcome: Outcome) -> None:
        self.changed = outcome.changed
        self.erased = outcome.erased

    def get(self, user_id: str, default: Any = None) -> Any:
        record = self._table.get(user_id)
        return default if record is None else record.state

    def __getitem__(self, user_id: str) -> UserState:
        return self._table[user_id].state

    def __setitem__(self, user_id: str, state: UserState) -> None:
        table = self._table
        record = table.get(user_id)
        if record is None:
            record = UserRecord(partition=self._partition, state=state)
        else:
            record.state = state
        table[user_id] = record  # always: a table on disk learns of a change only so
        self.changed[user_id] = record
        self.erased.pop(user_id, None)

    def __delitem__(self, user_id: str) -> None:
        del self._table[user_id]
        self.changed.pop(user_id, None)
        self.erased[user_id] = self._partition

    def __iter__(self) -> Iterator[str]:
        return (user for user, _ in self._table.items_of(self._partition))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Partition:
    def __init__(
        self,
        *,
        number: int,
        table: Table[UserRecord],
        population: Population,
        book: RuleBook,
        profile_config: ProfileConfig,
        topics: list[str],
        max_future_skew_ms: int,
        wall_s: float,
    ) -> None:
        self.number = number
        self.users = _PartitionUsers(table, number)
        self.runner = PartitionRunner(
            number,
            store=self.users,
            book=book,
            topics=topics,
            profile_config=profile_config,
            population=population,
            max_future_skew_ms=max_future_skew_ms,
        )
        self.engine = self.runner.engine
        self.sync = self.runner.sync
        self.engine.restore(record.state for _, record in table.items_of(number))
        # The idle clock runs from the event time and wall time of the latest arrival; after a
        # restore, from the latest event restored (see PartitionEngine.restore).
        self.anchor_event_ms = self.engine.restored_ms
        self.anchor_wall_s = wall_s
        # A stall: events held and nothing released since the clock stood at ``stall_base_ms``
        # (or, with no clock yet, the earliest held event's time); ``stall_waited_s`` of running
        # time have passed since, counted up to the last look at ``stall_seen_wall_s``.
        self.stalled = False
        self.stall_base_ms = 0
        self.stall_waited_s = 0.0
        self.stall_seen_wall_s = 0.0
        self.stall_reported = False
        # Running time the partition has waited, holding nothing, for unread data that has not
        # come since its last arrival (see ``_behind``), counted up to ``quiet_seen_wall_s``.
        self.quiet_waited_s = 0.0
        self.quiet_seen_wall_s = wall_s


class Pipeline:
    def __init__(
        self,
        *,
        table: Table[UserRecord],
        populations: Table[Population],
        book: RuleBook,
        profile_config: ProfileConfig,
        metrics: Metrics,
        has_unread: Callable[[str, int, int | None], bool],
        idle_advance_ms: int,
        input_topics: Iterable[str],
        max_future_skew_ms: int = DEFAULT_MAX_FUTURE_SKEW_MS,
    ) -> None:
        """``has_unread(topic, partition, last_offset_seen)`` asks the consumer whether a topic
        partition holds data this pipeline has not been given yet. ``table`` holds the users
        (see agents/tables.py); ``populations`` is keyed by the partition number as text."""
        self._max_future_skew_ms = max_future_skew_ms
        self._table = table
        self._populations = populations
        self._book = book
        self._profile_config = profile_config
        self._metrics = metrics
        self._has_unread = has_unread
        self._idle_advance_s = idle_advance_ms / 1000
        self._topics = list(input_topics)
        self._partitions: dict[int, _Partition] = {}
        self._seen: dict[tuple[str, int], int] = {}
        self._paused: set[tuple[str, int]] = set()  # (topic, partition) fetching is paused for
        # labels() takes a lock and a dict lookup; once per topic instead of once per event.
        self._event_counters = {topic: metrics.events.labels(topic) for topic in self._topics}

    @property
    def partitions(self) -> list[int]:
        return sorted(self._partitions)

    def clock_ms(self, partition: int) -> int | None:
        """The partition's event-time clock, if this worker owns it and it has one."""
        part = self._partitions.get(partition)
        return None if part is None else part.engine.clock_ms

    def segment_counts(self) -> Counter[str]:
        """Users per lifecycle stage and RFM segment over the partitions this worker owns."""
        total: Counter[str] = Counter()
        for part in self._partitions.values():
            total.update(part.engine.segments)
        return total

    def partition_state(self) -> Iterator[tuple[int, int, int, int | None]]:
        """``(partition, users, pending timers, clock ms)`` for every partition owned now."""
        for number in sorted(self._partitions):
            engine = self._partitions[number].engine
            users = sum(count for segment, count in engine.segments.items() if segment.startswith(LIFECYCLE))
            yield number, users, engine.pending_timers, engine.clock_ms

    def learners(self) -> Iterator[tuple[int, str, Learner]]:
        """``(partition, model, learner)`` for every online model of the partitions owned now."""
        for number in sorted(self._partitions):
            for model, learner in sorted(self._partitions[number].engine.population.models.items()):
                yield number, model, learner

    def outcomes(self) -> dict[str, RuleOutcomes]:
        """Per rule, sends, ghost sends and conversions over the partitions this worker owns."""
        return total(part.engine.population.outcomes for part in self._partitions.values())

    def assign(self, partitions: Iterable[int], *, wall_s: float) -> None:
        """Own exactly these partitions: drop the others, restore timers of the new ones."""
        wanted = set(partitions)
        for number in list(self._partitions):
            if number not in wanted:
                del self._partitions[number]
                self._table.disown(number)
                self._populations.disown(number)
                try:
                    self._metrics.partition_clock.remove(str(number))
                except KeyError:
                    pass  # the partition never had an event
                for key in [key for key in self._seen if key[1] == number]:
                    del self._seen[key]
        for number in wanted - self._partitions.keys():
            self._table.own(number)  # recovered from the changelog: the table is the truth
            self._populations.own(number)
            self._partitions[number] = self._new_partition(number, wall_s)
        self._count_waiting()

    def take(self, batch: Iterable[Incoming], *, wall_s: float) -> Outcome:
        outcome = Outcome()
        touched: set[int] = set()
        taken: Counter[str] = Counter()
        for partition, message in batch:
            taken[message.topic] += 1
            self._seen[(message.topic, partition)] = message.offset
            part = self._partition(partition, wall_s)
            part.runner.push(message)
            part.anchor_wall_s = part.quiet_seen_wall_s = wall_s
            part.quiet_waited_s = 0.0
            touched.add(partition)
        for topic, count in taken.items():  # once per topic: a metric's lock costs a microsecond per increment
            self._event_counters[topic].inc(count)
        for number in touched:
            part = self._partitions[number]
            self._release(part, outcome, wall_s)
            if len(part.sync) > MAX_HELD_EVENTS:  # what synchronization still holds is too much
                log.warning("partition %d holds %s events, past %d: releasing the earliest", number, part.sync.held(), MAX_HELD_EVENTS)
                forced = [part.sync.pop_earliest() for _ in range(len(part.sync) - MAX_HELD_EVENTS)]
                self._metrics.sync_forced.labels("lookahead").inc(len(forced))
                self._apply(part, forced, outcome, wall_s)
        self._count_waiting()
        self._collect_populations(outcome)
        return outcome

    def tick(self, *, wall_s: float) -> Outcome:
        """Move quiet partitions' clocks with the wall clock, and release at the wall clock's pace
        what stalled topics hold back."""
        outcome = Outcome()
        for part in self._partitions.values():
            part.users.collect_into(outcome)
            if part.sync:
                self._release(part, outcome, wall_s)
            if part.sync or part.anchor_event_ms is None or self._waiting_for_data(part, wall_s):
                continue
            idle_s = wall_s - part.anchor_wall_s
            if idle_s < self._idle_advance_s:
                continue
            outputs = part.engine.advance(part.anchor_event_ms + round(idle_s * 1000))
            self._emit(part, outputs, outcome, wall_s)
        self._count_waiting()
        self._collect_populations(outcome)
        return outcome

    def _waiting_for_data(self, part: _Partition, wall_s: float) -> bool:
        """Whether a quiet partition is only waiting for its next fetch: a topic of it has data
        not yet read. Then its clock must not follow the wall clock: a worker catching up can go a
        second or more between one partition's fetches, and moving its clock fired the timers that
        the events still unread would have cancelled. Data that does not come for MAX_SYNC_WAIT_S
        of running time is given up on, as a stall is, so the clock moves on."""
        number = part.number
        seen = self._seen
        stalled = [topic for topic in self._topics if self._has_unread(topic, number, seen.get((topic, number)))]
        if not stalled:
            return False
        part.quiet_waited_s += min(max(wall_s - part.quiet_seen_wall_s, 0.0), MAX_WAIT_STEP_S)
        part.quiet_seen_wall_s = wall_s
        if part.quiet_waited_s < MAX_SYNC_WAIT_S:
            return True
        if not part.stall_reported:
            part.stall_reported = True
            for topic in stalled:
                self._metrics.sync_stalls.labels(topic).inc()
            log.warning("partition %d: %s has unread data but delivered none for %.1f s; its clock follows the wall clock", number, ", ".join(stalled), part.quiet_waited_s)
        return False

    def _release(self, part: _Partition, outcome: Outcome, wall_s: float) -> None:
        """Release what timestamp synchronization allows; after a stall of MAX_SYNC_WAIT_S of
        running time, also what the wall clock allows (see MAX_SYNC_WAIT_S), and no more."""
        number = part.number
        unread = lambda topic: self._has_unread(topic, number, self._seen.get((topic, number)))  # noqa: E731
        released = part.sync.release(unread)
        if released:
            self._apply(part, released, outcome, wall_s)
            self._end_stall(part)
        if not part.sync:
            return
        if not part.stalled:
            clock_ms = part.engine.clock_ms
            part.stalled = True
            part.stall_base_ms = clock_ms if clock_ms is not None else part.sync.earliest_ms() or 0
            part.stall_waited_s = 0.0
            part.stall_seen_wall_s = wall_s
            return
        part.stall_waited_s += min(max(wall_s - part.stall_seen_wall_s, 0.0), MAX_WAIT_STEP_S)
        part.stall_seen_wall_s = wall_s
        waited_s = part.stall_waited_s
        if waited_s < MAX_SYNC_WAIT_S:
            return
        if not part.stall_reported:
            part.stall_reported = True
            topics = part.sync.stalled_topics(unread)
            for topic in topics:
                self._metrics.sync_stalls.labels(topic).inc()
            log.warning(
                "partition %d: %s has unread data but delivered none for %.1f s; releasing held events at the wall clock's pace",
                number,
                ", ".join(topics) or "a topic",
                waited_s,
            )
        forced = part.sync.release(unread, until_ms=part.stall_base_ms + round(waited_s * 1000))
        part.quiet_waited_s = waited_s  # given up on already: once nothing is held, the clock may move on
        if forced:
            self._metrics.sync_forced.labels("stall").inc(len(forced))
            self._apply(part, forced, outcome, wall_s)

    def _end_stall(self, part: _Partition) -> None:
        if part.stall_reported:
            log.info("partition %d: held events flow again after a stall of %.1f s", part.number, part.stall_waited_s)
        part.stalled = False
        part.stall_reported = False

    def user_writes(self, outcome: Outcome) -> Iterator[tuple[int, str, bytes | None]]:
        """``(partition, user, record)`` for the users table changelog: every changed user once,
        every erased one as a tombstone (None).

        Records are bounded by construction (capped collections, bounded ids); one over
        MAX_USER_RECORD_BYTES anyway would be refused by the producer and crash the worker on
        every restart, so it is counted and logged instead, and that user's last good record
        stays the one a restart restores."""
        for user_id, record in outcome.changed.items():
            value = encode_record(record)
            if self._within(len(value) + len(user_id.encode()), MAX_USER_RECORD_BYTES, "user_record", record.partition):
                yield record.partition, user_id, value
        for user_id, partition in outcome.erased.items():
            yield partition, user_id, None

    def population_writes(self, outcome: Outcome) -> Iterator[tuple[int, bytes]]:
        """``(partition, record)`` for the population table changelog, bounded as ``user_writes``."""
        for partition, population in outcome.populations.items():
            value = encode_population(population)
            if self._within(len(value), MAX_POPULATION_RECORD_BYTES, "population_record", partition):
                yield partition, value

    def _within(self, size: int, bound: int, what: str, partition: int) -> bool:
        if size <= bound:
            return True
        self._metrics.oversized.labels(what).inc()
        log.error("partition %d: a %s of %d bytes is over its bound of %d and was not written (a bug: please report it)", partition, what, size, bound)
        return False

    def flow(self) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
        """The topic partitions to keep paused, and those to resume (see PAUSE_ABOVE), as data for
        the caller to carry out on its consumer. Every pause is asked for again each time: a
        rebalance may have resumed what this pipeline paused."""
        paused: set[tuple[str, int]] = set()
        for number, part in self._partitions.items():
            for topic, held in part.sync.held().items():
                key = (topic, number)
                if held > PAUSE_ABOVE or (key in self._paused and held >= RESUME_BELOW):
                    paused.add(key)
        resume = self._paused - paused
        self._paused = paused
        return paused, resume

    def _collect_populations(self, outcome: Outcome) -> None:
        for number, part in self._partitions.items():
            population = part.engine.population
            if population.changed:
                population.changed = False
                self._populations[str(number)] = population
                outcome.populations[number] = population
                _log_model_resets(number, population)

    def _count_waiting(self) -> None:
        self._metrics.waiting_events.set(sum(len(part.sync) for part in self._partitions.values()))

    def _apply(self, part: _Partition, released: list[Held], outcome: Outcome, wall_s: float) -> None:
        if not released:
            return
        part.users.collect_into(outcome)
        number = part.number
        outcome.done.extend((number, message) for message, _ in released)
        outputs = part.runner.apply(released, seen=self._already_applied, applied=self._applied)
        part.anchor_event_ms = part.engine.clock_ms
        self._emit(part, outputs, outcome, wall_s)

    def _applied(self, message: Message, event: Event) -> None:
        """Remember the offset in the user's record, so a redelivery of it is recognised."""
        if isinstance(event, Erasure):
            self._metrics.erasures.inc()
            return
        record = self._table.get(event.user_id)
        if record is not None:  # None: an engagement about a user not held, which the engine dropped
            record.offsets[message.topic] = message.offset

    def _already_applied(self, message: Message, event: Event) -> bool:
        record = self._table.get(event.user_id)
        if record is None or not record.already_applied(message.topic, message.offset):
            return False
        self._metrics.duplicates.inc()
        return True

    def _emit(self, part: _Partition, outputs: Sequence[Output | DeadLetter], outcome: Outcome, wall_s: float) -> None:
        if part.engine.clock_ms is not None:
            self._metrics.partition_clock.labels(str(part.number)).set(part.engine.clock_ms / 1000)
        emitted_at_ms = int(wall_s * 1000)
        metrics = self._metrics
        for output in outputs:
            if isinstance(output, Trigger):
                metrics.triggers.labels(output.rule, output.channel, output.variant or "").inc()
                metrics.recent_triggers.add(output.ts_ms, output.rule, output.user_id, output.channel)
            elif isinstance(output, Suppression):
                metrics.suppressions.labels(output.trigger.rule, output.reason.value, output.trigger.variant or "").inc()
            elif isinstance(output, Conversion):
                metrics.conversions.labels(output.rule, output.group.value, output.variant or "", "true" if output.clicked else "false").inc()
            elif isinstance(output, Response):
                _count_response(metrics, output)
                continue  # counted, never published
            elif isinstance(output, ErasureDone):
                pass  # counted as applied (nudge_erasures_total) when its event is
            else:
                metrics.dead_letters.labels(output.reason).inc()
            topic, key, value = encode_output(output, emitted_at_ms=emitted_at_ms)
            if self._within(len(value) + len(key or b""), MAX_OUTPUT_BYTES, topic, part.number):
                outcome.outputs.append(Outgoing(topic, part.number, key, value))

    def _partition(self, number: int, wall_s: float) -> _Partition:
        part = self._partitions.get(number)
        if part is None:
            part = self._partitions[number] = self._new_partition(number, wall_s)
        return part

    def _new_partition(self, number: int, wall_s: float) -> _Partition:
        population = self._populations.get(str(number)) or Population()
        _log_model_resets(number, population)
        return _Partition(
            number=number,
            table=self._table,
            population=population,
            book=self._book,
            profile_config=self._profile_config,
            topics=self._topics,
            max_future_skew_ms=self._max_future_skew_ms,
            wall_s=wall_s,
        )


def _count_response(metrics: Metrics, response: Response) -> None:
    labels = (response.rule, response.channel, response.variant or "")
    metrics.engagements.labels(*labels, response.type).inc()
    if response.type == EngagementType.OPENED.value:
        metrics.time_to_open.labels(*labels).observe(max(0, response.ts_ms - response.trigger_ts_ms) / 1000)


def _log_model_resets(partition: int, population: Population) -> None:
    """One line for each model that starts again from zero (another River version stored it, or
    the rules file names another model now), never a crash."""
    for model, learner in population.models.items():
        if learner.reset_reason is not None:
            log.warning("partition %d: model %s: %s", partition, model, learner.reset_reason)
            learner.reset_reason = None
