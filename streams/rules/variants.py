"""A/B variants of a rule: which variant each user gets.

Users are split by weighted rendezvous hashing: every (variant, user) pair gets a pseudo-random
score from a salted hash, scaled by the variant's weight, and the user takes the variant with
the best score. The split is stable across processes and replays (no Python ``hash``), and
independent of the holdout (another salt). Removing a variant moves only its own users, each to
the variant that scored next best for them; changing one weight moves only users to or from that
variant. A split by ranges of one hash would shift users between variants that did not change.
"""

from __future__ import annotations

import hashlib
import math

from streams.rules.spec import RuleSpec

_HASH_SPACE = float(2**64)


def score(salt: str, rule: str, variant: str, user_id: str, weight: float) -> float:
    """The variant's score for the user: lower wins. ``-ln(u) / weight`` for a uniform ``u`` makes
    each variant win with probability weight / total weight."""
    digest = hashlib.blake2b(f"{salt}\x1f{rule}\x1f{variant}\x1f{user_id}".encode(), digest_size=8).digest()
    uniform = (int.from_bytes(digest, "big") + 0.5) / _HASH_SPACE
    return -math.log(uniform) / weight


def for_user(rule: RuleSpec, user_id: str, *, salt: str) -> RuleSpec:
    """The spec the user gets: the rule itself when it has no variants, else their variant's.

    >>> from streams.rules.spec import AbandonedCartParams, RuleKind, Variant
    >>> base = RuleSpec("cart", RuleKind.ABANDONED_CART, "push", AbandonedCartParams())
    >>> a, b = (Variant(name, 1.0, RuleSpec("cart", RuleKind.ABANDONED_CART, "push", AbandonedCartParams(), variant=name)) for name in "ab")
    >>> rule = RuleSpec("cart", RuleKind.ABANDONED_CART, "push", AbandonedCartParams(), variants=(a, b))
    >>> for_user(base, "u1", salt="s") is base, for_user(rule, "u1", salt="s").variant in ("a", "b")
    (True, True)
    """
    variants = rule.variants
    if not variants:
        return rule
    best = variants[0]
    best_score = math.inf
    for variant in variants:
        candidate = score(salt, rule.name, variant.name, user_id, variant.weight)
        if candidate < best_score:
            best, best_score = variant, candidate
    return best.rule
