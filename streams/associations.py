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
shop sends: at most ``MAX_CATEGORIES`` categories (the first seen, names up to ``MAX_NAME_BYTES``),
``MAX_PARTNERS`` partners each and ``MAX_PRODUCTS`` products each, kept with the space-saving
algorithm (Metwally et al.): a newcomer replaces the smallest count and inherits it plus one, so
a frequent item is never lost and a count is never under its truth. Each category also keeps the
latest ``MAX_GAPS`` intervals between one user's restocks, for the partition's median interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from streams.jsonsize import json_size
from streams.purchases import median

MAX_CATEGORIES = 64
MAX_PARTNERS = 12
MAX_PRODUCTS = 5
MAX_GAPS = 31
MAX_NAME_BYTES = 64  # JSON bytes of a category or product id; longer ones are not learned


@dataclass(frozen=True, slots=True)
class Association:
    """B (``category``) after A: how often it was seen, and its lift."""

    category: str
    support: int
    lift: float


@dataclass(slots=True)
class Associations:
    purchases: int = 0  # purchases counted, for the base rate of each category
    bought: dict[str, int] = field(default_factory=dict)  # purchases containing the category
    contexts: dict[str, int] = field(default_factory=dict)  # purchases with the category in them or in the window before
    pairs: dict[str, dict[str, int]] = field(default_factory=dict)  # A -> B -> sightings of B with or after A
    products: dict[str, dict[str, int]] = field(default_factory=dict)  # category -> product -> units bought
    gaps: dict[str, list[int]] = field(default_factory=dict)  # category -> latest restock intervals, oldest first

    def learn(self, categories: list[str], earlier: list[str], units: list[tuple[str, str, int]]) -> None:
        """One purchase: its distinct ``categories``, the ``earlier`` ones the user bought within
        the window before it, and its (category, product, quantity) lines."""
        self.purchases += 1
        known = [category for category in categories if self._admit(category)]
        for category in known:
            self.bought[category] += 1
        for before in sorted(set(known) | {category for category in earlier if category in self.bought}):
            self.contexts[before] = self.contexts.get(before, 0) + 1
            partners = self.pairs.setdefault(before, {})
            for category in known:
                if category != before:
                    _count(partners, category, 1, MAX_PARTNERS)
        for category, product, quantity in units:
            if category in self.bought and json_size(product) <= MAX_NAME_BYTES:
                _count(self.products.setdefault(category, {}), product, quantity, MAX_PRODUCTS)

    def learn_gap(self, category: str, gap_ms: int) -> None:
        if category in self.bought:
            gaps = self.gaps.setdefault(category, [])
            gaps.append(gap_ms)
            del gaps[:-MAX_GAPS]

    def top(self, category: str, *, min_support: int, min_lift: float) -> list[Association]:
        """The categories bought with or after ``category`` whose lift is at least ``min_lift``
        even at its cautious bound, best bound first (then support, name).

        The bound is the lift of the count two Poisson standard deviations below the one seen,
        ``support - 2 * sqrt(support)``: on a small partition a pair seen 8 times where 5 were
        expected has a lift of 1.6 by chance alone, and its bound (0.47) says so, while a real
        pair seen 20 times where 6 were expected keeps a bound near 1.9.
        """
        partners = self.pairs.get(category)
        if not partners:
            return []
        contexts = self.contexts[category]
        ranked = []
        for partner, support in partners.items():
            if support >= min_support:
                expected = contexts * self.bought[partner] / self.purchases
                bound = (support - 2.0 * math.sqrt(support)) / expected
                if bound >= min_lift:
                    ranked.append((-bound, -support, partner, Association(partner, support, round(support / expected, 3))))
        ranked.sort()
        return [association for _, _, _, association in ranked]

    def popular(self, category: str, count: int) -> list[str]:
        """The category's most bought products (units), most first."""
        products = self.products.get(category, {})
        return sorted(products, key=lambda product: (-products[product], product))[:count]

    def median_gap_ms(self, category: str, *, min_count: int) -> int | None:
        gaps = self.gaps.get(category)
        return None if gaps is None or len(gaps) < min_count else median(gaps)

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
            "pairs": {category: dict(partners) for category, partners in self.pairs.items()},
            "products": {category: dict(products) for category, products in self.products.items()},
            "gaps": {category: list(gaps) for category, gaps in self.gaps.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Associations:
        return cls(
            purchases=data["purchases"],
            bought=dict(data["bought"]),
            contexts=dict(data["contexts"]),
            pairs={category: dict(partners) for category, partners in data["pairs"].items()},
            products={category: dict(products) for category, products in data["products"].items()},
            gaps={category: list(gaps) for category, gaps in data["gaps"].items()},
        )


def _count(counts: dict[str, int], key: str, amount: int, capacity: int) -> None:
    """Space-saving: a newcomer to a full table takes the place of the smallest count (the first
    by name on a tie, so a replay evicts the same one) and starts from it."""
    if key in counts:
        counts[key] += amount
        return
    if len(counts) >= capacity:
        smallest = min(counts, key=lambda name: (counts[name], name))
        amount += counts.pop(smallest)
    counts[key] = amount
