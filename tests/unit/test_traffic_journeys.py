"""The synthetic shop's journeys mode: planted category pairs and consumables bought on a cycle,
recoverable from the stream alone; and the default stream exactly as it was without it."""

from __future__ import annotations

import hashlib
import json

import pytest

from streams.traffic import CART_REMINDER_EFFECT, PlantedEffect, ShopSimulator

START_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z


def stream_sha256(simulator: ShopSimulator, count: int) -> str:
    digest = hashlib.sha256()
    for message in simulator.events(count):
        value = message.value.decode() if isinstance(message.value, bytes) else json.dumps(message.value, sort_keys=True)
        digest.update(f"{message.topic}\t{message.user_id}\t{value}\n".encode())
    return digest.hexdigest()


# Computed on the shop before journeys existed: without them, not one draw may change.
PINNED_STREAMS = [
    ({"mean_gap_ms": 1000}, "f340c967a8aaa7e847f99e019ec11fca40bbad2a6dd2faae728da80f5de2f22e"),
    (
        {
            "mean_gap_ms": 60_000,
            "bad_fraction": 0.05,
            "planted": PlantedEffect("abandoned_cart", CART_REMINDER_EFFECT, holdout_fraction=0.1, holdout_salt="x"),
        },
        "7b94cc9b1da533666b490b1f95750696d2c0ce55fcbd069214ced91a9d615948",
    ),
]


@pytest.mark.parametrize(("arguments", "sha256"), PINNED_STREAMS)
def test_without_journeys_the_stream_is_byte_for_byte_as_before(arguments: dict[str, object], sha256: str) -> None:
    assert stream_sha256(ShopSimulator(users=200, seed=7, start_ms=START_MS, **arguments), 3_000) == sha256  # type: ignore[arg-type]
