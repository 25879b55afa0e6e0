"""RFM: quintile scoring, the segment map, River's P² boundaries, and RFM on live profiles.

Boundaries come from River's streaming quantile estimator, so tests against it assert the
order the scores must respect rather than P²'s exact estimates, except where they are exact
(a small, sorted sample).
"""

from __future__ import annotations

import json
import random

import pytest

from builders import MINUTE_MS, T0_MS, cart_book, erasure, item, purchase, view
from streams.config import DAY_MS, HOUR_MS, ProfileConfig
from streams.partition import PartitionEngine
from streams.population import Population
from streams.profile import new_profile, update_profile
from streams.rfm import MIN_CUSTOMERS, SEGMENTS, RfmBoundaries, RfmQuantiles, RfmScores, rfm_scores, rfm_segment, score

MIDNIGHT0_MS = T0_MS - 9 * HOUR_MS  # 2026-11-25T00:00:00Z


# --- score ----------------------------------------------------------------------------------

BOUNDS = (10.0, 20.0, 30.0, 40.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (-1.0, 1),
        (10.0, 1),  # equal to the first boundary: still low
        (10.001, 2),  # strictly above it
        (20.0, 2),
        (20.5, 3),
        (30.0, 3),
        (39.999, 4),
        (40.0, 4),
        (40.001, 5),
        (1e12, 5),
    ],
)
def test_score_counts_the_boundaries_strictly_below(value, expected):
    assert score(value, BOUNDS) == expected


def test_score_with_repeated_boundaries_jumps_over_all_of_them():
    assert [score(value, (1.0, 1.0, 1.0, 2.0)) for value in (0, 1, 1.5, 2, 3)] == [1, 1, 4, 4, 5]


def test_rfm_scores_use_each_dimension_s_own_boundaries():
    bounds = RfmBoundaries(recency=(100.0, 200.0, 300.0, 400.0), frequency=(1.0, 2.0, 3.0, 4.0), monetary=(10.0, 20.0, 30.0, 40.0))
    assert rfm_scores(last_purchase_ms=250, orders=5, spend=10.0, bounds=bounds) == RfmScores(3, 5, 1)
    assert rfm_scores(last_purchase_ms=400, orders=1, spend=40.5, bounds=bounds) == RfmScores(4, 1, 5)


# --- segments -------------------------------------------------------------------------------

# Rows: recency 5 down to 1; columns: frequency 1 to 5.
SEGMENT_GRID = {
    5: ("new", "new", "loyal", "champions", "champions"),
    4: ("new", "new", "loyal", "champions", "champions"),
    3: ("potential", "potential", "loyal", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "at_risk"),
    1: ("hibernating", "hibernating", "at_risk", "at_risk", "at_risk"),
}


@pytest.mark.parametrize("recency", [5, 4, 3, 2, 1])
@pytest.mark.parametrize("frequency", [1, 2, 3, 4, 5])
def test_segment_for_every_recency_and_frequency(recency, frequency):
    expected = SEGMENT_GRID[recency][frequency - 1]
    for monetary in (1, 3, 5):  # monetary never moves the segment
        assert rfm_segment(RfmScores(recency, frequency, monetary)) == expected


def test_every_segment_is_reachable_and_listed():
    named = {name for row in SEGMENT_GRID.values() for name in row}
    assert named == set(SEGMENTS)
    assert len(SEGMENTS) == 6


# --- quantiles ------------------------------------------------------------------------------


def observe_spends(quantiles: RfmQuantiles, spends) -> None:
    for n, spend in enumerate(spends):
        quantiles.observe(last_purchase_ms=T0_MS + n * MINUTE_MS, orders=1 + n % 3, spend=spend)


def test_no_boundaries_below_min_customers():
    assert MIN_CUSTOMERS == 20
    quantiles = RfmQuantiles()
    for n in range(MIN_CUSTOMERS - 1):
        quantiles.observe(last_purchase_ms=T0_MS + n, orders=1, spend=10.0 * (n + 1))
        assert quantiles.boundaries() is None
    quantiles.observe(last_purchase_ms=T0_MS + 9, orders=2, spend=50.0)
    assert quantiles.customers == MIN_CUSTOMERS
    bounds = quantiles.boundaries()
    assert bounds is not None
    assert all(len(dimension) == 4 for dimension in bounds)


def test_the_smallest_population_is_ranked_by_spend_into_all_five_scores():
    quantiles = RfmQuantiles()
    spends = [10.0 * n for n in range(1, MIN_CUSTOMERS + 1)]
    random.Random(3).shuffle(spends)  # arrival order is not spend order
    observe_spends(quantiles, spends)
    bounds = quantiles.boundaries()
    assert bounds is not None
    by_spend = [score(spend, bounds.monetary) for spend in sorted(spends)]
    assert by_spend[0] == 1  # the lowest spender
    assert by_spend[-1] == 5  # the top spender
    assert by_spend == sorted(by_spend)  # never ranks a smaller spend higher
    assert set(by_spend) == {1, 2, 3, 4, 5}  # distinct spends are told apart, not lumped together
    assert list(bounds.monetary) == sorted(bounds.monetary)
    assert min(spends) <= bounds.monetary[0] and bounds.monetary[-1] <= max(spends)


def test_a_hundred_customers_get_quintiles_near_the_true_ones():
    spends = [float(n) for n in range(1, 101)]
    random.Random(7).shuffle(spends)
    quantiles = RfmQuantiles()
    observe_spends(quantiles, spends)
    bounds = quantiles.boundaries()
    assert bounds is not None
    for estimate, true in zip(bounds.monetary, (20.0, 40.0, 60.0, 80.0)):
        assert abs(estimate - true) <= 5.0
    assert score(1.0, bounds.monetary) == 1
    assert score(100.0, bounds.monetary) == 5
    assert score(50.0, bounds.monetary) == 3


def test_boundaries_follow_new_observations():
    quantiles = RfmQuantiles()
    observe_spends(quantiles, [10.0 * n for n in range(1, MIN_CUSTOMERS + 1)])
    before = quantiles.boundaries()
    assert quantiles.boundaries() is before  # cached until the next observation
    observe_spends(quantiles, [1000.0] * 20)
    after = quantiles.boundaries()
    assert after is not None and before is not None
    assert after.monetary[-1] > before.monetary[-1]


def test_to_text_from_text_round_trip_keeps_boundaries_and_future_updates():
    original = RfmQuantiles()
    observe_spends(original, [12.0, 99.0, 5.0, 47.0, 33.0, 80.0, 21.0])
    text = original.to_text()
    assert isinstance(json.loads(json.dumps(text)), str)
    restored = RfmQuantiles.from_text(text)
    assert restored.customers == original.customers == 7
    assert restored.boundaries() == original.boundaries()
    for n, spend in enumerate([250.0, 1.0, 64.0, 64.0, 17.0]):
        original.observe(last_purchase_ms=T0_MS + DAY_MS + n, orders=n, spend=spend)
        restored.observe(last_purchase_ms=T0_MS + DAY_MS + n, orders=n, spend=spend)
        assert restored.boundaries() == original.boundaries()
    assert restored.customers == 12


def test_round_trip_of_an_empty_estimator():
    restored = RfmQuantiles.from_text(RfmQuantiles().to_text())
    assert restored.customers == 0 and restored.boundaries() is None


# --- on profiles ----------------------------------------------------------------------------


def test_profile_rfm_appears_once_the_population_has_enough_customers():
    population = Population()
    profiles = []
    for n in range(MIN_CUSTOMERS):
        event = purchase(f"u{n}", T0_MS + n * MINUTE_MS, [item("p1", 10.0 * (n + 1))])
        profile = new_profile(event)
        update_profile(profile, event, config=ProfileConfig(), population=population)
        profiles.append(profile)
        if n < MIN_CUSTOMERS - 1:
            assert profile.rfm is None and profile.rfm_segment is None
    latest = profiles[-1]
    assert latest.rfm is not None
    # The latest and biggest buyer of a one-order population: most recent, no repeat orders.
    assert latest.rfm.recency >= 4 and latest.rfm.frequency == 1 and latest.rfm.monetary >= 4
    assert latest.rfm_segment == "new"
    view_rfm = latest.view(now_ms=T0_MS + HOUR_MS, config=ProfileConfig())["rfm"]
    assert view_rfm["segment"] == "new"
    assert view_rfm["scores"] == latest.rfm._asdict()
    assert profiles[0].rfm is None  # scored on their next event or sweep, not retroactively


def test_a_non_customer_gets_no_rfm_even_in_a_scored_population():
    population = Population()
    for n in range(MIN_CUSTOMERS):
        event = purchase(f"u{n}", T0_MS + n, [item("p1", 10.0)])
        update_profile(new_profile(event), event, config=ProfileConfig(), population=population)
    looker = new_profile(view("v", T0_MS + 10))
    update_profile(looker, view("v", T0_MS + 10), config=ProfileConfig(), population=population)
    assert population.rfm.boundaries() is not None
    assert looker.rfm is None
    assert looker.view(now_ms=T0_MS + 10, config=ProfileConfig())["rfm"]["segment"] is None


# --- the daily sweep ------------------------------------------------------------------------


OTHER_CUSTOMERS = [f"u{n}" for n in range(2, MIN_CUSTOMERS + 1)]
CUSTOMERS = ["u1", *OTHER_CUSTOMERS]


def customers_engine() -> PartitionEngine:
    engine = PartitionEngine(store={}, book=cart_book())
    for n, spend in enumerate([10.0, 20.0, 30.0]):  # u1 buys three times
        engine.on_event(purchase("u1", T0_MS + n * MINUTE_MS, [item("p1", spend)]))
    for n, user in enumerate(OTHER_CUSTOMERS):
        engine.on_event(purchase(user, T0_MS + HOUR_MS + n * MINUTE_MS, [item("p1", 15.0 * (n + 1))]))
    engine.on_event(view("looker", T0_MS + 2 * HOUR_MS))  # never buys
    return engine


def rfm_counts(engine: PartitionEngine) -> dict[str, int]:
    return {name: count for name, count in engine.segments.items() if name.startswith("rfm:") and count}


def test_the_sweep_rebuilds_quantiles_from_distinct_customers():
    engine = customers_engine()
    assert engine.population.rfm.customers == MIN_CUSTOMERS + 2  # every purchase, u1's three included
    engine.advance(MIDNIGHT0_MS + DAY_MS)
    assert engine.population.rfm.customers == MIN_CUSTOMERS
    expected = RfmQuantiles()
    for user in sorted(CUSTOMERS):  # the estimates depend on the order they are fed: by user id
        profile = engine.store[user].profile
        expected.observe(last_purchase_ms=profile.last_purchase_ms, orders=profile.order_count, spend=profile.total_spend)
    assert engine.population.rfm.boundaries() == expected.boundaries()


def test_the_sweep_does_not_depend_on_the_order_the_store_keeps_its_users_in():
    """A dict keeps users in arrival order, a restored table in changelog order, RocksDB by key:
    a restarted worker on disk once rebuilt other quantiles than an uninterrupted one."""
    arrival = customers_engine()
    reordered = customers_engine()
    reordered.store = dict(reversed(list(reordered.store.items())))
    assert list(reordered.store) != list(arrival.store)
    arrival.advance(MIDNIGHT0_MS + DAY_MS)
    reordered.advance(MIDNIGHT0_MS + DAY_MS)
    assert reordered.population.rfm.boundaries() == arrival.population.rfm.boundaries()
    assert reordered.population.rfm.to_text() == arrival.population.rfm.to_text()


def test_the_sweep_scores_every_customer_and_counts_their_segments():
    engine = customers_engine()
    assert sum(rfm_counts(engine).values()) < MIN_CUSTOMERS  # the first buyers were scored before there was a population
    engine.advance(MIDNIGHT0_MS + DAY_MS)
    for user in CUSTOMERS:
        profile = engine.store[user].profile
        assert profile.rfm is not None
        assert engine.segments["rfm:" + profile.rfm_segment] >= 1
    assert engine.store["looker"].profile.rfm is None
    assert sum(rfm_counts(engine).values()) == MIN_CUSTOMERS
    u1 = engine.store["u1"].profile
    others = [engine.store[user].profile for user in OTHER_CUSTOMERS]
    assert all(u1.rfm.frequency > other.rfm.frequency for other in others)  # the only repeat buyer


def test_the_sweep_forgets_erased_customers():
    engine = customers_engine()
    engine.advance(MIDNIGHT0_MS + DAY_MS)
    engine.on_event(erasure(CUSTOMERS[-1], MIDNIGHT0_MS + DAY_MS + 1))
    assert sum(rfm_counts(engine).values()) == MIN_CUSTOMERS - 1
    engine.advance(MIDNIGHT0_MS + 2 * DAY_MS)
    assert engine.population.rfm.customers == MIN_CUSTOMERS - 1
    assert engine.population.rfm.boundaries() is None  # below MIN_CUSTOMERS again
    assert all(engine.store[user].profile.rfm is None for user in CUSTOMERS[:-1])
    assert rfm_counts(engine) == {}
