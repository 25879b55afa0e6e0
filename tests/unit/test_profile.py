"""The live profile: counters, first/last seen, cart arithmetic, spend, and its wire round-trip."""

from __future__ import annotations

import json

import pytest

from builders import MINUTE_MS, T0_MS, add, cart_book, item, purchase, remove, search, view
from streams.cart import CartLine
from streams.cart import cart_value
from streams.config import ProfileConfig
from streams.population import Population
from streams.process import Core
from streams.profile import Profile, event_kind, new_profile, update_profile
from streams.state import UserState
from streams.timers import Timer


def apply(profile: Profile, event) -> None:
    update_profile(profile, event, config=ProfileConfig(), population=Population())


def profile_of(*events) -> Profile:
    profile = new_profile(events[0])
    for event in events:
        apply(profile, event)
    return profile


def quantities(profile: Profile) -> dict[str, int]:
    return {product: line.quantity for product, line in profile.cart.items()}


# --- counters -------------------------------------------------------------------------------


def test_counts_one_counter_per_event_kind():
    profile = profile_of(
        view("u1", T0_MS),
        view("u1", T0_MS + 1, "p2"),
        add("u1", T0_MS + 2),
        search("u1", T0_MS + 3),
        remove("u1", T0_MS + 4),
        view("u1", T0_MS + 5),
        purchase("u1", T0_MS + 6, [item("p9", 5.0)]),
    )
    assert profile.counts == {"view": 3, "add_to_cart": 1, "search": 1, "remove_from_cart": 1, "purchase": 1}


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (view("u1", T0_MS), "view"),
        (add("u1", T0_MS), "add_to_cart"),
        (remove("u1", T0_MS), "remove_from_cart"),
        (search("u1", T0_MS), "search"),
        (purchase("u1", T0_MS, [item("p1", 1.0)]), "purchase"),
    ],
)
def test_event_kind_names_the_counter(event, kind):
    assert event_kind(event) == kind
    assert profile_of(event).counts == {kind: 1}


def test_counts_include_removes_of_absent_products():
    profile = profile_of(remove("u1", T0_MS, "ghost"))
    assert profile.counts == {"remove_from_cart": 1}
    assert profile.cart == {}


def test_order_count_is_the_purchase_counter():
    profile = profile_of(view("u1", T0_MS))
    assert profile.order_count == 0
    apply(profile, purchase("u1", T0_MS + 1, [item("p1", 3.0)]))
    apply(profile, purchase("u1", T0_MS + 2, [item("p2", 4.0)]))
    assert profile.order_count == 2
    assert profile.view(now_ms=T0_MS + 2, config=ProfileConfig())["rfm"]["order_count"] == 2


# --- first / last seen ----------------------------------------------------------------------


def test_new_profile_starts_at_the_first_event():
    profile = new_profile(view("u1", T0_MS + 500))
    assert (profile.user_id, profile.first_seen_ms, profile.last_seen_ms) == ("u1", T0_MS + 500, T0_MS + 500)
    assert profile.counts == {} and profile.cart == {} and profile.total_spend == 0.0


def test_first_and_last_seen_in_order():
    profile = profile_of(view("u1", T0_MS), view("u1", T0_MS + 10), view("u1", T0_MS + 20))
    assert (profile.first_seen_ms, profile.last_seen_ms) == (T0_MS, T0_MS + 20)


def test_late_event_moves_first_seen_back_and_leaves_last_seen():
    profile = profile_of(view("u1", T0_MS + 10 * MINUTE_MS), view("u1", T0_MS + 20 * MINUTE_MS))
    apply(profile, view("u1", T0_MS))  # older than everything seen so far
    assert profile.first_seen_ms == T0_MS
    assert profile.last_seen_ms == T0_MS + 20 * MINUTE_MS
    assert profile.counts["view"] == 3  # a late event still counts


def test_late_event_between_first_and_last_moves_neither():
    profile = profile_of(view("u1", T0_MS), view("u1", T0_MS + 100))
    apply(profile, search("u1", T0_MS + 50))
    assert (profile.first_seen_ms, profile.last_seen_ms) == (T0_MS, T0_MS + 100)
    assert profile.counts == {"view": 2, "search": 1}


def test_event_at_the_same_ms_as_last_seen_keeps_it():
    profile = profile_of(view("u1", T0_MS), view("u1", T0_MS))
    assert (profile.first_seen_ms, profile.last_seen_ms) == (T0_MS, T0_MS)


# --- cart -----------------------------------------------------------------------------------


def test_adds_accumulate_quantity_per_product():
    profile = profile_of(add("u1", T0_MS, "p1", 10.0, 2), add("u1", T0_MS + 1, "p2", 5.0), add("u1", T0_MS + 2, "p1", 10.0, 3))
    assert quantities(profile) == {"p1": 5, "p2": 1}
    assert cart_value(profile.cart) == 55.0


def test_repeat_add_takes_the_latest_price_and_category():
    profile = profile_of(add("u1", T0_MS, "p1", 50.0), add("u1", T0_MS + 1, "p1", 45.0, category="sale"))
    assert profile.cart["p1"] == CartLine("p1", "sale", 45.0, 2)


def test_remove_takes_units_out():
    profile = profile_of(add("u1", T0_MS, "p1", 10.0, 3), remove("u1", T0_MS + 1, "p1", 10.0, 2))
    assert quantities(profile) == {"p1": 1}


def test_remove_of_exactly_what_is_there_drops_the_line():
    profile = profile_of(add("u1", T0_MS, "p1", 10.0, 2), add("u1", T0_MS, "p2", 1.0), remove("u1", T0_MS + 1, "p1", 10.0, 2))
    assert quantities(profile) == {"p2": 1}


def test_remove_more_than_present_drops_the_line_without_going_negative():
    profile = profile_of(add("u1", T0_MS, "p1", 10.0, 2), remove("u1", T0_MS + 1, "p1", 10.0, 7))
    assert profile.cart == {}
    apply(profile, add("u1", T0_MS + 2, "p1", 10.0, 1))
    assert quantities(profile) == {"p1": 1}  # no leftover debt from the over-removal


def test_remove_of_absent_product_changes_nothing():
    profile = profile_of(add("u1", T0_MS, "p1", 10.0, 2), remove("u1", T0_MS + 1, "other", 3.0, 1))
    assert profile.cart == {"p1": CartLine("p1", "shoes", 10.0, 2)}


def test_views_and_searches_leave_the_cart_alone():
    profile = profile_of(add("u1", T0_MS, "p1", 10.0), view("u1", T0_MS + 1, "p2", 99.0), search("u1", T0_MS + 2))
    assert quantities(profile) == {"p1": 1}


# --- purchases ------------------------------------------------------------------------------


def test_purchase_removes_only_the_purchased_items():
    profile = profile_of(add("u1", T0_MS, "p1", 10.0, 1), add("u1", T0_MS, "p2", 20.0, 1))
    apply(profile, purchase("u1", T0_MS + 1, [item("p1", 10.0, 1)]))
    assert quantities(profile) == {"p2": 1}


def test_purchase_removes_only_the_purchased_quantity():
    profile = profile_of(add("u1", T0_MS, "p1", 10.0, 5))
    apply(profile, purchase("u1", T0_MS + 1, [item("p1", 10.0, 2)]))
    assert quantities(profile) == {"p1": 3}


def test_purchase_of_more_than_in_cart_empties_that_line():
    profile = profile_of(add("u1", T0_MS, "p1", 10.0, 1), add("u1", T0_MS, "p2", 2.0, 1))
    apply(profile, purchase("u1", T0_MS + 1, [item("p1", 10.0, 4)]))
    assert quantities(profile) == {"p2": 1}


def test_purchase_of_items_never_in_cart_leaves_the_cart():
    profile = profile_of(add("u1", T0_MS, "p1", 10.0, 2))
    apply(profile, purchase("u1", T0_MS + 1, [item("elsewhere", 30.0, 1)]))
    assert quantities(profile) == {"p1": 2}
    assert profile.total_spend == 30.0


def test_purchase_with_several_lines():
    profile = profile_of(add("u1", T0_MS, "p1", 10.0, 2), add("u1", T0_MS, "p2", 5.0, 3), add("u1", T0_MS, "p3", 1.0, 1))
    apply(profile, purchase("u1", T0_MS + 1, [item("p1", 10.0, 2), item("p2", 5.0, 1)]))
    assert quantities(profile) == {"p2": 2, "p3": 1}


def test_total_spend_adds_order_totals():
    profile = profile_of(purchase("u1", T0_MS, [item("a", 12.5)]), purchase("u1", T0_MS + 1, [item("b", 7.25, 2)]))
    assert profile.total_spend == 27.0
    assert profile.order_count == 2


def test_total_spend_is_rounded_to_cents():
    profile = profile_of(purchase("u1", T0_MS, total=0.1))
    apply(profile, purchase("u1", T0_MS + 1, total=0.2))
    assert 0.1 + 0.2 != 0.3  # the float trap the profile must not fall into
    assert profile.total_spend == 0.3


def test_total_spend_stays_exact_over_many_small_orders():
    profile = profile_of(purchase("u1", T0_MS, total=0.1, order_id="o0"))
    for n in range(1, 100):
        apply(profile, purchase("u1", T0_MS + n, total=0.1, order_id=f"o{n}"))
    assert profile.total_spend == 10.0
    assert profile.order_count == 100


def test_total_spend_uses_the_order_total_not_the_items():
    # A coupon makes the paid total differ from the line items; spend is what was paid.
    profile = profile_of(purchase("u1", T0_MS, [item("p1", 100.0)], 80.0, coupon="SAVE20"))
    assert profile.total_spend == 80.0


# --- to_dict / from_dict --------------------------------------------------------------------


def rich_profile() -> Profile:
    return profile_of(
        view("u1", T0_MS + 5),
        add("u1", T0_MS + 10, "p1", 19.99, 2),
        add("u1", T0_MS + 11, "p2", 5.5, 1, category="socks"),
        search("u1", T0_MS + 12, "trail"),
        purchase("u1", T0_MS + 13, [item("p2", 5.5)], 5.5),
        view("u1", T0_MS),  # late: first_seen moves back
    )


def test_profile_to_dict_shape():
    data = rich_profile().to_dict()
    assert {key: data[key] for key in ("user_id", "first_seen_ms", "last_seen_ms", "counts", "cart", "total_spend")} == {
        "user_id": "u1",
        "first_seen_ms": T0_MS,
        "last_seen_ms": T0_MS + 13,
        "counts": {"view": 2, "add_to_cart": 2, "search": 1, "purchase": 1},
        "cart": [{"product_id": "p1", "category": "shoes", "price": 19.99, "quantity": 2}],
        "total_spend": 5.5,
    }
    assert data["last_purchase_ms"] == T0_MS + 13
    assert data["stage"] == "active"
    assert json.loads(json.dumps(data)) == data


def test_profile_round_trips_through_dict_and_json():
    profile = rich_profile()
    assert Profile.from_dict(profile.to_dict()) == profile
    assert Profile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile


def test_profile_round_trip_keeps_cart_order():
    profile = profile_of(add("u1", T0_MS, "z"), add("u1", T0_MS, "a"), add("u1", T0_MS, "m"))
    assert list(Profile.from_dict(profile.to_dict()).cart) == ["z", "a", "m"]


def test_profile_from_dict_does_not_share_state_with_its_source():
    profile = rich_profile()
    data = profile.to_dict()
    copy = Profile.from_dict(data)
    apply(copy, add("u1", T0_MS + 20, "p1", 19.99, 1))
    assert profile.cart["p1"].quantity == 2
    assert profile.counts["add_to_cart"] == 2
    assert data["counts"]["add_to_cart"] == 2


def test_profile_round_trip_differs_when_the_profile_differs():
    # Guards the equality the round-trip tests rely on against being vacuous.
    profile = rich_profile()
    other = Profile.from_dict(profile.to_dict())
    other.total_spend = 5.51
    assert other != profile


def test_user_state_round_trips_with_timers():
    state = Core(cart_book(), ProfileConfig()).process_event(None, add("u1", T0_MS, "p1", 10.0, 2), population=Population()).state
    state.timers["other"] = Timer(key="other", rule="some_rule", due_ms=T0_MS + 99, cause="e-other")
    assert set(state.timers) == {"abandoned_cart", "other"}
    data = state.to_dict()
    restored = UserState.from_dict(json.loads(json.dumps(data)))
    assert restored == state
    assert restored.timers["abandoned_cart"] == Timer(
        key="abandoned_cart", rule="abandoned_cart", due_ms=T0_MS + 30 * MINUTE_MS, cause="u1:add_to_cart:p1:" + str(T0_MS)
    )
    assert restored.user_id == "u1"


def test_user_state_round_trip_without_timers():
    state = UserState(profile=rich_profile())
    assert state.to_dict()["timers"] == []
    assert UserState.from_dict(state.to_dict()) == state


def test_user_state_round_trip_notices_a_lost_timer():
    state = Core(cart_book(), ProfileConfig()).process_event(None, add("u1", T0_MS), population=Population()).state
    data = state.to_dict()
    data["timers"] = []
    assert UserState.from_dict(data) != state


# --- visits, for win_back's usual gap ------------------------------------------------------


def test_visits_are_session_starts_a_day_or_more_after_the_last_visit_began():
    day = 24 * 60 * MINUTE_MS
    profile = profile_of(
        view("u1", T0_MS),
        view("u1", T0_MS + 10 * MINUTE_MS),  # the same session
        view("u1", T0_MS + 11 * 60 * MINUTE_MS),  # a new session, the same visit
        view("u1", T0_MS + day - 1),  # ... still
        view("u1", T0_MS + 2 * day),  # a new visit
        view("u1", T0_MS + day),  # late: never a session, never a visit
    )
    assert profile.visit_starts_ms == [T0_MS, T0_MS + 2 * day]
    assert profile.view(now_ms=T0_MS + 2 * day, config=ProfileConfig())["visits"] == {
        "gaps_known": 1,
        "usual_gap_days": 2.0,
        "last_started": "2026-11-27T09:00:00.000Z",
    }


def test_a_profile_keeps_the_latest_nine_visits():
    day = 24 * 60 * MINUTE_MS
    profile = profile_of(*(view("u1", T0_MS + n * day) for n in range(12)))
    assert profile.visit_starts_ms == [T0_MS + n * day for n in range(3, 12)]


def test_a_record_from_before_visits_and_stage_by_loads_without_them():
    data = rich_profile().to_dict()
    del data["visit_starts_ms"], data["stage_by"]
    profile = Profile.from_dict(data)
    assert (profile.visit_starts_ms, profile.stage_by) == ([], None)
