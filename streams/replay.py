"""Offline replay: a recording through the core in-process, with no broker and no wall clock.

Messages are checked as a worker checks them, an event's time against the recorded Kafka
timestamp included. They go to partitions as Kafka's default partitioner would put them, so each partition
learns the population a worker's partition would. Within a partition, topics are merged by
event time as a worker that has all of them at hand merges them (timestamp synchronization),
over a window of ``lookahead`` messages per partition; within a topic, the recording's order is
kept. At the end of input every partition's clock moves to the last event time plus the rule
book's longest delay, so every timer the recording armed has its say. The same recording gives
the same outputs, byte for byte: emission times are event times, never the wall clock.
"""

from __future__ import annotations

from typing import Sequence

from schemas.decoding import Rejection
from schemas.events import Erasure, InputTopic
from schemas.limits import DEFAULT_MAX_FUTURE_SKEW_MS
from schemas.outputs import DeadLetter, Output, Suppression
from streams.config import ProfileConfig
from streams.message import Message, Recorded
from streams.partitioning import partition_for
from streams.rules.kinds import longest_delay_ms
from streams.rules.spec import RuleBook
from streams.runner import Held, PartitionRunner
from streams.uplift import RuleOutcomes, total

__all__ = ["LOOKAHEAD", "Message", "OfflineReplay", "Recorded"]

LOOKAHEAD = 10_000  # messages held per partition while waiting for another topic to catch up


class OfflineReplay:
    """Feed messages in recording order; collect outputs (and dead letters) as they are decided.

    >>> from streams.rules.spec import NO_GUARDRAILS, AbandonedCartParams, RuleKind, RuleSpec
    >>> cart = RuleSpec("abandoned_cart", RuleKind.ABANDONED_CART, "push", AbandonedCartParams(delay_ms=60_000))
    >>> replay = OfflineReplay(RuleBook((cart,), NO_GUARDRAILS), partitions=4)
    >>> click = (b'{"event_id": "e1", "user_id": "u1", "ts": "2026-11-25T09:00:00Z", "action": "add_to_cart", '
    ...          b'"product_id": "p1", "category": "shoes", "price": 5.0}')
    >>> replay.feed(Message("clicks", b"u1", click, 0))
    []
    >>> [output.ts_ms - 1_795_597_200_000 for output in replay.finish()]
    [60000]
    """

    def __init__(
        self,
        book: RuleBook,
        *,
        partitions: int,
        profile_config: ProfileConfig | None = None,
        lookahead: int = LOOKAHEAD,
        max_future_skew_ms: int = DEFAULT_MAX_FUTURE_SKEW_MS,
    ) -> None:
        self._book = book
        self._max_future_skew_ms = max_future_skew_ms
        self._profile_config = profile_config or ProfileConfig()
        self._partitions_count = partitions
        self._lookahead = lookahead
        self._topics = [topic.value for topic in InputTopic]
        self._partitions: dict[int, PartitionRunner] = {}
        self._partition_of: dict[bytes, int] = {}  # one murmur2 per user, not per message
        self.last_event_ms: int | None = None
        self.events = 0

    def feed(self, message: Message) -> Sequence[Output | DeadLetter]:
        key = message.key or b""
        number = self._partition_of.get(key)
        if number is None:
            number = self._partition_of[key] = partition_for(key, self._partitions_count)
        runner = self._partitions.get(number)
        if runner is None:
            runner = self._partitions[number] = PartitionRunner(
                number,
                store={},
                book=self._book,
                topics=self._topics,
                profile_config=self._profile_config,
                max_future_skew_ms=self._max_future_skew_ms,
            )
        runner.push(message)
        # Any topic may still hold an earlier message further down the recording, so nothing is
        # released until the look-ahead is full; then the earliest head goes, one at a time.
        if len(runner.sync) <= self._lookahead:
            return []
        return self._apply(runner, [runner.sync.pop_earliest()])

    def finish(self) -> list[Output | DeadLetter]:
        """End of input: release what waits, then fire everything due up to the horizon."""
        outputs: list[Output | DeadLetter] = []
        for number in sorted(self._partitions):
            runner = self._partitions[number]
            outputs.extend(self._apply(runner, runner.sync.drain()))
        if self.last_event_ms is not None:
            horizon_ms = self.last_event_ms + longest_delay_ms(self._book)
            for number in sorted(self._partitions):
                outputs.extend(self._partitions[number].engine.advance(horizon_ms))
        return outputs

    def partitions(self) -> list[tuple[int, PartitionRunner]]:
        """The partitions seen so far, in order: their engines hold what each learned."""
        return sorted(self._partitions.items())

    def outcomes(self) -> dict[str, RuleOutcomes]:
        """Per rule, sends, ghost sends and conversions over every partition, as the workers count them."""
        return total(self._partitions[number].engine.population.outcomes for number in sorted(self._partitions))

    def partition_of(self, output: Output | DeadLetter) -> int:
        """The partition an output belongs to, as a worker would produce it."""
        if isinstance(output, DeadLetter):
            return output.partition
        user_id = output.trigger.user_id if isinstance(output, Suppression) else output.user_id
        return partition_for(user_id.encode(), self._partitions_count)

    def _apply(self, runner: PartitionRunner, items: list[Held]) -> Sequence[Output | DeadLetter]:
        for _, decoded in items:
            if isinstance(decoded, Rejection):
                continue
            self.events += 1
            ts_ms = decoded.ts_ms
            # An erasure is stamped when it was asked for, not when anything happened: like the
            # engine's clock, the end-of-input horizon does not follow it.
            if (self.last_event_ms is None or ts_ms > self.last_event_ms) and not isinstance(decoded, Erasure):
                self.last_event_ms = ts_ms
        return runner.apply(items)
