"""One partition's path from input messages to outputs, the same in a worker and an offline replay.

A message is decoded (its event time judged against its Kafka timestamp), held by timestamp
synchronization until it is safe to apply, then applied to the partition's engine; a rejected
one becomes a dead letter in its place. The worker (agents/pipeline.py) decides when to release
what is held from its consumer's view of unread data and the wall clock; the offline replay
(streams/replay.py) from its look-ahead. What is released is applied here, by both.
"""

from __future__ import annotations

from typing import Callable, Iterable, MutableMapping

from schemas.decoding import Rejection, decode_event
from schemas.events import Event
from schemas.limits import DEFAULT_MAX_FUTURE_SKEW_MS
from schemas.outputs import DeadLetter, Output
from streams.config import ProfileConfig
from streams.partition import PartitionEngine
from streams.population import Population
from streams.message import Message
from streams.rules.spec import RuleBook
from streams.state import UserState
from streams.synchronizer import UNTIMED, TimestampSynchronizer

Held = tuple[Message, "Event | Rejection"]
"""A message waiting in timestamp synchronization, with what decoding made of it."""


class PartitionRunner:
    """Decoding, timestamp synchronization and the engine of one partition.

    >>> from streams.rules.spec import NO_GUARDRAILS, AbandonedCartParams, RuleKind, RuleSpec
    >>> cart = RuleSpec("abandoned_cart", RuleKind.ABANDONED_CART, "push", AbandonedCartParams(delay_ms=60_000))
    >>> runner = PartitionRunner(0, store={}, book=RuleBook((cart,), NO_GUARDRAILS), topics=["clicks"])
    >>> runner.push(Message("clicks", b"u1", b"{oops", 7))
    >>> [type(output).__name__ for output in runner.apply(runner.release(lambda topic: False))]
    ['DeadLetter']
    """

    def __init__(
        self,
        number: int,
        *,
        store: MutableMapping[str, UserState],
        book: RuleBook,
        topics: list[str],
        profile_config: ProfileConfig | None = None,
        population: Population | None = None,
        max_future_skew_ms: int = DEFAULT_MAX_FUTURE_SKEW_MS,
    ) -> None:
        self.number = number
        self.engine = PartitionEngine(store=store, book=book, profile_config=profile_config, population=population)
        self.sync: TimestampSynchronizer[Held] = TimestampSynchronizer(topics)
        self._topics = frozenset(topics)
        self._first_topic = topics[0]
        self._max_future_skew_ms = max_future_skew_ms

    def push(self, message: Message) -> None:
        """Decode a message and hold it for synchronization. A message of a topic this runner
        does not know is rejected (untimed, so released at once) from the first topic's queue."""
        decoded = decode_event(message.topic, message.value, message.key, kafka_ts_ms=message.timestamp_ms, max_future_skew_ms=self._max_future_skew_ms)
        topic = message.topic if message.topic in self._topics else self._first_topic
        self.sync.push(topic, UNTIMED if isinstance(decoded, Rejection) else decoded.ts_ms, (message, decoded))

    def release(self, has_unread: Callable[[str], bool], *, until_ms: int | None = None) -> list[Held]:
        return self.sync.release(has_unread, until_ms=until_ms)

    def apply(
        self,
        items: Iterable[Held],
        *,
        seen: Callable[[Message, Event], bool] | None = None,
        applied: Callable[[Message, Event], None] | None = None,
    ) -> list[Output | DeadLetter]:
        """Apply released messages in order and return what they decided, in order.

        ``seen(message, event)`` says whether an event's effect is already in the state (a
        redelivery after a crash): then only the clock moves, to where the event would move it.
        ``applied(message, event)`` hears of each event applied, before the next is looked at.
        """
        outputs: list[Output | DeadLetter] = []
        engine = self.engine
        number = self.number
        for message, decoded in items:
            if isinstance(decoded, Rejection):
                outputs.append(DeadLetter(message.topic, number, message.offset, message.key, message.value, decoded.reason.value, decoded.detail))
            elif seen is not None and seen(message, decoded):
                outputs.extend(engine.advance(decoded.ts_ms))
            else:
                outputs.extend(engine.on_event(decoded))
                if applied is not None:
                    applied(message, decoded)
        return outputs
