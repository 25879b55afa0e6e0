"""Percentiles of timed samples and quantiles of Prometheus histograms."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: always a value that was measured, never an interpolation.

    >>> percentile([1, 2, 3, 4], 0.5), percentile([1, 2, 3, 4], 0.99)
    (2, 4)
    """
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


@dataclass(frozen=True, slots=True)
class HistogramQuantile:
    """A quantile as Prometheus' ``histogram_quantile`` estimates it, with the bucket it lies in:
    the bucket's edges are the real resolution, the estimate between them is an interpolation."""

    estimate: float
    lower: float
    upper: float  # infinite when the quantile lies beyond the largest finite bucket


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> HistogramQuantile:
    """The ``q``-quantile (0 < q <= 1) of cumulative bucket counts keyed by upper bound (``le``).

    >>> histogram_quantile(0.5, {0.01: 0, 0.025: 10, 0.05: 20, math.inf: 20})
    HistogramQuantile(estimate=0.025, lower=0.01, upper=0.025)
    >>> histogram_quantile(0.99, {0.01: 0, 0.025: 10, 0.05: 20, math.inf: 20}).estimate
    0.0495
    """
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        raise ValueError("the histogram holds no observations")
    rank = q * total
    lower, below = 0.0, 0.0
    for upper in bounds:
        count = buckets[upper]
        if count >= rank:
            if math.isinf(upper):
                return HistogramQuantile(lower, lower, upper)
            return HistogramQuantile(lower + (upper - lower) * (rank - below) / (count - below), lower, upper)
        lower, below = upper, count
    raise ValueError("cumulative bucket counts must end with the total (+Inf)")


def bucket_deltas(before: Mapping[float, float], after: Mapping[float, float]) -> dict[float, float]:
    """What one phase added to a cumulative histogram: its own observations only."""
    return {bound: count - before.get(bound, 0.0) for bound, count in after.items()}
