"""The partition's associations (streams/associations.py) and a user's purchase history
(streams/purchases.py): exact counts, lifts, bounds and the stored form."""

from __future__ import annotations

import orjson
import pytest

from agents.records import decode_population, encode_population
from builders import T0_MS, feed, item, purchase
from streams import purchases
from streams.associations import MAX_CATEGORIES, MAX_GAP_DAYS, MAX_NAME_BYTES, MAX_PARTNERS, MAX_PRODUCTS, Association, Associations, TopCounts
from streams.config import DAY_MS, HOUR_MS
from streams.population import Population


def test_pairs_count_the_purchase_s_own_categories_and_those_bought_in_the_window_before():
    population = Population()
    feed(
        population,
        purchase("u1", T0_MS, [item("f", 20.0, category="formula")]),
        purchase("u1", T0_MS + 14 * DAY_MS, [item("d", 10.0, category="diapers"), item("t", 5.0, category="toys")]),  # formula 14 d before: in
        purchase("u1", T0_MS + 28 * DAY_MS, [item("b", 5.0, category="books")]),  # formula 28 d before: out; diapers, toys 14 d: in
    )
    associations = population.associations
    assert associations.purchases == 3
    assert associations.bought == {"formula": 1, "diapers": 1, "toys": 1, "books": 1}
    assert associations.contexts == {"formula": 2, "diapers": 2, "toys": 2, "books": 1}
    assert {category: partners.counts for category, partners in associations.pairs.items()} == {
        "formula": {"diapers": 1, "toys": 1},
        "diapers": {"toys": 1, "books": 1},
        "toys": {"diapers": 1, "books": 1},
        "books": {},
    }


def test_lift_is_p_of_b_given_a_in_context_over_p_of_b_and_must_hold_at_its_cautious_bound():
    associations = Associations(
        purchases=1000,
        bought={"a": 100, "b": 200, "c": 50, "d": 10},
        contexts={"a": 250, "b": 300, "c": 50, "d": 10},
        pairs={"a": TopCounts({"b": 100, "c": 40, "d": 9})},
    )
    # b: 100 seen where 250 * 200 / 1000 = 50 were expected: lift 2.0, bound (100 - 20) / 50 = 1.6;
    # c: 40 where 12.5: lift 3.2, bound (40 - 12.65) / 12.5 = 2.19; d: 9 where 2.5: lift 3.6, bound 1.2.
    assert associations.top("a", min_support=1, min_lift=0.0) == [Association("c", 40, 3.2), Association("b", 100, 2.0), Association("d", 9, 3.6)]
    assert associations.top("a", min_support=50, min_lift=0.0) == [Association("b", 100, 2.0)]
    assert associations.top("a", min_support=1, min_lift=1.5) == [Association("c", 40, 3.2), Association("b", 100, 2.0)]
    assert associations.top("a", min_support=1, min_lift=2.18) == [Association("c", 40, 3.2)]
    assert associations.top("a", min_support=1, min_lift=2.2) == []
    assert associations.top("b", min_support=1, min_lift=0.0) == []


def test_space_saving_keeps_a_frequent_partner_and_trusts_only_what_it_surely_counted():
    associations = Associations()
    for _ in range(120):
        associations.learn(["a"], [], [])
    partners = [f"p{k:02d}" for k in range(MAX_PARTNERS)]
    for _ in range(10):
        for partner in partners:
            associations.learn([partner], ["a"], [])
    for n in range(2000):
        associations.learn([partners[n % MAX_PARTNERS]], [], [])
    associations.learn(["rare"], ["a"], [])  # one purchase, into a full table: it takes p00's 10 as its error
    table = associations.pairs["a"]
    assert (table.counts["rare"], table.errors["rare"], table.guaranteed("rare")) == (11, 10, 1) and "p00" not in table.counts
    assert "rare" not in [association.category for association in associations.top("a", min_support=2, min_lift=0.0)]
    for _ in range(30):
        associations.learn(["hot"], ["a"], [])  # a frequent newcomer is never lost, whatever it inherited
    assert table.guaranteed("hot") >= 29 and "hot" in [association.category for association in associations.top("a", min_support=20, min_lift=0.0)]


def test_categories_and_names_are_bounded():
    associations = Associations()
    for n in range(MAX_CATEGORIES + 5):
        associations.learn([f"c{n}"], [], [(f"c{n}", f"p{k}", 1) for k in range(MAX_PRODUCTS + 3)])
    associations.learn(["x" * MAX_NAME_BYTES], [], [])
    assert len(associations.bought) == MAX_CATEGORIES
    assert all(len(products.counts) == MAX_PRODUCTS for products in associations.products.values())


@pytest.mark.parametrize(
    ("days", "median_days"),
    [((7, 7, 8, 9, 20), 8), ((7, 9, 8, 20), 8), ((10,), 10), ((1.4, 1.6, 2.49), 2)],
)
def test_the_partition_s_median_interval_in_whole_days(days: tuple, median_days: int):
    associations = Associations()
    associations.learn(["coffee"], [], [])
    for gap in days:
        associations.learn_gap("coffee", round(gap * DAY_MS))
    assert associations.median_gap_ms("coffee", min_count=len(days)) == median_days * DAY_MS
    assert associations.median_gap_ms("coffee", min_count=len(days) + 1) is None


def test_interval_counts_are_bounded_and_name_no_one():
    associations = Associations()
    associations.learn(["coffee"], [], [])
    for day in range(1, MAX_GAP_DAYS + 6):
        associations.learn_gap("coffee", day * DAY_MS + 123)  # to the millisecond, as a user's purchases are
    histogram = associations.gap_days["coffee"]
    assert len(histogram) == MAX_GAP_DAYS and sum(histogram.values()) == MAX_GAP_DAYS + 5
    assert histogram[MAX_GAP_DAYS] == 6  # the later lengths joined the nearest one kept
    assert all(isinstance(days, int) for days in histogram)  # whole days, in no order: no one's rhythm to the millisecond


def fill(associations: Associations) -> None:
    """Every table of the associations at its cap, with the longest names it learns."""
    name = "{:0>" + str(MAX_NAME_BYTES - 2) + "}"  # JSON adds two quotes
    categories = [name.format(n) for n in range(MAX_CATEGORIES)]
    for n, category in enumerate(categories):
        partners = [categories[(n + k) % MAX_CATEGORIES] for k in range(1, MAX_PARTNERS + 1)]
        associations.learn([category], partners, [(category, name.format(f"p{k}"), 10**12) for k in range(MAX_PRODUCTS)])
        for partner in partners:
            associations.learn([partner], [category], [])
        for day in range(MAX_GAP_DAYS):
            for _ in range(3):
                associations.learn_gap(category, (10**5 + day) * DAY_MS)
    associations.learn(["spare"], [name.format("x")], [])  # a newcomer to every full table: errors kept too
    assert all(len(partners.counts) == MAX_PARTNERS for partners in associations.pairs.values())


def test_the_population_record_round_trips_and_format_4_loads_without_associations():
    population = Population()
    feed(population, purchase("u1", T0_MS, [item("f", 20.0, category="formula")]), purchase("u1", T0_MS + DAY_MS, [item("d", 10.0, category="diapers")]))
    restored = decode_population(encode_population(population))
    assert restored.associations == population.associations and restored.associations.pairs["formula"] == TopCounts({"diapers": 1})
    body = orjson.loads(encode_population(population))
    del body["associations"]
    assert decode_population(orjson.dumps({**body, "v": 4})).associations == Associations()


@pytest.mark.parametrize(
    ("label", "times_h", "kept_h", "gaps_h"),
    [
        ("in order, a day or more apart", (0, 24, 72), (0, 24, 72), [24, 48]),
        ("a second order within a day is the same restock, marked by its latest", (0, 23, 72), (23, 72), [49]),
        ("a late one between two restocks", (0, 72, 30), (0, 30, 72), [72]),
        ("a late one within a day of a restock merges", (0, 72, 60), (0, 72), [72]),
        ("only the latest six are kept", (0, 24, 48, 72, 96, 120, 144), (24, 48, 72, 96, 120, 144), [24] * 6),
    ],
)
def test_a_user_s_purchase_history(label: str, times_h: tuple, kept_h: tuple, gaps_h: list):
    history: purchases.History = {}
    closed = [purchases.record(history, "coffee", hours * HOUR_MS) for hours in times_h]
    assert history["coffee"] == [hours * HOUR_MS for hours in kept_h], label
    assert [gap for gap in closed if gap is not None] == [gap * HOUR_MS for gap in gaps_h], label


def test_a_user_s_history_forgets_the_category_bought_longest_ago():
    history: purchases.History = {}
    for n in range(purchases.MAX_CATEGORIES + 1):
        purchases.record(history, f"c{n}", (100 - n) * DAY_MS if n == 3 else n * DAY_MS)
    assert len(history) == purchases.MAX_CATEGORIES and "c0" not in history and "c3" in history
