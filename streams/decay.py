"""Scores that fade exponentially in event time, updated in O(1) however many keys they hold.

Every key is stored on one shared scale, relative to a reference time: a weight added at ``t``
is stored as ``weight * 2 ** ((t - ref) / half_life)`` and read at ``now`` as
``stored * 2 ** (-(now - ref) / half_life)``. Decaying one score therefore decays them all, the
order of keys never changes with time (so top-k needs no decay at all), and an update touches
one key. When the scale grows large the scores are re-based onto the latest time, rarely.
"""

from __future__ import annotations

import math
from typing import Any

# Re-base once weights are stored 2**40 times larger than at the reference, long before a
# float loses the precision that matters (and long before JSON would show silly numbers).
_REBASE_EXPONENT = 40.0


class DecayedScores:
    """Key -> exponentially decayed sum of weights, with at most ``cap`` keys.

    >>> scores = DecayedScores()
    >>> scores.add("shoes", 1.0, ts_ms=0, half_life_ms=1000, cap=10)
    >>> scores.add("books", 3.0, ts_ms=1000, half_life_ms=1000, cap=10)
    >>> scores.value("shoes", now_ms=1000, half_life_ms=1000), scores.top(1)
    (0.5, ['books'])
    """

    __slots__ = ("ref_ms", "scores")

    def __init__(self, ref_ms: int | None = None, scores: dict[str, float] | None = None) -> None:
        self.ref_ms = ref_ms
        self.scores: dict[str, float] = {} if scores is None else scores

    def __len__(self) -> int:
        return len(self.scores)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DecayedScores) and (self.ref_ms, self.scores) == (other.ref_ms, other.scores)

    def add(self, key: str, weight: float, *, ts_ms: int, half_life_ms: int, cap: int) -> None:
        """Add ``weight`` at ``ts_ms``; a new key beyond ``cap`` evicts the weakest key."""
        ref_ms = self.ref_ms
        if ref_ms is None:
            ref_ms = self.ref_ms = ts_ms
        exponent = (ts_ms - ref_ms) / half_life_ms
        if exponent > _REBASE_EXPONENT:
            self._rebase(ts_ms, half_life_ms)
            exponent = 0.0
        scores = self.scores
        current = scores.get(key)
        if current is None:
            if len(scores) >= cap:
                del scores[_weakest(scores)]
            current = 0.0
        scores[key] = current + weight * 2.0**exponent

    def value(self, key: str, *, now_ms: int, half_life_ms: int) -> float:
        stored = self.scores.get(key)
        if stored is None or self.ref_ms is None:
            return 0.0
        return stored * 2.0 ** (-(now_ms - self.ref_ms) / half_life_ms)

    def top(self, k: int) -> list[str]:
        """The ``k`` strongest keys, strongest first; ties go to the smaller key, so it is stable."""
        return [key for key, _ in sorted(self.scores.items(), key=_strongest_first)[:k]]

    def decayed(self, *, now_ms: int, half_life_ms: int) -> dict[str, float]:
        """Every key's score at ``now_ms``."""
        if self.ref_ms is None:
            return {}
        factor = 2.0 ** (-(now_ms - self.ref_ms) / half_life_ms)
        return {key: stored * factor for key, stored in self.scores.items()}

    def _rebase(self, ref_ms: int, half_life_ms: int) -> None:
        assert self.ref_ms is not None
        factor = 2.0 ** (-(ref_ms - self.ref_ms) / half_life_ms)
        self.scores = {key: stored * factor for key, stored in self.scores.items()}
        self.ref_ms = ref_ms

    def to_dict(self) -> dict[str, Any]:
        return {"ref_ms": self.ref_ms, "scores": dict(self.scores)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecayedScores:
        return cls(ref_ms=data["ref_ms"], scores=dict(data["scores"]))


def _weakest(scores: dict[str, float]) -> str:
    """Of the weakest keys, the one ``top`` would list last: the largest. One pass, since a new
    product at the cap evicts one on most views.

    >>> _weakest({"a": 1.0, "c": 0.5, "b": 0.5})
    'c'
    """
    weakest_key = ""
    weakest = math.inf
    for key, score in scores.items():
        if score < weakest or (score == weakest and key > weakest_key):
            weakest_key, weakest = key, score
    return weakest_key


def _strongest_first(item: tuple[str, float]) -> tuple[float, str]:
    return -item[1], item[0]

