"""Every record a worker stores and every message it produces stays under its bound, for the worst
user the input contract allows.

Valid input once crash-looped a worker: 2,500 add_to_cart events with long product ids made one
user's record larger than the producer accepts. Here the worst valid user, every id at its
longest and spelt with characters JSON must escape, does everything at once: fills the cart,
browses more categories than are kept, speaks about more channels than are kept, triggers every
rule day after day. Their record is encoded exactly as the worker writes it.
"""

from __future__ import annotations

import json
import random
from typing import Any

import orjson

from agents.records import UserRecord, encode_population, encode_record
from streams.associations import MAX_NAME_BYTES
from streams.features import FEATURES
from streams.learning import Learner
from streams.predictions import MAX_UPLIFT_RULES, PROPENSITY, uplift_key
from streams.purchases import MAX_CATEGORIES as MAX_BOUGHT_CATEGORIES
from streams.rules.cross_sell import MAX_PENDING
from test_associations import fill as fill_associations
from schemas import Rejection, decode_event
from schemas.events import Event
from schemas.limits import MAX_ID_LENGTH, MAX_OUTPUT_BYTES, MAX_POPULATION_RECORD_BYTES, MAX_TEXT_LENGTH, MAX_USER_RECORD_BYTES
from schemas.outputs import Output, Response, Suppression, Trigger
from schemas.timestamps import format_rfc3339
from streams.cart import MAX_CART_LINES
from streams.config import DAY_MS, MINUTE_MS
from streams.keywords import MAX_KEYWORD_LENGTH
from streams.partition import PartitionEngine
from streams.population import MAX_PRICED_NAME_BYTES
from streams.uplift import MAX_OUTCOME_RULES, RuleOutcomes
from streams.profile import MAX_CONSENT_CHANNELS
from streams.rules.abandoned_interest import MAX_FIRED_CATEGORIES, MAX_INTEREST_EPISODES
from streams.rules.loading import default_rulebook
from dataclasses import replace

from streams.rules.spec import (
    CrossSellParams,
    ReplenishmentParams,
    AbandonedCartParams,
    AbandonedInterestParams,
    FollowUpParams,
    Guardrails,
    RuleBook,
    RuleKind,
    RuleSpec,
    TimedPromotionParams,
    Variant,
    WinBackParams,
)
from streams.state import MAX_EXPOSURES, MAX_SENT_TIMES, UserState

T0_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z, inside the default winter sale


def longest(tag: str, limit: int = MAX_ID_LENGTH) -> str:
    """A valid id of ``limit`` bytes that JSON writes twice as long: a distinct tag, then quotes."""
    return tag + '"' * (limit - len(tag))


USER = longest("user-")

# The longest names a rules file allows, for a rule with variants and a follow-up on every trigger.
_NAME = "v" * 64
_CART = RuleSpec("c" * 54, RuleKind.ABANDONED_CART, "push", AbandonedCartParams(delay_ms=20 * MINUTE_MS))
_FOLLOWED = replace(
    _CART,
    follow_up=RuleSpec("c" * 54 + "-follow-up", RuleKind.FOLLOW_UP, "email", FollowUpParams(after_ms=10 * MINUTE_MS, parent="c" * 54), holdout_fraction=0.0),
)
_WITH_VARIANTS = replace(_FOLLOWED, variants=tuple(Variant(_NAME[:-1] + str(n), 1.0, replace(_FOLLOWED, variant=_NAME[:-1] + str(n))) for n in range(8)))

# Every kind twice or more, no frequency cap and no quiet hours, so nothing holds the user back.
HEAVY_BOOK = RuleBook(
    (
        _WITH_VARIANTS,
        RuleSpec("cart_10m", RuleKind.ABANDONED_CART, "push", AbandonedCartParams(delay_ms=10 * MINUTE_MS)),
        RuleSpec("cart_30m", RuleKind.ABANDONED_CART, "sms", AbandonedCartParams(delay_ms=30 * MINUTE_MS)),
        RuleSpec("interest_a", RuleKind.ABANDONED_INTEREST, "push", AbandonedInterestParams()),
        RuleSpec("interest_b", RuleKind.ABANDONED_INTEREST, "email", AbandonedInterestParams(delay_ms=25 * MINUTE_MS)),
        RuleSpec("sale", RuleKind.TIMED_PROMOTION, "email", TimedPromotionParams(start_ms=T0_MS, end_ms=T0_MS + 30 * DAY_MS)),
        RuleSpec("win_back", RuleKind.WIN_BACK, "email", WinBackParams()),
        RuleSpec("cross_sell", RuleKind.CROSS_SELL, "email", CrossSellParams(delay_ms=DAY_MS)),
        RuleSpec("replenish", RuleKind.REPLENISHMENT, "push", ReplenishmentParams(tuple(longest(f"bc{n}-") for n in range(40)), min_own_gaps=1)),
    ),
    Guardrails(holdout_fraction=0.2, frequency_cap=None, quiet_hours=None),
)
SHORT_CATEGORIES = tuple("{:0>{}}".format(n, MAX_NAME_BYTES - 2) for n in range(MAX_PENDING + 4))  # the longest names associations learn


class WorstUser:
    """Sends the worst user's events through the decoder (so each is valid) into one engine."""

    def __init__(self, book: RuleBook) -> None:
        self.engine = PartitionEngine(store={}, book=book)
        self.outputs: list[Output] = []
        self.largest_record = 0
        self.seen_caps: dict[str, int] = {}
        self.n = 0

    def send(self, topic: str, ts_ms: int, **fields: Any) -> None:
        self.n += 1
        body = {"event_id": longest(f"e{self.n}-"), "user_id": USER, "ts": format_rfc3339(ts_ms), **fields}
        event = decode_event(topic, json.dumps(body).encode(), USER.encode())
        assert not isinstance(event, Rejection), event
        self.apply(event)

    def apply(self, event: Event) -> None:
        self.outputs += self.engine.on_event(event)

    def advance(self, ts_ms: int) -> None:
        self.outputs += self.engine.advance(ts_ms)
        self.measure()

    def measure(self) -> None:
        state = self.engine.store[USER]
        record = UserRecord(partition=3, state=state, offsets={topic: 2**62 for topic in ("clicks", "searches", "purchases", "consents", "erasures", "engagements")})
        self.largest_record = max(self.largest_record, len(encode_record(record)) + len(USER.encode()))
        for name, size in self.sizes(state).items():
            self.seen_caps[name] = max(self.seen_caps.get(name, 0), size)

    @staticmethod
    def sizes(state: UserState) -> dict[str, int]:
        return {
            "cart": len(state.profile.cart),
            "consents": len(state.profile.consents),
            "interests": len(state.interests),
            "exposures": len(state.exposures),
            "sent": len(state.sent_ms),
            "fired": len(state.fired),
            "engagement": len(state.profile.engagement),
            "blocks": len(state.profile.channel_blocks),
            "bought": len(state.profile.bought_ms),
            "cross_sells": sum(key.startswith("cross_sell/") for key in state.timers),
        }

    def a_day_of_everything(self, day: int) -> None:
        start = T0_MS + day * DAY_MS
        for n in range(MAX_CONSENT_CHANNELS + 8):
            self.send("consents", start, channel=longest(f"ch{day}-{n}-", 64), granted=n % 3 == 0)
        self.send("consents", start, channel="all", granted=True)
        for n in range(MAX_CART_LINES + 10):
            self.send("clicks", start + n, action="add_to_cart", product_id=longest(f"d{day}p{n}-"), category=longest(f"c{n}-"), price=99.0, quantity=9)
        words = " ".join(f"{n:02d}" + "w" * (MAX_KEYWORD_LENGTH - 2) for n in range(40))
        self.send("searches", start + 100, query=words[:MAX_TEXT_LENGTH], category=longest("searched-"))
        for category in range(MAX_INTEREST_EPISODES + 8):
            for view in range(12):
                at_ms = start + 1000 + category * 3000 + view * 200
                self.send("clicks", at_ms, action="view", product_id=longest(f"v{category}-{view}-"), category=longest(f"d{day}k{category}-"), price=5.0)
        self.measure()
        self.advance(start + 2 * 60 * MINUTE_MS)  # every reminder comes due
        # The senders report on every message, on more channels than are kept, each named at its longest.
        for n, exposure in enumerate(self.engine.store[USER].exposures):
            for kind in ("delivered", "opened", "clicked", "bounced", "unsubscribed"):
                channel = longest(f"x{day}-{n}-{kind}-", 64)
                self.send("engagements", start + 2 * 60 * MINUTE_MS + n, trigger_id=exposure.trigger_id, channel=channel, type=kind)
        self.measure()
        # Buys a few cart lines (a conversion) and a long tail of other things.
        bought = [(longest(f"d{day}p{n}-"), longest(f"c{n}-")) for n in range(MAX_CART_LINES + 5, MAX_CART_LINES + 10)]
        bought += [(longest(f"b{n}-"), longest(f"bc{n}-")) for n in range(145)]
        items = [{"product_id": product, "category": category, "price": 1.0, "quantity": 1} for product, category in bought]
        self.send("purchases", start + 3 * 60 * MINUTE_MS, order_id=longest(f"o{day}-"), items=items, total=150.0, coupon=longest("coupon-"))
        # One-line orders in more categories than cross-sells may wait for, each its own main category.
        for n, category in enumerate(SHORT_CATEGORIES):
            item = {"product_id": longest(f"s{n}-"), "category": category, "price": 1.0, "quantity": 1}
            self.send("purchases", start + 3 * 60 * MINUTE_MS + n + 1, order_id=longest(f"o{day}-{n}-"), items=[item], total=1.0)
        self.measure()
        self.advance(start + 4 * 60 * MINUTE_MS)


def rule_of(output: Output) -> str:
    return output.trigger.rule if isinstance(output, Suppression) else output.rule


def drive(book: RuleBook, days: int) -> WorstUser:
    user = WorstUser(book)
    for day in range(days):
        user.a_day_of_everything(day)
    user.advance(T0_MS + (days + 40) * DAY_MS)  # silent for 40 days: win-back
    return user


def test_the_worst_valid_user_s_record_stays_under_the_bound_with_every_collection_at_its_cap():
    user = drive(HEAVY_BOOK, days=7)
    assert user.largest_record < MAX_USER_RECORD_BYTES, user.largest_record
    # The run reached every cap, so the bound is measured at the worst, not short of it.
    assert user.seen_caps["cart"] == MAX_CART_LINES
    assert user.seen_caps["consents"] == MAX_CONSENT_CHANNELS
    assert user.seen_caps["interests"] == MAX_INTEREST_EPISODES
    assert user.seen_caps["exposures"] == MAX_EXPOSURES
    assert user.seen_caps["sent"] == MAX_SENT_TIMES
    assert user.seen_caps["fired"] <= 2 * MAX_FIRED_CATEGORIES + 5  # two interest rules, then one mark per other rule
    assert user.seen_caps["engagement"] == 2 * MAX_CONSENT_CHANNELS
    assert user.seen_caps["blocks"] == MAX_CONSENT_CHANNELS
    assert user.seen_caps["bought"] == MAX_BOUGHT_CATEGORIES
    assert user.seen_caps["cross_sells"] == MAX_PENDING


def test_the_worst_valid_user_under_the_default_rules_stays_under_the_bound():
    user = drive(default_rulebook(), days=3)
    assert user.largest_record < MAX_USER_RECORD_BYTES, user.largest_record
    assert {rule_of(output) for output in user.outputs} == {"abandoned_cart", "abandoned_interest", "winter_sale", "win_back"}


def test_every_output_of_the_worst_user_fits_in_one_kafka_message():
    user = drive(HEAVY_BOOK, days=2)
    kinds = {type(output).__name__ for output in user.outputs}
    assert kinds == {"Trigger", "Suppression", "Conversion", "Response"}  # a response is counted, never sent
    published = [output for output in user.outputs if not isinstance(output, Response)]
    assert any(isinstance(output, Trigger) and output.variant and output.rule.endswith("-follow-up") for output in published)
    largest = max(len(orjson.dumps(output.to_wire(emitted_at_ms=T0_MS))) for output in published)
    assert largest + len(USER.encode()) < MAX_OUTPUT_BYTES, largest


def test_the_population_record_stays_under_its_bound_however_many_long_names_it_sees():
    """A partition's shared record: priced categories and the keyword map, fed by many users with
    names at their longest, until both budgets are full."""
    engine = PartitionEngine(store={}, book=HEAVY_BOOK)
    for n in range(3000):
        user, category = f"u{n}", longest(f"cat{n}-")
        body = {"event_id": f"s{n}", "user_id": user, "ts": format_rfc3339(T0_MS + n * 10), "query": " ".join(f"{n}x{k}" + "y" * 20 for k in range(5))}
        for topic, raw in (
            ("searches", body),
            ("clicks", {"event_id": f"v{n}", "user_id": user, "ts": format_rfc3339(T0_MS + n * 10 + 1), "action": "view", "product_id": "p", "category": category, "price": 1.0}),
        ):
            event = decode_event(topic, json.dumps(raw).encode(), user.encode())
            assert not isinstance(event, Rejection), event
            engine.on_event(event)
    population = engine.population
    assert population.priced_name_bytes > MAX_PRICED_NAME_BYTES - 2 * MAX_ID_LENGTH  # the price budget is full
    # Uplift counts for more rules of the longest name than a partition keeps, at counts no shop reaches.
    for n in range(MAX_OUTCOME_RULES + 10):
        outcomes = population.rule_outcomes(f"{n:05d}".ljust(64, "r"))
        if outcomes is not None:
            outcomes.add(RuleOutcomes(*[10**15] * 4))
    assert len(population.outcomes) == MAX_OUTCOME_RULES
    # The online models at their most: the propensity model and every rule's two uplift models, trained.
    rng = random.Random(1)
    keys = [PROPENSITY] + [uplift_key(f"{n:05d}".ljust(64, "r"), treated) for n in range(MAX_UPLIFT_RULES) for treated in (True, False)]
    for key in keys:
        learner = population.models[key] = Learner.new("logistic")
        for _ in range(300):
            learner.learn({feature: rng.random() * 100 for feature in FEATURES}, rng.random() < 0.3, 0.3)
    fill_associations(population.associations)  # and every table of the associations full, at the longest names
    assert len(encode_population(population)) < MAX_POPULATION_RECORD_BYTES
