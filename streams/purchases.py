"""What a user bought when, per category: the memory replenishment and cross-sell read.

A profile keeps, for at most ``MAX_CATEGORIES`` categories (the fewest restocks go first, then
the one bought longest ago), the times of the user's latest
``MAX_TIMES`` purchases in each. Purchases in a category less than ``SAME_RUN_MS`` apart are one
restock (a second order for something forgotten, a split delivery), so the gaps between the kept
times are the user's real intervals: a day's double order would otherwise halve their median.
"""

from __future__ import annotations

from streams.config import DAY_MS

MAX_CATEGORIES = 16  # categories remembered per user; the one bought longest ago goes first
MAX_TIMES = 6  # purchase times kept per category: five gaps
SAME_RUN_MS = DAY_MS

History = dict[str, list[int]]
"""category -> purchase times, oldest first."""


def record(history: History, category: str, ts_ms: int) -> int | None:
    """Note a purchase in ``category`` at ``ts_ms``; the gap it closes, when it is the user's
    newest purchase there and a new restock, else None (a late or same-run purchase closes none).

    >>> history = {}
    >>> record(history, "coffee", 0), record(history, "coffee", 3_600_000), record(history, "coffee", 7 * 86_400_000)
    (None, None, 601200000)
    >>> history
    {'coffee': [3600000, 604800000]}
    """
    times = history.get(category)
    if times is None:
        if len(history) >= MAX_CATEGORIES:
            # The fewest restocks first, then the one bought longest ago: a consumable bought on
            # a rhythm outlives a crowd of one-off categories bought since its last restock.
            del history[min(history, key=lambda name: (len(history[name]), history[name][-1], name))]
        history[category] = [ts_ms]
        return None
    latest = times[-1]
    if ts_ms >= latest:
        if ts_ms - latest < SAME_RUN_MS:
            times[-1] = ts_ms  # the same restock: its latest order marks it
            return None
        times.append(ts_ms)
        del times[:-MAX_TIMES]
        return ts_ms - latest
    _insert_late(times, ts_ms)
    return None


def _insert_late(times: list[int], ts_ms: int) -> None:
    """A purchase older than the newest: merged into a restock it falls within, else kept in order."""
    for index, when in enumerate(times):
        if abs(ts_ms - when) < SAME_RUN_MS:
            return
        if ts_ms < when:
            if index > 0 or len(times) < MAX_TIMES:
                times.insert(index, ts_ms)
                del times[:-MAX_TIMES]
            return


def gaps_ms(times: list[int]) -> list[int]:
    return [later - earlier for earlier, later in zip(times, times[1:])]


def median(values: list[int]) -> int:
    """The middle value; of an even count, the lower middle one, so it is always a value seen.

    >>> median([5, 1, 3]), median([4, 1, 3, 2])
    (3, 2)
    """
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def bought_since(history: History, category: str, since_ms: int) -> bool:
    """Whether the user bought in ``category`` at ``since_ms`` or later."""
    times = history.get(category)
    return times is not None and times[-1] >= since_ms


def recent(history: History, *, before_ms: int, within_ms: int) -> list[str]:
    """The categories bought in [before_ms - within_ms, before_ms), by name."""
    return sorted(category for category, times in history.items() if any(before_ms - within_ms <= when < before_ms for when in times))
