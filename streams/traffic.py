"""A seeded synthetic shop: the input stream for demos, benchmarks and tests.

It is pure (no broker, no wall clock, no global random state), so a seed names one exact stream
and a replay of it is bit-for-bit the same. Shoppers come in sessions: they browse, sometimes
search, put things in the cart, sometimes take them out, and then either buy or walk away. A
shopper who walks away touches neither cart nor checkout for ``ABANDON_QUIET_MS`` afterwards (only
browsing), so every abandoned cart really is one for the 30-minute abandoned-cart rule. Some come
back when a reminder would have reached them (``REMINDER_RESPONSE_MS`` after the last cart change)
and buy the cart.

Each shopper has a ``Persona`` (fixed shares, assigned from the seed, see ``assign_personas``)
that sets how often they come, how much they look, what they can afford and how readily they buy,
and a favourite local hour: the shop is busiest in the evening, nearly empty at night.

How the stream keeps its mean gap: every shopper runs on their own clock, which ticks ``w(h)``
times as fast as event time in local hour ``h``; the weights average 1 over a day, so any 24 hours
of event time are exactly 24 hours on every shopper's clock. The idle gaps between sessions are
drawn on that clock, so session starts crowd into the shopper's busy hours, while the clicks inside
a session keep to event time. A shopper with relative ``activity``
``a_i`` gets a shopper-gap of ``mean_gap_ms * sum(a) / a_i``, and a session of ``k`` events plus
the idle time after it takes ``k`` shopper-gaps of the shopper's clock on average (the session's
span counted at the speed of its hour), so the shoppers together produce one event per
``mean_gap_ms`` averaged over a day, however many there are; within a day the rate follows the
hours. It comes out a little dense (by a few per cent over a few days) because new visitors' first
visits come on top (``activity`` counts them as the rare visitors they become) and because the
stream starts every shopper at a fresh session. If the shopper-gap (``users * mean_gap_ms``) is
shorter than a few think times, sessions cannot fit and the stream comes out sparser. For a
realistic mix keep it at a minute or more: busier shoppers spend most of their events browsing
while an abandoned cart waits out its quiet period.

Journeys (opt-in: ``journeys=True``, ``nudge generate --plant-journeys``) give the rules that look
across days something to find. The shop gains the categories of ``JOURNEY_CATEGORIES``, bought on
a whim like any category that is not a shopper's favourite. A purchase in the first category of a
``PLANTED_PAIRS`` pair (baby formula, a smartphone) is followed, with ``PAIR_FOLLOW_PROBABILITY``,
by a visit 1 to 3 days later at about the same hour that buys in the second (diapers, phone
accessories), so the second is the first's strongest association by lift. And ``CYCLE_SHARE`` of
the shoppers other than new visitors buy a consumable of ``CONSUMABLES`` (coffee) on a cycle of
their own, 7 to 35 days (``ShopSimulator.cycles``) give or take a tenth, and never on a whim. A
planned visit is a session of its own (a look, the product into the cart, checkout of the whole
cart) that waits while the cart must not be touched: a walked-away cart's quiet time, and the
return for it. An erasure forgets the cart, not the shopper's needs: planned visits still come.
Journeys draw from a generator of each shopper's own, and without them the shop draws exactly what
it always drew: the default stream stays the same, byte for byte.
"""

from __future__ import annotations

import heapq
import json
import random
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Iterator, NamedTuple

from schemas.events import ClickAction, InputTopic
from schemas.timestamps import format_rfc3339
from streams.rules.guardrails import in_holdout

# Category -> (typical price, search queries that lead to it).
CATEGORIES: dict[str, tuple[float, tuple[str, ...]]] = {
    "shoes": (80.0, ("running shoes", "sneakers", "leather boots", "sandals")),
    "books": (18.0, ("crime novel", "cookbook", "sci-fi paperback", "travel guide")),
    "electronics": (250.0, ("headphones", "usb-c charger", "bluetooth speaker", "e-reader")),
    "kitchen": (45.0, ("chef knife", "frying pan", "coffee grinder", "mixing bowls")),
    "toys": (30.0, ("lego set", "board game", "puzzle 1000", "plush bear")),
    "garden": (60.0, ("garden hose", "pruning shears", "plant pots", "lawn seed")),
}
PRODUCTS_PER_CATEGORY = 20
# Longer than the 30-minute rule, so a walked-away cart fires it before the shopper returns.
ABANDON_QUIET_MS = 35 * 60_000
# When a shopper who answers the reminder comes back, after the last cart change: the 30-minute
# reminder plus the time it takes to notice it. Starts at ABANDON_QUIET_MS, so the rule fires first.
REMINDER_RESPONSE_MS = (ABANDON_QUIET_MS, 90 * 60_000)
# Think time between clicks of one session, unless the stream is so dense that it must be shorter.
IN_SESSION_GAP_MS = 20_000.0
# Shops in several time zones, so the wire's offsets are exercised.
UTC_OFFSETS_MIN = (-300, 0, 60, 120, 330)
# How busy the shop is in each local hour (0 to 23), relative: quiet at night, busiest after dinner.
SHOP_HOURS = (
    0.6, 0.35, 0.2, 0.15, 0.15, 0.2, 0.35, 0.6, 0.8, 0.9, 1.0, 1.1,
    1.3, 1.2, 1.0, 1.0, 1.1, 1.3, 1.6, 1.9, 2.1, 2.0, 1.5, 0.9,
)  # fmt: skip
# A shopper's favourite local hour, drawn from these (repeats make an hour likelier), gets this
# much extra weight, and half of it goes to each neighbouring hour.
PREFERRED_HOURS = (7, 8, 12, 12, 13, 18, 19, 20, 20, 21, 21, 22, 23)
PREFERRED_HOUR_BOOST = 2.0
SEARCH_WITHOUT_CATEGORY_PROBABILITY = 0.5  # the shop's search did not resolve a category
REMOVE_PROBABILITY = 0.2
CLEAR_CART_PROBABILITY = 0.3  # of a returning shopper who does not buy the old cart at once
# A price-sensitive shopper's chance to buy shrinks by this when the cart holds anything dearer
# than its category's typical price.
PRICEY_CART_FACTOR = 0.4
CONSENT_CHANGE_PROBABILITY = 0.03  # per session: the shopper opts in or out of a channel
CONSENT_GRANTED_PROBABILITY = 0.4
CONSENT_CHANNELS = ("push", "email", "sms", "all")
ERASURE_PROBABILITY = 0.002  # per session: the shopper asks to be forgotten (and may come back)
COUPON = "SAVE10"
COUPON_DISCOUNT = 0.10
# A new visitor's first visit starts after about this many of their session cycles, so new
# visitors keep arriving instead of all turning up at the start of the stream.
NEW_VISITOR_ARRIVAL_CYCLES = 10.0

# Journeys mode only (``ShopSimulator(journeys=True)``): categories for what shoppers do over days,
# kept out of the default shop so that its catalogue and stream stay as they were.
JOURNEY_CATEGORIES: dict[str, tuple[float, tuple[str, ...]]] = {
    "baby_formula": (22.0, ("infant formula", "follow-on milk", "formula powder", "hypoallergenic formula")),
    "diapers": (28.0, ("diapers size 3", "nappies", "night diapers", "baby wipes")),
    "smartphones": (420.0, ("android phone", "5g smartphone", "budget phone", "foldable phone")),
    "phone_accessories": (18.0, ("phone case", "screen protector", "usb-c cable", "wireless charger")),
    "coffee": (12.0, ("coffee beans", "ground coffee", "espresso pods", "decaf coffee")),
}
# Complementary pairs: a purchase in the first category is followed, with PAIR_FOLLOW_PROBABILITY,
# by a visit to buy in the second one PAIR_FOLLOW_DAYS later (whole days, at about the same hour).
# Both ends are journeys-only categories, bought only on a whim (never a favourite) but for the
# planted visits: a pair from a favourite category, such as electronics, is bought so often that
# the planted visits raise the second category's base rate and blur the pair's lift.
PLANTED_PAIRS: tuple[tuple[str, str], ...] = (("baby_formula", "diapers"), ("smartphones", "phone_accessories"))
PAIR_FOLLOW_PROBABILITY = 0.6
PAIR_FOLLOW_DAYS = (1, 3)
# Consumables: this share of the shoppers other than new visitors buy one on a cycle of their own,
# drawn in whole days from CYCLE_DAYS; each gap is that cycle give or take whole days, up to
# CYCLE_JITTER of it (none for a cycle under 10 days), and the hour jitter.
CONSUMABLES: tuple[str, ...] = ("coffee",)
CYCLE_SHARE = 0.4
CYCLE_DAYS = (7, 35)
CYCLE_JITTER = 0.1
# A planned visit comes at about the hour of the one it follows, give or take this.
JOURNEY_HOUR_JITTER_MS = 2 * 3_600_000


class Persona(StrEnum):
    """The kind of shopper someone is; sets their ``Habits``."""

    BARGAIN_HUNTER = "bargain_hunter"  # cheap products, often a coupon, shies away from dear carts
    LOYAL_BUYER = "loyal_buyer"  # comes back often, buys often, sticks to favourite categories
    BROWSER = "browser"  # many views and searches, rarely adds to the cart, more rarely buys
    NEW_VISITOR = "new_visitor"  # one or two short visits, then rarely seen again


@dataclass(frozen=True, slots=True)
class Habits:
    """How shoppers of one persona shop."""

    share: float  # of all shoppers
    activity: float  # events per unit of time, relative to the other personas
    favourite_categories: int  # how many categories the shopper favours
    favourite_probability: float  # that a session is about a favourite category
    views: tuple[int, int]  # products viewed per session: fewest, most
    search_probability: float  # per session
    add_to_cart_probability: float  # per session that may change the cart
    buy_propensity: tuple[float, float]  # each shopper's chance to buy a cart, drawn in this range
    coupon_probability: float  # per order
    # Price levels are picked as level = int(levels * u ** price_skew) for a uniform u: above 1
    # favours the cheap end of a category, below 1 the dear end.
    price_skew: float
    price_sensitive: bool  # buys a cart with dearer-than-typical products less readily
    reminder_return_probability: float  # of a walked-away cart: back to buy it after a reminder
    fades_after_sessions: tuple[int, int] | None  # after that many visits (fewest, most), rarely back


# A shopper who has faded comes this many times less often than before.
FADED_SLOWDOWN = 40.0
HABITS: dict[Persona, Habits] = {
    Persona.BARGAIN_HUNTER: Habits(
        share=0.25, activity=1.0, favourite_categories=2, favourite_probability=0.6, views=(2, 6),
        search_probability=0.5, add_to_cart_probability=0.55, buy_propensity=(0.3, 0.7),
        coupon_probability=0.6, price_skew=3.0, price_sensitive=True, reminder_return_probability=0.5,
        fades_after_sessions=None,
    ),
    Persona.LOYAL_BUYER: Habits(
        share=0.20, activity=2.0, favourite_categories=2, favourite_probability=0.92, views=(1, 4),
        search_probability=0.25, add_to_cart_probability=0.7, buy_propensity=(0.6, 0.95),
        coupon_probability=0.1, price_skew=0.7, price_sensitive=False, reminder_return_probability=0.35,
        fades_after_sessions=None,
    ),
    Persona.BROWSER: Habits(
        share=0.35, activity=1.3, favourite_categories=3, favourite_probability=0.5, views=(3, 10),
        search_probability=0.75, add_to_cart_probability=0.12, buy_propensity=(0.05, 0.25),
        coupon_probability=0.1, price_skew=1.0, price_sensitive=False, reminder_return_probability=0.1,
        fades_after_sessions=None,
    ),
    Persona.NEW_VISITOR: Habits(
        share=0.20, activity=1.0, favourite_categories=1, favourite_probability=0.5, views=(1, 3),
        search_probability=0.3, add_to_cart_probability=0.35, buy_propensity=(0.1, 0.4),
        coupon_probability=0.2, price_skew=1.2, price_sensitive=False, reminder_return_probability=0.25,
        fades_after_sessions=(1, 2),
    ),
}  # fmt: skip
_PERSONAS = tuple(HABITS)
_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    category: str
    price: float


def _build_catalogue(categories: dict[str, tuple[float, tuple[str, ...]]]) -> dict[str, tuple[Product, ...]]:
    """Fixed, not seeded: the same product id means the same product in every stream."""
    catalogue = {}
    for category, (typical_price, _) in categories.items():
        catalogue[category] = tuple(
            # Price levels from a third of the typical price to about twice it.
            Product(f"{category}-{level:02d}", category, round(typical_price * (0.35 + 0.085 * level), 2))
            for level in range(PRODUCTS_PER_CATEGORY)
        )
    return catalogue


CATALOGUE = _build_catalogue(CATEGORIES)
JOURNEY_CATALOGUE = _build_catalogue(JOURNEY_CATEGORIES)
_CATEGORY_NAMES = tuple(CATEGORIES)
_JOURNEY_CATEGORY_NAMES = _CATEGORY_NAMES + tuple(JOURNEY_CATEGORIES)
# A shopper with a cycle buys their consumable on it, not on a whim as well.
_CYCLE_SHOPPER_CATEGORY_NAMES = tuple(name for name in _JOURNEY_CATEGORY_NAMES if name not in CONSUMABLES)
_DEARER_THAN_TYPICAL = frozenset(
    product
    for categories, catalogue in ((CATEGORIES, CATALOGUE), (JOURNEY_CATEGORIES, JOURNEY_CATALOGUE))
    for products in catalogue.values()
    for product in products
    if product.price > categories[product.category][0]
)


def _hour_weights(preferred_hour: int) -> tuple[float, ...]:
    """Shop hours plus a shopper's favourite hour, scaled to average 1 over the day."""
    weights = list(SHOP_HOURS)
    for hour, boost in ((preferred_hour - 1, 0.5), (preferred_hour, 1.0), (preferred_hour + 1, 0.5)):
        weights[hour % 24] += PREFERRED_HOUR_BOOST * boost
    total = sum(weights)
    return tuple(24 * weight / total for weight in weights)


_RHYTHMS = {hour: _hour_weights(hour) for hour in set(PREFERRED_HOURS)}

# Plain strings, looked up once: the enums' attribute access is slow in the hot loop.
_CLICKS, _SEARCHES, _PURCHASES = InputTopic.CLICKS.value, InputTopic.SEARCHES.value, InputTopic.PURCHASES.value
_CONSENTS, _ERASURES = InputTopic.CONSENTS.value, InputTopic.ERASURES.value
_VIEW, _ADD, _REMOVE = ClickAction.VIEW.value, ClickAction.ADD_TO_CART.value, ClickAction.REMOVE_FROM_CART.value


def assign_personas(users: int, *, seed: int) -> tuple[Persona, ...]:
    """Each shopper's persona by index: every persona's ``share`` as exactly as whole shoppers
    allow (largest remainders get the odd ones), in an order shuffled by the seed.

    >>> from collections import Counter
    >>> sorted(Counter(persona.value for persona in assign_personas(100, seed=1)).items())
    [('bargain_hunter', 25), ('browser', 35), ('loyal_buyer', 20), ('new_visitor', 20)]
    >>> assign_personas(100, seed=1) == assign_personas(100, seed=1) != assign_personas(100, seed=2)
    True
    """
    quotas = [HABITS[persona].share * users for persona in _PERSONAS]
    counts = [int(quota) for quota in quotas]
    by_remainder = sorted(range(len(quotas)), key=lambda index: counts[index] - quotas[index])
    for index in by_remainder[: users - sum(counts)]:
        counts[index] += 1
    personas = [persona for persona, count in zip(_PERSONAS, counts) for _ in range(count)]
    random.Random(f"personas-{seed}").shuffle(personas)
    return tuple(personas)


class ShopMessage(NamedTuple):
    """One message for an input topic, keyed by ``user_id`` on the broker."""

    topic: str  # logical input topic, see schemas.events.InputTopic
    user_id: str  # also the message key, so one user's events stay on one partition
    value: dict[str, Any] | bytes  # a wire event, or a deliberately malformed message body


@dataclass(slots=True)
class _Journeys:
    """What a shopper of journeys mode has planned over the coming days."""

    rng: random.Random  # the shopper's own, so journeys leave the other shoppers' draws alone
    cycle_ms: int | None  # how often they buy their consumable; None: not a regular buyer
    consumable: Product | None  # the one they always buy
    planned: list[tuple[float, str]] = field(default_factory=list)  # heap of (due time, category)


@dataclass(slots=True)
class _Shopper:
    """One user's taste and where they are in their story."""

    user_id: str
    persona: Persona
    habits: Habits
    utc_offset_min: int
    hour_weights: tuple[float, ...]  # by local hour; how fast the shopper's own clock runs
    favourites: tuple[str, ...]
    buy_propensity: float
    gap_ms: float  # the shopper-gap: mean event-time per event of theirs, idle time included
    in_session_gap_ms: float
    fades_after_sessions: int  # 0: never
    cart: dict[Product, int] = field(default_factory=dict)  # insertion order is line order
    # Until then the shopper only browses, so an abandoned cart stays abandoned for the rule.
    cart_frozen_until_ms: float = 0.0
    # When they come back to buy an abandoned cart after a reminder; until then they only browse.
    return_ms: float | None = None
    pending: deque[tuple[float, str, dict[str, Any]]] = field(default_factory=deque)
    next_session_ms: float = 0.0
    event_count: int = 0  # numbers event ids
    session_count: int = 0
    order_count: int = 0
    browse_categories: tuple[str, ...] = _CATEGORY_NAMES  # what a session not about a favourite is about
    journeys: _Journeys | None = None


@dataclass(frozen=True, slots=True)
class PlantedEffect:
    """A known effect of one rule's message, so uplift can be tested against the truth.

    Without one, a shopper who walked away from a cart comes back to buy it with the persona's
    ``reminder_return_probability``, reminded or not. With one, a shopper in the rule's holdout
    (the same hash, fraction and salt Nudge uses: streams/rules/guardrails.py) comes back with
    ``effect`` less: the message makes that share of the persona's shoppers come back and buy.
    """

    rule: str
    by_persona: dict[Persona, float]  # extra share of treated shoppers who come back and buy
    holdout_fraction: float
    holdout_salt: str

    def effect(self, persona: Persona) -> float:
        return self.by_persona.get(persona, 0.0)


# The default planted effect of the abandoned-cart reminder: strong on bargain hunters, who wait
# for a nudge (often with a coupon), slight on loyal buyers, who come back anyway.
CART_REMINDER_EFFECT = {
    Persona.BARGAIN_HUNTER: 0.4,
    Persona.LOYAL_BUYER: 0.05,
    Persona.BROWSER: 0.05,
    Persona.NEW_VISITOR: 0.2,
}


class ShopSimulator:
    """A deterministic stream of shop events from ``users`` shoppers.

    ``mean_gap_ms`` is the mean event-time gap between consecutive messages of the whole stream,
    averaged over a day (busy hours are denser, nights sparser). With ``bad_fraction`` > 0, about
    that fraction of well-formed events is preceded by a malformed copy (bytes: bad JSON, an
    impossible value, a missing field or a bad timestamp), so dead letters show up; the well-formed
    stream is the same with or without them. ``planted``: a known effect of the cart reminder
    (``PlantedEffect``). ``journeys``: shoppers also follow the journeys described in the module's
    docstring (planted category pairs, consumables on a cycle); off, the stream is as it always was.

    >>> sim = ShopSimulator(users=50, seed=1, start_ms=1_795_597_200_000, mean_gap_ms=1000)
    >>> first = next(sim.events())
    >>> first.topic, first.user_id, first.value["action"], first.value["product_id"], first.value["ts"]
    ('clicks', 'u0036', 'view', 'kitchen-14', '2026-11-25T14:30:02.829+05:30')
    >>> sim.personas[first.user_id].value
    'loyal_buyer'
    >>> list(sim.events(1)) == [first]  # every call replays the same stream
    True
    """

    def __init__(
        self,
        *,
        users: int,
        seed: int,
        start_ms: int,
        mean_gap_ms: float,
        bad_fraction: float = 0.0,
        planted: PlantedEffect | None = None,
        journeys: bool = False,
    ) -> None:
        if users < 1:
            raise ValueError(f"users must be at least 1, got {users}")
        if not mean_gap_ms > 0:
            raise ValueError(f"mean_gap_ms must be positive, got {mean_gap_ms}")
        if not 0.0 <= bad_fraction < 1.0:
            raise ValueError(f"bad_fraction must be in [0, 1), got {bad_fraction}")
        self.users = users
        self.seed = seed
        self.start_ms = start_ms
        self.mean_gap_ms = mean_gap_ms
        self.bad_fraction = bad_fraction
        self.planted = planted
        self.journeys = journeys
        self._categories = {**CATEGORIES, **JOURNEY_CATEGORIES} if journeys else CATEGORIES
        self._catalogue = {**CATALOGUE, **JOURNEY_CATALOGUE} if journeys else CATALOGUE
        self._personas = assign_personas(users, seed=seed)
        # Activity in the long run: a new visitor counts as the rare visitor they soon become.
        total_activity = sum(
            HABITS[persona].activity / (FADED_SLOWDOWN if HABITS[persona].fades_after_sessions else 1.0)
            for persona in self._personas
        )
        # A shopper of activity a gets gap_ms / a, so all of them together give the mean gap.
        self._gap_ms = mean_gap_ms * total_activity

    @property
    def personas(self) -> dict[str, Persona]:
        """Every shopper's persona by user id; the same ones the stream's shoppers have."""
        return {self._user_id(index): persona for index, persona in enumerate(self._personas)}

    @property
    def cycles(self) -> dict[str, int]:
        """With journeys: each regular buyer's true consumable cycle in ms, by user id (the others
        have none). Without: empty."""
        if not self.journeys:
            return {}
        cycles = {}
        for index, persona in enumerate(self._personas):
            user_id = self._user_id(index)
            cycle_ms = self._journeys_of(user_id, persona).cycle_ms
            if cycle_ms is not None:
                cycles[user_id] = cycle_ms
        return cycles

    def events(self, count: int | None = None) -> Iterator[ShopMessage]:
        """Yield ``count`` messages (forever if ``None``) in non-decreasing event time.

        Every call starts the same stream afresh from the seed. Malformed messages count
        towards ``count``.
        """
        rng = random.Random(self.seed)
        # A separate generator, so switching malformed messages on leaves the good stream alone.
        bad_rng = random.Random(f"malformed-{self.seed}")
        shoppers = [self._new_shopper(index, persona, rng) for index, persona in enumerate(self._personas)]
        if self.journeys:
            for shopper in shoppers:
                self._start_journeys(shopper)
        next_times: list[tuple[float, int]] = []
        for index, shopper in enumerate(shoppers):
            self._plan_first_session(shopper, rng)
            next_times.append((shopper.pending[0][0], index))
        heapq.heapify(next_times)
        sent = 0
        bad_fraction = self.bad_fraction
        while count is None or sent < count:
            _, index = next_times[0]
            shopper = shoppers[index]
            pending = shopper.pending
            at_ms, topic, body = pending.popleft()
            if not pending:
                self._plan_session(shopper, rng, after_ms=at_ms)
            heapq.heapreplace(next_times, (pending[0][0], index))
            if bad_fraction and bad_rng.random() < bad_fraction:
                yield ShopMessage(topic, shopper.user_id, _malformed(topic, body, bad_rng))
                sent += 1
                if sent == count:
                    return
            yield ShopMessage(topic, shopper.user_id, body)
            sent += 1

    def _user_id(self, index: int) -> str:
        return f"u{index:0{max(4, len(str(self.users - 1)))}d}"

    def _new_shopper(self, index: int, persona: Persona, rng: random.Random) -> _Shopper:
        habits = HABITS[persona]
        gap_ms = self._gap_ms / habits.activity
        fades = habits.fades_after_sessions
        return _Shopper(
            user_id=self._user_id(index),
            persona=persona,
            habits=habits,
            utc_offset_min=rng.choice(UTC_OFFSETS_MIN),
            hour_weights=_RHYTHMS[rng.choice(PREFERRED_HOURS)],
            favourites=tuple(rng.sample(_CATEGORY_NAMES, habits.favourite_categories)),
            buy_propensity=rng.uniform(*habits.buy_propensity),
            gap_ms=gap_ms,
            in_session_gap_ms=min(IN_SESSION_GAP_MS, gap_ms / 2),
            fades_after_sessions=rng.randint(*fades) if fades else 0,
        )

    def _journeys_of(self, user_id: str, persona: Persona) -> _Journeys:
        """A shopper's own journey generator, and whether (and how often) they buy a consumable."""
        rng = random.Random(f"journeys-{self.seed}-{user_id}")
        if persona is Persona.NEW_VISITOR or rng.random() >= CYCLE_SHARE:
            return _Journeys(rng, None, None)
        cycle_ms = rng.randint(*CYCLE_DAYS) * _DAY_MS
        products = JOURNEY_CATALOGUE[rng.choice(CONSUMABLES)]
        consumable = products[int(PRODUCTS_PER_CATEGORY * rng.random() ** HABITS[persona].price_skew)]
        return _Journeys(rng, cycle_ms, consumable)

    def _start_journeys(self, shopper: _Shopper) -> None:
        journeys = self._journeys_of(shopper.user_id, shopper.persona)
        shopper.journeys = journeys
        shopper.browse_categories = _JOURNEY_CATEGORY_NAMES
        if journeys.cycle_ms is not None and journeys.consumable is not None:
            shopper.browse_categories = _CYCLE_SHOPPER_CATEGORY_NAMES
            # Somewhere into their first cycle, at an hour they shop in.
            first_ms = self._on_own_clock(shopper, self.start_ms, journeys.rng.uniform(0, journeys.cycle_ms))
            heapq.heappush(journeys.planned, (first_ms, journeys.consumable.category))

    def _plan_first_session(self, shopper: _Shopper, rng: random.Random) -> None:
        """Start each shopper at a random point of a session cycle (busy span, then idle gap), so
        the stream starts at its steady rate instead of with every shopper arriving at once."""
        actions = self._session_actions(shopper, rng, may_change_cart=True)
        idle_mean_ms = self._idle_mean_ms(shopper, len(actions))
        if shopper.fades_after_sessions:
            # Not seen before: they arrive some time into the stream, not all at its start.
            wait_ms = rng.expovariate(1 / (NEW_VISITOR_ARRIVAL_CYCLES * len(actions) * shopper.gap_ms))
            start_ms = self._on_own_clock(shopper, self.start_ms, wait_ms)
        else:
            busy_ms = (len(actions) - 1) * shopper.in_session_gap_ms
            # Gaps are exponential, hence memoryless: the wait is just the gap the shopper is in.
            # One caught mid-session plays a whole session, not the half that would be left, so
            # only half as many start that way.
            if rng.random() < busy_ms / (busy_ms + idle_mean_ms) / 2:
                start_ms = self.start_ms + rng.expovariate(1 / shopper.in_session_gap_ms)
            else:
                start_ms = self._on_own_clock(shopper, self.start_ms, rng.expovariate(1 / idle_mean_ms))
        self._after_session(shopper, rng, actions, start_ms)

    def _plan_session(self, shopper: _Shopper, rng: random.Random, *, after_ms: float) -> None:
        """Queue the shopper's next session: back for an abandoned cart, a planned journey, or an
        ordinary visit."""
        if shopper.journeys is not None and self._plan_journey(shopper, shopper.journeys, after_ms=after_ms):
            return
        return_ms = shopper.return_ms
        if return_ms is not None and return_ms <= shopper.next_session_ms:
            shopper.return_ms = None
            ordinary_ms = shopper.next_session_ms
            if shopper.cart:
                actions = self._return_actions(shopper, rng)
            else:  # forgotten meanwhile, cart and all
                actions = self._session_actions(shopper, rng, may_change_cart=True)
            # The return comes on top of the visit already planned, which then waits for the
            # return's share of time too, so reminders do not make the shopper busier on average.
            self._after_session(shopper, rng, actions, max(return_ms, after_ms), idle_from_ms=ordinary_ms)
            return
        start_ms = shopper.next_session_ms
        may_change_cart = start_ms >= shopper.cart_frozen_until_ms and return_ms is None
        actions = self._session_actions(shopper, rng, may_change_cart=may_change_cart)
        self._after_session(shopper, rng, actions, start_ms)

    def _plan_journey(self, shopper: _Shopper, journeys: _Journeys, *, after_ms: float) -> bool:
        """Queue the first planned journey if it comes before the next ordinary visit and may touch
        the cart by then (not while a walked-away cart must stay untouched, nor before the shopper
        has come back for it); return whether it was queued."""
        if not journeys.planned or shopper.return_ms is not None:
            return False
        due_ms, category = journeys.planned[0]
        start_ms = max(due_ms, after_ms, shopper.cart_frozen_until_ms)
        ordinary_ms = shopper.next_session_ms
        if start_ms > ordinary_ms:
            return False
        heapq.heappop(journeys.planned)
        actions = self._journey_actions(shopper, journeys, category)
        # Like a return, it comes on top of the visit already planned, which waits its turn.
        self._after_session(shopper, journeys.rng, actions, start_ms, idle_from_ms=ordinary_ms)
        return True

    def _journey_actions(self, shopper: _Shopper, journeys: _Journeys, category: str) -> list[tuple[str, dict[str, Any]]]:
        """A visit planned for one category: a look or two, the product into the cart, checkout
        (of whatever else the cart still holds too)."""
        session_id = f"{shopper.user_id}-s{shopper.session_count}"
        shopper.session_count += 1
        rng = journeys.rng
        if journeys.consumable is not None and category == journeys.consumable.category:
            product = journeys.consumable  # the usual one
            viewed = [product]
        else:
            products = self._catalogue[category]
            skew = shopper.habits.price_skew
            viewed = [products[int(PRODUCTS_PER_CATEGORY * rng.random() ** skew)] for _ in range(rng.choice((1, 2, 3)))]
            product = viewed[-1]
        actions = [_click(_VIEW, viewed_product, None, session_id) for viewed_product in viewed]
        quantity = rng.choice((1, 1, 2))
        shopper.cart[product] = shopper.cart.get(product, 0) + quantity
        actions.append(_click(_ADD, product, quantity, session_id))
        actions.append(self._checkout(shopper, rng))
        return actions

    def _after_purchase(self, shopper: _Shopper, journeys: _Journeys, at_ms: float, items: list[dict[str, Any]]) -> None:
        """Plan the visits a purchase leads to: the next of a regular buyer's consumable, and with
        PAIR_FOLLOW_PROBABILITY each planted pair's second category (unless already planned)."""
        rng = journeys.rng
        bought = [item["category"] for item in items]
        if journeys.cycle_ms is not None and journeys.consumable is not None and journeys.consumable.category in bought:
            cycle_days = round(journeys.cycle_ms / _DAY_MS)
            jitter_days = int(cycle_days * CYCLE_JITTER)
            days = cycle_days + rng.randint(-jitter_days, jitter_days)
            self._plan_visit(journeys, journeys.consumable.category, at_ms, days)
        for first, second in PLANTED_PAIRS:
            already_planned = any(category == second for _, category in journeys.planned)
            if first in bought and rng.random() < PAIR_FOLLOW_PROBABILITY and not already_planned:
                self._plan_visit(journeys, second, at_ms, rng.randint(*PAIR_FOLLOW_DAYS))

    @staticmethod
    def _plan_visit(journeys: _Journeys, category: str, from_ms: float, days: int) -> None:
        """``days`` after ``from_ms``, at about the same hour of the day."""
        due_ms = from_ms + days * _DAY_MS + journeys.rng.uniform(-JOURNEY_HOUR_JITTER_MS, JOURNEY_HOUR_JITTER_MS)
        heapq.heappush(journeys.planned, (due_ms, category))

    def _after_session(
        self,
        shopper: _Shopper,
        rng: random.Random,
        actions: list[tuple[str, dict[str, Any]]],
        start_ms: float,
        *,
        idle_from_ms: float = 0.0,
    ) -> None:
        """Queue a session that starts at ``start_ms``, and decide what the shopper does after it:
        the next visit comes an idle gap after the session's end (or ``idle_from_ms``, if later)."""
        end_ms, last_cart_change_ms = self._stamp(shopper, rng, actions, start_ms)
        if shopper.cart and last_cart_change_ms is not None:
            shopper.cart_frozen_until_ms = last_cart_change_ms + ABANDON_QUIET_MS
            if rng.random() < self._return_probability(shopper):
                shopper.return_ms = last_cart_change_ms + rng.uniform(*REMINDER_RESPONSE_MS)
        if shopper.session_count == shopper.fades_after_sessions:
            shopper.gap_ms *= FADED_SLOWDOWN
        # A session and the idle gap after it take one shopper-gap per event on the shopper's
        # clock, on average; the session's own span counts at the speed of the hour it was in.
        busy_ms = (end_ms - start_ms) * self._speed(shopper, start_ms)
        idle_mean_ms = max(len(actions) * shopper.gap_ms - busy_ms, shopper.gap_ms)
        idle_ms = rng.expovariate(1 / idle_mean_ms)
        shopper.next_session_ms = self._on_own_clock(shopper, max(end_ms, idle_from_ms), idle_ms)

    def _return_probability(self, shopper: _Shopper) -> float:
        """How likely a walked-away cart is bought later: the persona's, less the planted effect
        for a shopper the message never reaches (in the rule's holdout)."""
        probability = shopper.habits.reminder_return_probability
        planted = self.planted
        if planted is not None and in_holdout(shopper.user_id, planted.rule, fraction=planted.holdout_fraction, salt=planted.holdout_salt):
            probability = max(0.0, probability - planted.effect(shopper.persona))
        return probability

    def _stamp(
        self, shopper: _Shopper, rng: random.Random, actions: list[tuple[str, dict[str, Any]]], start_ms: float
    ) -> tuple[float, float | None]:
        """Give a session's actions times and ids and queue them; return when the session ends and
        when it last changed the cart (``None`` if it did not)."""
        at_ms = start_ms
        last_cart_change_ms: float | None = None
        gap_rate = 1 / shopper.in_session_gap_ms
        user_id, offset_min, pending = shopper.user_id, shopper.utc_offset_min, shopper.pending
        journeys = shopper.journeys
        for position, (topic, fields) in enumerate(actions):
            if position:
                at_ms += rng.expovariate(gap_rate)
            body = {
                "event_id": f"{user_id}-{shopper.event_count}",
                "user_id": user_id,
                "ts": format_rfc3339(int(at_ms), offset_min),
                **fields,
            }
            shopper.event_count += 1
            pending.append((at_ms, topic, body))
            if "quantity" in fields:  # only cart changes carry one
                last_cart_change_ms = at_ms
            elif journeys is not None and topic == _PURCHASES:
                self._after_purchase(shopper, journeys, at_ms, fields["items"])
        return at_ms, last_cart_change_ms

    def _idle_mean_ms(self, shopper: _Shopper, session_events: int) -> float:
        """A session and the idle gap after it take one shopper-gap per event on average."""
        return session_events * shopper.gap_ms - (session_events - 1) * shopper.in_session_gap_ms

    @staticmethod
    def _speed(shopper: _Shopper, at_ms: float) -> float:
        """How fast the shopper's clock runs at ``at_ms``: the weight of that local hour."""
        return shopper.hour_weights[int((at_ms + shopper.utc_offset_min * 60_000) // _HOUR_MS) % 24]

    @staticmethod
    def _on_own_clock(shopper: _Shopper, from_ms: float, own_ms: float) -> float:
        """The event time at which ``own_ms`` have passed on the shopper's clock since ``from_ms``.

        The clock runs ``hour_weights[h]`` times as fast as event time in local hour ``h``; the
        weights average 1, so every whole day of own time is a whole day of event time.
        """
        days, own_ms = divmod(own_ms, _DAY_MS)
        at_ms = from_ms + days * _DAY_MS
        weights = shopper.hour_weights
        offset_ms = shopper.utc_offset_min * 60_000
        while True:
            local_hours, into_hour_ms = divmod(at_ms + offset_ms, _HOUR_MS)
            speed = weights[int(local_hours) % 24]
            left_ms = _HOUR_MS - into_hour_ms
            if own_ms <= left_ms * speed:
                return at_ms + own_ms / speed
            own_ms -= left_ms * speed
            at_ms += left_ms

    def _session_actions(
        self, shopper: _Shopper, rng: random.Random, *, may_change_cart: bool
    ) -> list[tuple[str, dict[str, Any]]]:
        """What the shopper does in one session, as (topic, event fields); updates the cart."""
        actions = self._shopping_actions(shopper, rng, may_change_cart=may_change_cart)
        if actions[0][0] != _ERASURES and rng.random() < CONSENT_CHANGE_PROBABILITY:
            consent = {"channel": rng.choice(CONSENT_CHANNELS), "granted": rng.random() < CONSENT_GRANTED_PROBABILITY}
            actions.append((_CONSENTS, consent))
        return actions

    def _shopping_actions(
        self, shopper: _Shopper, rng: random.Random, *, may_change_cart: bool
    ) -> list[tuple[str, dict[str, Any]]]:
        session_id = f"{shopper.user_id}-s{shopper.session_count}"
        shopper.session_count += 1
        habits = shopper.habits
        random_ = rng.random
        actions: list[tuple[str, dict[str, Any]]] = []
        category = rng.choice(shopper.favourites if random_() < habits.favourite_probability else shopper.browse_categories)
        if random_() < habits.search_probability:
            search: dict[str, Any] = {"query": rng.choice(self._categories[category][1]), "session_id": session_id}
            if random_() >= SEARCH_WITHOUT_CATEGORY_PROBABILITY:
                search["category"] = category
            actions.append((_SEARCHES, search))
        if random_() < ERASURE_PROBABILITY:
            # The shop forgets the cart with the rest; the simulator must too.
            shopper.cart.clear()
            return [(_ERASURES, {})]
        products = self._catalogue[category]
        fewest, most = habits.views
        skew = habits.price_skew
        viewed = [
            products[int(PRODUCTS_PER_CATEGORY * random_() ** skew)]
            for _ in range(fewest + int(random_() * (most - fewest + 1)))
        ]
        actions += [_click(_VIEW, product, None, session_id) for product in viewed]
        if not may_change_cart:
            return actions
        if shopper.cart:
            # Back after walking away: buy the cart now, clear it, or keep shopping with it.
            choice = random_()
            buy_probability = self._buy_probability(shopper)
            if choice < buy_probability:
                actions.append(self._checkout(shopper, rng))
                return actions
            if choice < buy_probability + CLEAR_CART_PROBABILITY:
                for product, quantity in shopper.cart.items():
                    actions.append(_click(_REMOVE, product, quantity, session_id))
                shopper.cart.clear()
        if random_() >= habits.add_to_cart_probability:
            return actions
        cart = shopper.cart
        for product in rng.sample(viewed, min(len(viewed), rng.choice((1, 1, 2)))):
            quantity = rng.choice((1, 1, 1, 2, 3))
            cart[product] = cart.get(product, 0) + quantity
            actions.append(_click(_ADD, product, quantity, session_id))
        if random_() < REMOVE_PROBABILITY:
            product = rng.choice(list(cart))
            quantity = rng.randint(1, cart[product])
            cart[product] -= quantity
            if not cart[product]:
                del cart[product]
            actions.append(_click(_REMOVE, product, quantity, session_id))
        if cart and random_() < self._buy_probability(shopper):
            actions.append(self._checkout(shopper, rng))
        return actions

    def _return_actions(self, shopper: _Shopper, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
        """Back from a reminder: a look at what is in the cart, then buying it."""
        session_id = f"{shopper.user_id}-s{shopper.session_count}"
        shopper.session_count += 1
        in_cart = list(shopper.cart)
        looked_at = rng.sample(in_cart, min(len(in_cart), rng.choice((1, 2))))
        actions = [_click(_VIEW, product, None, session_id) for product in looked_at]
        actions.append(self._checkout(shopper, rng))
        return actions

    @staticmethod
    def _buy_probability(shopper: _Shopper) -> float:
        if shopper.habits.price_sensitive and not _DEARER_THAN_TYPICAL.isdisjoint(shopper.cart):
            return shopper.buy_propensity * PRICEY_CART_FACTOR
        return shopper.buy_propensity

    def _checkout(self, shopper: _Shopper, rng: random.Random) -> tuple[str, dict[str, Any]]:
        """Buy the whole cart and empty it."""
        items = [
            {"product_id": p.product_id, "category": p.category, "price": p.price, "quantity": quantity}
            for p, quantity in shopper.cart.items()
        ]
        subtotal = sum(p.price * quantity for p, quantity in shopper.cart.items())
        fields: dict[str, Any] = {"order_id": f"{shopper.user_id}-o{shopper.order_count}", "items": items}
        if rng.random() < shopper.habits.coupon_probability:
            fields["total"] = round(subtotal * (1 - COUPON_DISCOUNT), 2)
            fields["coupon"] = COUPON
        else:
            fields["total"] = round(subtotal, 2)
        shopper.order_count += 1
        shopper.cart.clear()
        return _PURCHASES, fields


def _click(action: str, product: Product, quantity: int | None, session_id: str) -> tuple[str, dict[str, Any]]:
    fields: dict[str, Any] = {
        "action": action,
        "product_id": product.product_id,
        "category": product.category,
        "price": product.price,
    }
    if quantity is not None:
        fields["quantity"] = quantity
    fields["session_id"] = session_id
    return _CLICKS, fields


def _malformed(topic: str, body: dict[str, Any], rng: random.Random) -> bytes:
    """A broken copy of a real event, of a kind that decoding must reject."""
    broken = {**body, "event_id": f"{body['event_id']}-bad"}
    kind = rng.choice(("bad_json", "absurd_value", "missing_field", "bad_timestamp"))
    if kind == "bad_json":
        text = json.dumps(broken)
        return text[: len(text) // 2].encode()
    if kind == "absurd_value":
        if topic == _SEARCHES:
            broken["query"] = ""
        elif topic == _PURCHASES:
            broken["total"] = -broken["total"] - 1
        elif topic == _CLICKS:
            broken["price"] = -broken["price"] - 1
        else:  # consents and erasures have no number to spoil, but a time long before the shop
            broken["ts"] = "1970-01-01T00:00:00.000Z"
    elif kind == "missing_field":
        del broken[rng.choice(("event_id", "user_id", "ts"))]
    else:
        broken["ts"] = broken["ts"][:23]  # the offset cut off
    return json.dumps(broken).encode()
