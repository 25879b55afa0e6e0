"""The core in-process, on one core: what a worker's CPU does per event, without Kafka or Faust.

First the profile update alone, on events decoded beforehand: the cost of keeping a live
profile (RFM, interests, rhythm, sessions, lifecycle, consent) per event; then the same with
every default rule and guardrail evaluated, as the partition engine does. Then four stages,
each including the one before: decoding alone; decoding plus one partition engine
(profile update, rules, timers); the worker's whole Faust-free step, ``Pipeline.take`` (adds
timestamp synchronization over four partitions, metrics and trigger encoding); and that step
followed by encoding every changed user for the table changelog, as the Faust glue does. Their
differences show where a worker's CPU goes before the broker and Faust add their share.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

from agents.metrics import Metrics
from agents.pipeline import Incoming, Pipeline
from streams.message import Message
from agents.tables import MemoryTable
from agents.records import UserRecord, encode_record
from agents.topics import TRIGGERS
from bench.stats import percentile
from bench.workload import WireMessage
from schemas.decoding import Rejection, decode_event
from schemas.events import Erasure, Event, InputTopic
from streams.config import ProfileConfig
from streams.rules.loading import default_rulebook
from streams.rules.spec import RuleKind
from streams.partition import PartitionEngine
from streams.partitioning import partition_for
from streams.population import Population
from streams.profile import Profile, new_profile, update_profile

BATCH_SIZE = 1000  # the worker's default NUDGE_BATCH_SIZE
PARTITIONS = 4  # as in the end-to-end benchmark, so the pipeline keeps the same four engines
# The worker's default NUDGE_IDLE_ADVANCE_MS; batches here come far faster, so it never applies.
IDLE_ADVANCE_MS = 1000

PER_EVENT = "each event timed (perf_counter_ns), separate pass"
PER_BATCH = f"each batch timed, divided by {BATCH_SIZE}"


@dataclass(frozen=True, slots=True)
class StageResult:
    name: str
    events_per_s: float
    p50_us: float
    p99_us: float
    p999_us: float
    latency_method: str


@dataclass(frozen=True, slots=True)
class CoreResult:
    events: int
    triggers: int  # emitted by Pipeline.take over the whole stream: proof that timers fired
    stages: list[StageResult]


def run_core(messages: list[WireMessage]) -> CoreResult:
    """Time every stage over the same pre-serialized messages."""
    batches = _incoming_batches(messages)
    # Everything built so far lives for the whole run; freezing it keeps the collector from
    # rescanning it on every pass, a cost a worker (which holds no such backlog) never pays.
    gc.collect()
    gc.freeze()
    try:
        events = [_valid(decode_event(m.topic, m.value, m.key)) for m in messages]
        profile = _per_event_stage("profile update alone (events decoded beforehand)", _profile_step, events)
        rules = _per_event_stage("profile + all default rules and guardrails (events decoded beforehand)", _rules_step, events)
        older = _per_event_stage("  the same without cross_sell and replenishment", _rules_step_without_journeys, events)
        decode = _per_event_stage("(a) decode", _decode_step, messages)
        engine = _per_event_stage("(b) decode + PartitionEngine.on_event", _engine_step, messages)
        pipeline, triggers = _pipeline_stage(
            f"(c) Pipeline.take, batches of {BATCH_SIZE}", batches, encode_changelog=False
        )
        changelog, _ = _pipeline_stage("(d) (c) + changelog record encoding", batches, encode_changelog=True)
    finally:
        gc.unfreeze()
    return CoreResult(events=len(messages), triggers=triggers, stages=[profile, rules, older, decode, engine, pipeline, changelog])


Step = Callable[[Any], object]


def _profile_step() -> Step:
    """update_profile over one population, as for a single partition; erasures drop the profile."""
    profiles: dict[str, Profile] = {}
    config = ProfileConfig()
    population = Population()

    def step(event: Event) -> object:
        if isinstance(event, Erasure):
            return profiles.pop(event.user_id, None)
        profile = profiles.get(event.user_id)
        if profile is None:
            profile = profiles[event.user_id] = new_profile(event)
        update_profile(profile, event, config=config, population=population)
        return profile

    return step


def _rules_step() -> Step:
    """PartitionEngine.on_event with the shipped rule book: rule evaluation as a worker does it."""
    engine = PartitionEngine(store={}, book=default_rulebook())
    return engine.on_event


def _rules_step_without_journeys() -> Step:
    """The same, without the two kinds the journeys brought: what they cost, side by side in one run."""
    book = default_rulebook()
    kept = tuple(rule for rule in book.rules if rule.kind not in (RuleKind.CROSS_SELL, RuleKind.REPLENISHMENT))
    engine = PartitionEngine(store={}, book=replace(book, rules=kept))
    return engine.on_event


def _decode_step() -> Step:
    def step(message: WireMessage) -> object:
        return decode_event(message.topic, message.value, message.key)

    return step


def _engine_step() -> Step:
    """A fresh engine per pass, so both passes do the same work on the same growing state."""
    engine = PartitionEngine(store={}, book=default_rulebook())

    def step(message: WireMessage) -> object:
        return engine.on_event(_valid(decode_event(message.topic, message.value, message.key)))

    return step


def _valid(decoded: Event | Rejection) -> Event:
    if isinstance(decoded, Rejection):
        raise ValueError(f"the benchmark stream holds an invalid event: {decoded.detail}")
    return decoded


def _per_event_stage(name: str, make_step: Callable[[], Step], messages: list[Any]) -> StageResult:
    """Throughput from one untimed-per-event pass; latency from a second pass timing each event,
    since two clock reads per event would otherwise weigh on the throughput figure."""
    step = make_step()
    started = time.perf_counter()
    for message in messages:
        step(message)
    elapsed_s = time.perf_counter() - started

    step = make_step()
    clock = time.perf_counter_ns
    latencies_ns: list[int] = []
    record = latencies_ns.append
    for message in messages:
        before = clock()
        step(message)
        record(clock() - before)
    return _stage(name, len(messages) / elapsed_s, [ns / 1000 for ns in latencies_ns], PER_EVENT)


def _pipeline_stage(
    name: str, batches: list[list[Incoming]], *, encode_changelog: bool
) -> tuple[StageResult, int]:
    """The worker's per-batch step with a plain dict as its table; no topic ever has unread data,
    as for a worker whose consumer has read everything there is. Also returns the number of
    triggers emitted, the proof that timers really fired during the run."""
    table: dict[str, UserRecord] = {}
    pipeline = Pipeline(
        table=MemoryTable(table, partition_of=lambda user_id, record: record.partition),
        populations=MemoryTable({}, partition_of=lambda key, population: int(key)),
        book=default_rulebook(),
        profile_config=ProfileConfig(),
        metrics=Metrics(),
        has_unread=lambda topic, partition, last_seen: False,
        idle_advance_ms=IDLE_ADVANCE_MS,
        input_topics=[topic.value for topic in InputTopic],
    )
    clock = time.perf_counter
    per_event_us: list[float] = []
    events = triggers = 0
    total_s = 0.0
    for batch in batches:
        before = clock()
        outcome = pipeline.take(batch, wall_s=time.time())
        if encode_changelog:
            for record in outcome.changed.values():
                encode_record(record)
        batch_s = clock() - before
        total_s += batch_s
        events += len(batch)
        per_event_us.append(batch_s * 1e6 / len(batch))
        triggers += sum(1 for out in outcome.outputs if out.topic == TRIGGERS)
    return _stage(name, events / total_s, per_event_us, PER_BATCH), triggers


def _stage(name: str, events_per_s: float, latencies_us: Iterable[float], method: str) -> StageResult:
    ordered = sorted(latencies_us)
    return StageResult(
        name=name,
        events_per_s=events_per_s,
        p50_us=percentile(ordered, 0.50),
        p99_us=percentile(ordered, 0.99),
        p999_us=percentile(ordered, 0.999),
        latency_method=method,
    )


def _incoming_batches(messages: list[WireMessage]) -> list[list[Incoming]]:
    """Messages as the worker's consumer hands them over: partitioned by key, offsets per
    topic partition, in batches of the worker's size."""
    next_offset: dict[tuple[str, int], int] = {}
    incoming = []
    for message in messages:
        partition = partition_for(message.key, PARTITIONS)
        offset = next_offset.get((message.topic, partition), 0)
        next_offset[(message.topic, partition)] = offset + 1
        incoming.append((partition, Message(message.topic, message.key, message.value, offset)))
    return [incoming[start : start + BATCH_SIZE] for start in range(0, len(incoming), BATCH_SIZE)]
