"""What the rules are told at construction: plain values, never read from the environment."""

from __future__ import annotations

from dataclasses import dataclass

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class RuleConfig:
    abandoned_cart_delay_ms: int = 30 * MINUTE_MS
    abandoned_cart_channel: str = "push"

    @property
    def longest_delay_ms(self) -> int:
        """How far past the last event an end-of-input flush must look to fire every timer."""
        return self.abandoned_cart_delay_ms
