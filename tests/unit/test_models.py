"""The online models: one conformance suite over every River classifier Nudge offers, the
learner's stored state, labels resolved in event time with nothing peeked at, the predictions
on triggers and the rules' gates on them, and their quality on the synthetic shop."""

from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

import orjson
import pytest

from agents.generate import write_recording
from agents.recording import BadLine, open_recording, read_recording
from agents.records import decode_population, encode_population
from builders import T0_MS, add, cart_book, view
from schemas.outputs import Suppression, SuppressionReason, Trigger
from streams import predictions
from streams.config import DAY_MS, HOUR_MS, MINUTE_MS
from streams.features import FEATURES
from streams.learning import MIN_LEARNED, MODELS, Learner, RiverClassifier
from streams.partition import PartitionEngine
from streams.population import Population
from streams.profile import new_profile
from streams.replay import OfflineReplay
from streams.rules import guardrails
from streams.rules.base import Candidate
from streams.rules.loading import default_rulebook
from streams.rules.spec import NO_GUARDRAILS, Models, RuleBook
from streams.state import UserState

MODEL_NAMES = sorted(MODELS)
SHOP_START_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z


def signal(rng: random.Random) -> tuple[dict[str, float], bool]:
    """A buyer is told apart by one feature, with noise beside it."""
    value = rng.random()
    return {"a": value, "b": rng.random()}, value > 0.5 if rng.random() > 0.1 else value <= 0.5


def trained(name: str, labels: int, seed: int = 7) -> Learner:
    rng = random.Random(seed)
    learner = Learner.new(name)
    for _ in range(labels):
        x, y = signal(rng)
        learner.learn(x, y, learner.raw(x))  # progressive: predicted before it learns
    return learner


# --- one conformance suite over every model -----------------------------------------------------


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_model_predicts_a_probability_and_learns_a_signal(name: str) -> None:
    learner = trained(name, 2_000)
    rng = random.Random(99)
    assert all(0.0 <= learner.raw(signal(rng)[0]) <= 1.0 for _ in range(200))
    assert learner.quality.roc_auc is not None and learner.quality.roc_auc > 0.8, learner.quality.roc_auc
    assert learner.learned == learner.quality.labels == 2_000


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_same_labels_give_the_same_model(name: str) -> None:
    first, second = trained(name, 500), trained(name, 500)
    rng = random.Random(3)
    probes = [signal(rng)[0] for _ in range(50)]
    assert [first.raw(x) for x in probes] == [second.raw(x) for x in probes]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_stored_model_predicts_and_goes_on_learning_exactly_as_the_one_that_stored_it(name: str) -> None:
    learner = trained(name, 400)
    restored = Learner.from_list(orjson.loads(orjson.dumps(learner.to_list())))
    assert restored.reset_reason is None and restored.learned == 400
    rng = random.Random(5)
    for _ in range(100):
        x, y = signal(rng)
        assert restored.raw(x) == learner.raw(x)
        learner.learn(x, y, learner.raw(x))
        restored.learn(x, y, restored.raw(x))
    assert restored.quality.log_loss == learner.quality.log_loss and restored.quality.calibration == learner.quality.calibration


def test_logistic_is_river_s_standard_scaler_then_logistic_regression_bit_for_bit() -> None:
    """The scaler's arithmetic and the logistic prediction (River's public ``weights`` and
    ``intercept`` against the scaled snapshot) run in the compiled core, not in River's pipeline;
    on the same stream they must give River's own probabilities exactly."""
    from river import linear_model, preprocessing

    river_pipeline = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    ours = RiverClassifier("logistic")
    rng = random.Random(21)
    for _ in range(500):
        x = {name: rng.choice([0.0, 1.0, rng.gauss(0, 3)]) for name in FEATURES}
        assert ours.predict(x) == river_pipeline.predict_proba_one(x).get(True, 0.0)
        y = rng.random() < 0.3
        ours.learn(x, y)
        river_pipeline.learn_one(x, y)


def test_a_model_stored_by_another_river_version_learns_again_from_zero_with_a_reason() -> None:
    stored = trained("logistic", 300).to_list()
    stored[1] = "0.0.1"
    fresh = Learner.from_list(stored)
    assert fresh.learned == 0 and fresh.classifier.name == "logistic"
    assert fresh.reset_reason is not None and "River 0.0.1" in fresh.reset_reason


def test_a_model_the_rules_no_longer_name_learns_again_from_zero_with_a_reason() -> None:
    population = Population(models={predictions.PROPENSITY: trained("logistic", 300)})
    learner = predictions.learner(population, predictions.PROPENSITY, Models(propensity="naive_bayes"))
    assert learner is not None and learner.classifier.name == "naive_bayes" and learner.learned == 0
    assert learner.reset_reason is not None and "from logistic to naive_bayes" in learner.reset_reason


def test_a_cold_learner_serves_no_prediction_until_it_has_learned_enough() -> None:
    learner = trained("logistic", MIN_LEARNED - 1)
    x = {"a": 0.9, "b": 0.1}
    assert learner.served(learner.raw(x)) is None and 0 < learner.raw(x) < 1
    learner.learn(x, True, learner.raw(x))
    assert learner.served(learner.raw(x)) == learner.raw(x)


def test_the_partition_s_models_survive_the_changelog() -> None:
    population = Population(models={predictions.PROPENSITY: trained("logistic", 300)})
    restored = decode_population(encode_population(population))
    x = {name: 0.5 for name in FEATURES}
    assert restored.models[predictions.PROPENSITY].raw(x) == population.models[predictions.PROPENSITY].raw(x)


# --- labels in event time -------------------------------------------------------------------------


BOOK = cart_book()  # the models are on by default
HORIZON_MS = BOOK.label_horizon_ms


def waiting_user() -> tuple[UserState, Population]:
    state = UserState(profile=new_profile(view("u1", T0_MS)))
    population = Population()
    predictions.expect(state, population, predictions.PROPENSITY, features=[0.0] * len(FEATURES), now_ms=T0_MS, book=BOOK)
    return state, population


def test_a_purchase_within_the_horizon_is_a_1_and_the_horizon_passing_a_0() -> None:
    state, population = waiting_user()
    timer = predictions.label_timer(state)
    assert timer is not None and timer.due_ms == T0_MS + HORIZON_MS + 1
    predictions.purchased(state, population, now_ms=T0_MS + HOUR_MS, book=BOOK)
    learner = population.models[predictions.PROPENSITY]
    assert (learner.learned, state.pending, predictions.label_timer(state)) == (1, [], None)
    assert sum(row[2] for row in learner.quality.calibration) == 1.0  # learned a 1

    state, population = waiting_user()
    predictions.due(state, population, now_ms=T0_MS + HORIZON_MS + 1, book=BOOK)
    learner = population.models[predictions.PROPENSITY]
    assert (learner.learned, sum(row[2] for row in learner.quality.calibration)) == (1, 0.0)  # learned a 0


def test_a_purchase_after_the_horizon_teaches_a_0_and_one_before_the_snapshot_nothing() -> None:
    state, population = waiting_user()
    predictions.purchased(state, population, now_ms=T0_MS + HORIZON_MS + 1, book=BOOK)
    assert sum(row[2] for row in population.models[predictions.PROPENSITY].quality.calibration) == 0.0
    state, population = waiting_user()
    predictions.purchased(state, population, now_ms=T0_MS - 1, book=BOOK)  # read late, happened before
    assert len(state.pending) == 1 and population.models[predictions.PROPENSITY].learned == 0


def test_a_snapshot_keeps_the_features_of_its_moment_and_the_engine_resolves_it_on_time() -> None:
    """Nothing peeks ahead: the features are the profile's at the decision point, and later
    events change the profile, not the snapshot waiting for its label."""
    engine = PartitionEngine(store={}, book=BOOK)
    user = next(f"u{n}" for n in range(1_000) if predictions.sampled_session(f"u{n}", 1))
    engine.on_event(view(user, T0_MS))
    [waiting] = engine.store[user].pending
    assert waiting.features[FEATURES.index("session_events")] == math.log1p(1)  # its first event, counted
    features = list(waiting.features)
    for minute in range(1, 6):
        engine.on_event(add(user, T0_MS + minute * MINUTE_MS, f"p{minute}"))
    assert engine.store[user].pending[0].features == features
    engine.advance(T0_MS + HORIZON_MS + DAY_MS)
    assert engine.store[user].pending == [] and engine.population.models[predictions.PROPENSITY].learned >= 1


# --- gates --------------------------------------------------------------------------------------


def test_gates_stop_a_candidate_outside_the_range_before_the_cap_and_the_holdout_and_let_a_cold_model_pass() -> None:
    rule = dataclasses.replace(cart_book().rules[0], propensity_min=0.2, propensity_max=0.8, min_uplift=0.01)
    book = RuleBook((rule,), dataclasses.replace(NO_GUARDRAILS, holdout_fraction=1.0, frequency_cap=1))
    state = UserState(profile=new_profile(view("u1", T0_MS)))
    state.sent_ms.append(T0_MS)  # capped as well
    candidate = Candidate(rule, key="abandoned_cart", cause="e1", ts_ms=T0_MS + MINUTE_MS, payload={}, reason="r", once_key="abandoned_cart")

    def verdict(**models: float | None) -> SuppressionReason | None:
        return guardrails.judge(candidate, state, book=book, **models).suppressed

    assert verdict(propensity=0.9, uplift=0.5) is SuppressionReason.PROPENSITY  # will buy anyway
    assert verdict(propensity=0.1, uplift=0.5) is SuppressionReason.PROPENSITY
    assert verdict(propensity=0.5, uplift=0.0) is SuppressionReason.LOW_UPLIFT
    assert verdict(propensity=0.5, uplift=0.5) is SuppressionReason.FREQUENCY_CAP  # the gates passed
    assert verdict(propensity=None, uplift=None) is SuppressionReason.FREQUENCY_CAP  # cold models gate nothing


# --- on the synthetic shop ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150,000 events of 2,000 shoppers over twelve and a half days."""
    path = tmp_path_factory.mktemp("models") / "shop.jsonl"
    write_recording(path, users=2_000, count=150_000, seed=3, start_ms=SHOP_START_MS, mean_gap_ms=10_000, partitions=4)
    return path


def replayed(path: Path, book: RuleBook) -> tuple[OfflineReplay, list]:
    """Every message fed, without the end-of-input flush: each label learned resolved in event
    time before the last event (the flush would resolve the last day's all at once, as 0s)."""
    replay = OfflineReplay(book, partitions=4)
    outputs: list = []
    with open_recording(path, "r") as source:
        for item in read_recording(source):
            if not isinstance(item, BadLine):
                outputs.extend(replay.feed(item.message))
    return replay, outputs


@pytest.mark.statistical
def test_the_propensity_model_ranks_buyers_on_held_out_time_without_leaking(shop: Path) -> None:
    """Each label is scored against the prediction made at its decision point, before it was
    learned: progressive validation on time the model had not yet seen. Above 0.95 would mean
    a feature knows the future."""
    replay, outputs = replayed(shop, default_rulebook())
    for number, partition in replay.partitions():
        learner = partition.engine.population.models[predictions.PROPENSITY]
        assert learner.learned > 1_000  # sampled sessions and one candidate in four
        assert 0.75 <= learner.quality.roc_auc <= 0.95, (number, learner.quality.roc_auc)
    triggers = [output for output in outputs if isinstance(output, Trigger)]
    assert triggers[0].propensity is None  # cold at the start
    served = [trigger.propensity for trigger in triggers if trigger.propensity is not None]
    assert len(served) > len(triggers) // 2 and all(0.0 <= p <= 1.0 for p in served)


@pytest.mark.statistical
def test_a_rule_gated_on_propensity_sends_only_inside_its_range_once_the_model_is_warm(shop: Path) -> None:
    book = default_rulebook()
    gated = tuple(dataclasses.replace(rule, propensity_max=0.3) if rule.name == "abandoned_interest" else rule for rule in book.rules)
    _, outputs = replayed(shop, dataclasses.replace(book, rules=gated))
    interest = [output for output in outputs if isinstance(output, Trigger) and output.rule == "abandoned_interest"]
    assert interest and all(trigger.propensity is None or trigger.propensity <= 0.3 for trigger in interest)
    stopped = [o for o in outputs if isinstance(o, Suppression) and o.reason is SuppressionReason.PROPENSITY]
    assert stopped and all(o.trigger.rule == "abandoned_interest" and o.trigger.propensity > 0.3 for o in stopped)


def test_models_off_leave_triggers_without_predictions(tmp_path: Path) -> None:
    path = tmp_path / "shop.jsonl"
    write_recording(path, users=100, count=3_000, seed=2, start_ms=SHOP_START_MS, mean_gap_ms=10_000, partitions=4)
    book = dataclasses.replace(default_rulebook(), models=Models(enabled=False))
    replay, outputs = replayed(path, book)
    assert all(o.propensity is None and o.uplift is None for o in outputs if isinstance(o, Trigger))
    assert all(not partition.engine.population.models for _, partition in replay.partitions())


@pytest.mark.parametrize("version", [2, 3])
def test_a_user_record_of_a_previous_format_loads_with_nothing_awaiting_a_label(version: int) -> None:
    """2 had no snapshots; 3's have fewer features than the models now read, so they are dropped
    unlearned, and viewed prices count from the upgrade."""
    from agents.records import UserRecord, decode_record, encode_record

    state = UserState(profile=new_profile(view("u1", T0_MS)))
    body = orjson.loads(encode_record(UserRecord(partition=0, state=state)))
    for field in ("view_price_sum", "view_price_count"):
        del body["state"]["profile"][field]
    if version == 2:
        del body["state"]["pending"]
    else:
        body["state"]["pending"] = [["propensity", T0_MS, T0_MS + HORIZON_MS, [0.0] * 22, 0.5, ""]]
    body["v"] = version
    restored = decode_record(orjson.dumps(body))
    assert restored.state.pending == [] and restored.state.profile.user_id == "u1"
    assert restored.state.profile.viewed_price_index is None
    with pytest.raises(ValueError, match="format 1"):
        decode_record(orjson.dumps({**body, "v": 1}))


def test_a_population_record_of_the_previous_format_loads_and_its_models_learn_again_from_zero() -> None:
    body = orjson.loads(encode_population(Population(models={predictions.PROPENSITY: trained("logistic", 300)})))
    restored = decode_population(orjson.dumps({**body, "v": 3}))
    assert restored.models == {}
    assert decode_population(orjson.dumps(body)).models[predictions.PROPENSITY].learned == 300
