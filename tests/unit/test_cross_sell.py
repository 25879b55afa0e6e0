"""cross_sell through the partition engine, at exact event times.

Twenty teachers buy formula, then diapers a day later; a hundred others buy books alone. Then the
user under test, u1, buys formula at BUY_MS. So when its timer fires the partition has seen
(formula, diapers) 20 times in 141 purchases, with formula in the context of 41 (the teachers' 40
and u1's) and diapers in 20: 41 * 20 / 141 = 5.82 sightings were expected, so the lift is 3.439
and its cautious bound (20 - 2 * sqrt(20)) / 5.82 = 1.901, above the default 1.5, with support
20 >= 5. Nothing leads to anything else.
"""

from __future__ import annotations

import pytest

from builders import T0_MS, item, purchase, rule_book, run
from schemas.outputs import Conversion, Trigger, trigger_id_for
from schemas.timestamps import format_rfc3339
from streams.config import DAY_MS, HOUR_MS, MINUTE_MS
from streams.partition import PartitionEngine
from streams.rules.cross_sell import MAX_PENDING, SEPARATOR, main_category
from streams.rules.spec import CrossSellParams, Guardrails, RuleKind, RuleSpec

RULE = "cross_sell"
FORMULA = item("f1", 20.0, category="formula")
DIAPERS = item("d1", 10.0, category="diapers")
BOOK = item("b1", 15.0, category="books")
TEACHERS = tuple(
    event
    for i in range(20)
    for event in (
        purchase(f"t{i}", T0_MS + i * MINUTE_MS, [FORMULA]),
        purchase(f"t{i}", T0_MS + DAY_MS + i * MINUTE_MS, [DIAPERS, item(f"d{i % 2 + 2}", 12.0, 3, category="diapers")]),
    )
) + tuple(purchase(f"r{i}", T0_MS + i * MINUTE_MS, [BOOK]) for i in range(100))
BUY_MS = T0_MS + 3 * DAY_MS
DUE_MS = BUY_MS + 2 * DAY_MS


def engine_for(**params: object) -> PartitionEngine:
    return PartitionEngine(store={}, book=rule_book(RuleSpec(RULE, RuleKind.CROSS_SELL, "email", CrossSellParams(**params))))  # type: ignore[arg-type]


def sent(outputs: list) -> list[Trigger]:
    return [output for output in outputs if isinstance(output, Trigger) and output.user_id == "u1"]


def test_it_names_the_partner_category_and_its_best_sellers_delay_after_the_purchase():
    engine = engine_for()
    first = purchase("u1", BUY_MS, [FORMULA, BOOK])
    assert sent(run(engine, (*TEACHERS, first), advance_to_ms=DUE_MS - 1)) == []
    [trigger] = sent(engine.advance(DUE_MS))
    assert (trigger.ts_ms, trigger.channel) == (DUE_MS, "email")
    assert trigger.trigger_id == trigger_id_for("u1", RULE, SEPARATOR.join(("formula", first.event_id, str(first.ts_ms))))
    assert trigger.payload == {
        "category": "diapers",
        "because_of": "formula",
        "products": ["d2", "d3", "d1"],  # units: d2 and d3 30 each (10 buyers x 3), d1 20; a tie goes by id
        "lift": 3.439,
        "bought_at": format_rfc3339(BUY_MS),
    }
    assert trigger.reason == "bought formula; buyers of formula take diapers 3.4x as often (20 seen), and this one has not"


# A purchase of diapers by u1 makes diapers commoner (21 of 142 purchases): the bound falls to 1.82.
@pytest.mark.parametrize(
    ("label", "events", "expected"),
    [
        ("bought the partner meanwhile", [purchase("u1", DUE_MS - 1, [DIAPERS])], []),
        ("bought it within the window before", [purchase("u1", BUY_MS - 14 * DAY_MS, [DIAPERS])], []),
        ("bought it just before the window", [purchase("u1", BUY_MS - 14 * DAY_MS - 1, [DIAPERS])], ["diapers"]),
        ("bought it after the timer fired", [purchase("u1", DUE_MS, [DIAPERS])], ["diapers"]),
        ("bought something else meanwhile: a timer of its own, for books, which lead nowhere", [purchase("u1", BUY_MS + HOUR_MS, [BOOK])], ["diapers"]),
        ("a late purchase, older than the one that armed", [purchase("u1", BUY_MS - HOUR_MS, [BOOK])], ["diapers"]),
    ],
)
def test_what_the_user_bought_around_it_decides(label: str, events: list, expected: list[str]):
    engine = engine_for()
    outputs = run(engine, (*TEACHERS, purchase("u1", BUY_MS, [FORMULA]), *events), advance_to_ms=DUE_MS + 3 * DAY_MS)
    assert [trigger.payload["category"] for trigger in sent(outputs)] == expected, label


def test_a_later_purchase_re_arms_from_itself():
    engine = engine_for()
    second = purchase("u1", BUY_MS + DAY_MS, [FORMULA])
    outputs = run(engine, (*TEACHERS, purchase("u1", BUY_MS, [FORMULA]), second), advance_to_ms=DUE_MS + 3 * DAY_MS)
    [trigger] = sent(outputs)
    assert trigger.ts_ms == DUE_MS + DAY_MS
    assert trigger.trigger_id == trigger_id_for("u1", RULE, SEPARATOR.join(("formula", second.event_id, str(second.ts_ms))))


@pytest.mark.parametrize(("params", "fires"), [({}, True), ({"min_support": 20}, True), ({"min_support": 21}, False), ({"min_lift": 1.91}, False), ({"min_lift": 1.9}, True)])
def test_support_and_lift_thresholds(params: dict, fires: bool):
    outputs = run(engine_for(**params), (*TEACHERS, purchase("u1", BUY_MS, [FORMULA])), advance_to_ms=DUE_MS)
    assert bool(sent(outputs)) is fires


def test_once_per_recommended_category():
    """The first recommendation of diapers, at DUE_MS, keeps the next one away for 7 days: a
    formula purchase 5 days later (due 1 ms short of 7 days after it) brings nothing; one a
    millisecond later brings another. (Three formula purchases of u1 keep the bound at 1.84.)"""
    engine = engine_for()
    once_per_end_ms = DUE_MS + 7 * DAY_MS
    events = (
        *TEACHERS,
        purchase("u1", BUY_MS, [FORMULA]),
        purchase("u1", once_per_end_ms - 2 * DAY_MS - 1, [FORMULA]),
    )
    outputs = run(engine, events, advance_to_ms=once_per_end_ms)
    assert [trigger.ts_ms for trigger in sent(outputs)] == [DUE_MS]
    outputs = run(engine, [purchase("u1", once_per_end_ms - 2 * DAY_MS, [FORMULA])], advance_to_ms=once_per_end_ms + DAY_MS)
    assert [trigger.ts_ms for trigger in sent(outputs)] == [once_per_end_ms]


def test_only_a_purchase_in_the_recommended_category_converts_it():
    engine = engine_for()
    outputs = run(engine, (*TEACHERS, purchase("u1", BUY_MS, [FORMULA])), advance_to_ms=DUE_MS)
    [trigger] = sent(outputs)
    assert [o for o in engine.on_event(purchase("u1", DUE_MS + HOUR_MS, [BOOK])) if isinstance(o, Conversion)] == []
    [conversion] = [o for o in engine.on_event(purchase("u1", DUE_MS + 2 * HOUR_MS, [DIAPERS])) if isinstance(o, Conversion)]
    assert conversion.trigger_id == trigger.trigger_id


def test_quiet_hours_hold_it_with_its_id():
    """Due at 09:00 UTC for a user at UTC-5 (04:00 local): held until 08:00 local, 13:00 UTC."""
    book = rule_book(RuleSpec(RULE, RuleKind.CROSS_SELL, "email", CrossSellParams()), guardrails=Guardrails(holdout_fraction=0.0, frequency_cap=None))
    engine = PartitionEngine(store={}, book=book)
    first = purchase("u1", BUY_MS, [FORMULA], utc_offset_min=-300)
    [trigger] = sent(run(engine, (*TEACHERS, first), advance_to_ms=DUE_MS + DAY_MS))
    assert trigger.ts_ms == DUE_MS + 4 * HOUR_MS
    assert trigger.trigger_id == trigger_id_for("u1", RULE, SEPARATOR.join(("formula", first.event_id, str(first.ts_ms))))


@pytest.mark.parametrize(
    ("items", "main"),
    [
        ([FORMULA, BOOK], "formula"),  # 20 against 15
        ([FORMULA, item("b2", 10.0, 2, category="books")], "books"),  # 20 against 20: by name
        ([item("x", 5.0, 3, category="toys"), FORMULA], "formula"),
    ],
)
def test_the_main_category_is_where_the_purchase_spent_most(items: list, main: str):
    assert main_category(purchase("u1", BUY_MS, items)) == main


def test_a_late_purchase_does_not_recommend_what_the_user_bought_since():
    """The formula purchase arrives after a diapers purchase a day past its would-be due time: its
    timer fires at once, at that past moment, and still sees the diapers bought after it."""
    outputs = run(engine_for(), (*TEACHERS, purchase("u1", DUE_MS + DAY_MS, [DIAPERS]), purchase("u1", BUY_MS, [FORMULA])), advance_to_ms=DUE_MS + 3 * DAY_MS)
    assert sent(outputs) == []


def test_pending_cross_sells_are_capped_the_one_due_first_going():
    engine = engine_for()
    buys = [purchase("u1", BUY_MS + n * MINUTE_MS, [item(f"x{n}", 1.0, category=f"c{n:02d}")]) for n in range(MAX_PENDING + 3)]
    run(engine, buys)
    keys = sorted(key for key in engine.store["u1"].timers if key.startswith(f"{RULE}/"))
    assert keys == [f"{RULE}/c{n:02d}" for n in range(3, MAX_PENDING + 3)]
