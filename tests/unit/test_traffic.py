"""The synthetic shop: deterministic, valid on the wire, and shaped so the rules have work to do."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from itertools import pairwise

import pytest

from schemas import Click, ClickAction, Erasure, Event, InputTopic, Purchase, Rejection, Search, decode_event
from streams.traffic import (
    ABANDON_QUIET_MS,
    CATEGORIES,
    HABITS,
    Persona,
    ShopMessage,
    ShopSimulator,
    assign_personas,
)

START_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z
ABANDON_RULE_MS = 30 * 60_000
DAY_MS = 86_400_000
MINUTE_MS = 60_000
# Four days of a 300-shopper shop, one event per 30 s on average: long enough for daily rhythms,
# personas and reminder returns to show, small enough to generate in a fraction of a second.
DAYS_USERS, DAYS_GAP_MS, DAYS = 300, 30_000.0, 4


def simulate(
    count: int, *, seed: int = 7, users: int = 200, mean_gap_ms: float = 1000, bad_fraction: float = 0.0
) -> list[ShopMessage]:
    sim = ShopSimulator(users=users, seed=seed, start_ms=START_MS, mean_gap_ms=mean_gap_ms, bad_fraction=bad_fraction)
    return list(sim.events(count))


def decode(message: ShopMessage) -> Event | Rejection:
    raw = json.dumps(message.value).encode() if isinstance(message.value, dict) else message.value
    return decode_event(message.topic, raw, message.user_id.encode())


@pytest.fixture(scope="module")
def messages() -> list[ShopMessage]:
    """Ten thousand messages, shared because generating them is the slow part."""
    return simulate(10_000)


@pytest.fixture(scope="module")
def stream(messages: list[ShopMessage]) -> list[Event]:
    return decode_all(messages)


@pytest.fixture(scope="module")
def days() -> list[Event]:
    """A few days of a quieter shop, for what only shows over days: rhythms, personas, returns."""
    return decode_all(simulate(int(DAYS * DAY_MS / DAYS_GAP_MS), users=DAYS_USERS, mean_gap_ms=DAYS_GAP_MS))


@pytest.fixture(scope="module")
def personas() -> dict[str, Persona]:
    return ShopSimulator(users=DAYS_USERS, seed=7, start_ms=START_MS, mean_gap_ms=DAYS_GAP_MS).personas


def decode_all(messages: list[ShopMessage]) -> list[Event]:
    events = [decode(message) for message in messages]
    rejected = [event for event in events if isinstance(event, Rejection)]
    assert not rejected, rejected[:3]
    return events


def is_cart_change(event: Event) -> bool:
    return isinstance(event, Click) and event.action is not ClickAction.VIEW


# A busy hour, and a day and a night with reminder returns and new visitors arriving.
SHOPS = [{"users": 200, "mean_gap_ms": 1000}, {"users": 100, "mean_gap_ms": 30_000}]


@pytest.mark.parametrize("shop", SHOPS)
def test_same_seed_gives_the_same_stream(shop: dict[str, float]) -> None:
    assert simulate(3_000, seed=11, **shop) == simulate(3_000, seed=11, **shop)


@pytest.mark.parametrize("shop", SHOPS)
def test_different_seeds_give_different_streams(shop: dict[str, float]) -> None:
    assert simulate(3_000, seed=11, **shop) != simulate(3_000, seed=12, **shop)


def test_count_limits_the_stream() -> None:
    assert len(simulate(123)) == 123
    assert len(simulate(123, bad_fraction=0.5)) == 123


def test_event_time_never_goes_backwards(stream: list[Event], days: list[Event]) -> None:
    for events in (stream, days):  # the second one has nights, new visitors and reminder returns
        assert all(earlier.ts_ms <= later.ts_ms for earlier, later in pairwise(events))
        assert events[0].ts_ms >= START_MS


def test_every_well_formed_event_decodes_with_a_unique_id(stream: list[Event]) -> None:
    assert len({event.event_id for event in stream}) == len(stream)  # the fixture checked decoding


SHOP_TOPICS = {topic.value for topic in InputTopic} - {InputTopic.ENGAGEMENTS.value}
"""What a shop sends: engagements come from the senders of its messages (``nudge senders``)."""


def test_every_topic_and_click_action_appears(messages: list[ShopMessage], stream: list[Event]) -> None:
    assert {message.topic for message in messages} == SHOP_TOPICS
    assert {event.action for event in stream if isinstance(event, Click)} == set(ClickAction)
    assert any(isinstance(event, Search) and event.category for event in stream)


def test_users_are_numbered_from_u0000() -> None:
    # A whole day, so shoppers asleep at the start and new visitors who arrive late show up too.
    users = {message.user_id for message in simulate(5_000, users=20, mean_gap_ms=20_000)}
    assert users == {f"u{index:04d}" for index in range(20)}


def test_some_carts_are_abandoned_and_some_bought_soon(stream: list[Event]) -> None:
    """Abandoned: a cart change followed by 30 minutes with neither another change nor a purchase
    while the stream goes on. Bought soon: a purchase within 30 minutes of the last change."""
    end_ms = stream[-1].ts_ms
    cart_events: dict[str, list[Event]] = defaultdict(list)
    for event in stream:
        if isinstance(event, Purchase) or (isinstance(event, Click) and event.action is not ClickAction.VIEW):
            cart_events[event.user_id].append(event)
    abandoned = bought_soon = 0
    for events in cart_events.values():
        for change, after in pairwise([*events, None]):
            if isinstance(change, Purchase):
                continue
            quiet_until_ms = end_ms if after is None else after.ts_ms
            if quiet_until_ms - change.ts_ms > ABANDON_RULE_MS:
                abandoned += 1
            elif isinstance(after, Purchase):
                bought_soon += 1
    assert abandoned >= 50
    assert bought_soon >= 50


def test_purchases_hold_what_was_put_in_the_cart(stream: list[Event]) -> None:
    carts: dict[str, dict[str, int]] = defaultdict(dict)
    for event in stream:
        cart = carts[event.user_id]
        if isinstance(event, Click) and event.action is ClickAction.ADD_TO_CART:
            cart[event.product_id] = cart.get(event.product_id, 0) + event.quantity
        elif isinstance(event, Click) and event.action is ClickAction.REMOVE_FROM_CART:
            assert cart.get(event.product_id, 0) >= event.quantity
            cart[event.product_id] -= event.quantity
            if not cart[event.product_id]:
                del cart[event.product_id]
        elif isinstance(event, Purchase):
            assert {item.product_id: item.quantity for item in event.items} == cart
            assert event.total == pytest.approx(
                sum(item.price * item.quantity for item in event.items) * (0.9 if event.coupon else 1.0), abs=0.01
            )
            cart.clear()
        elif isinstance(event, Erasure):
            cart.clear()  # the shop forgot the user, cart included


def test_no_malformed_messages_unless_asked() -> None:
    assert not any(isinstance(message.value, bytes) for message in simulate(5_000))


def test_malformed_messages_are_rejected_and_leave_the_good_stream_alone() -> None:
    messages = simulate(5_000, bad_fraction=0.05)
    malformed = [message for message in messages if isinstance(message.value, bytes)]
    assert 100 <= len(malformed) <= 400
    assert all(isinstance(decode(message), Rejection) for message in malformed)
    assert len({decode(message).reason for message in malformed}) >= 3
    good = [message for message in messages if isinstance(message.value, dict)]
    assert good == simulate(len(good))


def test_malformed_copies_of_every_topic_are_rejected() -> None:
    malformed = [message for message in simulate(20_000, bad_fraction=0.5) if isinstance(message.value, bytes)]
    assert {message.topic for message in malformed} == SHOP_TOPICS
    assert all(isinstance(decode(message), Rejection) for message in malformed)


@pytest.mark.parametrize(
    ("users", "mean_gap_ms", "days"), [(30, 30_000, 3), (300, 20_000, 3), (20, 5_000, 3), (1000, 5_000, 2)]
)
def test_mean_gap_is_honoured_over_days(users: int, mean_gap_ms: float, days: int) -> None:
    """Busy evenings and quiet nights, but over whole days the requested mean gap."""
    messages = simulate(int(days * DAY_MS / mean_gap_ms), users=users, mean_gap_ms=mean_gap_ms)
    observed_ms = (decode(messages[-1]).ts_ms - START_MS) / len(messages)
    assert observed_ms == pytest.approx(mean_gap_ms, rel=0.25)


def test_personas_have_their_shares_whatever_the_seed() -> None:
    for seed in (1, 2, 3):
        personas = ShopSimulator(users=1000, seed=seed, start_ms=START_MS, mean_gap_ms=1000).personas
        assert tuple(personas.values()) == assign_personas(1000, seed=seed)
        assert {persona: count / 1000 for persona, count in Counter(personas.values()).items()} == pytest.approx(
            {persona: habits.share for persona, habits in HABITS.items()}, abs=0.01
        )
    assert assign_personas(200, seed=1) != assign_personas(200, seed=2)  # who is which comes from the seed


def test_personas_name_every_shopper_of_the_stream(days: list[Event], personas: dict[str, Persona]) -> None:
    assert {event.user_id for event in days} <= set(personas)
    assert set(personas.values()) == set(Persona)


def relative_paid_prices(events: list[Event], personas: dict[str, Persona], persona: Persona) -> list[float]:
    """What each unit bought cost after the coupon, relative to its category's typical price."""
    return [
        item.price * (0.9 if purchase.coupon else 1.0) / CATEGORIES[item.category][0]
        for purchase in events
        if isinstance(purchase, Purchase) and personas[purchase.user_id] is persona
        for item in purchase.items
        for _ in range(item.quantity)
    ]


def test_bargain_hunters_pay_less_than_loyal_buyers(days: list[Event], personas: dict[str, Persona]) -> None:
    bargain = relative_paid_prices(days, personas, Persona.BARGAIN_HUNTER)
    loyal = relative_paid_prices(days, personas, Persona.LOYAL_BUYER)
    assert len(bargain) >= 50 and len(loyal) >= 50
    assert statistics.mean(bargain) < 0.75 * statistics.mean(loyal)
    orders = defaultdict(list)
    for event in days:
        if isinstance(event, Purchase):
            orders[personas[event.user_id]].append(event.coupon is not None)
    assert statistics.mean(orders[Persona.BARGAIN_HUNTER]) > 2 * statistics.mean(orders[Persona.LOYAL_BUYER])


def test_browsers_look_far_more_per_purchase(days: list[Event], personas: dict[str, Persona]) -> None:
    views, purchases = Counter(), Counter()
    for event in days:
        if isinstance(event, Click) and event.action is ClickAction.VIEW:
            views[personas[event.user_id]] += 1
        elif isinstance(event, Purchase):
            purchases[personas[event.user_id]] += 1
    browsing = views[Persona.BROWSER] / max(1, purchases[Persona.BROWSER])
    assert browsing > 10 * views[Persona.LOYAL_BUYER] / purchases[Persona.LOYAL_BUYER]


def test_new_visitors_come_once_or_twice_and_loyal_buyers_keep_coming(
    days: list[Event], personas: dict[str, Persona]
) -> None:
    sessions: dict[str, set[str]] = defaultdict(set)
    for event in days:
        if isinstance(event, Click | Search):
            sessions[event.user_id].add(event.session_id)

    def visits(persona: Persona) -> list[int]:
        return [len(sessions[user]) for user, their in personas.items() if their is persona and sessions[user]]

    assert statistics.median(visits(Persona.NEW_VISITOR)) <= 3
    assert statistics.median(visits(Persona.LOYAL_BUYER)) >= 8


def test_activity_follows_local_hours(days: list[Event]) -> None:
    by_local_hour = Counter((event.ts_ms + event.utc_offset_min * MINUTE_MS) // 3_600_000 % 24 for event in days)
    assert len(by_local_hour) == 24
    assert max(by_local_hour.values()) >= 3 * min(by_local_hour.values())
    evening, night = sum(by_local_hour[hour] for hour in (19, 20, 21)), sum(by_local_hour[hour] for hour in (2, 3, 4))
    assert evening >= 5 * night


def purchase_delays_after_abandoned_carts_min(events: list[Event]) -> list[float]:
    """For each purchase whose cart had been left alone for over 30 minutes: minutes since the
    last cart change."""
    last_cart_event: dict[str, Event] = {}
    delays = []
    for event in events:
        if isinstance(event, Purchase):
            before = last_cart_event.get(event.user_id)
            if before is not None and is_cart_change(before) and event.ts_ms - before.ts_ms > ABANDON_RULE_MS:
                delays.append((event.ts_ms - before.ts_ms) / MINUTE_MS)
        if isinstance(event, Purchase) or is_cart_change(event):
            last_cart_event[event.user_id] = event
        elif isinstance(event, Erasure):
            last_cart_event.pop(event.user_id, None)
    return delays


def test_some_come_back_to_buy_when_a_reminder_would_reach_them(days: list[Event]) -> None:
    """Buying an abandoned cart piles up 35 to 90 minutes after it was left, where reminders
    land; an ordinary later visit is about as likely in the next 55 minutes as in those."""
    delays = purchase_delays_after_abandoned_carts_min(days)
    reminded = sum(35 <= delay < 90 for delay in delays)
    next_55_min = sum(90 <= delay < 145 for delay in delays)
    assert reminded >= 30
    assert reminded >= 4 * next_55_min


def test_a_walked_away_cart_stays_untouched_long_enough_for_the_rule(days: list[Event]) -> None:
    """Once a session ends with something in the cart, neither cart nor checkout moves for
    ABANDON_QUIET_MS, however the shopper comes back."""
    assert ABANDON_QUIET_MS > ABANDON_RULE_MS
    session: dict[str, str | None] = {}
    cart_size: Counter[str] = Counter()
    last_change: dict[str, tuple[int, str | None]] = {}
    checked = 0
    for event in days:
        if isinstance(event, Click | Search):
            session[event.user_id] = event.session_id
        if isinstance(event, Purchase) or is_cart_change(event):
            user = event.user_id
            if user in last_change and cart_size[user] and last_change[user][1] != session.get(user):
                assert event.ts_ms - last_change[user][0] >= ABANDON_QUIET_MS, event
                checked += 1
            if isinstance(event, Purchase):
                cart_size[user] = 0
            else:
                cart_size[user] += event.quantity if event.action is ClickAction.ADD_TO_CART else -event.quantity
            last_change[user] = (event.ts_ms, session.get(user))
        elif isinstance(event, Erasure):
            cart_size[event.user_id] = 0
    assert checked >= 100


@pytest.mark.parametrize(
    "arguments",
    [
        {"users": 0, "mean_gap_ms": 1000},
        {"users": 10, "mean_gap_ms": 0},
        {"users": 10, "mean_gap_ms": 1000, "bad_fraction": 1.0},
    ],
)
def test_nonsense_arguments_are_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ShopSimulator(seed=1, start_ms=START_MS, **arguments)
