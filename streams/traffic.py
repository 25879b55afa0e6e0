"""A seeded synthetic shop: the input stream for demos, benchmarks and tests.

It is pure (no broker, no wall clock, no global random state), so a seed names one exact stream
and a replay of it is bit-for-bit the same. Shoppers come in sessions: they browse, sometimes
search, put things in the cart, sometimes take them out, and then either buy or walk away. A
shopper who walks away touches neither cart nor checkout for ``ABANDON_QUIET_MS`` afterwards (only
browsing), so every abandoned cart really is one for the 30-minute abandoned-cart rule.

Each shopper's event gaps are scaled so that the whole stream has the requested mean gap in
event time, however many shoppers there are: a session of ``k`` events takes ``k`` shopper-gaps
on average, short ones inside the session and one long one after it. For a realistic mix keep
that shopper-gap (``users * mean_gap_ms``) at a minute or more: busier shoppers spend most of
their events browsing while an abandoned cart waits out its quiet period.
"""

from __future__ import annotations

import heapq
import json
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterator, NamedTuple

from schemas.events import ClickAction, InputTopic
from schemas.timestamps import format_rfc3339

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
ABANDON_QUIET_MS = 45 * 60_000
# Think time between clicks of one session, unless the stream is so dense that it must be shorter.
IN_SESSION_GAP_MS = 20_000.0
# Shops in several time zones, so the wire's offsets are exercised.
UTC_OFFSETS_MIN = (-300, 0, 60, 120, 330)
FAVOURITE_CATEGORY_PROBABILITY = 0.7
SEARCH_PROBABILITY = 0.4
ADD_TO_CART_PROBABILITY = 0.55
REMOVE_PROBABILITY = 0.2
CLEAR_CART_PROBABILITY = 0.3  # of a returning shopper who does not buy the old cart at once
SEARCH_WITHOUT_CATEGORY_PROBABILITY = 0.5  # the shop's search did not resolve a category
CONSENT_CHANGE_PROBABILITY = 0.03  # per session: the shopper opts in or out of a channel
CONSENT_GRANTED_PROBABILITY = 0.4
CONSENT_CHANNELS = ("push", "email", "sms", "all")
ERASURE_PROBABILITY = 0.002  # per session: the shopper asks to be forgotten (and may come back)
COUPON_PROBABILITY = 0.15
COUPON = "SAVE10"
COUPON_DISCOUNT = 0.10


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    category: str
    price: float


def _build_catalogue() -> dict[str, tuple[Product, ...]]:
    """Fixed, not seeded: the same product id means the same product in every stream."""
    catalogue = {}
    for category, (typical_price, _) in CATEGORIES.items():
        catalogue[category] = tuple(
            # Price levels from a third of the typical price to about twice it.
            Product(f"{category}-{level:02d}", category, round(typical_price * (0.35 + 0.085 * level), 2))
            for level in range(PRODUCTS_PER_CATEGORY)
        )
    return catalogue


CATALOGUE = _build_catalogue()
_CATEGORY_NAMES = tuple(CATEGORIES)


class ShopMessage(NamedTuple):
    """One message for an input topic, keyed by ``user_id`` on the broker."""

    topic: str  # logical input topic, see schemas.events.InputTopic
    user_id: str  # also the message key, so one user's events stay on one partition
    value: dict[str, Any] | bytes  # a wire event, or a deliberately malformed message body


@dataclass(slots=True)
class _Shopper:
    """One user's taste and where they are in their story."""

    user_id: str
    utc_offset_min: int
    favourites: tuple[str, ...]
    buy_propensity: float
    cart: dict[Product, int] = field(default_factory=dict)  # insertion order is line order
    # Until then the shopper only browses, so an abandoned cart stays abandoned for the rule.
    cart_frozen_until_ms: float = 0.0
    pending: deque[tuple[float, str, dict[str, Any]]] = field(default_factory=deque)
    next_session_ms: float = 0.0
    event_count: int = 0  # numbers event ids
    session_count: int = 0
    order_count: int = 0


class ShopSimulator:
    """A deterministic stream of shop events from ``users`` shoppers.

    ``mean_gap_ms`` is the mean event-time gap between consecutive messages of the whole stream.
    With ``bad_fraction`` > 0, about that fraction of well-formed events is preceded by a
    malformed copy (bytes: bad JSON, an impossible value, a missing field or a bad timestamp),
    so dead letters show up; the well-formed stream is the same with or without them.

    >>> sim = ShopSimulator(users=50, seed=1, start_ms=1_795_597_200_000, mean_gap_ms=1000)
    >>> first = next(sim.events())
    >>> first.topic, first.user_id, first.value["action"], first.value["product_id"], first.value["ts"]
    ('clicks', 'u0010', 'view', 'toys-07', '2026-11-25T09:00:01.562Z')
    >>> list(sim.events(1)) == [first]  # every call replays the same stream
    True
    """

    def __init__(
        self, *, users: int, seed: int, start_ms: int, mean_gap_ms: float, bad_fraction: float = 0.0
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
        # Each shopper's own mean gap: n shoppers each at this pace give the stream its mean gap.
        self._shopper_gap_ms = mean_gap_ms * users
        self._in_session_gap_ms = min(IN_SESSION_GAP_MS, self._shopper_gap_ms / 2)

    def events(self, count: int | None = None) -> Iterator[ShopMessage]:
        """Yield ``count`` messages (forever if ``None``) in non-decreasing event time.

        Every call starts the same stream afresh from the seed. Malformed messages count
        towards ``count``.
        """
        rng = random.Random(self.seed)
        # A separate generator, so switching malformed messages on leaves the good stream alone.
        bad_rng = random.Random(f"malformed-{self.seed}")
        shoppers = [self._new_shopper(index, rng) for index in range(self.users)]
        next_times: list[tuple[float, int]] = []
        for index, shopper in enumerate(shoppers):
            self._plan_first_session(shopper, rng)
            next_times.append((shopper.pending[0][0], index))
        heapq.heapify(next_times)
        sent = 0
        while count is None or sent < count:
            _, index = heapq.heappop(next_times)
            shopper = shoppers[index]
            _, topic, body = shopper.pending.popleft()
            if not shopper.pending:
                self._plan_session(shopper, rng, start_ms=shopper.next_session_ms)
            heapq.heappush(next_times, (shopper.pending[0][0], index))
            if self.bad_fraction and bad_rng.random() < self.bad_fraction:
                yield ShopMessage(topic, shopper.user_id, _malformed(topic, body, bad_rng))
                sent += 1
                if sent == count:
                    return
            yield ShopMessage(topic, shopper.user_id, body)
            sent += 1

    def _new_shopper(self, index: int, rng: random.Random) -> _Shopper:
        width = max(4, len(str(self.users - 1)))
        return _Shopper(
            user_id=f"u{index:0{width}d}",
            utc_offset_min=rng.choice(UTC_OFFSETS_MIN),
            favourites=tuple(rng.sample(_CATEGORY_NAMES, 2)),
            buy_propensity=rng.uniform(0.2, 0.9),
        )

    def _plan_first_session(self, shopper: _Shopper, rng: random.Random) -> None:
        """Start each shopper at a random point of a session cycle (busy span, then idle gap), so
        the stream starts at its steady rate instead of with every shopper arriving at once."""
        actions = self._session_actions(shopper, rng, may_change_cart=True)
        busy_ms = (len(actions) - 1) * self._in_session_gap_ms
        idle_mean_ms = self._idle_mean_ms(len(actions))
        # Gaps are exponential, hence memoryless: the wait is just the gap the shopper is in. One
        # caught mid-session plays a whole session, not the half that would be left, so only half
        # as many start that way.
        in_session = rng.random() < busy_ms / (busy_ms + idle_mean_ms) / 2
        wait_ms = rng.expovariate(1 / (self._in_session_gap_ms if in_session else idle_mean_ms))
        self._schedule(shopper, rng, actions, self.start_ms + wait_ms)

    def _plan_session(self, shopper: _Shopper, rng: random.Random, *, start_ms: float) -> None:
        may_change_cart = start_ms >= shopper.cart_frozen_until_ms
        actions = self._session_actions(shopper, rng, may_change_cart=may_change_cart)
        self._schedule(shopper, rng, actions, start_ms)

    def _schedule(
        self, shopper: _Shopper, rng: random.Random, actions: list[tuple[str, dict[str, Any]]], start_ms: float
    ) -> None:
        """Stamp a session's actions with times and ids, and choose when the next session starts."""
        at_ms = start_ms
        last_cart_change_ms: float | None = None
        for position, (topic, fields) in enumerate(actions):
            if position:
                at_ms += rng.expovariate(1 / self._in_session_gap_ms)
            body = {
                "event_id": f"{shopper.user_id}-{shopper.event_count}",
                "user_id": shopper.user_id,
                "ts": format_rfc3339(int(at_ms), shopper.utc_offset_min),
                **fields,
            }
            shopper.event_count += 1
            shopper.pending.append((at_ms, topic, body))
            if fields.get("action") in (ClickAction.ADD_TO_CART, ClickAction.REMOVE_FROM_CART):
                last_cart_change_ms = at_ms
        if shopper.cart and last_cart_change_ms is not None:
            shopper.cart_frozen_until_ms = last_cart_change_ms + ABANDON_QUIET_MS
        shopper.next_session_ms = at_ms + rng.expovariate(1 / self._idle_mean_ms(len(actions)))

    def _idle_mean_ms(self, session_events: int) -> float:
        """A session and the idle gap after it take one shopper-gap per event on average."""
        return session_events * self._shopper_gap_ms - (session_events - 1) * self._in_session_gap_ms

    def _session_actions(
        self, shopper: _Shopper, rng: random.Random, *, may_change_cart: bool
    ) -> list[tuple[str, dict[str, Any]]]:
        """What the shopper does in one session, as (topic, event fields); updates the cart."""
        session = f"{shopper.user_id}-s{shopper.session_count}"
        actions = self._shopping_actions(shopper, rng, may_change_cart=may_change_cart)
        extra = random.Random(f"{self.seed}:consent:{session}")
        if actions[0][0] != InputTopic.ERASURES.value and extra.random() < CONSENT_CHANGE_PROBABILITY:
            consent = {"channel": extra.choice(CONSENT_CHANNELS), "granted": extra.random() < CONSENT_GRANTED_PROBABILITY}
            actions.append((InputTopic.CONSENTS.value, consent))
        return actions

    def _shopping_actions(
        self, shopper: _Shopper, rng: random.Random, *, may_change_cart: bool
    ) -> list[tuple[str, dict[str, Any]]]:
        session_id = f"{shopper.user_id}-s{shopper.session_count}"
        shopper.session_count += 1
        actions: list[tuple[str, dict[str, Any]]] = []
        # Privacy and search-resolution choices draw from their own generator, so adding them
        # left the shopping itself exactly as it was for a given seed.
        extra = random.Random(f"{self.seed}:{session_id}")
        likes_favourite = rng.random() < FAVOURITE_CATEGORY_PROBABILITY
        category = rng.choice(shopper.favourites if likes_favourite else _CATEGORY_NAMES)
        if rng.random() < SEARCH_PROBABILITY:
            query = rng.choice(CATEGORIES[category][1])
            search: dict[str, Any] = {"query": query, "session_id": session_id}
            if extra.random() >= SEARCH_WITHOUT_CATEGORY_PROBABILITY:
                search["category"] = category
            actions.append((InputTopic.SEARCHES.value, search))
        if extra.random() < ERASURE_PROBABILITY:
            # The shop forgets the cart with the rest; the simulator must too.
            shopper.cart.clear()
            return [(InputTopic.ERASURES.value, {})]
        viewed = [rng.choice(CATALOGUE[category]) for _ in range(rng.randint(1, 5))]
        actions += [_click(ClickAction.VIEW, product, None, session_id) for product in viewed]
        if not may_change_cart:
            return actions
        if shopper.cart:
            # Back after walking away: buy the cart now, clear it, or keep shopping with it.
            choice = rng.random()
            if choice < shopper.buy_propensity:
                actions.append(self._checkout(shopper, rng))
                return actions
            if choice < shopper.buy_propensity + CLEAR_CART_PROBABILITY:
                for product, quantity in list(shopper.cart.items()):
                    actions.append(_click(ClickAction.REMOVE_FROM_CART, product, quantity, session_id))
                shopper.cart.clear()
        if rng.random() >= ADD_TO_CART_PROBABILITY:
            return actions
        for product in rng.sample(viewed, min(len(viewed), rng.choice((1, 1, 2)))):
            quantity = rng.choice((1, 1, 1, 2, 3))
            shopper.cart[product] = shopper.cart.get(product, 0) + quantity
            actions.append(_click(ClickAction.ADD_TO_CART, product, quantity, session_id))
        if rng.random() < REMOVE_PROBABILITY:
            product = rng.choice(list(shopper.cart))
            quantity = rng.randint(1, shopper.cart[product])
            shopper.cart[product] -= quantity
            if not shopper.cart[product]:
                del shopper.cart[product]
            actions.append(_click(ClickAction.REMOVE_FROM_CART, product, quantity, session_id))
        if shopper.cart and rng.random() < shopper.buy_propensity:
            actions.append(self._checkout(shopper, rng))
        return actions

    def _checkout(self, shopper: _Shopper, rng: random.Random) -> tuple[str, dict[str, Any]]:
        """Buy the whole cart and empty it."""
        items = [
            {"product_id": p.product_id, "category": p.category, "price": p.price, "quantity": quantity}
            for p, quantity in shopper.cart.items()
        ]
        subtotal = sum(p.price * quantity for p, quantity in shopper.cart.items())
        fields: dict[str, Any] = {"order_id": f"{shopper.user_id}-o{shopper.order_count}", "items": items}
        if rng.random() < COUPON_PROBABILITY:
            fields["total"] = round(subtotal * (1 - COUPON_DISCOUNT), 2)
            fields["coupon"] = COUPON
        else:
            fields["total"] = round(subtotal, 2)
        shopper.order_count += 1
        shopper.cart.clear()
        return InputTopic.PURCHASES.value, fields


def _click(action: ClickAction, product: Product, quantity: int | None, session_id: str) -> tuple[str, dict[str, Any]]:
    fields: dict[str, Any] = {
        "action": action.value,
        "product_id": product.product_id,
        "category": product.category,
        "price": product.price,
    }
    if quantity is not None:
        fields["quantity"] = quantity
    fields["session_id"] = session_id
    return InputTopic.CLICKS.value, fields


def _malformed(topic: str, body: dict[str, Any], rng: random.Random) -> bytes:
    """A broken copy of a real event, of a kind that decoding must reject."""
    broken = {**body, "event_id": f"{body['event_id']}-bad"}
    kind = rng.choice(("bad_json", "absurd_value", "missing_field", "bad_timestamp"))
    if kind == "bad_json":
        text = json.dumps(broken)
        return text[: len(text) // 2].encode()
    if kind == "absurd_value":
        if topic == InputTopic.SEARCHES.value:
            broken["query"] = ""
        elif topic == InputTopic.PURCHASES.value:
            broken["total"] = -broken["total"] - 1
        else:
            broken["price"] = -broken["price"] - 1
    elif kind == "missing_field":
        del broken[rng.choice(("event_id", "user_id", "ts"))]
    else:
        broken["ts"] = broken["ts"][:23]  # the offset cut off
    return json.dumps(broken).encode()
