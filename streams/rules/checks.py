"""What is legal in a rules file but almost surely a mistake: warnings, not errors.

The loader (streams/rules/loading.py) refuses what cannot run. These are rules that run and do
nothing useful: a channel no sender reads (a typo such as ``emial`` would send every trigger of
the rule where no one delivers it), no rule enabled at all, or a campaign whose window has closed.
``nudge rules check`` prints them, and a worker says them when it starts.

Pure: the channels the senders read and "now" are given, never read from the world.
"""

from __future__ import annotations

import difflib

from schemas.timestamps import format_rfc3339
from streams.rules.spec import BEST_CHANNEL, FollowUpParams, RuleBook, RuleSpec, TimedPromotionParams

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
    for rule in book.rules:
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
    if rule.variants:
        line += "; variants " + ", ".join(f"{variant.name} ({variant.weight:g})" for variant in rule.variants)
    follow_up = rule.follow_up
    if follow_up is not None and isinstance(follow_up.params, FollowUpParams):
        hours = follow_up.params.after_ms / 3_600_000
        line += f"; follow-up after {hours:g}h on {_channels(follow_up)}" + (" with its own offer" if follow_up.offer is not None else "")
    return line


def _channels(rule: RuleSpec) -> str:
    if rule.channel == BEST_CHANNEL:
        return f"the best of {', '.join(rule.choices)}"
    return ", else ".join(rule.choices)
