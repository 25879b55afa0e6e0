"""Timestamp synchronization of one partition's input topics (as Kafka Streams, KIP-353).

A user's click and purchase travel on different topics and can be read in any order. Releasing
them in event-time order across topics, and never past a topic that still has unread data, is
what stops a buyer getting an abandoned-cart push because ``clicks`` was read ahead of
``purchases``. Within one topic, order is offset order (the log's own), never re-sorted.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Generic, Iterable, TypeVar

Item = TypeVar("Item")

# Rejected input has no trustworthy event time; releasing it at once keeps offsets in order.
UNTIMED = -1


# Where a topic's queue is empty, its head time: later than any event time.
_NOTHING_WAITING = 1 << 62


class TimestampSynchronizer(Generic[Item]):
    """
    >>> sync = TimestampSynchronizer(["clicks", "purchases"])
    >>> sync.push("clicks", 10, "add"); sync.push("clicks", 40, "view")
    >>> sync.release(lambda topic: topic == "purchases")  # purchases has unread data: wait
    []
    >>> sync.push("purchases", 20, "buy")
    >>> sync.release(lambda topic: False)
    ['add', 'buy', 'view']
    """

    def __init__(self, topics: Iterable[str]) -> None:
        # Topic order breaks event-time ties, so equal timestamps release the same way every run.
        self._topics = list(topics)
        self._numbers = {topic: number for number, topic in enumerate(self._topics)}
        self._times: list[deque[int]] = [deque() for _ in self._topics]
        self._items: list[deque[Item]] = [deque() for _ in self._topics]
        # Each queue's head time, kept apart: choosing the earliest head then reads this short
        # list, not the head entries, which a long look-ahead has long since left out of cache.
        self._heads: list[int] = [_NOTHING_WAITING] * len(self._topics)
        self._pending = 0

    def __len__(self) -> int:
        return self._pending

    def push(self, topic: str, ts_ms: int, item: Item) -> None:
        number = self._numbers[topic]
        times = self._times[number]
        if not times:
            self._heads[number] = ts_ms
        times.append(ts_ms)
        self._items[number].append(item)
        self._pending += 1

    def release(self, has_unread: Callable[[str], bool], *, until_ms: int | None = None) -> list[Item]:
        """Items that are safe to process now, in order.

        ``has_unread(topic)`` says whether the topic holds data not yet pushed here: while it
        does and nothing of it is buffered, nothing may pass, since its next record could be the
        earliest. ``until_ms`` gives up on such a stalled topic only as far as that event time:
        earlier items pass, later ones keep waiting, so a stall never lets the clock run ahead of
        what the caller chose to allow.

        >>> sync = TimestampSynchronizer(["clicks", "purchases"])
        >>> for ts in (10, 20, 30): sync.push("clicks", ts, ts)
        >>> sync.release(lambda topic: topic == "purchases", until_ms=20), len(sync)
        ([10, 20], 1)
        """
        released: list[Item] = []
        heads = self._heads
        while self._pending:
            earliest = self._earliest()
            for number, head_ms in enumerate(heads):
                if head_ms == _NOTHING_WAITING and has_unread(self._topics[number]):
                    if until_ms is None or heads[earliest] > until_ms:
                        return released
                    break
            released.append(self._pop(earliest))
        return released

    def held(self) -> dict[str, int]:
        """Items held per topic."""
        return {topic: len(self._times[number]) for number, topic in enumerate(self._topics)}

    def stalled_topics(self, has_unread: Callable[[str], bool]) -> list[str]:
        """The topics holding the others back: unread data, none of it buffered."""
        return [topic for number, topic in enumerate(self._topics) if self._heads[number] == _NOTHING_WAITING and has_unread(topic)]

    def earliest_ms(self) -> int | None:
        """The earliest event time at the head of a queue, untimed items aside; None if there is none."""
        timed = [head_ms for head_ms in self._heads if 0 <= head_ms < _NOTHING_WAITING]
        return min(timed) if timed else None

    def pop_earliest(self) -> Item:
        """The single earliest buffered item, whatever is unread: for a bounded look-ahead."""
        if not self._pending:
            raise IndexError("pop from an empty synchronizer")
        return self._pop(self._earliest())

    def drain(self) -> list[Item]:
        """Everything buffered, in order: for the end of input."""
        return self.release(lambda topic: False)

    def _earliest(self) -> int:
        """The number of the topic whose head is earliest; the first such topic on a tie."""
        heads = self._heads
        best = 0
        best_ms = heads[0]
        for number in range(1, len(heads)):
            if heads[number] < best_ms:
                best, best_ms = number, heads[number]
        return best

    def _pop(self, number: int) -> Item:
        times = self._times[number]
        times.popleft()
        self._heads[number] = times[0] if times else _NOTHING_WAITING
        self._pending -= 1
        return self._items[number].popleft()
