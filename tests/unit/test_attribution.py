"""Conversion attribution: a purchase within the attribution window after a trigger (or a holdout
record) converts the latest matching one, once."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from builders import MINUTE_MS, T0_MS, add, cart_book, consent, interest_rule, item, promotion_rule, purchase, rule_book, run, view
from schemas.outputs import Conversion, ConversionGroup, Suppression, SuppressionReason, Trigger, trigger_id_for
from streams.config import DAY_MS, HOUR_MS
from streams.partition import PartitionEngine

CART = "abandoned_cart"
INTEREST = "abandoned_interest"
DUE_MS = T0_MS + 30 * MINUTE_MS  # the reminder of a cart changed at T0
WINDOW_DAY = replace(cart_book().guardrails, attribution_window_ms=DAY_MS)  # NO_GUARDRAILS, 24 h attribution


def conversions(outputs) -> list[Conversion]:
    return [output for output in outputs if isinstance(output, Conversion)]


def cart_reminded(guardrails=WINDOW_DAY) -> tuple[PartitionEngine, Trigger]:
    """An engine whose user u1 got a cart reminder for p1 and p2 at DUE_MS."""
    engine = PartitionEngine(store={}, book=cart_book(guardrails=guardrails))
    [trigger] = run(engine, [add("u1", T0_MS, "p1", 20.0), add("u1", T0_MS, "p2", 5.0)], DUE_MS)
    assert isinstance(trigger, Trigger)
    return engine, trigger


def test_a_purchase_after_a_trigger_is_its_conversion():
    engine, trigger = cart_reminded()
    order = purchase("u1", DUE_MS + HOUR_MS, [item("p1", 20.0), item("x9", 2.5)], order_id="o-1")
    [conversion] = engine.on_event(order)
    assert conversion == Conversion(
        conversion_id=trigger_id_for("u1", "conversion", f"{trigger.trigger_id}\x1fo-1"),
        user_id="u1",
        rule=CART,
        trigger_id=trigger.trigger_id,
        group=ConversionGroup.TREATED,
        order_id="o-1",
        value=22.5,
        ts_ms=DUE_MS + HOUR_MS,
        trigger_ts_ms=DUE_MS,
    )


@pytest.mark.parametrize(
    ("window_ms", "after_ms", "converts"),
    [
        (DAY_MS, 0, True),  # a purchase at the trigger's own moment comes after it
        (DAY_MS, DAY_MS - 1, True),
        (DAY_MS, DAY_MS, True),  # exactly 24 h later: still inside
        (DAY_MS, DAY_MS + 1, False),
        (HOUR_MS, HOUR_MS, True),  # the window is the guardrails' setting
        (HOUR_MS, HOUR_MS + 1, False),
    ],
)
def test_the_attribution_window_is_inclusive(window_ms: int, after_ms: int, converts: bool):
    engine, trigger = cart_reminded(replace(WINDOW_DAY, attribution_window_ms=window_ms))
    outputs = engine.on_event(purchase("u1", DUE_MS + after_ms, [item("p1", 20.0)]))
    assert [(c.trigger_id, c.ts_ms) for c in conversions(outputs)] == ([(trigger.trigger_id, DUE_MS + after_ms)] if converts else [])


def test_a_purchase_before_the_trigger_does_not_convert_it():
    engine, _ = cart_reminded()
    assert conversions(engine.on_event(purchase("u1", DUE_MS - 1, [item("p1", 20.0)]))) == []  # late-arriving, earlier


@pytest.mark.parametrize(
    ("items", "converts"),
    [
        ([item("p1", 20.0)], True),
        ([item("p2", 5.0)], True),
        ([item("zz", 5.0), item("p2", 5.0)], True),
        ([item("zz", 5.0)], False),  # same category, not a product of the cart
        ([item("zz", 5.0, category="books")], False),
    ],
)
def test_a_cart_reminder_converts_on_a_product_of_the_cart(items: list, converts: bool):
    engine, _ = cart_reminded()
    assert len(conversions(engine.on_event(purchase("u1", DUE_MS + HOUR_MS, items)))) == (1 if converts else 0)


# --- abandoned_interest: by category; the latest matching exposure wins ---------------------

SHOES_DUE_MS = T0_MS + 22 * MINUTE_MS
BOOKS_DUE_MS = T0_MS + 52 * MINUTE_MS


def interest_triggered() -> tuple[PartitionEngine, dict[str, Trigger]]:
    """u1 got an interest trigger for shoes at +22 min and one for books at +52 min."""
    engine = PartitionEngine(store={}, book=rule_book(interest_rule(), guardrails=WINDOW_DAY))
    shoes = [view("u1", T0_MS + i * MINUTE_MS, f"s{i}") for i in range(3)]
    books = [view("u1", T0_MS + (30 + i) * MINUTE_MS, f"b{i}", category="books") for i in range(3)]
    triggers = run(engine, shoes + books, BOOKS_DUE_MS)
    assert [(t.payload["category"], t.ts_ms) for t in triggers] == [("shoes", SHOES_DUE_MS), ("books", BOOKS_DUE_MS)]
    return engine, {t.payload["category"]: t for t in triggers}


@dataclass(frozen=True)
class MatchCase:
    name: str
    orders: tuple[tuple[str, ...], ...]  # categories bought, one tuple per order, an hour apart
    converted: tuple[str | None, ...]  # the category of the trigger each order converts, or None


MATCH_CASES = [
    MatchCase("books_purchase_converts_books_not_the_shoes", (("books",),), ("books",)),
    MatchCase("shoes_purchase_converts_the_earlier_shoes_trigger", (("shoes",),), ("shoes",)),
    MatchCase("other_category_converts_nothing", (("toys",),), (None,)),
    MatchCase("both_convert_the_latest_then_the_other", (("shoes", "books"), ("shoes", "books"), ("shoes", "books")), ("books", "shoes", None)),
    MatchCase("one_exposure_converts_once", (("shoes",), ("shoes",)), ("shoes", None)),
    MatchCase("books_used_up_a_books_purchase_leaves_shoes_alone", (("books",), ("books",), ("shoes",)), ("books", None, "shoes")),
]


@pytest.mark.parametrize("case", MATCH_CASES, ids=[case.name for case in MATCH_CASES])
def test_matching_and_the_latest_matching_trigger(case: MatchCase):
    engine, by_category = interest_triggered()
    for index, (categories, expected) in enumerate(zip(case.orders, case.converted)):
        items = [item(f"{category}-{index}", 10.0, category=category) for category in categories]
        made = conversions(engine.on_event(purchase("u1", BOOKS_DUE_MS + (index + 1) * HOUR_MS, items)))
        assert [c.trigger_id for c in made] == ([] if expected is None else [by_category[expected].trigger_id])
        assert all(c.rule == INTEREST for c in made)


def test_a_trigger_naming_nothing_converts_on_any_purchase_and_the_latest_wins():
    book = rule_book(interest_rule(), promotion_rule("promo", T0_MS + HOUR_MS, T0_MS + DAY_MS), guardrails=WINDOW_DAY)
    engine = PartitionEngine(store={}, book=book)
    [shoes] = run(engine, [view("u1", T0_MS + i * MINUTE_MS, f"s{i}") for i in range(3)], SHOES_DUE_MS)
    [promo] = engine.on_event(view("u1", T0_MS + HOUR_MS))
    assert promo.rule == "promo"
    [first] = conversions(engine.on_event(purchase("u1", T0_MS + 2 * HOUR_MS, [item("s1", 10.0)])))
    [second] = conversions(engine.on_event(purchase("u1", T0_MS + 3 * HOUR_MS, [item("s1", 10.0)])))
    assert (first.trigger_id, second.trigger_id) == (promo.trigger_id, shoes.trigger_id)
    assert conversions(engine.on_event(purchase("u1", T0_MS + 4 * HOUR_MS, [item("s1", 10.0)]))) == []


# --- groups ---------------------------------------------------------------------------------


def test_a_holdout_users_purchase_converts_into_the_holdout_group():
    engine = PartitionEngine(store={}, book=cart_book(guardrails=replace(WINDOW_DAY, holdout_fraction=1.0)))
    [suppression] = run(engine, [add("u1", T0_MS, "p1", 20.0)], DUE_MS)
    assert suppression.reason is SuppressionReason.HOLDOUT
    [conversion] = engine.on_event(purchase("u1", DUE_MS + HOUR_MS, [item("p1", 20.0)], order_id="o-h"))
    assert (conversion.group, conversion.trigger_id, conversion.rule) == (ConversionGroup.HOLDOUT, suppression.trigger.trigger_id, CART)
    assert (conversion.order_id, conversion.value, conversion.trigger_ts_ms) == ("o-h", 20.0, DUE_MS)


@pytest.mark.parametrize(
    ("guardrails", "before", "reason"),
    [
        (WINDOW_DAY, [consent("u1", T0_MS - 1, "push", False)], SuppressionReason.NO_CONSENT),
        (replace(WINDOW_DAY, frequency_cap=0), [], SuppressionReason.FREQUENCY_CAP),  # a cap of 0 stops every trigger
    ],
)
def test_other_suppressions_are_not_exposures(guardrails, before: list, reason: SuppressionReason):
    engine = PartitionEngine(store={}, book=cart_book(guardrails=guardrails))
    [suppression] = run(engine, before + [add("u1", T0_MS, "p1", 20.0)], DUE_MS)
    assert isinstance(suppression, Suppression) and suppression.reason is reason
    assert conversions(engine.on_event(purchase("u1", DUE_MS + HOUR_MS, [item("p1", 20.0)]))) == []


# --- determinism ----------------------------------------------------------------------------


def scenario() -> list:
    return [
        add("u1", T0_MS, "p1", 20.0),
        add("u2", T0_MS + 1, "p2", 7.0),
        purchase("u1", DUE_MS + HOUR_MS, [item("p1", 20.0)], order_id="o-1"),
        purchase("u2", DUE_MS + 2 * HOUR_MS, [item("p2", 7.0)], order_id="o-2"),
    ]


def test_conversion_ids_are_deterministic_and_distinct():
    def convert() -> list[Conversion]:
        engine = PartitionEngine(store={}, book=cart_book(guardrails=WINDOW_DAY))
        return conversions(run(engine, scenario()))

    first, second = convert(), convert()
    assert first == second
    assert [(c.user_id, c.order_id) for c in first] == [("u1", "o-1"), ("u2", "o-2")]
    assert first[0].conversion_id == trigger_id_for("u1", "conversion", f"{first[0].trigger_id}\x1fo-1")
    assert len({c.conversion_id for c in first} | {c.trigger_id for c in first}) == 4
