"""Segment names: the lifecycle stages and RFM segments a user can be counted in.

Both families are named ``<family>:<name>`` (``lifecycle:at_risk``, ``rfm:champions``), because
some plain names (new, loyal, at_risk) exist in both. A plain name means the lifecycle stage
when there is one of that name, else the RFM segment.
"""

from __future__ import annotations

from functools import lru_cache

from streams.lifecycle import Stage
from streams.profile import Profile
from streams.rfm import SEGMENTS, RfmScores, rfm_segment

LIFECYCLE = "lifecycle:"
RFM = "rfm:"
ALL_SEGMENTS = tuple(LIFECYCLE + stage.value for stage in Stage) + tuple(RFM + name for name in SEGMENTS)


def segments_of(profile: Profile) -> tuple[str, ...]:
    """Where a user counts: their lifecycle stage and, for customers with scores, their RFM
    segment. Someone who only ever sent a consent message has no lifecycle yet."""
    if not profile.has_activity:
        return ()
    return _segments(profile.stage, profile.rfm)


@lru_cache(maxsize=None)  # 5 stages x 126 score triples at most
def _segments(stage: Stage, rfm: RfmScores | None) -> tuple[str, ...]:
    return (LIFECYCLE + stage.value,) if rfm is None else (LIFECYCLE + stage.value, RFM + rfm_segment(rfm))


def resolve_segment(name: str) -> str | None:
    """The full name a user-given segment name stands for, or None if there is no such segment.

    >>> resolve_segment("at_risk"), resolve_segment("rfm:at_risk"), resolve_segment("champions"), resolve_segment("vip")
    ('lifecycle:at_risk', 'rfm:at_risk', 'rfm:champions', None)
    """
    if name in ALL_SEGMENTS:
        return name
    for family in (LIFECYCLE, RFM):
        if family + name in ALL_SEGMENTS:
            return family + name
    return None
