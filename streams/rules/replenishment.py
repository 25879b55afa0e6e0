"""replenishment: remind a user to restock a consumable when, by their own rhythm, it runs out.

Each purchase in one of the rule's categories (re-)arms a timer for that category at the
expected next purchase minus ``lead``. The expected interval, fixed when the timer is armed, is the median of the user's own
restock intervals once they have ``min_own_gaps`` of them (streams/purchases.py: purchases less
than a day apart are one restock), else the partition's median for the category once it has
seen ``min_shop_gaps`` (streams/associations.py), else there is no reminder yet. A later purchase
in the category re-arms it from there; a late one changes nothing. One reminder per restock,
with an id from the purchase that armed it; only a purchase in the category converts it.

Its ``delay_ms`` is 0: a reminder due weeks after a recording ends is not the recording's to
send, as a win-back is not, so a replay's end-of-input horizon does not wait for it.
"""

from __future__ import annotations

from typing import Any

from schemas.events import Event, Purchase
from schemas.timestamps import format_rfc3339
from streams.config import DAY_MS
from streams.purchases import gaps_ms, median
from streams.decisions import DROPPED
from streams.rules.base import Candidate, Context, Effects
from streams.rules.logic import RuleLogic
from streams.rules.spec import ReplenishmentParams, RuleKind, RuleSpec
from streams.state import UserState
from streams.timers import Timer

REACTS_TO = frozenset({"purchase"})
SEPARATOR = "\x1f"


def expected_interval(state: UserState, ctx: Context, category: str, params: ReplenishmentParams) -> tuple[int, str] | None:
    """The interval to expect before the next restock, and whose it is: "own" or "shop"."""
    own = gaps_ms(state.profile.bought_ms.get(category, []))
    if len(own) >= params.min_own_gaps:
        return median(own), "own"
    shop = ctx.population.associations.median_gap_ms(category, min_count=params.min_shop_gaps)
    return None if shop is None else (shop, "shop")


def timer_key(rule: RuleSpec, category: str) -> str:
    return f"{rule.name}/{category}"


class Replenishment(RuleLogic):
    """A consumable due for a restock: see the module's docstring."""

    def __init__(self) -> None:
        super().__init__(RuleKind.REPLENISHMENT, ReplenishmentParams, REACTS_TO)

    def on_event(self, rule: RuleSpec, state: UserState, event: Event, ctx: Context, effects: Effects) -> None:
        if not isinstance(event, Purchase):
            return
        params: ReplenishmentParams = rule.params  # type: ignore[assignment]
        bought = {item.category for item in event.items}
        for category in params.categories:
            if category not in bought:
                continue
            times = state.profile.bought_ms.get(category)
            if not times or times[-1] != event.ts_ms:
                continue  # a late purchase, or one of a restock already counted: the newest one arms
            key = timer_key(rule, category)
            interval = expected_interval(state, ctx, category, params)
            if interval is None:
                state.timers.pop(key, None)  # a timer from an older restock would remind too early
                continue
            due_ms = event.ts_ms + interval[0] - params.lead_ms
            if due_ms <= event.ts_ms:
                state.timers.pop(key, None)
                continue
            cause = SEPARATOR.join((category, event.event_id, interval[1]))
            timer = Timer(key=key, rule=rule.name, due_ms=due_ms, cause=cause)
            state.timers[key] = timer
            effects.schedule.append(timer)

    def on_timer(self, rule: RuleSpec, state: UserState, timer: Timer, ctx: Context) -> Candidate | None:
        params: ReplenishmentParams = rule.params  # type: ignore[assignment]
        category, _, interval_from = timer.cause.split(SEPARATOR)
        if category not in params.categories:
            return None  # the rules file no longer calls it a consumable
        times = state.profile.bought_ms.get(category)
        if not times or times[-1] > timer.first_due_ms:
            state.note(ctx.now_ms, rule.name, DROPPED, f"{category}: bought since it was armed, or its history was let go", category)
            return None  # bought since (its own timer follows), or the history of it is gone (more categories came)
        last_ms = times[-1]
        expected_ms = timer.first_due_ms + params.lead_ms
        days = (expected_ms - last_ms) / DAY_MS
        basis = "their own" if interval_from == "own" else "the shop's usual"
        return Candidate(
            rule=rule,
            key=timer.key,
            cause=timer.cause,
            ts_ms=ctx.now_ms,
            payload={
                "category": category,
                "last_purchase": format_rfc3339(last_ms),
                "expected": format_rfc3339(expected_ms),
                "interval_days": round(days, 1),
                "interval_from": interval_from,
                "products": ctx.population.associations.popular(category, params.top_products),
            },
            reason=f"last bought {category} {format_rfc3339(last_ms)}; by {basis} {days:.1f} days between restocks it runs out soon",
            once_key=timer.key,
            categories=(category,),
        )

    def example(self) -> RuleSpec:
        categories = ("books", "electronics", "garden", "kitchen", "shoes", "toys")
        return RuleSpec("replenish", RuleKind.REPLENISHMENT, "push", ReplenishmentParams(categories, min_own_gaps=1, min_shop_gaps=1))

    def summary(self, payload: dict[str, Any]) -> str:
        return f"restock {payload['category']}, due {payload['expected'][:10]}"
