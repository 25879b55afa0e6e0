"""What the new kinds find on the synthetic shop's planted journeys (streams/traffic.py,
``journeys=True``): the planted category pairs come out as each category's top association, by a
wide margin, and the consumable's per-shopper cycles come out of each regular's own intervals.

Sixty days of 300 shoppers, through one partition engine with cross_sell and replenishment alone.
"""

from __future__ import annotations

import statistics
from functools import cache

import orjson

from schemas.decoding import Rejection, decode_event
from schemas.events import Event, Purchase
from schemas.outputs import Output, Trigger
from schemas.timestamps import parse_rfc3339
from streams.config import DAY_MS
from streams.partition import PartitionEngine
from streams.rules.spec import NO_GUARDRAILS, CrossSellParams, ReplenishmentParams, RuleBook, RuleKind, RuleSpec
from streams.traffic import CONSUMABLES, PLANTED_PAIRS, ShopSimulator

START_MS = 1_795_597_200_000
BOOK = RuleBook(
    (
        RuleSpec("cross_sell", RuleKind.CROSS_SELL, "email", CrossSellParams()),
        RuleSpec("replenishment", RuleKind.REPLENISHMENT, "push", ReplenishmentParams(CONSUMABLES)),
    ),
    NO_GUARDRAILS,
)


@cache
def shop() -> tuple[ShopSimulator, tuple[Event, ...]]:
    simulator = ShopSimulator(users=300, seed=7, start_ms=START_MS, mean_gap_ms=60 * DAY_MS / 30_000, journeys=True)
    events = []
    for message in simulator.events(30_000):
        event = decode_event(message.topic, orjson.dumps(message.value), message.user_id.encode())
        assert not isinstance(event, Rejection)
        events.append(event)
    return simulator, tuple(events)


@cache
def replayed() -> tuple[list[Output], PartitionEngine]:
    _, events = shop()
    engine = PartitionEngine(store={}, book=BOOK)
    outputs: list[Output] = []
    for event in events:
        outputs.extend(engine.on_event(event))
    outputs.extend(engine.advance(events[-1].ts_ms + 3 * DAY_MS))
    return outputs, engine


def triggers(rule: str) -> list[Trigger]:
    return [output for output in replayed()[0] if isinstance(output, Trigger) and output.rule == rule]


def test_each_planted_pair_is_its_category_s_top_association_by_far():
    associations = replayed()[1].population.associations
    planted = dict(PLANTED_PAIRS)
    for first, second in PLANTED_PAIRS:
        top = associations.top(first, min_support=5, min_lift=0.0)
        assert top[0].category == second and top[0].lift > 4, (first, top[:3])
    unplanted = [pair.lift for category in associations.bought if category not in planted for pair in associations.top(category, min_support=5, min_lift=0.0)]
    assert max(unplanted) < 1.5  # nothing else reaches the shipped min_lift


def test_cross_sell_recommends_only_the_planted_partners():
    sent = triggers("cross_sell")
    assert sent and {(trigger.payload["because_of"], trigger.payload["category"]) for trigger in sent} <= set(PLANTED_PAIRS)


def test_replenishment_finds_each_regular_s_own_cycle_and_reminds_before_they_restock():
    simulator, events = shop()
    cycles = simulator.cycles
    own = [trigger for trigger in triggers("replenishment") if trigger.payload["interval_from"] == "own"]
    assert len(own) >= 30 and all(trigger.user_id in cycles for trigger in own)
    errors = [abs(trigger.payload["interval_days"] * DAY_MS / cycles[trigger.user_id] - 1) for trigger in own]
    assert statistics.median(errors) < 0.05 and max(errors) <= 0.15, sorted(errors)[-5:]
    coffee = {}
    for event in events:
        if isinstance(event, Purchase) and any(item.category in CONSUMABLES for item in event.items):
            coffee.setdefault(event.user_id, []).append(event.ts_ms)
    in_time = 0
    for trigger in own:
        last_ms, _ = parse_rfc3339(trigger.payload["last_purchase"])
        following = [ts_ms for ts_ms in coffee[trigger.user_id] if ts_ms > last_ms + DAY_MS]
        in_time += not following or trigger.ts_ms < following[0]
    assert in_time / len(own) > 0.6, (in_time, len(own))
