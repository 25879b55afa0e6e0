"""What is legal in a rules file but almost surely a mistake: warnings, not errors.

The loader (streams/rules/loading.py) refuses what cannot run. These are rules that run and do
nothing useful: a channel no sender reads (a typo such as ``emial`` would send every trigger of
the rule where no one delivers it), no rule enabled at all, a campaign whose window has closed,
or a second win_back rule (only the first sets when users are at risk).
``nudge rules check`` prints them, and a worker says them when it starts.

Pure: the channels the senders read and "now" are given, never read from the world.
"""

from __future__ import annotations

import difflib

from schemas.timestamps import format_rfc3339
from streams.config import DAY_MS
from streams.lifecycle import AT_RISK_AFTER_MS
from streams.rules.spec import (
    BEST_CHANNEL,
    CrossSellParams,
    FollowUpParams,
    ReplenishmentParams,
    RuleBook,
    RuleKind,
    RuleSpec,
    TimedPromotionParams,
    WinBackParams,
)

DEFAULT_CHANNELS = ("push", "email", "sms")


def rule_warnings(book: RuleBook, *, channels: tuple[str, ...], now_ms: int) -> list[str]:
    """One line per likely mistake, in the rules' order.

    >>> from streams.rules.loading import parse_rulebook
    >>> book = parse_rulebook("rules:\\n  - {name: cart, kind: abandoned_cart, channel: emial}\\n")
    >>> rule_warnings(book, channels=DEFAULT_CHANNELS, now_ms=0)
    ["rule 'cart': channel 'emial' is not one the senders read (push, email, sms): did you mean 'email'?"]
    """
    warnings: list[str] = []
    if not book.enabled:
        warnings.append("no rule is enabled: the worker would keep profiles but never send a trigger")
    thresholds_by: str | None = None
    for rule in book.rules:
        if rule.enabled and rule.kind is RuleKind.WIN_BACK:
            if thresholds_by is None:
                thresholds_by = rule.name
            else:
                warnings.append(
                    f"rule {rule.name!r}: win_back rule {thresholds_by!r} comes first and sets when users are at risk and churned: "
                    "this one's multiple, bounds and min_gaps are not used"
                )
        specs = (rule, *(variant.rule for variant in rule.variants), *(() if rule.follow_up is None else (rule.follow_up,)))
        named = dict.fromkeys(channel for spec in specs for channel in spec.choices)  # in order, once each
        for channel in named:
            if channel not in channels:
                close = difflib.get_close_matches(channel, channels, n=1)
                hint = f": did you mean {close[0]!r}?" if close else ""
                warnings.append(f"rule {rule.name!r}: channel {channel!r} is not one the senders read ({', '.join(channels)}){hint}")
        params = rule.params
        if rule.enabled and isinstance(params, TimedPromotionParams) and params.end_ms <= now_ms:
            warnings.append(f"rule {rule.name!r}: the campaign ended at {format_rfc3339(params.end_ms)}: it will never send again")
    return warnings


def describe(rule: RuleSpec) -> str:
    """One line on where a rule sends, its variants and its follow-up, for ``nudge rules check``.

    >>> from streams.rules.loading import default_rulebook
    >>> describe(default_rulebook().rules[0])
    'abandoned_cart: abandoned_cart on push, else email, else sms; follow-up after 4h on email, else sms'
    """
    line = f"{rule.name}: {rule.kind.value} on {_channels(rule)}"
    params = rule.params
    if isinstance(params, WinBackParams):
        line += _win_back(params)
    elif isinstance(params, CrossSellParams):
        line += f"; {_hours(params.delay_ms)} after a purchase, the partner category seen {params.min_support}+ times with a lift of {params.min_lift:g}+ at its cautious bound"
    elif isinstance(params, ReplenishmentParams):
        line += f"; {', '.join(params.categories)}, {_hours(params.lead_ms)} before the expected restock"
    if rule.variants:
        line += "; variants " + ", ".join(f"{variant.name} ({variant.weight:g})" for variant in rule.variants)
    follow_up = rule.follow_up
    if follow_up is not None and isinstance(follow_up.params, FollowUpParams):
        hours = follow_up.params.after_ms / 3_600_000
        line += f"; follow-up after {hours:g}h on {_channels(follow_up)}" + (" with its own offer" if follow_up.offer is not None else "")
    return line


def _win_back(params: WinBackParams) -> str:
    """When a win_back rule sends, in a few words.

    >>> _win_back(WinBackParams(churned_offer={"discount_pct": 15}))
    '; at risk after 3x their usual gap between visits (7-60 days; 30 days before 3 gaps are known), then churned after 3x that with its churned offer'
    """
    churned = " with its churned offer" if params.churned_offer else ""
    fallback_ms = min(max(AT_RISK_AFTER_MS, params.at_least_ms), params.at_most_ms)
    return (
        f"; at risk after {params.multiple:g}x their usual gap between visits ({params.at_least_ms / DAY_MS:g}-{params.at_most_ms / DAY_MS:g} days;"
        f" {fallback_ms / DAY_MS:g} days before {params.min_gaps} gaps are known), then churned after {params.churn_multiple:g}x that{churned}"
    )


def _channels(rule: RuleSpec) -> str:
    if rule.channel == BEST_CHANNEL:
        return f"the best of {', '.join(rule.choices)}"
    return ", else ".join(rule.choices)


def _hours(duration_ms: int) -> str:
    """A duration in whole days when it is some, else in hours: 2d, 36h, 1.5h."""
    if duration_ms % 86_400_000 == 0:
        return f"{duration_ms // 86_400_000}d"
    return f"{duration_ms / 3_600_000:g}h"
