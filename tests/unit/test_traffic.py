"""The synthetic shop: deterministic, valid on the wire, and shaped so the rules have work to do."""

from __future__ import annotations

import json
from collections import defaultdict
from itertools import pairwise

import pytest

from schemas import Click, ClickAction, Erasure, Event, InputTopic, Purchase, Rejection, Search, decode_event
from streams.traffic import ShopMessage, ShopSimulator

START_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z
ABANDON_RULE_MS = 30 * 60_000


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
    events = [decode(message) for message in messages]
    rejected = [event for event in events if isinstance(event, Rejection)]
    assert not rejected, rejected[:3]
    return events


def test_same_seed_gives_the_same_stream() -> None:
    assert simulate(2_000, seed=11) == simulate(2_000, seed=11)


def test_different_seeds_give_different_streams() -> None:
    assert simulate(2_000, seed=11) != simulate(2_000, seed=12)


def test_count_limits_the_stream() -> None:
    assert len(simulate(123)) == 123
    assert len(simulate(123, bad_fraction=0.5)) == 123


def test_event_time_never_goes_backwards(stream: list[Event]) -> None:
    assert all(earlier.ts_ms <= later.ts_ms for earlier, later in pairwise(stream))
    assert stream[0].ts_ms >= START_MS


def test_every_well_formed_event_decodes_with_a_unique_id(stream: list[Event]) -> None:
    assert len({event.event_id for event in stream}) == len(stream)  # the fixture checked decoding


def test_every_topic_and_click_action_appears(messages: list[ShopMessage], stream: list[Event]) -> None:
    assert {message.topic for message in messages} == {topic.value for topic in InputTopic}
    assert {event.action for event in stream if isinstance(event, Click)} == set(ClickAction)
    assert any(isinstance(event, Search) and event.category for event in stream)


def test_users_are_numbered_from_u0000() -> None:
    users = {message.user_id for message in simulate(5_000, users=20)}
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


@pytest.mark.parametrize(("users", "mean_gap_ms"), [(200, 1000), (1000, 600), (20, 50)])
def test_mean_gap_is_honoured(users: int, mean_gap_ms: float) -> None:
    messages = simulate(10_000, users=users, mean_gap_ms=mean_gap_ms)
    times_ms = [event.ts_ms for event in map(decode, messages) if not isinstance(event, Rejection)]
    observed_ms = (times_ms[-1] - times_ms[0]) / (len(times_ms) - 1)
    assert observed_ms == pytest.approx(mean_gap_ms, rel=0.2)


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
