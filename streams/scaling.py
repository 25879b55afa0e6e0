"""River's ``StandardScaler``, computed in the compiled core.

The online models scale their features as River's ``preprocessing.StandardScaler`` does: a
running mean and variance per feature, updated before the classifier learns, and applied when it
predicts. River's is pure Python over a dict per call, and profiled it was half of the models'
time (11 µs to scale a snapshot, 19 µs to learn one, on 22 features). This is the same arithmetic,
in the same order, on the fixed feature vectors Nudge builds, so it gives the same numbers
(tests/unit/test_models.py holds it to River's, bit for bit), at a fraction of the cost.
"""

from __future__ import annotations

from typing import Any


class RunningScaler:
    """Per feature: how many values were learned, their running mean and variance."""

    def __init__(self, names: list[str] | None = None, means: list[float] | None = None, variances: list[float] | None = None, count: int = 0) -> None:
        self.names: list[str] = [] if names is None else names  # the features, in the order snapshots list them
        self.means: list[float] = [] if means is None else means
        self.variances: list[float] = [] if variances is None else variances
        self.count = count  # snapshots learned; every snapshot of one learner has the same features

    def learn(self, x: dict[str, float]) -> None:
        """River's ``StandardScaler.learn_one``: Welford's update, feature by feature."""
        if not self.names:
            self.names = list(x)
            self.means = [0.0] * len(x)
            self.variances = [0.0] * len(x)
        elif len(x) != len(self.names):
            raise ValueError(f"a scaler of {len(self.names)} features was given {len(x)}")
        means, variances = self.means, self.variances
        self.count += 1
        n = float(self.count)
        i = 0
        for value in x.values():
            old_mean = means[i]
            means[i] += (value - old_mean) / n
            variances[i] += ((value - old_mean) * (value - means[i]) - variances[i]) / n
            i += 1

    def transform(self, x: dict[str, float]) -> dict[str, float]:
        """River's ``StandardScaler.transform_one``: a feature never learned, or of no variance, is 0."""
        names, means, variances = self.names, self.means, self.variances
        scaled: dict[str, float] = {}
        if len(x) != len(names):
            return {name: 0.0 for name in x} if not names else self._by_name(x)
        i = 0
        for name, value in x.items():
            if names[i] != name:
                return self._by_name(x)
            variance = variances[i]
            scaled[name] = (value - means[i]) / variance**0.5 if variance else 0.0
            i += 1
        return scaled

    def _by_name(self, x: dict[str, float]) -> dict[str, float]:
        """The slow way, for a vector whose features are not the learned ones in their order."""
        index = {name: i for i, name in enumerate(self.names)}
        scaled: dict[str, float] = {}
        for name, value in x.items():
            i = index.get(name, -1)
            variance = self.variances[i] if i >= 0 else 0.0
            scaled[name] = (value - self.means[i]) / variance**0.5 if variance else 0.0
        return scaled

    def to_list(self) -> list[Any]:
        return [self.names, self.means, self.variances, self.count]

    @classmethod
    def from_list(cls, data: list[Any]) -> RunningScaler:
        names, means, variances, count = data
        return cls([str(name) for name in names], [float(m) for m in means], [float(v) for v in variances], int(count))
