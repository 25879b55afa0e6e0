"""The guardrails every candidate trigger passes, in order: a channel with consent and no block
(chosen before, by streams/channels.py), the rule's gates on the learned propensity and uplift,
frequency cap, quiet hours, and last the holdout. Each returns its decision as data; the caller
records it.

The holdout comes last so that a held-out candidate is a "ghost" send: it meets consent, the
cap (a ghost counts towards it, as a send does), quiet hours (held and judged again) and its
expiry exactly as a treated one would, and only at the moment it would have gone out does it
become a ``holdout`` suppression. Drawn first, held-out users would be those whose candidate
never had to survive the cap or the night, unlike the treated, and the uplift measured
between the two groups would be biased by that, not by the message.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from schemas.outputs import SuppressionReason
from streams.config import DAY_MS, MINUTE_MS
from streams.rules.base import Candidate
from streams.rules.spec import QuietHours, RuleBook
from streams.state import UserState

_HASH_SPACE = float(2**64)


@dataclass(frozen=True, slots=True)
class Verdict:
    suppressed: SuppressionReason | None = None
    hold_until_ms: int | None = None  # quiet hours: send then, if still wanted

    @property
    def send(self) -> bool:
        return self.suppressed is None and self.hold_until_ms is None


SEND = Verdict()
HOLDOUT = Verdict(suppressed=SuppressionReason.HOLDOUT)


def in_holdout(user_id: str, rule: str, *, fraction: float, salt: str) -> bool:
    """A stable pseudo-random share of users per rule: the same user, rule and salt always agree,
    in every process (Python's ``hash`` is salted per process, so it is not used).

    >>> in_holdout("u1", "abandoned_cart", fraction=0.0, salt="s"), in_holdout("u1", "abandoned_cart", fraction=1.0, salt="s")
    (False, True)
    """
    if fraction <= 0:
        return False
    digest = hashlib.blake2b(f"{salt}\x1f{rule}\x1f{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _HASH_SPACE < fraction


def quiet_until_ms(now_ms: int, utc_offset_min: int, quiet: QuietHours) -> int | None:
    """When quiet hours end, if ``now_ms`` falls inside them on the user's local clock.

    >>> hours = QuietHours(start_min=22 * 60, end_min=8 * 60)
    >>> quiet_until_ms(23 * 3_600_000, 0, hours) == 32 * 3_600_000, quiet_until_ms(12 * 3_600_000, 0, hours)
    (True, None)
    """
    local_ms = now_ms + utc_offset_min * MINUTE_MS
    minute = local_ms % DAY_MS // MINUTE_MS
    start, end = quiet.start_min, quiet.end_min
    inside = (minute >= start or minute < end) if start > end else (start <= minute < end)
    if not inside:
        return None
    release_local_ms = local_ms - local_ms % DAY_MS + end * MINUTE_MS
    if release_local_ms <= local_ms:
        release_local_ms += DAY_MS
    return release_local_ms - utc_offset_min * MINUTE_MS


def judge(candidate: Candidate, state: UserState, *, book: RuleBook, propensity: float | None = None, uplift: float | None = None) -> Verdict:
    """The guardrails after the channel: ``propensity`` and ``uplift`` are the models'
    predictions for this candidate (None while a model is cold, and then a rule's gate on it lets
    the candidate through)."""
    guardrails = book.guardrails
    rule = candidate.rule
    profile = state.profile
    now_ms = candidate.ts_ms
    if propensity is not None and (
        (rule.propensity_min is not None and propensity < rule.propensity_min) or (rule.propensity_max is not None and propensity > rule.propensity_max)
    ):
        return Verdict(suppressed=SuppressionReason.PROPENSITY)
    if uplift is not None and rule.min_uplift is not None and uplift < rule.min_uplift:
        return Verdict(suppressed=SuppressionReason.LOW_UPLIFT)
    if guardrails.frequency_cap is not None:
        since_ms = now_ms - guardrails.frequency_window_ms
        sent = state.sent_ms
        sent[:] = [sent_ms for sent_ms in sent if sent_ms > since_ms]
        if sum(1 for sent_ms in sent if sent_ms <= now_ms) >= guardrails.frequency_cap:
            return Verdict(suppressed=SuppressionReason.FREQUENCY_CAP)
    if guardrails.quiet_hours is not None:
        until_ms = quiet_until_ms(now_ms, profile.utc_offset_min, guardrails.quiet_hours)
        if until_ms is not None:
            return Verdict(hold_until_ms=until_ms)
    if in_holdout(profile.user_id, rule.name, fraction=book.holdout_fraction(rule), salt=guardrails.holdout_salt):
        return HOLDOUT
    return SEND
