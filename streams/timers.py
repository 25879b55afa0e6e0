"""Event-time timers: what a rule asked to be woken for, and the queue that wakes it."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Timer:
    """``cause`` is the id of what armed it: trigger ids derive from it, so replays agree."""

    key: str  # one pending timer per key and user, e.g. "abandoned_cart"
    rule: str
    due_ms: int
    cause: str
    held_from_ms: int | None = None  # set on a timer re-armed to wait out quiet hours: when it first came due

    @property
    def first_due_ms(self) -> int:
        return self.due_ms if self.held_from_ms is None else self.held_from_ms

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "rule": self.rule, "due_ms": self.due_ms, "cause": self.cause}
        if self.held_from_ms is not None:
            data["held_from_ms"] = self.held_from_ms
        return data


class TimerQueue:
    """Due-time order over many users' timers.

    Cancelling or re-arming does not touch the queue: an entry is checked against the user's
    stored timer when it comes due, and dropped if they differ. That keeps arming O(log n)
    and cancelling O(1) on the hot path.

    >>> queue = TimerQueue()
    >>> queue.push("u1", Timer("abandoned_cart", "abandoned_cart", 200, "e1"))
    >>> queue.push("u2", Timer("abandoned_cart", "abandoned_cart", 100, "e2"))
    >>> [user for user, _ in queue.pop_due(150)], len(queue)
    (['u2'], 1)
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str, Timer]] = []
        self._sequence = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, user_id: str, timer: Timer) -> None:
        self._sequence += 1
        heapq.heappush(self._heap, (timer.due_ms, self._sequence, user_id, timer))

    def due(self, now_ms: int) -> bool:
        """Whether anything is due: the cheap question asked on every event."""
        heap = self._heap
        return bool(heap) and heap[0][0] <= now_ms

    def pop_due(self, now_ms: int) -> list[tuple[str, Timer]]:
        due: list[tuple[str, Timer]] = []
        heap = self._heap
        while heap and heap[0][0] <= now_ms:
            _, _, user_id, timer = heapq.heappop(heap)
            due.append((user_id, timer))
        return due
