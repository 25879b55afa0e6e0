"""The JSON Schemas Nudge publishes for the teams that produce its input and consume its output.

The schema files ship inside the ``schemas`` package, next to the decoder they describe, so an
installed copy of Nudge always carries the contract it actually enforces; the contract tests load
them from here to keep the two from drifting apart.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

SCHEMA_FOR_TOPIC: dict[str, str] = {
    "clicks": "click",
    "searches": "search",
    "purchases": "purchase",
    "consents": "consent",
    "erasures": "erasure",
    "engagements": "engagement",
}
"""Lets producer-side checks and tests find a topic's contract by the logical name they already use."""


def load_schema(name: str) -> dict[str, Any]:
    """Parse ``schemas/json/<name>.schema.json`` from the installed package.

    Goes through importlib.resources, not a path relative to this file, so it also works when Nudge
    runs from a wheel or a zip. Nothing is cached: each caller gets its own dict and may change it.
    Unknown names raise ValueError rather than FileNotFoundError, because a typo is the usual cause.

    >>> load_schema(SCHEMA_FOR_TOPIC["clicks"])["$id"]
    'https://nudge.example/schemas/click.schema.json'
    >>> load_schema("order")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: no JSON Schema named 'order'; known: click, consent, conversion, dead_letter, ...
    """
    folder = files("schemas") / "json"
    resource = folder / f"{name}.schema.json"
    if "/" in name or "\\" in name or not resource.is_file():
        known = sorted(
            entry.name.removesuffix(".schema.json")
            for entry in folder.iterdir()
            if entry.name.endswith(".schema.json")
        )
        raise ValueError(f"no JSON Schema named {name!r}; known: {', '.join(known)}")
    return json.loads(resource.read_text(encoding="utf-8"))
