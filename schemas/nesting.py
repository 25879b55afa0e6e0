"""How deep a JSON text nests, told before any parser recurses into it.

CPython's ``json``, msgspec and orjson all descend one level of recursion per ``[`` or ``{``: two
thousand bytes of ``[[[[...`` raise ``RecursionError`` in the first two and give up at 1,024
levels in the third. So nesting is bounded first, with C-speed byte operations only: strings
are blanked out (their brackets are text), a run of more than ``limit`` openers is deep at
once, and otherwise the innermost empty ``[]`` and ``{}`` pairs are removed, one level per
round. A text that nests no deeper than ``limit`` is empty after ``limit`` rounds; unbalanced
brackets are left over and count as too deep only when enough openers remain to recurse that
far. The worst case, half a megabyte of brackets, takes a few hundredths of a second.
"""

from __future__ import annotations

import re

# A JSON string: a quote, then anything but a quote or backslash, or any escaped byte, then a quote.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
# One pass removes the pairs that are innermost now, and only those: one level per round.
_INNERMOST = re.compile(rb"\[\]|\{\}")


def nests_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether a parser could recurse more than ``limit`` levels into ``raw``.

    >>> nests_deeper_than(b'{"items": [{"a": 1}, {"b": 2}]}', 3)
    False
    >>> nests_deeper_than(b'{"items": [{"b": [2]}]}', 3), nests_deeper_than(b"[" * 2000, 32)
    (True, True)
    >>> nests_deeper_than(b'{"text": "[[[[[[[[[[[["}', 3)
    False
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # too few openers to nest that deep, whatever the text
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if re.search(rb"[\[{]{%d}" % (limit + 1), brackets):
        return True  # that many openers in a row nest that deep: no need to peel
    for _ in range(limit):
        brackets, removed = _INNERMOST.subn(b"", brackets)
        if not removed:
            break  # nothing left to pair: empty, or unbalanced leftovers
    else:
        if _INNERMOST.search(brackets):
            return True  # still nested after limit levels were peeled off
    return brackets.count(b"[") + brackets.count(b"{") > limit
