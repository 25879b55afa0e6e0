"""Which categories a partition's shoppers buy together, or one after the other: counts, never users.

For every purchase, each category in it is counted once (``bought``); so is each category in its
context: the purchase's own categories and those the same user bought in the window before
(``ProfileConfig.association_window_ms``); and so is each pair (A, B) of a category A of the
context and another, B, of the purchase. Nothing here names a user, a time or an order, so an
erasure has nothing to take back: the user's own purchase times live in their profile and go with
it. A pair's lift is how much likelier B is in a purchase with A in its context than in any
purchase, P(B | A) / P(B): counting contexts, not A's own purchases, keeps a frequent buyer (whose
every purchase has many categories before it) from making every pair look related. A pair needs
``min_support`` sightings, and a lift that holds at a cautious bound (see ``top``), before it is
trusted.

Everything is bounded, so the partition's record stays within schemas/limits.py whatever the
shop sends, beside every other budget of the population at its fullest: at most
``MAX_CATEGORIES`` categories (the first seen, names up to ``MAX_NAME_BYTES``), ``MAX_PARTNERS``
partners and ``MAX_PRODUCTS`` products each. Those are kept with the space-saving algorithm
(Metwally et al.): a newcomer to a full table replaces the smallest count and inherits it, plus
its own, so a frequent item is never lost; the inherited part is kept as the entry's error, and
only the guaranteed part, count less error, is trusted as support, or one purchase of a rare
category could take over a full table's highest lift. Each category also counts the intervals
between one user's restocks, in whole days (at most ``MAX_GAP_DAYS`` distinct ones), without
order or owner, for the partition's median interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from streams.config import DAY_MS
from streams.jsonsize import json_size

MAX_CATEGORIES = 64
MAX_PARTNERS = 12
MAX_PRODUCTS = 5
MAX_GAP_DAYS = 24  # distinct interval lengths counted per category; a new one past them joins the nearest
MAX_NAME_BYTES = 64  # JSON bytes of a category or product id; longer ones are not learned


@dataclass(frozen=True, slots=True)
class Association:
    """B (``category``) after A: how often it was seen, and its lift."""

    category: str
    support: int
    lift: float


@dataclass(slots=True)
class TopCounts:
    """Space-saving counts of at most ``capacity`` keys: ``counts`` may overestimate a key by its
    ``errors`` entry (absent: exact), never underestimate it."""

    counts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, amount: int, capacity: int) -> None:
        counts = self.counts
        if key in counts:
            counts[key] += amount
            return
        if len(counts) >= capacity:
            smallest = min(counts, key=lambda name: (counts[name], name))  # the first by name on a tie: a replay evicts the same
            inherited = counts.pop(smallest)
            self.errors.pop(smallest, None)
            self.errors[key] = inherited
            amount += inherited
        counts[key] = amount

    def guaranteed(self, key: str) -> int:
        """What ``key`` was surely counted: its count less what it may have inherited."""
        return self.counts[key] - self.errors.get(key, 0)

    def to_list(self) -> list[Any]:
        return [dict(self.counts), dict(self.errors)]

    @classmethod
    def from_list(cls, data: list[Any]) -> TopCounts:
        return cls(dict(data[0]), dict(data[1]))


@dataclass(slots=True)
class Associations:
    purchases: int = 0  # purchases counted, for the base rate of each category
    bought: dict[str, int] = field(default_factory=dict)  # purchases containing the category
    contexts: dict[str, int] = field(default_factory=dict)  # purchases with the category in them or in the window before
    pairs: dict[str, TopCounts] = field(default_factory=dict)  # A -> B -> sightings of B with or after A
    products: dict[str, TopCounts] = field(default_factory=dict)  # category -> product -> units bought
    gap_days: dict[str, dict[int, int]] = field(default_factory=dict)  # category -> restock interval in whole days -> count

    def learn(self, categories: list[str], earlier: list[str], units: list[tuple[str, str, int]]) -> None:
        """One purchase: its distinct ``categories``, the ``earlier`` ones the user bought within
        the window before it, and its (category, product, quantity) lines."""
        self.purchases += 1
        known = [category for category in categories if self._admit(category)]
        for category in known:
            self.bought[category] += 1
        for before in sorted(set(known) | {category for category in earlier if category in self.bought}):
            self.contexts[before] = self.contexts.get(before, 0) + 1
            partners = self.pairs.get(before)
            if partners is None:
                partners = self.pairs[before] = TopCounts()
            for category in known:
                if category != before:
                    partners.add(category, 1, MAX_PARTNERS)
        for category, product, quantity in units:
            if category in self.bought and quantity > 0 and json_size(product) <= MAX_NAME_BYTES:
                products = self.products.get(category)
                if products is None:
                    products = self.products[category] = TopCounts()
                products.add(product, quantity, MAX_PRODUCTS)

    def learn_gap(self, category: str, gap_ms: int) -> None:
        if category not in self.bought:
            return
        histogram = self.gap_days.setdefault(category, {})
        days = round(gap_ms / DAY_MS)
        if days not in histogram and len(histogram) >= MAX_GAP_DAYS:
            days = min(histogram, key=lambda known: (abs(known - days), known))
        histogram[days] = histogram.get(days, 0) + 1

    def top(self, category: str, *, min_support: int, min_lift: float) -> list[Association]:
        """The categories bought with or after ``category`` whose lift is at least ``min_lift``
        even at its cautious bound, best bound first (then support, name).

        Support is the pair's guaranteed count (see ``TopCounts``). The bound is the lift of the
        count two Poisson standard deviations below it, ``support - 2 * sqrt(support)``: on a
        small partition a pair seen 8 times where 5 were expected has a lift of 1.6 by chance
        alone, and its bound (0.47) says so, while a real pair seen 20 times where 6 were
        expected keeps a bound near 1.9.
        """
        partners = self.pairs.get(category)
        if partners is None:
            return []
        contexts = self.contexts[category]
        ranked = []
        for partner in partners.counts:
            support = partners.guaranteed(partner)
            if support >= min_support:
                expected = contexts * self.bought[partner] / self.purchases
                bound = (support - 2.0 * math.sqrt(support)) / expected
                if bound >= min_lift:
                    ranked.append((-bound, -support, partner, Association(partner, support, round(support / expected, 3))))
        ranked.sort()
        return [association for _, _, _, association in ranked]

    def popular(self, category: str, count: int) -> list[str]:
        """The category's most bought products (guaranteed units), most first."""
        products = self.products.get(category)
        if products is None:
            return []
        return sorted(products.counts, key=lambda product: (-products.guaranteed(product), product))[:count]

    def median_gap_ms(self, category: str, *, min_count: int) -> int | None:
        """The partition's median restock interval in the category, in whole days; the lower
        middle one of an even count. None until ``min_count`` intervals were seen."""
        histogram = self.gap_days.get(category)
        if histogram is None:
            return None
        total = sum(histogram.values())
        if total < min_count:
            return None
        seen = 0
        for days in sorted(histogram):
            seen += histogram[days]
            if 2 * seen >= total:
                return days * DAY_MS
        raise AssertionError("unreachable: the counts add up to the total")

    def _admit(self, category: str) -> bool:
        if category in self.bought:
            return True
        if len(self.bought) >= MAX_CATEGORIES or json_size(category) > MAX_NAME_BYTES:
            return False
        self.bought[category] = 0
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "purchases": self.purchases,
            "bought": dict(self.bought),
            "contexts": dict(self.contexts),
            "pairs": {category: partners.to_list() for category, partners in self.pairs.items()},
            "products": {category: products.to_list() for category, products in self.products.items()},
            "gap_days": {category: [[days, count] for days, count in histogram.items()] for category, histogram in self.gap_days.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Associations:
        return cls(
            purchases=data["purchases"],
            bought=dict(data["bought"]),
            contexts=dict(data["contexts"]),
            pairs={category: TopCounts.from_list(partners) for category, partners in data["pairs"].items()},
            products={category: TopCounts.from_list(products) for category, products in data["products"].items()},
            gap_days={category: {days: count for days, count in histogram} for category, histogram in data["gap_days"].items()},
        )
