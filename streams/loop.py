"""The loop closed offline: the synthetic shop's events through the core, each trigger answered
by the simulated senders (streams/responses.py), each answer fed back in event time.

It measures what a marketer would ask of a channel setting: of the messages sent, how many were
opened and clicked. The same shop and seed under two rule books are the same shoppers doing the
same things, so their rates compare the rules alone. The shop does not react to the messages
(nobody buys because of an open), so what differs between books is who gets what, on which
channel, and what the senders say back. Pure and deterministic: no Kafka, no clock.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import orjson

from schemas.decoding import Rejection, decode_event
from schemas.events import Click, ClickAction, Engagement, EngagementType, Event
from schemas.outputs import Conversion, ConversionGroup, Trigger
from streams.config import DAY_MS, MINUTE_MS
from streams.partition import PartitionEngine
from streams.partitioning import partition_for
from streams.responses import persona_of, respond
from streams.rules.spec import RuleBook
from streams.traffic import Persona, ShopSimulator


@dataclass(slots=True)
class LoopReport:
    sent: Counter[str] = field(default_factory=Counter)  # triggers by channel
    answered: Counter[str] = field(default_factory=Counter)  # engagements by type
    conversions: int = 0  # treated conversions (a purchase after a message)
    clicked_conversions: int = 0  # ... whose message was clicked first

    @property
    def triggers(self) -> int:
        return sum(self.sent.values())

    @property
    def open_rate(self) -> float:
        """Messages opened over messages sent (a bounce is a message sent and never opened)."""
        return self.answered[EngagementType.OPENED.value] / self.triggers if self.triggers else 0.0

    @property
    def click_rate(self) -> float:
        return self.answered[EngagementType.CLICKED.value] / self.triggers if self.triggers else 0.0


def closed_loop(book: RuleBook, events: Iterable[Event], *, personas: tuple[Persona, ...], seed: int, partitions: int = 4) -> LoopReport:
    """Run ``events`` (in event time) through one engine per partition; answer every trigger as
    the shopper of ``personas`` would, and feed the answer back when its time comes."""
    engines = [PartitionEngine(store={}, book=book) for _ in range(partitions)]
    pending: list[tuple[int, int, Engagement]] = []  # (ts_ms, order, engagement): answers not yet due
    report = LoopReport()
    order = 0

    def apply(event: Event) -> None:
        nonlocal order
        engine = engines[partition_for(event.user_id.encode(), partitions)]
        for output in engine.on_event(event):
            if isinstance(output, Conversion) and output.group is ConversionGroup.TREATED:
                report.conversions += 1
                report.clicked_conversions += output.clicked
            if not isinstance(output, Trigger):
                continue
            report.sent[output.channel] += 1
            persona = persona_of(output.user_id, personas)
            for kind, ts_ms in respond(output.trigger_id, output.user_id, output.channel, output.ts_ms, persona, seed=seed):
                order += 1
                answer = Engagement(f"{output.trigger_id}:{kind.value}", output.user_id, ts_ms, 0, output.trigger_id, output.channel, kind)
                heapq.heappush(pending, (ts_ms, order, answer))
                report.answered[kind.value] += 1

    for event in events:
        while pending and pending[0][0] <= event.ts_ms:
            apply(heapq.heappop(pending)[2])
        apply(event)
    return report


def shop_events(shop: ShopSimulator, count: int) -> Iterator[Event]:
    """The synthetic shop's well-formed events, decoded as a worker decodes them."""
    for message in shop.events(count):
        if isinstance(message.value, bytes):
            continue
        event = decode_event(message.topic, orjson.dumps(message.value), message.user_id.encode())
        if not isinstance(event, Rejection):
            yield event


def abandoned_carts(users: int, *, days: int, start_ms: int) -> Iterator[Event]:
    """Every shopper leaves a cart once a day, at a time of day of their own: the cart reminder's
    chances to learn each shopper's channel, without the rest of the shop."""
    ids = [f"u{index:04d}" for index in range(users)]
    for day in range(days):
        for user_id in ids:
            minute = 10 * 60 + int.from_bytes(hashlib.blake2b(f"{user_id}/{day}".encode(), digest_size=4).digest(), "big") % (10 * 60)
            ts_ms = start_ms + day * DAY_MS + minute * MINUTE_MS
            yield Click(f"{user_id}/cart/{day}", user_id, ts_ms, 0, ClickAction.ADD_TO_CART, f"p{day % 7}", "shoes", 20.0)


def by_time(events: Iterable[Event]) -> list[Event]:
    return sorted(events, key=lambda event: event.ts_ms)
