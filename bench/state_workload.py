"""The state benchmark's input: every user once, in one short visit of 2 to 4 clicks.

The shop simulator (bench/workload.py) reuses 10,000 shoppers and cannot promise each of a
million users an event; state per user needs exactly that, so this generator gives user ``i``
one visit and nothing else: product views in one category and, for half of them, an add to
cart last, as real visits mostly go. Visits start evenly over one day of event time, so by the
end of the backlog the earlier visitors' sessions have ended and their 30-minute reminders have
fired and been recorded, as for the bulk of a real shop's users; the last half hour's carts
still wait. Clicks only: with searches on a second topic (one event in seven), the worker held
clicks for searches it had not fetched yet and then released them at the wall clock's pace,
which stretched the catch-up of a day of event time beyond any benchmark.

The stream is the same on every run, in event-time order, and generated lazily: a million
users' events are never all held at once.
"""

from __future__ import annotations

import heapq
import random
from typing import Iterator

import orjson

from bench.workload import START_MS, WireMessage
from schemas.events import ClickAction, InputTopic
from schemas.timestamps import format_rfc3339
from streams.traffic import CATALOGUE, CATEGORIES, UTC_OFFSETS_MIN

SEED = 7
SPAN_MS = 24 * 3_600_000  # visits start evenly over one day of event time
THINK_MS = 20_000  # between the clicks of one visit
CLICKS_PER_USER = (2, 4)  # fewest, most
ADD_TO_CART_PROBABILITY = 0.5  # a visit ends with an add to cart instead of one more view
# Fixed width, so a user id (stored in its record) is as long at 100,000 users as at a million
# and bytes per user compare across sizes.
USER_ID_DIGITS = 7
MAX_USERS = 10**USER_ID_DIGITS - 1

_CLICKS = InputTopic.CLICKS.value
_CATEGORY_NAMES = tuple(CATEGORIES)


def user_id(index: int) -> str:
    """
    >>> user_id(42)
    'u0000042'
    """
    return f"u{index:0{USER_ID_DIGITS}d}"


def state_messages(users: int) -> Iterator[WireMessage]:
    """Every user's visit, merged into one stream in event-time order.

    >>> messages = list(state_messages(1_000))
    >>> len({m.key for m in messages}), 2_000 <= len(messages) <= 4_000
    (1000, True)
    """
    if not 1 <= users <= MAX_USERS:
        raise ValueError(f"users must be between 1 and {MAX_USERS:,}, got {users:,}")
    rng = random.Random(SEED)
    pending: list[tuple[int, int, WireMessage]] = []  # (ts, sequence, message): the sequence breaks ties
    sequence = 0
    for index in range(users):
        start_ms = START_MS + index * SPAN_MS // users
        while pending and pending[0][0] < start_ms:
            yield heapq.heappop(pending)[2]
        for ts_ms, message in _visit(user_id(index), start_ms=start_ms, rng=rng):
            heapq.heappush(pending, (ts_ms, sequence, message))
            sequence += 1
    while pending:
        yield heapq.heappop(pending)[2]


def _visit(user: str, *, start_ms: int, rng: random.Random) -> list[tuple[int, WireMessage]]:
    """One visit: 2 to 4 clicks ``THINK_MS`` apart, in one category and one session."""
    clicks = rng.randint(*CLICKS_PER_USER)
    category = rng.choice(_CATEGORY_NAMES)
    offset_min = rng.choice(UTC_OFFSETS_MIN)
    adds = rng.random() < ADD_TO_CART_PROBABILITY
    key = user.encode()
    visit = []
    for position in range(clicks):
        ts_ms = start_ms + position * THINK_MS
        product = rng.choice(CATALOGUE[category])
        body: dict[str, object] = {
            "event_id": f"{user}-{position}",
            "user_id": user,
            "ts": format_rfc3339(ts_ms, offset_min),
            "action": ClickAction.VIEW.value,
            "product_id": product.product_id,
            "category": category,
            "price": product.price,
            "session_id": f"{user}-s0",
        }
        if adds and position == clicks - 1:
            body["action"] = ClickAction.ADD_TO_CART.value
            body["quantity"] = 1
        visit.append((ts_ms, WireMessage(_CLICKS, key, orjson.dumps(body))))
    return visit
