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

    # Written out, not left to @dataclass, for a compiled __init__: see schemas/events.py.
    def __init__(self, key: str, rule: str, due_ms: int, cause: str, held_from_ms: int | None = None) -> None:
        self.key = key
        self.rule = rule
        self.due_ms = due_ms
        self.cause = cause
        self.held_from_ms = held_from_ms

    @property
    def first_due_ms(self) -> int:
        return self.due_ms if self.held_from_ms is None else self.held_from_ms

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "rule": self.rule, "due_ms": self.due_ms, "cause": self.cause}
        if self.held_from_ms is not None:
            data["held_from_ms"] = self.held_from_ms
        return data


Entry = tuple[int, int, str, str]
"""A queue entry: ``(due_ms, first_due_ms, user_id, key)``, compared in that order."""


class TimerQueue:
    """Due-time order over many users' timers, one queue entry per user and key at most.

    Entries name a user and a key, not a timer: when one comes due, the caller looks up the
    timer the user has pending under that key now. Cancelling therefore never touches the
    queue, and re-arming a key for later (a view pushing an abandoned-interest timer back, a
    cart change pushing the reminder back: most arms) leaves the queued entry as it is; when it
    comes due early, the caller queues the key again for its real time (``arm``). So arming is
    O(1) as often as not, and the heap holds about one entry per pending timer instead of one
    per arm, which kept it several times larger and slower to pop.

    Timers due at the same moment fire in the order they first came due (triggers held through
    quiet hours are released in the order they were held), then by user id and key: the order
    depends on nothing but the timers, so a restarted worker fires them as an uninterrupted one
    would.

    >>> queue = TimerQueue()
    >>> queue.arm("u1", Timer("abandoned_cart", "abandoned_cart", 200, "e1"))
    >>> queue.arm("u2", Timer("abandoned_cart", "abandoned_cart", 100, "e2"))
    >>> queue.arm("u2", Timer("abandoned_cart", "abandoned_cart", 180, "e3"))  # later: the entry at 100 covers it
    >>> queue.pop(150), queue.pop(150), len(queue)
    ((100, 100, 'u2', 'abandoned_cart'), None, 1)
    """

    def __init__(self) -> None:
        self._heap: list[Entry] = []
        self._queued: dict[tuple[str, str], Entry] = {}  # (user, key) -> its live entry

    def __len__(self) -> int:
        return len(self._queued)

    def arm(self, user_id: str, timer: Timer) -> None:
        """Make sure the queue wakes the caller for ``timer`` at its due time or before."""
        slot = (user_id, timer.key)
        queued = self._queued.get(slot)
        due_ms = timer.due_ms
        if queued is None or due_ms < queued[0] or (due_ms == queued[0] and timer.first_due_ms < queued[1]):
            entry = self._queued[slot] = (due_ms, timer.first_due_ms, user_id, timer.key)
            heapq.heappush(self._heap, entry)

    def due(self, now_ms: int) -> bool:
        """Whether anything is due: the cheap question asked on every event."""
        heap = self._heap
        return bool(heap) and heap[0][0] <= now_ms

    def pop(self, now_ms: int) -> Entry | None:
        """The earliest live entry due at or before ``now_ms``: ``(due_ms, first_due_ms, user_id, key)``.

        The caller fires the user's timer under that key if it is the one queued, else arms it again.
        """
        heap = self._heap
        queued = self._queued
        while heap and heap[0][0] <= now_ms:
            entry = heapq.heappop(heap)
            slot = (entry[2], entry[3])
            # Equal, not identical: compiled, an entry is a C struct boxed afresh on each read. An
            # equal stale entry can lie in the heap only beside its live twin, and one of them fires.
            if queued.get(slot) == entry:
                del queued[slot]
                return entry
            # else superseded: the key was queued again, for earlier, since
        return None
