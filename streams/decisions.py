"""Why, and why not: the rules' decisions about one user, kept in their state and read back.

Every rule decision that matters to a marketer asking "why did (or didn't) this user get it?"
is noted in the user's state (``UserState.note``): a trigger sent, suppressed (and by which
guardrail) or held for quiet hours until a local time; a due timer dropped (affinity gone, a
once_per, a cart emptied); a reminder cancelled (the user bought, or answered the first message);
an interest that fell one view short. The trace is bounded and decays (streams/state.py:
``MAX_DECISIONS``, ``DECISIONS_KEEP_MS``) and goes with the user on erasure. Pure: the worker's
``GET /profiles/{user}/decisions`` and ``nudge explain`` both read it through ``view``.
"""

from __future__ import annotations

from typing import Any

from schemas.outputs import SuppressionReason
from schemas.timestamps import format_rfc3339
from streams.state import UserState

SENT = "sent"
SUPPRESSED = "suppressed"
HELD = "held"
DROPPED = "dropped"
CANCELLED = "cancelled"
FELL_SHORT = "fell_short"

GUARDRAIL_WORDS = {
    SuppressionReason.EXPIRED: "held past the point where it still made sense (max lateness)",
    SuppressionReason.NO_CONSENT: "no consent for any of its channels",
    SuppressionReason.BOUNCED: "every channel bounced, and nothing since shows one works",
    SuppressionReason.UNSUBSCRIBED: "unsubscribed from its channel",
    SuppressionReason.PROPENSITY: "purchase propensity outside the rule's range",
    SuppressionReason.LOW_UPLIFT: "learned uplift below the rule's min_uplift",
    SuppressionReason.FREQUENCY_CAP: "the frequency cap: enough messages in the window already",
    SuppressionReason.HOLDOUT: "in the rule's holdout, kept unmessaged to measure uplift (a ghost send)",
}


def view(state: UserState) -> list[dict[str, Any]]:
    """The trace, newest first, each time in the user's own offset (their latest event's)."""
    offset = state.profile.utc_offset_min
    trace = state.decisions
    entries: list[dict[str, Any]] = []
    for index in range(len(trace) - 1, -1, -1):  # newest first (a loop over reversed() trips mypyc here)
        entry: list[Any] = trace[index]
        entries.append({"at": format_rfc3339(int(entry[0]), offset), "rule": str(entry[1]), "outcome": str(entry[2]), "reason": str(entry[3])})
    return entries


def timers_view(state: UserState) -> list[dict[str, Any]]:
    """The user's pending timers, their times in the user's own offset."""
    offset = state.profile.utc_offset_min
    return [
        {
            "rule": timer.rule,
            "key": timer.key,
            "due": format_rfc3339(timer.due_ms, offset),
            "first_due": format_rfc3339(timer.first_due_ms, offset),
        }
        for timer in sorted(state.timers.values(), key=lambda timer: (timer.due_ms, timer.key))
    ]


def duration(ms: int) -> str:
    """A duration as the rules file writes it, in its largest whole unit.

    >>> duration(7 * 86_400_000), duration(86_400_000 + 3_600_000), duration(90_000)
    ('7d', '25h', '90s')
    """
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
