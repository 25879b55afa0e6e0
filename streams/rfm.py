"""RFM: recency, frequency and monetary value, each scored 1 to 5 against the population.

The quintile boundaries come from River's streaming quantile estimator (P²), one per boundary
and dimension, so they cost O(1) per purchase and a few hundred bytes per partition. They run
over every purchase as it happens and are rebuilt from the partition's actual customers on the
daily sweep, which keeps repeat buyers from weighing more than once and forgets erased users.

Recency is scored on the time of the last purchase rather than on "days since": ranking users
by it gives the same order at any moment, so a score does not go stale as the clock moves.
"""

from __future__ import annotations

import base64
import pickle
from typing import NamedTuple

from river import stats

QUINTILES = (0.2, 0.4, 0.6, 0.8)
# Below this many customers there is no population to rank against: with a handful of values
# P² returns order statistics (at 5, the 0.8 quantile is the maximum, so nobody could score 5).
MIN_CUSTOMERS = 20


class RfmScores(NamedTuple):
    recency: int
    frequency: int
    monetary: int


class RfmBoundaries(NamedTuple):
    recency: tuple[float, ...]
    frequency: tuple[float, ...]
    monetary: tuple[float, ...]


class RfmQuantiles:
    """The population's quintile boundaries of last purchase time, order count and spend."""

    __slots__ = ("customers", "_estimators", "_boundaries")

    def __init__(self) -> None:
        self.customers = 0  # observations so far (purchases, or customers since the last rebuild)
        self._estimators = tuple(tuple(stats.Quantile(q) for q in QUINTILES) for _ in range(3))
        self._boundaries: RfmBoundaries | None = None

    def observe(self, *, last_purchase_ms: int, orders: int, spend: float) -> None:
        for estimators, value in zip(self._estimators, (last_purchase_ms, orders, spend)):
            for estimator in estimators:
                estimator.update(value)
        self.customers += 1
        self._boundaries = None

    def boundaries(self) -> RfmBoundaries | None:
        if self.customers < MIN_CUSTOMERS:
            return None
        if self._boundaries is None:
            self._boundaries = RfmBoundaries(*(tuple(_estimate(e) for e in estimators) for estimators in self._estimators))
        return self._boundaries

    def to_text(self) -> str:
        """River estimators persist by pickle (River's documented way); the changelog is Nudge's own."""
        return base64.b64encode(pickle.dumps((self.customers, self._estimators))).decode("ascii")

    @classmethod
    def from_text(cls, text: str) -> RfmQuantiles:
        quantiles = cls()
        quantiles.customers, quantiles._estimators = pickle.loads(base64.b64decode(text))
        return quantiles


def _estimate(estimator: stats.Quantile) -> float:
    value = estimator.get()
    assert value is not None  # only None before a first value, and boundaries wait for MIN_CUSTOMERS
    return value


def score(value: float, bounds: tuple[float, ...]) -> int:
    """1 plus the number of boundaries ``value`` is strictly above: ties with a boundary score low.

    >>> score(1, (1.0, 1.0, 1.0, 2.0)), score(2, (1.0, 1.0, 1.0, 2.0)), score(9, (1.0, 1.0, 1.0, 2.0))
    (1, 4, 5)
    """
    result = 1
    for bound in bounds:
        if value > bound:
            result += 1
    return result


def rfm_scores(*, last_purchase_ms: int, orders: int, spend: float, bounds: RfmBoundaries) -> RfmScores:
    return RfmScores(
        score(last_purchase_ms, bounds.recency),
        score(orders, bounds.frequency),
        score(spend, bounds.monetary),
    )


def rfm_segment(scores: RfmScores) -> str:
    """The segment marketers name, from recency and frequency (monetary refines the score only).

    >>> rfm_segment(RfmScores(5, 5, 3)), rfm_segment(RfmScores(5, 1, 1)), rfm_segment(RfmScores(1, 4, 5))
    ('champions', 'new', 'at_risk')
    """
    recent, frequent = scores.recency, scores.frequency
    if recent >= 4 and frequent >= 4:
        return "champions"
    if recent >= 3 and frequent >= 3:
        return "loyal"
    if recent >= 4:
        return "new"
    if recent == 3:
        return "potential"
    return "at_risk" if frequent >= 3 else "hibernating"


SEGMENTS = ("champions", "loyal", "new", "potential", "at_risk", "hibernating")
