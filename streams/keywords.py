"""Which category a search means, learned from what searchers look at next.

A search that names its category needs nothing else. One that does not is mapped through
keywords: each time a search is followed, in the same session, by a product view, the view's
category earns a vote from every keyword of that search. The map belongs to a partition's
population, not to a user, and holds keywords and counts only, never a query or a user.
"""

from __future__ import annotations

import re
from typing import Any

from streams.jsonsize import json_size

MAX_KEYWORDS_PER_QUERY = 5
MIN_KEYWORD_LENGTH = 2
MAX_KEYWORD_LENGTH = 32  # a longer "word" is a code or noise, not something shoppers type to mean a category
MAX_KEYWORDS = 2_000  # per partition; once full, only known keywords keep learning
MAX_CATEGORIES_PER_KEYWORD = 3
# Bytes the map's keywords and category names may take in JSON, so the population record has a
# size bound (schemas/limits.py); once full, only what it already holds keeps learning.
MAX_MAP_BYTES = 256 * 1024

_WORD = re.compile(r"\w+")


def keywords(query: str) -> tuple[str, ...]:
    """The distinct words of a query that can carry meaning, case-folded, in order.

    >>> keywords("Red  Running-Shoes, red!")
    ('red', 'running', 'shoes')
    """
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.casefold()):
        if MIN_KEYWORD_LENGTH <= len(word) <= MAX_KEYWORD_LENGTH:
            seen[word] = None
            if len(seen) == MAX_KEYWORDS_PER_QUERY:
                break
    return tuple(seen)


class KeywordMap:
    """keyword -> category -> votes.

    >>> votes = KeywordMap()
    >>> votes.learn(("running", "shoes"), "shoes"); votes.learn(("running",), "sports")
    >>> votes.learn(("running",), "sports")
    >>> votes.category_for(("running", "shoes")), votes.category_for(("lamp",))
    ('shoes', None)
    """

    __slots__ = ("votes", "size_bytes")

    def __init__(self, votes: dict[str, dict[str, int]] | None = None) -> None:
        self.votes: dict[str, dict[str, int]] = {} if votes is None else votes
        self.size_bytes = sum(json_size(word) + sum(json_size(name) for name in counts) for word, counts in self.votes.items())

    def learn(self, words: tuple[str, ...], category: str) -> None:
        votes = self.votes
        category_bytes = json_size(category)
        for word in words:
            counts = votes.get(word)
            if counts is None:
                word_bytes = json_size(word)
                if len(votes) >= MAX_KEYWORDS or self.size_bytes + word_bytes + category_bytes > MAX_MAP_BYTES:
                    continue
                counts = votes[word] = {}
                self.size_bytes += word_bytes
            if category not in counts:
                if len(counts) >= MAX_CATEGORIES_PER_KEYWORD:
                    weakest = min(counts.items(), key=lambda item: (item[1], item[0]))[0]
                    if self.size_bytes - json_size(weakest) + category_bytes > MAX_MAP_BYTES:
                        continue
                    del counts[weakest]
                    self.size_bytes -= json_size(weakest)
                elif self.size_bytes + category_bytes > MAX_MAP_BYTES:
                    continue
                self.size_bytes += category_bytes
            counts[category] = counts.get(category, 0) + 1

    def category_for(self, words: tuple[str, ...]) -> str | None:
        """The category with the most votes across the words (ties: the smaller name)."""
        tally: dict[str, int] = {}
        for word in words:
            for category, count in self.votes.get(word, {}).items():
                tally[category] = tally.get(category, 0) + count
        if not tally:
            return None
        return min(tally.items(), key=lambda item: (-item[1], item[0]))[0]

    def to_dict(self) -> dict[str, Any]:
        return {word: dict(counts) for word, counts in self.votes.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeywordMap:
        return cls({word: dict(counts) for word, counts in data.items()})
