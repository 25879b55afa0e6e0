"""Uplift per rule: how much more often the treated convert than the held out, and how sure that is.

Each partition counts, per rule, the sends and ghost sends (see streams/rules/guardrails.py) and
the conversions of each group, in its changelogged population; any number of partitions add up.
The estimate is the difference of the two conversion rates with a 95 % interval by Newcombe's
hybrid score method (his method 10): it stays inside [-1, 1] and keeps its coverage with a
handful of conversions, where the textbook Wald interval is too narrow and can be empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

Z_95 = 1.959963984540054  # the standard normal's 97.5 % quantile: a two-sided 95 % interval
MAX_OUTCOME_RULES = 256  # rules a partition counts; a rule book is a few dozen, renames included


@dataclass(slots=True)
class RuleOutcomes:
    """One rule's sends and conversions, treated and held out (the held out are ghost sends)."""

    treated: int = 0
    treated_converted: int = 0
    holdout: int = 0
    holdout_converted: int = 0

    # Written out, not left to @dataclass, for a compiled __init__: see schemas/events.py.
    def __init__(self, treated: int = 0, treated_converted: int = 0, holdout: int = 0, holdout_converted: int = 0) -> None:
        self.treated = treated
        self.treated_converted = treated_converted
        self.holdout = holdout
        self.holdout_converted = holdout_converted

    def add(self, other: RuleOutcomes) -> None:
        self.treated += other.treated
        self.treated_converted += other.treated_converted
        self.holdout += other.holdout
        self.holdout_converted += other.holdout_converted

    def to_list(self) -> list[int]:
        return [self.treated, self.treated_converted, self.holdout, self.holdout_converted]

    @classmethod
    def from_list(cls, data: list[Any]) -> RuleOutcomes:
        treated, treated_converted, holdout, holdout_converted = data
        return cls(int(treated), int(treated_converted), int(holdout), int(holdout_converted))


def total(counts: Iterable[dict[str, RuleOutcomes]]) -> dict[str, RuleOutcomes]:
    """Per rule, the sum over partitions (or workers)."""
    summed: dict[str, RuleOutcomes] = {}
    for by_rule in counts:
        for rule, outcomes in by_rule.items():
            summed.setdefault(rule, RuleOutcomes()).add(outcomes)
    return summed


@dataclass(frozen=True, slots=True)
class Uplift:
    """A rule's uplift with its sample sizes; rates and bounds are None where a group is empty."""

    rule: str
    outcomes: RuleOutcomes
    treated_rate: float | None
    holdout_rate: float | None
    uplift: float | None  # treated rate minus held-out rate, in conversions per send
    low: float | None  # the 95 % interval
    high: float | None

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero: the rule changes behaviour, one way or the other."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def to_dict(self) -> dict[str, Any]:
        counts = self.outcomes
        return {
            "rule": self.rule,
            "treated": {"sent": counts.treated, "converted": counts.treated_converted, "rate": self.treated_rate},
            "holdout": {"sent": counts.holdout, "converted": counts.holdout_converted, "rate": self.holdout_rate},
            "uplift": self.uplift,
            "ci95": None if self.low is None else [self.low, self.high],
            "significant": self.significant,
        }


def wilson(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval for a proportion.

    >>> [round(bound, 4) for bound in wilson(0, 10)]
    [0.0, 0.2775]
    """
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    # Exactly 0 with no success and 1 with no failure, which rounding would miss by an ulp.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def estimate(rule: str, outcomes: RuleOutcomes, z: float = Z_95) -> Uplift:
    """The difference of conversion rates, treated minus held out, with Newcombe's interval.

    >>> u = estimate("cart", RuleOutcomes(treated=1000, treated_converted=120, holdout=1000, holdout_converted=80))
    >>> round(u.uplift, 3), round(u.low, 4), round(u.high, 4), u.significant
    (0.04, 0.0137, 0.0664, True)
    """
    n1, c1, n0, c0 = outcomes.treated, outcomes.treated_converted, outcomes.holdout, outcomes.holdout_converted
    p1 = c1 / n1 if n1 else None
    p0 = c0 / n0 if n0 else None
    if p1 is None or p0 is None:
        return Uplift(rule, outcomes, p1, p0, None, None, None)
    l1, u1 = wilson(c1, n1, z)
    l0, u0 = wilson(c0, n0, z)
    d = p1 - p0
    low = d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return Uplift(rule, outcomes, p1, p0, d, low, high)
