"""Lifecycle stage: where a user stands in their life as a customer, as of an event time.

A pure function of the profile's activity and order times and ``now``, so a profile can be
re-staged at any moment: on each of its events and on the partition's daily sweep, which is
what moves a quiet user to at_risk and then churned without any event of theirs.
"""

from __future__ import annotations

from enum import StrEnum

from streams.config import DAY_MS

NEW_FOR_MS = 7 * DAY_MS
LOYAL_ORDERS = 3
LOYAL_WINDOW_MS = 90 * DAY_MS
AT_RISK_AFTER_MS = 30 * DAY_MS
CHURNED_AFTER_MS = 90 * DAY_MS


class Stage(StrEnum):
    NEW = "new"  # first seen less than 7 days ago, no purchase yet
    ACTIVE = "active"  # seen in the last 30 days, none of the other stages
    LOYAL = "loyal"  # at least 3 orders in the last 90 days, seen in the last 30
    AT_RISK = "at_risk"  # no activity for 30 days
    CHURNED = "churned"  # no activity for 90 days


def lifecycle_stage(first_seen_ms: int, last_seen_ms: int, recent_orders_ms: list[int], now_ms: int) -> Stage:
    """``recent_orders_ms`` holds the user's latest order times (at least the last 3), any order.

    Every threshold is inclusive of its boundary: exactly 30 days of silence is at_risk.

    >>> day = 86_400_000
    >>> lifecycle_stage(first_seen_ms=0, last_seen_ms=0, recent_orders_ms=[], now_ms=7 * day - 1)
    <Stage.NEW: 'new'>
    >>> lifecycle_stage(first_seen_ms=0, last_seen_ms=0, recent_orders_ms=[], now_ms=30 * day)
    <Stage.AT_RISK: 'at_risk'>
    """
    silent_ms = now_ms - last_seen_ms
    if silent_ms >= CHURNED_AFTER_MS:
        return Stage.CHURNED
    if silent_ms >= AT_RISK_AFTER_MS:
        return Stage.AT_RISK
    if not recent_orders_ms:
        return Stage.NEW if now_ms - first_seen_ms < NEW_FOR_MS else Stage.ACTIVE
    if len(recent_orders_ms) >= LOYAL_ORDERS:
        third_latest = sorted(recent_orders_ms)[-LOYAL_ORDERS]
        if now_ms - third_latest < LOYAL_WINDOW_MS:
            return Stage.LOYAL
    return Stage.ACTIVE
