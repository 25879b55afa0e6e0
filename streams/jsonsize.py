"""How many bytes a text takes as a JSON string, without writing it: for the budgets that keep the
core's stored records under their bounds (schemas/limits.py)."""

from __future__ import annotations


def json_size(text: str) -> int:
    """Exact for text without control characters (which no id or keyword holds): UTF-8 bytes,
    the quotes around them, and one more byte for each quote or backslash JSON escapes.

    >>> import json
    >>> text = 'caf\\u00e9 "quoted" back\\\\slash'
    >>> json_size(text) == len(json.dumps(text, ensure_ascii=False).encode())
    True
    """
    return len(text.encode()) + 2 + text.count('"') + text.count("\\")
