"""How a user buys (coupons, price paid against the category average) and when they are active."""

from __future__ import annotations

import pytest

from builders import MINUTE_MS, T0_MS, add, feed, item, profile_of, purchase, search, view
from streams.config import DAY_MS, HOUR_MS, ProfileConfig
from streams.population import Population
from streams.profile import HOURS_PER_WEEK, Profile, hour_of_week

CONFIG = ProfileConfig()
MIDNIGHT0_MS = T0_MS - 9 * HOUR_MS  # Wednesday 2026-11-25T00:00:00Z
MONDAY_MS = MIDNIGHT0_MS + 5 * DAY_MS  # Monday 2026-11-30T00:00:00Z
WEEK_MS = 7 * DAY_MS




def sensitivity(profile: Profile) -> dict:
    return profile.view(now_ms=profile.last_seen_ms, config=CONFIG)["price_sensitivity"]


# --- coupons --------------------------------------------------------------------------------


def test_coupon_share_is_coupon_orders_over_orders():
    profile = profile_of(purchase("u1", T0_MS, [item("p1", 10.0)], coupon="SAVE10"), purchase("u1", T0_MS + 1, [item("p2", 10.0)]))
    assert profile.coupon_orders == 1
    assert sensitivity(profile) == {"coupon_share": 0.5, "price_index": None, "viewed_price_index": None, "label": "bargain_hunter"}


def test_a_minority_of_coupon_orders_is_regular():
    profile = profile_of(
        purchase("u1", T0_MS, [item("p1", 10.0)], coupon="SAVE10"),
        purchase("u1", T0_MS + 1, [item("p2", 10.0)]),
        purchase("u1", T0_MS + 2, [item("p3", 10.0)]),
    )
    assert sensitivity(profile) == {"coupon_share": 0.3333, "price_index": None, "viewed_price_index": None, "label": "regular"}


def test_no_orders_no_sensitivity():
    profile = profile_of(view("u1", T0_MS), add("u1", T0_MS + 1))
    assert sensitivity(profile) == {"coupon_share": None, "price_index": None, "viewed_price_index": 1.0, "label": None}
    assert profile.price_sensitivity is None


# --- price index ----------------------------------------------------------------------------


def priced_population() -> Population:
    population = Population()
    feed(population, view("u9", T0_MS, "p1", 100.0, category="shoes"), view("u9", T0_MS + 1, "p2", 50.0, category="shoes"))
    return population


def test_category_average_is_the_running_mean_of_viewed_prices():
    population = priced_population()
    assert population.average_price("shoes") == 75.0
    assert population.average_price("hats") is None
    feed(population, view("u8", T0_MS + 2, "p3", 15.0, category="shoes"))
    assert population.average_price("shoes") == 55.0


def test_adds_and_purchases_do_not_move_the_average():
    population = priced_population()
    feed(population, add("u8", T0_MS + 2, "p3", 1.0, category="shoes"), purchase("u8", T0_MS + 3, [item("p3", 1.0)]))
    assert population.average_price("shoes") == 75.0


def test_buying_below_the_average_is_a_bargain_hunter():
    population = priced_population()
    buyer = feed(population, purchase("u1", T0_MS + 10, [item("p9", 60.0, category="shoes")]))
    assert buyer.price_index == pytest.approx(0.8)
    assert sensitivity(buyer) == {"coupon_share": 0.0, "price_index": 0.8, "viewed_price_index": None, "label": "bargain_hunter"}


def test_buying_above_the_average_is_premium():
    population = priced_population()
    buyer = feed(population, purchase("u1", T0_MS + 10, [item("p9", 90.0, category="shoes")]))
    assert buyer.price_index == pytest.approx(1.2)
    assert sensitivity(buyer) == {"coupon_share": 0.0, "price_index": 1.2, "viewed_price_index": None, "label": "premium"}


def test_buying_at_the_average_is_regular():
    population = priced_population()
    buyer = feed(population, purchase("u1", T0_MS + 10, [item("p9", 75.0, category="shoes")]))
    assert sensitivity(buyer)["price_index"] == 1.0
    assert buyer.price_sensitivity == "regular"


def test_price_index_averages_ratios_over_line_items_and_skips_unpriced_categories():
    population = priced_population()
    feed(population, view("u9", T0_MS + 2, "h1", 20.0, category="hats"))
    buyer = feed(
        population,
        purchase("u1", T0_MS + 10, [item("p9", 60.0, category="shoes"), item("h2", 30.0, category="hats"), item("x", 5.0, category="unseen")]),
    )
    # (60 / 75 + 30 / 20) / 2 = (0.8 + 1.5) / 2
    assert buyer.price_ratio_count == 2
    assert buyer.price_index == pytest.approx(1.15)


def test_the_viewed_price_index_averages_views_against_the_category_average_known_with_them():
    population = priced_population()  # shoes average 75 from views of 50 and 100
    viewer = feed(
        population,
        view("u9", T0_MS + 2, "p1", 15.0, category="shoes"),  # the average becomes 55
        view("u9", T0_MS + 3, "h1", 20.0, category="hats"),  # the first hat: 20 is its own average
    )
    assert viewer.view_price_count == 2
    assert viewer.viewed_price_index == pytest.approx((15.0 / 55.0 + 1.0) / 2)
    assert sensitivity(viewer)["viewed_price_index"] == round((15.0 / 55.0 + 1.0) / 2, 4)
    assert sensitivity(viewer)["label"] is None  # a taste in price, not a label: that takes a purchase


def test_a_coupon_majority_is_a_bargain_hunter_even_when_paying_premium():
    population = priced_population()
    buyer = feed(population, purchase("u1", T0_MS + 10, [item("p9", 90.0, category="shoes")], coupon="VIP"))
    assert buyer.price_sensitivity == "bargain_hunter"


# --- hour of week ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts_ms", "utc_offset_min", "expected"),
    [
        (MONDAY_MS, 0, 0),  # Monday 00:00
        (MONDAY_MS + HOUR_MS - 1, 0, 0),  # Monday 00:59:59.999
        (MONDAY_MS + HOUR_MS, 0, 1),
        (MONDAY_MS - 1, 0, 167),  # Sunday 23:59:59.999
        (MONDAY_MS - HOUR_MS, 0, 167),  # Sunday 23:00
        (MONDAY_MS - HOUR_MS - 1, 0, 166),
        (T0_MS, 0, 2 * 24 + 9),  # Wednesday 09:00
        (MONDAY_MS - 30 * MINUTE_MS, 60, 0),  # Sunday 23:30 UTC is Monday 00:30 at UTC+1
        (MONDAY_MS + 30 * MINUTE_MS, -60, 167),  # Monday 00:30 UTC is Sunday 23:30 at UTC-1
        (MONDAY_MS, 330, 5),  # Monday 05:30 at UTC+5:30
        (MONDAY_MS + WEEK_MS + 3 * HOUR_MS, 0, 3),  # the next week wraps
        (0, 0, 72),  # the epoch was a Thursday
    ],
)
def test_hour_of_week(ts_ms, utc_offset_min, expected):
    assert hour_of_week(ts_ms, utc_offset_min) == expected


def test_hour_of_week_covers_every_hour_once_a_week():
    hours = [hour_of_week(MONDAY_MS + n * HOUR_MS, 0) for n in range(HOURS_PER_WEEK)]
    assert hours == list(range(HOURS_PER_WEEK))


# --- rhythm ---------------------------------------------------------------------------------


def test_rhythm_counts_events_by_local_hour_of_week():
    profile = profile_of(
        view("u1", MONDAY_MS + 7 * HOUR_MS, utc_offset_min=120),  # Monday 09:00 local
        search("u1", MONDAY_MS + 7 * HOUR_MS + MINUTE_MS, utc_offset_min=120),
        purchase("u1", MONDAY_MS - HOUR_MS, [item("p1", 1.0)]),  # late: Sunday 23:00 UTC
    )
    assert set(profile.rhythm.scores) == {"9", "167"}
    rhythm = profile.view(now_ms=MONDAY_MS + 7 * HOUR_MS + MINUTE_MS, config=CONFIG)["rhythm"]
    assert list(rhythm["hours_of_week"]) == ["9", "167"]
    assert rhythm["hours_of_week"]["9"] == pytest.approx(2.0, rel=1e-5)


def test_rhythm_decays_with_its_own_half_life():
    assert CONFIG.rhythm_half_life_ms == 14 * DAY_MS
    profile = profile_of(view("u1", MONDAY_MS + 9 * HOUR_MS))
    hours = profile.view(now_ms=MONDAY_MS + 9 * HOUR_MS + 14 * DAY_MS, config=CONFIG)["rhythm"]["hours_of_week"]
    assert hours == {"9": 0.5}


def test_best_send_hour_sums_an_hour_over_weekdays():
    profile = profile_of(
        view("u1", MONDAY_MS + 9 * HOUR_MS),  # Monday 09
        view("u1", MONDAY_MS + DAY_MS + 9 * HOUR_MS),  # Tuesday 09
        view("u1", MONDAY_MS + 2 * DAY_MS + 9 * HOUR_MS),  # Wednesday 09
        view("u1", MONDAY_MS + 2 * DAY_MS + 20 * HOUR_MS),  # Wednesday 20, twice: the busiest hour of the week
        view("u1", MONDAY_MS + 2 * DAY_MS + 20 * HOUR_MS + 30 * MINUTE_MS),
    )
    busiest_hour_of_week = max(profile.rhythm.scores, key=profile.rhythm.scores.__getitem__)
    assert busiest_hour_of_week == str(2 * 24 + 20)
    # Hour 9 summed: 2**(-2/14) + 2**(-1/14) + 1 = 2.86 (in Wednesday's terms), against 2 for hour 20.
    assert profile.best_send_hour() == 9
    assert profile.view(now_ms=profile.last_seen_ms, config=CONFIG)["rhythm"]["best_send_hour"] == 9


def test_best_send_hour_prefers_recent_activity():
    profile = profile_of(
        view("u1", MONDAY_MS + 9 * HOUR_MS),  # two at 09, four weeks (two half-lives) ago: 0.5 together
        view("u1", MONDAY_MS + 9 * HOUR_MS + MINUTE_MS),
        view("u1", MONDAY_MS + 4 * WEEK_MS + 20 * HOUR_MS),  # one at 20, now: 1.0
    )
    assert profile.best_send_hour() == 20
    fresher = profile_of(
        view("u1", MONDAY_MS + 3 * WEEK_MS + 9 * HOUR_MS),  # one week old: 2 * 2**-0.5 = 1.41
        view("u1", MONDAY_MS + 3 * WEEK_MS + 9 * HOUR_MS + MINUTE_MS),
        view("u1", MONDAY_MS + 4 * WEEK_MS + 20 * HOUR_MS),
    )
    assert fresher.best_send_hour() == 9


def test_best_send_hour_is_local_time():
    profile = profile_of(view("u1", MONDAY_MS + 7 * HOUR_MS, utc_offset_min=120), view("u1", MONDAY_MS + 8 * HOUR_MS, utc_offset_min=60))
    assert profile.best_send_hour() == 9


def test_no_activity_no_best_send_hour():
    profile = Profile(user_id="u1", first_seen_ms=T0_MS, last_seen_ms=T0_MS)
    assert profile.best_send_hour() is None
