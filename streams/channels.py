"""Channels: what the senders' engagements teach about each of a user's channels, and which
channel a trigger goes out on.

A channel's responsiveness is its decayed opens and clicks over its decayed deliveries, with one
imagined response in two imagined deliveries as the prior: a channel never heard of scores 0.5,
so ``channel: best`` tries channels it knows nothing about before it writes them off, and breaks
ties by the order the rule lists them in, which keeps the choice deterministic in event time.

A bounce blocks the channel until a later opt-in or engagement on it shows it works again. An
unsubscribe or a complaint is an opt-out of the channel, applied as a consent message with
``granted: false`` at the engagement's time; the block only remembers why, for the suppression.
"""

from __future__ import annotations

from schemas.events import Consent, Engagement, EngagementType
from schemas.outputs import SuppressionReason
from streams.config import ProfileConfig
from streams.profile import MAX_CONSENT_CHANNELS, Profile, apply_consent
from streams.rules.spec import BEST_CHANNEL, RuleSpec

_RESPONSES = frozenset({EngagementType.OPENED, EngagementType.CLICKED})
_WORKS = frozenset({EngagementType.DELIVERED, EngagementType.OPENED, EngagementType.CLICKED})  # proof the channel reaches the user
_USER_ACTS = frozenset(
    {EngagementType.OPENED, EngagementType.CLICKED, EngagementType.DISMISSED, EngagementType.UNSUBSCRIBED, EngagementType.COMPLAINED}
)
_OPT_OUTS = frozenset({EngagementType.UNSUBSCRIBED, EngagementType.COMPLAINED})
BOUNCED = "bounced"
_ENGAGEMENT_KEYS = 2 * MAX_CONSENT_CHANNELS  # "<channel>/delivered" and "<channel>/responded"


def apply_engagement(profile: Profile, event: Engagement, *, first_response: bool, config: ProfileConfig) -> None:
    """Learn from one engagement. ``first_response``: the first open or click of its message (a
    click after an open is one response, not two)."""
    channel, ts_ms, kind = event.channel, event.ts_ms, event.type
    scores, half_life_ms = profile.engagement, config.engagement_half_life_ms
    if kind is EngagementType.DELIVERED:
        scores.add(f"{channel}/delivered", 1.0, ts_ms=ts_ms, half_life_ms=half_life_ms, cap=_ENGAGEMENT_KEYS)
    elif kind in _RESPONSES and first_response:
        scores.add(f"{channel}/responded", 1.0, ts_ms=ts_ms, half_life_ms=half_life_ms, cap=_ENGAGEMENT_KEYS)
    if kind in _USER_ACTS and (profile.last_response is None or ts_ms >= profile.last_response[2]):
        profile.last_response = [kind.value, channel, ts_ms, event.trigger_id]
    blocks = profile.channel_blocks
    block = blocks.get(channel)
    reached = profile.channel_reached
    if kind in _WORKS:
        if block is not None and block[0] == BOUNCED and ts_ms >= block[1]:
            del blocks[channel]
        if ts_ms > reached.get(channel, -1):
            if channel not in reached and len(reached) >= MAX_CONSENT_CHANNELS:
                del reached[min(reached, key=lambda name: (reached[name], name))]
            reached[channel] = ts_ms
    elif kind is EngagementType.BOUNCED:
        # A bounce older than the channel's latest delivery is news from before it worked.
        if (block is None or (block[0] == BOUNCED and ts_ms >= block[1])) and ts_ms >= reached.get(channel, -1):
            _block(profile, channel, BOUNCED, ts_ms)
    elif kind in _OPT_OUTS:
        apply_consent(profile, Consent(event.event_id, event.user_id, ts_ms, event.utc_offset_min, channel, False))
        # A late opt-out older than an opt-in the user has given since changes nothing, as a consent message would not.
        if not profile.consent_for(channel, default=True) and (block is None or ts_ms >= block[1] or block[0] == BOUNCED):
            _block(profile, channel, kind.value, ts_ms)


def _block(profile: Profile, channel: str, reason: str, ts_ms: int) -> None:
    """Record a block; a profile keeps at most MAX_CONSENT_CHANNELS, and the oldest bounce goes
    first (an opt-out stays in the consents whatever happens to its block)."""
    blocks = profile.channel_blocks
    if channel not in blocks and len(blocks) >= MAX_CONSENT_CHANNELS:
        del blocks[min(blocks, key=lambda name: (blocks[name][0] != BOUNCED, blocks[name][1], name))]
    blocks[channel] = [reason, ts_ms]


def responsiveness(profile: Profile, channel: str, *, now_ms: int, config: ProfileConfig) -> float:
    """Decayed responses over decayed deliveries, with a prior of one in two.

    >>> profile = Profile("u1", 0, 0)
    >>> responsiveness(profile, "push", now_ms=0, config=ProfileConfig())
    0.5
    """
    scores, half_life_ms = profile.engagement, config.engagement_half_life_ms
    responded = scores.value(f"{channel}/responded", now_ms=now_ms, half_life_ms=half_life_ms)
    delivered = max(scores.value(f"{channel}/delivered", now_ms=now_ms, half_life_ms=half_life_ms), responded)
    return (responded + 1.0) / (delivered + 2.0)


def choose(
    rule: RuleSpec, profile: Profile, *, now_ms: int, consent_default: bool, config: ProfileConfig, avoid: str = ""
) -> tuple[str, SuppressionReason | None]:
    """The channel a trigger of ``rule`` goes out on: the first of the rule's channels with
    consent and no block (with ``best``, the most responsive first). None usable: the first
    one's channel and the reason it cannot be used. ``avoid``: a channel not to use (the one a
    follow-up's ignored first message went out on)."""
    order = [channel for channel in rule.choices if channel != avoid] or list(rule.choices)
    if rule.channel == BEST_CHANNEL and len(order) > 1:
        order.sort(key=lambda channel: -responsiveness(profile, channel, now_ms=now_ms, config=config))  # stable: ties keep the list's order
    first_reason: SuppressionReason | None = None
    blocks = profile.channel_blocks
    for channel in order:
        block = blocks.get(channel)
        if block is not None:
            reason = SuppressionReason.BOUNCED if block[0] == BOUNCED else SuppressionReason.UNSUBSCRIBED
        elif not profile.consent_for(channel, default=consent_default):
            reason = SuppressionReason.NO_CONSENT
        else:
            return channel, None
        if first_reason is None:
            first_reason = reason
    return order[0], first_reason
