"""replenishment through the partition engine, at exact event times.

u1 buys coffee every 10 days from DAY0_MS; with the default min_own_gaps of 3, their fourth
purchase (day 30) is the first with enough intervals of their own, so it arms a reminder at day
30 + 10 d - 1 d (lead) = day 39.
"""

from __future__ import annotations

import pytest

from builders import T0_MS, item, purchase, rule_book, run
from schemas.outputs import Conversion, Trigger, trigger_id_for
from schemas.timestamps import format_rfc3339
from streams import purchases
from streams.config import DAY_MS, HOUR_MS
from streams.partition import PartitionEngine
from streams.rules.loading import RulesError, parse_rulebook
from streams.rules.replenishment import SEPARATOR
from streams.rules.spec import ReplenishmentParams, RuleKind, RuleSpec

RULE = "replenishment"
COFFEE = item("c1", 9.0, category="coffee")
BOOK = item("b1", 15.0, category="books")
DAY0_MS = T0_MS


def engine_for(**params: object) -> PartitionEngine:
    spec = RuleSpec(RULE, RuleKind.REPLENISHMENT, "push", ReplenishmentParams(**{"categories": ("coffee",), **params}))  # type: ignore[arg-type]
    return PartitionEngine(store={}, book=rule_book(spec))


def coffee(user: str, day: float, *others) -> object:
    return purchase(user, DAY0_MS + round(day * DAY_MS), [COFFEE, *others])


def sent(outputs: list) -> list[Trigger]:
    return [output for output in outputs if isinstance(output, Trigger) and output.user_id == "u1"]


def test_their_own_median_interval_less_the_lead():
    engine = engine_for()
    buys = [coffee("u1", day) for day in (0, 10, 20, 30)]
    assert sent(run(engine, buys, advance_to_ms=DAY0_MS + 39 * DAY_MS - 1)) == []
    [trigger] = sent(engine.advance(DAY0_MS + 39 * DAY_MS))
    assert trigger.ts_ms == DAY0_MS + 39 * DAY_MS
    assert trigger.trigger_id == trigger_id_for("u1", RULE, SEPARATOR.join(("coffee", buys[-1].event_id, "own")))
    assert trigger.payload == {
        "category": "coffee",
        "last_purchase": format_rfc3339(DAY0_MS + 30 * DAY_MS),
        "expected": format_rfc3339(DAY0_MS + 40 * DAY_MS),
        "interval_days": 10.0,
        "interval_from": "own",
        "products": ["c1"],
    }


@pytest.mark.parametrize(
    ("label", "days", "params", "due_day"),
    [
        ("too few of their own and none from the shop", (0, 10, 20), {}, None),
        ("the lower middle of an even count: 6, 10, 10, 10 -> 10", (0, 10, 20, 30, 36), {}, 36 + 10 - 1),
        ("the median, not the mean: 2, 10, 10 -> 10", (0, 2, 12, 22), {}, 22 + 10 - 1),
        ("a second order within a day is the same restock", (0, 10, 20, 30, 30.5), {}, 30.5 + 10 - 1),
        ("min_own_gaps 1: one interval is enough", (0, 12), {"min_own_gaps": 1}, 12 + 12 - 1),
        ("a lead of 2 days", (0, 10, 20, 30), {"lead_ms": 2 * DAY_MS}, 30 + 10 - 2),
        ("a lead as long as the interval: no reminder", (0, 10, 20, 30), {"lead_ms": 10 * DAY_MS}, None),
    ],
)
def test_when_it_is_due(label: str, days: tuple, params: dict, due_day: float | None):
    outputs = run(engine_for(**params), [coffee("u1", day) for day in days], advance_to_ms=DAY0_MS + 200 * DAY_MS)
    assert [trigger.ts_ms for trigger in sent(outputs)] == ([] if due_day is None else [DAY0_MS + round(due_day * DAY_MS)]), label


def test_until_they_have_enough_intervals_the_partitions_median_is_used():
    """Five other shoppers restock every 7, 7, 8, 9 and 20 days: the median is 8. u1's one purchase is due at 8 - 1 days."""
    others = [coffee(f"o{i}", day) for i, gap in enumerate((7, 7, 8, 9, 20)) for day in (0, gap)]
    engine = engine_for()
    buy = coffee("u1", 25)
    [trigger] = sent(run(engine, [*others, buy], advance_to_ms=DAY0_MS + 60 * DAY_MS))
    assert trigger.ts_ms == DAY0_MS + (25 + 8 - 1) * DAY_MS
    assert (trigger.payload["interval_from"], trigger.payload["interval_days"]) == ("shop", 8.0)
    assert trigger.trigger_id == trigger_id_for("u1", RULE, SEPARATOR.join(("coffee", buy.event_id, "shop")))
    assert sent(run(engine_for(min_shop_gaps=6), [*others, buy], advance_to_ms=DAY0_MS + 60 * DAY_MS)) == []


def test_a_purchase_before_it_is_due_re_arms_and_a_late_one_changes_nothing():
    engine = engine_for()
    run(engine, [coffee("u1", day) for day in (0, 10, 20, 30)], advance_to_ms=DAY0_MS + 35 * DAY_MS)
    late = run(engine, [coffee("u1", 5)], advance_to_ms=DAY0_MS + 39 * DAY_MS)  # old news: day 39 stands
    assert [trigger.ts_ms for trigger in sent(late)] == [DAY0_MS + 39 * DAY_MS]
    engine = engine_for()
    outputs = run(engine, [coffee("u1", day) for day in (0, 10, 20, 30, 38)], advance_to_ms=DAY0_MS + 100 * DAY_MS)
    assert [trigger.ts_ms for trigger in sent(outputs)] == [DAY0_MS + (38 + 10 - 1) * DAY_MS]


def test_only_its_categories_and_only_a_restock_converts():
    engine = engine_for()
    outputs = run(engine, [purchase("u1", DAY0_MS + day * DAY_MS, [BOOK]) for day in (0, 10, 20, 30)], advance_to_ms=DAY0_MS + 100 * DAY_MS)
    assert sent(outputs) == []
    engine = engine_for()
    [trigger] = sent(run(engine, [coffee("u1", day) for day in (0, 10, 20, 30)], advance_to_ms=DAY0_MS + 39 * DAY_MS))
    assert [o for o in engine.on_event(purchase("u1", DAY0_MS + 39 * DAY_MS + HOUR_MS, [BOOK])) if isinstance(o, Conversion)] == []
    [conversion] = [o for o in engine.on_event(coffee("u1", 39.5)) if isinstance(o, Conversion)]
    assert conversion.trigger_id == trigger.trigger_id


def test_its_reminder_comes_once_per_restock():
    engine = engine_for()
    outputs = run(engine, [coffee("u1", day) for day in (0, 10, 20, 30)], advance_to_ms=DAY0_MS + 200 * DAY_MS)
    assert len(sent(outputs)) == 1


@pytest.mark.parametrize(
    ("params", "categories"),
    [("{categories: coffee}", ("coffee",)), ("{categories: [coffee, tea], lead: 12h}", ("coffee", "tea"))],
)
def test_the_rules_file_lists_its_consumables(params: str, categories: tuple):
    book = parse_rulebook(f"rules:\n  - {{name: r, kind: replenishment, channel: push, params: {params}}}\n")
    assert book.rules[0].params.categories == categories  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ("{lead: 1d}", "missing required key 'categories'"),
        ("{categories: []}", "params.categories: must name at least one consumable category"),
        ("{categories: [coffee], min_own_gaps: 0}", "params.min_own_gaps"),
        ("{categories: [coffee], min_own_gaps: 6}", "params.min_own_gaps: must be at most 5: a profile keeps 6 restocks per category"),
    ],
)
def test_the_rules_file_refuses_a_rule_without_consumables(params: str, problem: str):
    with pytest.raises(RulesError, match=problem):
        parse_rulebook(f"rules:\n  - {{name: r, kind: replenishment, channel: push, params: {params}}}\n")


def test_a_busy_shopper_keeps_their_consumable_s_history():
    """Sixteen one-off categories bought after the last coffee: the profile keeps 16 categories,
    and the one with a rhythm (four restocks) outlives the crowd, so the reminder still comes."""
    events = [coffee("u1", day) for day in (0, 10, 20, 30)]
    events += [
        purchase("u1", DAY0_MS + 31 * DAY_MS + n * 6 * HOUR_MS, [item(f"x{n}", 5.0, category=f"other{n:02d}")]) for n in range(purchases.MAX_CATEGORIES)
    ]
    outputs = run(engine_for(), events, advance_to_ms=DAY0_MS + 40 * DAY_MS)
    assert [(trigger.payload["category"], trigger.ts_ms) for trigger in sent(outputs)] == [("coffee", DAY0_MS + 39 * DAY_MS)]


def test_a_category_taken_off_the_rule_is_not_reminded():
    engine = engine_for()
    run(engine, [coffee("u1", day) for day in (0, 10, 20, 30)])
    assert "replenishment/coffee" in engine.store["u1"].timers
    edited = RuleSpec(RULE, RuleKind.REPLENISHMENT, "push", ReplenishmentParams(("tea",)))
    restarted = PartitionEngine(store=engine.store, book=rule_book(edited), population=engine.population)
    restarted.restore(engine.store.values())
    assert sent(restarted.advance(DAY0_MS + 40 * DAY_MS)) == []
