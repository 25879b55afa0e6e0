"""Conversion attribution: a purchase soon after a trigger is that trigger's conversion.

Every trigger sent, and every one held out, is remembered as an exposure. A purchase within
the attribution window converts the latest matching exposure (matching its category or products
when the rule named some), once; a held-out exposure converts into the holdout group, which is
the baseline the treated group's conversion rate is measured against.
"""

from __future__ import annotations

from schemas.events import Purchase
from schemas.outputs import Conversion, ConversionGroup, Trigger, trigger_id_for
from streams.rules.base import Candidate
from streams.state import MAX_EXPOSURE_PRODUCTS, MAX_EXPOSURES, Exposure, UserState


def expose(state: UserState, candidate: Candidate, trigger: Trigger, *, holdout: bool, window_ms: int) -> None:
    exposures = state.exposures
    since_ms = trigger.ts_ms - window_ms
    exposures[:] = [exposure for exposure in exposures if exposure.ts_ms > since_ms][-(MAX_EXPOSURES - 1) :]
    products = candidate.products[-MAX_EXPOSURE_PRODUCTS:]  # a big cart's latest lines: the record stays bounded
    exposures.append(
        Exposure(trigger.rule, trigger.trigger_id, trigger.ts_ms, holdout, candidate.categories, products, trigger.channel, trigger.variant)
    )


def exposure_of(state: UserState, trigger_id: str) -> Exposure | None:
    """The trigger's exposure, while the user's record still remembers it (the latest, should a
    redelivered trigger have been exposed twice)."""
    found = None
    for exposure in state.exposures:
        if exposure.trigger_id == trigger_id:
            found = exposure
    return found


def forget(state: UserState, trigger_id: str) -> None:
    """The trigger's exposure is no longer waiting for a conversion (a follow-up took its place)."""
    state.exposures[:] = [exposure for exposure in state.exposures if exposure.trigger_id != trigger_id]


def convert(state: UserState, purchase: Purchase, *, window_ms: int) -> Conversion | None:
    """The conversion this purchase makes, if any; the exposure it converts is used up."""
    exposures = state.exposures
    if not exposures:
        return None
    categories = {item.category for item in purchase.items}
    products = {item.product_id for item in purchase.items}
    ts_ms = purchase.ts_ms
    for index in range(len(exposures) - 1, -1, -1):
        exposure = exposures[index]
        if not 0 <= ts_ms - exposure.ts_ms <= window_ms:
            continue
        named = exposure.categories or exposure.products
        if named and categories.isdisjoint(exposure.categories) and products.isdisjoint(exposure.products):
            continue
        del exposures[index]
        return Conversion(
            conversion_id=trigger_id_for(state.user_id, "conversion", f"{exposure.trigger_id}\x1f{purchase.order_id}"),
            user_id=state.user_id,
            rule=exposure.rule,
            trigger_id=exposure.trigger_id,
            group=ConversionGroup.HOLDOUT if exposure.holdout else ConversionGroup.TREATED,
            order_id=purchase.order_id,
            value=purchase.total,
            ts_ms=ts_ms,
            trigger_ts_ms=exposure.ts_ms,
            variant=exposure.variant,
            clicked=exposure.responded == "clicked",
        )
    return None
