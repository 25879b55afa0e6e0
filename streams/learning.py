"""Online classifiers that learn from the stream, and how well they predict, measured honestly.

A ``Learner`` is one River classifier plus its quality. It learns only when a label resolves,
in event time: a snapshot taken at a decision point waits in the user's state until a purchase
(1) or its horizon (0), and the prediction stored with it, made before anything later was
learned, is what the quality is measured on (progressive validation with the delay).

What is kept, and where:
- the classifier, the count of labels learned, the calibration table and the log loss sums live
  in the partition's changelogged population, written in the same step as the users they learned
  from, so a restarted worker resumes with exactly the model an uninterrupted one has. The
  classifier is River's own pickle, tagged with River's version: a record from another version
  starts a fresh model (``Learner.reset_reason`` says why, and the worker logs it once);
- the rolling ROC AUC (1,000 labels) and the ADWIN drift detector live in memory: they are
  monitoring, 30 KB each in a pickle, and start again after a restart.

A rule never sees River: the guardrails read what ``served`` lets through, a probability, or
None before the learner has learned ``MIN_LEARNED`` labels (a cold model's guesses are not worth
gating a message on).
"""

from __future__ import annotations

import base64
import math
import pickle
from typing import Any, Callable, Protocol

import river
from river import drift, linear_model, metrics, naive_bayes, tree

from streams.scaling import RunningScaler

MIN_LEARNED = 200  # labels learned before a prediction is served or gated on
AUC_WINDOW = 1_000
CALIBRATION_BINS = 10
_EPSILON = 1e-15

MODELS: dict[str, tuple[bool, Callable[[], Any]]] = {
    "logistic": (True, lambda: linear_model.LogisticRegression()),
    "naive_bayes": (True, lambda: naive_bayes.GaussianNB()),
    "hoeffding_tree": (False, lambda: tree.HoeffdingTreeClassifier(grace_period=100)),
}
"""River classifiers by name, and whether their features are standard-scaled first: which one a
shop runs is a setting (``models: {kind: NAME}`` in the rules file). Each must answer
``predict_proba_one`` and ``learn_one``. ``logistic`` is River's ``StandardScaler |
LogisticRegression``, with the scaler's arithmetic done in the compiled core
(streams/scaling.py); a tree needs no scaling."""
DEFAULT_MODEL = "logistic"


class Classifier(Protocol):
    """What the core asks of a model: a probability, and to learn from a resolved label."""

    name: str

    def predict(self, x: dict[str, float]) -> float: ...

    def learn(self, x: dict[str, float], y: bool) -> None: ...


class RiverClassifier:
    """A River classifier from ``MODELS``, behind its standard scaler when it has one. As in a
    River pipeline, the scaler learns a snapshot before the classifier learns it scaled.

    ``logistic`` predicts without River: its probability is the sigmoid of River's weights and
    intercept (the model's public ``weights`` and ``intercept``) against the scaled snapshot,
    summed in the compiled core. Predictions are two in three of the models' calls, and River's
    (a scaled dict, then a dot product over it) cost ten times as much. tests/unit/test_models.py
    holds it to River's ``predict_proba_one`` within 1e-12; learning is River's own."""

    def __init__(self, name: str, model: Any = None, scaler: RunningScaler | None = None) -> None:
        if name not in MODELS:
            raise ValueError(f"no model {name!r}; known: {', '.join(sorted(MODELS))}")
        scaled, make = MODELS[name]
        self.name = name
        self.model = make() if model is None else model
        self.scaler = (RunningScaler() if scaler is None else scaler) if scaled else None
        self.linear = name == "logistic"
        self._weights: list[float] | None = None  # logistic: per scaler feature, then the intercept; None after learning

    def predict(self, x: dict[str, float]) -> float:
        scaler = self.scaler
        if scaler is None:
            return float(self.model.predict_proba_one(x).get(True, 0.0))
        if self.linear and len(x) == len(scaler.names):
            return self._predict_linear(x, scaler)
        return float(self.model.predict_proba_one(scaler.transform(x)).get(True, 0.0))

    def _predict_linear(self, x: dict[str, float], scaler: RunningScaler) -> float:
        weights = self._weights
        names = scaler.names
        if weights is None:
            learned = self.model.weights
            weights = self._weights = [float(learned.get(name, 0.0)) for name in names] + [float(self.model.intercept)]
        means, variances = scaler.means, scaler.variances
        z = 0.0
        i = 0
        for name, value in x.items():
            if names[i] != name:
                return float(self.model.predict_proba_one(scaler.transform(x)).get(True, 0.0))
            variance = variances[i]
            if variance:
                z += weights[i] * ((value - means[i]) / variance**0.5)
            i += 1
        z += weights[i]
        if z < -30:  # River's sigmoid, clamped as River clamps it
            return 0.0
        if z > 30:
            return 1.0
        return 1 / (1 + math.exp(-z))

    def learn(self, x: dict[str, float], y: bool) -> None:
        scaler = self.scaler
        if scaler is not None:
            scaler.learn(x)
            x = scaler.transform(x)
        self.model.learn_one(x, y)
        self._weights = None


class Quality:
    """Progressive validation of one learner: each resolved label against the prediction made
    at its decision point."""

    def __init__(self, calibration: list[list[float]] | None = None, log_loss_sum: float = 0.0, labels: int = 0) -> None:
        # Per bin of predicted probability: [snapshots, sum of predictions, sum of labels].
        self.calibration = calibration if calibration is not None else [[0, 0.0, 0.0] for _ in range(CALIBRATION_BINS)]
        self.log_loss_sum = log_loss_sum
        self.labels = labels
        self.auc = metrics.RollingROCAUC(window_size=AUC_WINDOW)
        self.adwin = drift.ADWIN()
        self.drifts = 0

    def update(self, y: bool, p: float) -> bool:
        """Count one label; True when ADWIN saw the error rate drift."""
        self.auc.update(y, p)
        clipped = min(max(p, _EPSILON), 1 - _EPSILON)
        self.log_loss_sum += -math.log(clipped if y else 1 - clipped)
        self.labels += 1
        row = self.calibration[min(int(p * CALIBRATION_BINS), CALIBRATION_BINS - 1)]
        row[0] += 1
        row[1] += p
        row[2] += 1.0 if y else 0.0
        self.adwin.update(abs((1.0 if y else 0.0) - p))
        if self.adwin.drift_detected:
            self.drifts += 1
            return True
        return False

    @property
    def roc_auc(self) -> float | None:
        return float(self.auc.get()) if self.labels else None

    @property
    def log_loss(self) -> float | None:
        return self.log_loss_sum / self.labels if self.labels else None

    @property
    def calibration_error(self) -> float | None:
        """Expected calibration error over the bins: 0 for a model whose 30 % means 30 %."""
        if not self.labels:
            return None
        return sum(abs(predicted - observed) for count, predicted, observed in self.calibration if count) / self.labels


class Learner:
    """A classifier, how many labels it learned, and its quality."""

    def __init__(self, classifier: RiverClassifier, *, learned: int = 0, quality: Quality | None = None, reset_reason: str | None = None) -> None:
        self.classifier = classifier
        self.learned = learned
        self.quality = quality if quality is not None else Quality()
        self.reset_reason = reset_reason  # why a stored model was not loaded, for the worker to log once
        self._encoded: str | None = None  # the classifier's pickle, until it learns again

    @classmethod
    def new(cls, name: str) -> Learner:
        return cls(RiverClassifier(name))

    def raw(self, x: dict[str, float]) -> float:
        """The classifier's probability, warm or not: what a snapshot stores for validation."""
        return self.classifier.predict(x)

    def served(self, raw: float) -> float | None:
        """``raw`` (from ``raw``) as it may be served and gated on: None until ``MIN_LEARNED``
        labels are learned."""
        return raw if self.learned >= MIN_LEARNED else None

    def learn(self, x: dict[str, float], y: bool, predicted: float) -> bool:
        """Learn a resolved label; ``predicted`` is what was predicted at its decision point.
        Returns True when the quality's drift detector fired."""
        drifted = self.quality.update(y, predicted)
        self.classifier.learn(x, y)
        self.learned += 1
        self._encoded = None
        return drifted

    def to_list(self) -> list[Any]:
        if self._encoded is None:
            self._encoded = base64.b64encode(pickle.dumps(self.classifier.model, protocol=5)).decode()
        quality = self.quality
        scaler = self.classifier.scaler
        return [
            self.classifier.name,
            river.__version__,
            self._encoded,
            self.learned,
            quality.calibration,
            quality.log_loss_sum,
            quality.labels,
            None if scaler is None else scaler.to_list(),
        ]

    @classmethod
    def from_list(cls, data: list[Any]) -> Learner:
        """A stored learner; a fresh one of the same model (with ``reset_reason``) when it was
        stored by another River version, whose pickles need not load."""
        name, version, encoded, learned, calibration, log_loss_sum, labels = data[:7]
        if version != river.__version__:
            return cls(RiverClassifier(name), reset_reason=f"{name} stored by River {version}, running {river.__version__}: learning again from zero")
        if len(data) < 8:  # stored with River's own scaler inside the pickle, before streams/scaling.py
            return cls(RiverClassifier(name), reset_reason=f"{name} stored in an earlier layout: learning again from zero")
        scaler = None if data[7] is None else RunningScaler.from_list(data[7])
        learner = cls(
            RiverClassifier(name, pickle.loads(base64.b64decode(encoded)), scaler),
            learned=int(learned),
            quality=Quality([list(row) for row in calibration], float(log_loss_sum), int(labels)),
        )
        learner._encoded = encoded
        return learner
