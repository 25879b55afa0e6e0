"""What the core is told at construction: plain values, never read from the environment."""

from __future__ import annotations

from dataclasses import dataclass

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class ProfileConfig:
    interest_half_life_ms: int = 24 * HOUR_MS  # category and product affinities halve in this much event time
    rhythm_half_life_ms: int = 14 * DAY_MS  # the activity rhythm forgets old weeks more slowly than interests
    session_gap_ms: int = 30 * MINUTE_MS  # a quiet gap this long starts a new session (when no session_id)
    consent_default: bool = True  # consent for a channel the user never spoke about
    max_categories: int = 20  # affinities kept per user; the weakest goes when a new one arrives
    max_products: int = 20
    engagement_half_life_ms: int = 30 * DAY_MS  # how fast a channel's opens and deliveries fade: responsiveness changes slowly
    association_window_ms: int = 14 * DAY_MS  # categories bought this soon one after the other count as bought together

    def __post_init__(self) -> None:
        if min(self.interest_half_life_ms, self.rhythm_half_life_ms, self.session_gap_ms, self.engagement_half_life_ms, self.association_window_ms) <= 0:
            raise ValueError("half-lives, the session gap and the association window must be positive")
        if min(self.max_categories, self.max_products) < 1:
            raise ValueError("max_categories and max_products must be at least 1")
