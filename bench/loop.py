"""The loop closed offline (streams/loop.py): how often the simulated senders' messages are opened
when every rule sends on one fixed channel, and when it sends on ``channel: best``.

Quality, not speed: the figure is a rate, the same on any machine, so it needs no baseline run
beside it; it varies with the shop's seed, so each seed is a run of its own and the table gives
the range. Each seed's four settings see the same shoppers doing the same things.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.loop import LoopReport, closed_loop, shop_events
from streams.rules.loading import parse_rulebook
from streams.traffic import ShopSimulator, assign_personas

START_MS = 1_795_597_200_000
MEAN_GAP_MS = 8_000.0  # 400 shoppers, so each leaves a few carts and interests a day
SETTINGS = {"push": "push", "email": "email", "sms": "sms", "best": "best, channels: [push, email, sms]"}
# The shipped guardrails (holdout, cap, quiet hours); the two rules that fire most, on the channel under test.
RULES = """models: {enabled: false}
rules:
  - {name: abandoned_cart, kind: abandoned_cart, channel: %(channel)s, priority: 30, params: {delay: 30m}}
  - {name: abandoned_interest, kind: abandoned_interest, channel: %(channel)s, priority: 20}
"""


@dataclass(frozen=True, slots=True)
class LoopRun:
    seed: int
    setting: str
    report: LoopReport


def run_loops(*, seeds: tuple[int, ...], users: int, events: int) -> list[LoopRun]:
    runs = []
    for seed in seeds:
        shop = ShopSimulator(users=users, seed=seed, start_ms=START_MS, mean_gap_ms=MEAN_GAP_MS)
        personas = assign_personas(users, seed=seed)  # the shop's own, by shopper index
        for setting, channel in SETTINGS.items():
            book = parse_rulebook(RULES % {"channel": channel})
            runs.append(LoopRun(seed, setting, closed_loop(book, shop_events(shop, events), personas=personas, seed=seed)))
    return runs
