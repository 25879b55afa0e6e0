"""Rules as data: what a marketer writes in the rules file, as plain frozen values.

The core never reads the file (streams/rules/loading.py turns YAML text into a ``RuleBook``);
rules and guardrails take these values at construction, so the same book gives the same
decisions in a worker, in a replay and in a test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from streams.config import DAY_MS, HOUR_MS, MINUTE_MS
from streams.purchases import MAX_TIMES
from streams.lifecycle import VISITS_KEPT


class RuleKind(StrEnum):
    ABANDONED_INTEREST = "abandoned_interest"  # looked at a category, then walked away
    ABANDONED_CART = "abandoned_cart"  # left a cart untouched, without a purchase
    TIMED_PROMOTION = "timed_promotion"  # a campaign window with a segment filter and an offer
    WIN_BACK = "win_back"  # silent for longer than usual: at_risk, then churned
    CROSS_SELL = "cross_sell"  # bought in a category, not yet in the one the shop's buyers take next
    REPLENISHMENT = "replenishment"  # a consumable due for a restock, by the user's own rhythm
    FOLLOW_UP = "follow_up"  # a rule's second step when its message was ignored; made from the rule's follow_up, never written as a kind


WRITTEN_KINDS = tuple(kind for kind in RuleKind if kind is not RuleKind.FOLLOW_UP)
"""The kinds a rules file may name."""

BEST_CHANNEL = "best"
"""``channel: best``: the channel the user has been most responsive on (streams/channels.py)."""
DEFAULT_CHANNELS = ("push", "email", "sms")
"""What ``channel: best`` chooses among, in this order on a tie, unless the rule lists its own."""


class SendAt(StrEnum):
    FIRST_EVENT = "first_event"  # the moment an eligible user is active inside the window
    BEST_HOUR = "best_hour"  # at the user's best send hour inside the window


# A kind's params are what its rules file key ``params`` holds. The loader (streams/rules/loading.py)
# derives each key from its field: the name (without ``_ms``), its type (``_ms``: a duration like
# 30m; int: a whole number, at least ``minimum``; float: a number, at least 0; an enum: one of its
# values), and whether it has a default (none: required). ``metadata`` says the rest. A params
# class may name a ``problem`` that no one field shows.
AT_LEAST_ONE = {"minimum": 1}
TIMESTAMP = {"read": "timestamp"}  # an RFC 3339 timestamp with an offset, not a duration


@dataclass(frozen=True, slots=True)
class AbandonedInterestParams:
    min_views: int = field(default=3, metadata=AT_LEAST_ONE)  # product views in a category that make an interest
    min_views_after_search: int = 1  # ... or a search for the category plus this many views
    window_ms: int = 30 * MINUTE_MS  # the interest events must fall within this much time
    delay_ms: int = 20 * MINUTE_MS  # quiet time after the last interest event before firing
    affinity_threshold: float = 2.0  # the category's decayed affinity must still exceed this
    top_products: int = 3  # most-viewed products of the category in the payload
    once_per_ms: int = DAY_MS  # at most one trigger per (user, category) in this much time
    max_lateness_ms: int = 2 * HOUR_MS  # never fire later than this after the last interest event

    def problem(self) -> tuple[tuple[str, ...], str] | None:
        """What the fields cannot show alone: the keys to blame (the first given), and why."""
        if self.max_lateness_ms < self.delay_ms:  # the trigger would be stale the moment its timer fires
            return ("max_lateness", "delay"), "max_lateness is shorter than delay, so the rule could never fire"
        return None


@dataclass(frozen=True, slots=True)
class AbandonedCartParams:
    delay_ms: int = 30 * MINUTE_MS  # quiet time after the last cart change
    once_per_ms: int = DAY_MS  # at most one reminder per cart in this much time


@dataclass(frozen=True, slots=True)
class SegmentFilter:
    """Who a campaign is for; every listed criterion must hold, an empty one allows anyone."""

    lifecycle: tuple[str, ...] = ()  # lifecycle stages, e.g. ("active", "loyal")
    rfm: tuple[str, ...] = ()  # RFM segments, e.g. ("champions",)
    top_category: tuple[str, ...] = ()  # the user's strongest category must be one of these
    price_sensitivity: tuple[str, ...] = ()  # bargain_hunter, regular, premium
    consent: str | None = None  # a channel the user must have consented to


@dataclass(frozen=True, slots=True)
class TimedPromotionParams:
    start_ms: int = field(metadata=TIMESTAMP)
    end_ms: int = field(metadata=TIMESTAMP)  # exclusive
    send_at: SendAt = SendAt.FIRST_EVENT
    offer: dict[str, Any] = field(default_factory=dict, hash=False)  # copied into the payload as is
    segment: SegmentFilter = SegmentFilter()

    def problem(self) -> tuple[tuple[str, ...], str] | None:
        if self.end_ms <= self.start_ms:
            return ("end",), "must be after start, or the campaign never runs"
        return None


@dataclass(frozen=True, slots=True)
class WinBackParams:
    top_categories: int = 1  # the user's strongest categories named in the payload
    multiple: float = 3.0  # silent this many of their usual gaps between visits: at risk
    at_least_ms: int = 7 * DAY_MS  # ... but never at risk sooner than this
    at_most_ms: int = 60 * DAY_MS  # ... nor later than this
    churn_multiple: float = 3.0  # silent this many times their at-risk silence: churned (30 days -> 90)
    min_gaps: int = field(default=3, metadata=AT_LEAST_ONE)  # fewer gaps known: the usual gap is unknown, and 30 days (within the bounds) stands
    churned_offer: dict[str, Any] = field(default_factory=dict, hash=False)  # the stronger offer of the churned message, in its payload as "offer"

    def problem(self) -> tuple[tuple[str, ...], str] | None:
        if self.at_least_ms > self.at_most_ms:
            return ("at_least", "at_most"), "at_least is longer than at_most"
        if self.at_least_ms < DAY_MS:  # a user's stage moves only on the daily sweep
            return ("at_least",), "must be at least 1d: silence is judged once a day"
        if self.churn_multiple < 1.0:
            return ("churn_multiple",), "must be at least 1: a user is at risk before they churn"
        if self.min_gaps > VISITS_KEPT - 1:
            return ("min_gaps",), f"must be at most {VISITS_KEPT - 1}: the profile keeps the gaps between its latest {VISITS_KEPT} visits"
        return None


@dataclass(frozen=True, slots=True)
class CrossSellParams:
    delay_ms: int = 2 * DAY_MS  # after a purchase in a category, wait this long for the user to buy its partner unprompted
    min_support: int = field(default=5, metadata=AT_LEAST_ONE)  # times the partition saw the pair before it is trusted
    min_lift: float = 1.5  # the partner must be at least this much likelier after the category than on its own
    top_products: int = 3  # the partner category's best sellers named in the payload
    once_per_ms: int = 7 * DAY_MS  # at most one cross-sell per (user, recommended category) in this much time


MAX_OWN_GAPS = MAX_TIMES - 1  # restock intervals a profile can know per category


@dataclass(frozen=True, slots=True)
class ReplenishmentParams:
    categories: tuple[str, ...]  # the shop's consumable categories: bought again when they run out
    lead_ms: int = DAY_MS  # remind this long before the expected next purchase
    min_own_gaps: int = field(default=3, metadata=AT_LEAST_ONE)  # the user's own restock intervals needed before their median is used
    min_shop_gaps: int = field(default=5, metadata=AT_LEAST_ONE)  # ... else the partition's, once it has seen this many
    top_products: int = 3  # the category's best sellers named in the payload

    def problem(self) -> tuple[tuple[str, ...], str] | None:
        if not self.categories:
            return ("categories",), "must name at least one consumable category"
        if self.min_own_gaps > MAX_OWN_GAPS:
            return ("min_own_gaps",), f"must be at most {MAX_OWN_GAPS}: a profile keeps {MAX_OWN_GAPS + 1} restocks per category, so more could never be known"
        return None


@dataclass(frozen=True, slots=True)
class FollowUpParams:
    after_ms: int  # how long the first message may go without an open or a click
    parent: str  # the rule whose trigger this follows up


Params = AbandonedInterestParams | AbandonedCartParams | TimedPromotionParams | WinBackParams | CrossSellParams | ReplenishmentParams | FollowUpParams


@dataclass(frozen=True, slots=True)
class RuleSpec:
    name: str  # unique; names the rule in triggers, metrics and trigger ids
    kind: RuleKind
    channel: str
    params: Params
    priority: int = 0  # higher wins when the frequency cap allows only some triggers
    enabled: bool = True
    holdout_fraction: float | None = None  # overrides the guardrails' default for this rule
    propensity_min: float | None = None  # send only to users whose purchase propensity is at least this
    propensity_max: float | None = None  # ... and at most this: people who will buy anyway need no nudge
    min_uplift: float | None = None  # send only where the learned uplift is at least this
    channels: tuple[str, ...] = ()  # in order of preference (``channel`` is the first, or "best"); empty: ``channel`` alone
    offer: dict[str, Any] | None = field(default=None, hash=False)  # copied into every trigger's payload as "offer"
    variant: str | None = None  # the A/B variant this spec is, with its overrides applied; None: the rule itself
    variants: tuple[Variant, ...] = ()  # the rule's A/B variants; users are split between them (streams/rules/variants.py)
    follow_up: RuleSpec | None = None  # its FOLLOW_UP step: sent when a trigger of this rule gets no open or click in time

    @property
    def choices(self) -> tuple[str, ...]:
        """The channels a trigger of this rule may go out on, in order of preference."""
        return channel_choices(self.channel, self.channels)


def channel_choices(channel: str, channels: tuple[str, ...]) -> tuple[str, ...]:
    """What ``channel`` (and ``channels``, for best) let a trigger go out on, in order of preference."""
    if channels:
        return channels
    return DEFAULT_CHANNELS if channel == BEST_CHANNEL else (channel,)


@dataclass(frozen=True, slots=True)
class Variant:
    """One arm of a rule's A/B test: ``rule`` is the rule with this variant's overrides applied."""

    name: str
    weight: float  # users are split in proportion to the weights
    rule: RuleSpec


@dataclass(frozen=True, slots=True)
class Models:
    """The online models (streams/learning.py): which River classifier each learns with."""

    enabled: bool = True
    propensity: str = "logistic"  # P(purchase within the horizon), at every decision point
    uplift: str = "logistic"  # per rule, the treated and the held-out conversion models (T-learner)
    horizon_ms: int | None = None  # a decision point's label: a purchase within this; None: the attribution window


@dataclass(frozen=True, slots=True)
class QuietHours:
    start_min: int = 22 * 60  # minute of the local day quiet hours begin
    end_min: int = 8 * 60  # minute of the local day they end; may be earlier than start (overnight)


@dataclass(frozen=True, slots=True)
class Guardrails:
    holdout_fraction: float = 0.10  # share of users never sent a rule's triggers, to measure uplift
    holdout_salt: str = "nudge-holdout-1"  # changing it reshuffles who is held out
    variant_salt: str = "nudge-variant-1"  # changing it reshuffles who gets which variant, independently of the holdout
    frequency_cap: int | None = 3  # triggers per user per window across all rules; None: no cap
    frequency_window_ms: int = DAY_MS
    quiet_hours: QuietHours | None = QuietHours()  # None: no quiet hours
    attribution_window_ms: int = DAY_MS  # a purchase this soon after a trigger is its conversion


NO_GUARDRAILS = Guardrails(holdout_fraction=0.0, frequency_cap=None, quiet_hours=None)
"""For tests and experiments that look at a rule alone."""


@dataclass(frozen=True, slots=True)
class RuleBook:
    rules: tuple[RuleSpec, ...]
    guardrails: Guardrails = Guardrails()
    models: Models = Models()

    @property
    def label_horizon_ms(self) -> int:
        """How long a decision point waits for a purchase before its label is 0."""
        horizon = self.models.horizon_ms
        return self.guardrails.attribution_window_ms if horizon is None else horizon

    @property
    def enabled(self) -> tuple[RuleSpec, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)

    def holdout_fraction(self, rule: RuleSpec) -> float:
        return self.guardrails.holdout_fraction if rule.holdout_fraction is None else rule.holdout_fraction

