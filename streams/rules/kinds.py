"""Every rule kind, registered in one place: a new kind is one module and one line here."""

from __future__ import annotations

from typing import Any

from streams.config import DAY_MS
from streams.rules.abandoned_cart import AbandonedCart
from streams.rules.abandoned_interest import AbandonedInterest
from streams.rules.cross_sell import CrossSell
from streams.rules.follow_up import FollowUp
from streams.rules.logic import RuleLogic
from streams.rules.replenishment import Replenishment
from streams.rules.spec import RuleBook, RuleKind
from streams.rules.timed_promotion import TimedPromotion
from streams.rules.win_back import WinBack

KINDS: dict[RuleKind, RuleLogic] = {
    logic.kind: logic
    for logic in (
        AbandonedInterest(),
        AbandonedCart(),
        TimedPromotion(),
        WinBack(),
        CrossSell(),
        Replenishment(),
        FollowUp(),
    )
}


def kind_of_rules(book: RuleBook) -> dict[str, RuleKind]:
    """Each rule's kind by the name its triggers carry, follow-ups included."""
    kinds = {rule.name: rule.kind for rule in book.rules}
    kinds.update({rule.follow_up.name: rule.follow_up.kind for rule in book.rules if rule.follow_up is not None})
    return kinds


def summary(kind: RuleKind | None, payload: dict[str, Any]) -> str | None:
    """A trigger's payload in a few words, as its kind tells it; None when it cannot."""
    if kind is None:
        return None
    try:
        return KINDS[kind].summary(payload) or None
    except (KeyError, TypeError, ValueError):  # a payload without what its kind's summary reads
        return None


def longest_delay_ms(book: RuleBook) -> int:
    """How far past the last event an end-of-input flush must look to fire every timer: the
    longest wait of any rule or variant (its follow-up's added), plus a day for quiet hours that
    may hold a trigger back, and another for a follow-up's own night."""
    quiet = DAY_MS if book.guardrails.quiet_hours is not None else 0
    delays = [0]
    for rule in book.enabled:
        for spec in (rule, *(variant.rule for variant in rule.variants)):
            delay_ms = KINDS[spec.kind].delay_ms(spec.params)
            if rule.follow_up is not None:
                delay_ms += KINDS[RuleKind.FOLLOW_UP].delay_ms(rule.follow_up.params) + quiet
            delays.append(delay_ms)
    return max(delays) + quiet
