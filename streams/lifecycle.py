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
AT_RISK_AFTER_MS = 30 * DAY_MS  # the fixed thresholds, unless a win_back rule sets the user's own
CHURNED_AFTER_MS = 90 * DAY_MS
VISITS_KEPT = 9
"""Visit start times a profile keeps: 8 gaps between visits, for a user's usual gap (win_back)."""
VISIT_MS = DAY_MS
"""A session that starts less than this after a visit began is part of that visit: a morning and
an evening session are one visit, or a weekly shopper would look like a twice-a-day one."""


class Stage(StrEnum):
    NEW = "new"  # first seen less than 7 days ago, no purchase yet
    ACTIVE = "active"  # seen in the last 30 days, none of the other stages
    LOYAL = "loyal"  # at least 3 orders in the last 90 days, seen in the last 30
    AT_RISK = "at_risk"  # no activity for 30 days (or for a win_back rule's multiple of the user's usual gap)
    CHURNED = "churned"  # no activity for 90 days (or the win_back rule's multiple of that)


SILENT = (Stage.AT_RISK, Stage.CHURNED)
"""The stages silence alone puts a user in, and only coming back ends."""


def lifecycle_stage(
    first_seen_ms: int,
    last_seen_ms: int,
    recent_orders_ms: list[int],
    now_ms: int,
    at_risk_after_ms: int = AT_RISK_AFTER_MS,
    churned_after_ms: int = CHURNED_AFTER_MS,
) -> Stage:
    """``recent_orders_ms`` holds the user's latest order times (at least the last 3), any order.
    The silence thresholds are the fixed 30 and 90 days unless a win_back rule gives the user's own.

    Every threshold is inclusive of its boundary: exactly 30 days of silence is at_risk.

    >>> day = 86_400_000
    >>> lifecycle_stage(first_seen_ms=0, last_seen_ms=0, recent_orders_ms=[], now_ms=7 * day - 1)
    <Stage.NEW: 'new'>
    >>> lifecycle_stage(first_seen_ms=0, last_seen_ms=0, recent_orders_ms=[], now_ms=30 * day)
    <Stage.AT_RISK: 'at_risk'>
    """
    silent_ms = now_ms - last_seen_ms
    if silent_ms >= churned_after_ms:
        return Stage.CHURNED
    if silent_ms >= at_risk_after_ms:
        return Stage.AT_RISK
    if not recent_orders_ms:
        return Stage.NEW if now_ms - first_seen_ms < NEW_FOR_MS else Stage.ACTIVE
    if len(recent_orders_ms) >= LOYAL_ORDERS:
        third_latest = sorted(recent_orders_ms)[-LOYAL_ORDERS]
        if now_ms - third_latest < LOYAL_WINDOW_MS:
            return Stage.LOYAL
    return Stage.ACTIVE


def usual_gap_ms(visit_starts_ms: list[int]) -> int | None:
    """The median gap between the user's visits (their start times, oldest first); None before a second visit.

    A median, not a mean: one long holiday or one busy week does not move it.

    >>> day = 86_400_000
    >>> usual_gap_ms([0, 7 * day, 14 * day, 50 * day]) // day, usual_gap_ms([0, 2 * day, 3 * day]) // day, usual_gap_ms([0])
    (7, 1, None)
    """
    count = len(visit_starts_ms) - 1
    if count < 1:
        return None
    gaps = sorted([visit_starts_ms[i + 1] - visit_starts_ms[i] for i in range(count)])
    return (gaps[(count - 1) // 2] + gaps[count // 2]) // 2
