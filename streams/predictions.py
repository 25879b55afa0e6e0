"""The models at work in the core: predictions at decision points, and labels resolved in event time.

Decision points are every candidate trigger and a sample of sessions' first events. At one, the user's
features (streams/features.py) are read and the partition's learner predicts; at a sample of them
(every sampled session, one candidate in ``CANDIDATE_SAMPLE``) the snapshot waits in the user's
state with that prediction. A purchase resolves every snapshot waiting for
it (label 1); a snapshot whose horizon passes first resolves to 0, woken by one timer per user
(``label_timer``) due when the oldest horizon ends. Only then does the learner learn: nothing
is learned from what was not yet known at the moment predicted.

Uplift is a T-learner: per rule, a learner of the treated (users sent the rule's trigger) and
one of the held out (ghost sends, streams/rules/guardrails.py), each learning whether the send
converted (streams/rules/attribution.py) within the attribution window: the very outcome the
measured uplift counts (streams/uplift.py), so the two agree on what uplift means. A trigger's predicted uplift is the first's probability minus the
second's, for that user's features at that moment.

The learners live in the partition's population: which partition learned what is as
deterministic as everything else there, so a worker and an offline replay predict the same.
"""

from __future__ import annotations

import zlib

from streams.config import ProfileConfig
from streams.features import as_dict, snapshot, uplift_dict
from streams.learning import Learner
from streams.population import Population
from streams.rules.spec import Models, RuleBook
from streams.state import MAX_PENDING_LABELS, PendingLabel, UserState
from streams.timers import Timer

LABEL_TIMER = "model_labels"  # the timer key of a user's pending labels; it names no rule
PROPENSITY = "propensity"
MAX_UPLIFT_RULES = 16  # rules whose uplift a partition learns; the population record stays bounded
SESSION_SAMPLE = 8  # one session start in this many is a decision point (see sampled_session)
CANDIDATE_SAMPLE = 4  # the propensity model learns from one candidate in this many (see sampled_candidate)


def uplift_key(rule: str, treated: bool) -> str:
    return f"uplift/{rule}/{'treated' if treated else 'holdout'}"


def learner(population: Population, key: str, models: Models) -> Learner | None:
    """The partition's learner for ``key``, made on first use; None past the uplift bound."""
    name = models.propensity if key == PROPENSITY else models.uplift
    found = population.models.get(key)
    if found is not None:
        if found.classifier.name == name:
            return found
        # The rules file names another model now: it learns from zero, and the worker says so.
        made = population.models[key] = Learner.new(name)
        made.reset_reason = f"{key}: the model changed from {found.classifier.name} to {name}, learning again from zero"
        population.changed = True
        return made
    if key != PROPENSITY and sum(1 for name in population.models if name != PROPENSITY) >= 2 * MAX_UPLIFT_RULES:
        return None
    made = population.models[key] = Learner.new(name)
    population.changed = True
    return made


class Decision:
    """What the models say about one candidate: the features, and the served predictions
    (None while a learner is cold)."""

    __slots__ = ("features", "raw_propensity", "propensity", "uplift", "raw_treated", "raw_held_out")

    def __init__(
        self,
        features: list[float],
        raw_propensity: float,
        propensity: float | None,
        uplift: float | None,
        raw_treated: float | None = None,
        raw_held_out: float | None = None,
    ) -> None:
        self.features = features
        self.raw_propensity = raw_propensity
        self.propensity = propensity
        self.uplift = uplift
        self.raw_treated = raw_treated  # the uplift learners' probabilities, warm or not, for their snapshots
        self.raw_held_out = raw_held_out


def decide(state: UserState, population: Population, *, rule: str, now_ms: int, book: RuleBook, config: ProfileConfig) -> Decision:
    """Predict for a candidate of ``rule`` at ``now_ms``; nothing is stored yet (``expect``)."""
    models = book.models
    features = snapshot(state.profile, now_ms=now_ms, config=config, population=population)
    x = as_dict(features)
    propensity = learner(population, PROPENSITY, models)
    assert propensity is not None  # the propensity learner is never refused
    raw = propensity.raw(x)
    uplift: float | None = None
    raw_treated: float | None = None
    raw_held_out: float | None = None
    treated, held_out = learner(population, uplift_key(rule, True), models), learner(population, uplift_key(rule, False), models)
    if treated is not None and held_out is not None:
        seen = uplift_dict(features)
        raw_treated, raw_held_out = treated.raw(seen), held_out.raw(seen)
        p_treated, p_held_out = treated.served(raw_treated), held_out.served(raw_held_out)
        if p_treated is not None and p_held_out is not None:
            uplift = round(p_treated - p_held_out, 6)
    served = propensity.served(raw)
    return Decision(features, raw, None if served is None else round(served, 6), uplift, raw_treated, raw_held_out)


def expect(
    state: UserState,
    population: Population,
    key: str,
    *,
    features: list[float],
    now_ms: int,
    book: RuleBook,
    raw: float | None = None,
    trigger_id: str = "",
) -> Timer | None:
    """Keep a decision point until its label resolves; returns the label timer. ``raw``: the
    learner's prediction, when the caller already has it; ``trigger_id``: an uplift label's
    send, whose conversion is its 1 (within the attribution window)."""
    target = learner(population, key, book.models)
    if target is None:
        return None
    predicted = target.raw(_view(key, features)) if raw is None else raw
    pending = state.pending
    horizon_ms = book.guardrails.attribution_window_ms if trigger_id else book.label_horizon_ms
    pending.append(PendingLabel(key, now_ms, now_ms + horizon_ms, features, predicted, trigger_id))
    if len(pending) > MAX_PENDING_LABELS:
        del pending[0]  # the oldest: unlearned, as if never taken
    return label_timer(state)


def sampled_session(user_id: str, session: int) -> bool:
    """Whether a session's start is one the propensity model learns from: one in
    ``SESSION_SAMPLE``, by a hash of the user and the session's number, so every kind of user is
    sampled alike and a replay samples the same. Learning from every start cost a catch-up
    about a third of its speed; candidates are decision points besides.

    >>> sum(sampled_session(f"u{n}", 1) for n in range(10_000)) // 100  # about 1 in 8, in percent
    12
    """
    return zlib.crc32(f"{user_id}\x1f{session}".encode()) % SESSION_SAMPLE == 0


def sampled_candidate(trigger_id: str) -> bool:
    """Whether the propensity model learns from a candidate: one in ``CANDIDATE_SAMPLE``, by a
    hash of its trigger id. Every candidate is predicted for (its trigger carries the
    propensity); learning from a quarter of them, with the sampled sessions, kept the model's
    ROC AUC and made the models' cost in a catch-up a third smaller (README, *Models*).

    >>> sum(sampled_candidate(f"t{n}") for n in range(10_000)) // 100  # about 1 in 4, in percent
    25
    """
    return zlib.crc32(trigger_id.encode()) % CANDIDATE_SAMPLE == 0


def session_started(state: UserState, population: Population, *, now_ms: int, book: RuleBook, config: ProfileConfig) -> Timer | None:
    """A sampled session's first event is a decision point of the propensity model."""
    if not sampled_session(state.user_id, state.profile.session.count):
        return None
    return expect(state, population, PROPENSITY, features=snapshot(state.profile, now_ms=now_ms, config=config, population=population), now_ms=now_ms, book=book)


def purchased(state: UserState, population: Population, *, now_ms: int, book: RuleBook) -> Timer | None:
    """A purchase: every propensity snapshot whose horizon it falls within learns 1; any label
    past its horizon, 0."""
    if not state.pending:
        return None
    _resolve(state, population, now_ms, book, bought=True)
    return label_timer(state)


def converted(state: UserState, population: Population, *, trigger_id: str, now_ms: int, book: RuleBook) -> Timer | None:
    """A send (or ghost send) converted: its uplift label learns 1."""
    _resolve(state, population, now_ms, book, bought=False, converted=trigger_id)
    return label_timer(state)


def due(state: UserState, population: Population, *, now_ms: int, book: RuleBook) -> Timer | None:
    """The label timer fired: snapshots whose horizon has passed learn 0."""
    _resolve(state, population, now_ms, book, bought=False)
    return label_timer(state)


def _resolve(state: UserState, population: Population, now_ms: int, book: RuleBook, *, bought: bool, converted: str = "") -> None:
    keep: list[PendingLabel] = []
    for label in state.pending:
        if label.due_ms < now_ms:
            y = False
        elif label.trigger_id:
            if label.trigger_id != converted:
                keep.append(label)
                continue
            y = True
        elif bought and label.ts_ms <= now_ms:
            y = True
        else:
            keep.append(label)
            continue
        target = learner(population, label.model, book.models)
        if target is not None:
            target.learn(_view(label.model, label.features), y, label.predicted)
            population.changed = True
    state.pending[:] = keep


def _view(key: str, features: list[float]) -> dict[str, float]:
    """What a learner sees of a snapshot: all of it for propensity, UPLIFT_FEATURES for uplift."""
    return as_dict(features) if key == PROPENSITY else uplift_dict(features)


def label_timer(state: UserState) -> Timer | None:
    """The user's label timer, due just after the oldest horizon; None when nothing waits.

    It is derived from the pending labels, never kept in ``state.timers`` (the rules' timers,
    which a profile shows): the partition engine asks for it by ``LABEL_TIMER`` when it comes
    due and when it restores a user."""
    pending = state.pending
    if not pending:
        return None
    return Timer(LABEL_TIMER, "", min(label.due_ms for label in pending) + 1, "")
