"""The records that write their own ``__init__`` (a compiled one is faster than the dataclass's,
see schemas/events.py) must still build exactly the dataclass their fields declare."""

from __future__ import annotations

import ast
import dataclasses
import sys
from functools import cache
from pathlib import Path
from typing import Any, Callable

import pytest

from schemas.events import Click, ClickAction, Consent, Erasure, LineItem, Purchase, Search
from schemas.outputs import Conversion, ConversionGroup, Suppression, SuppressionReason, Trigger
from streams.replay import Message, Recorded
from streams.rules.base import Candidate
from streams.rules.spec import AbandonedCartParams, RuleKind, RuleSpec
from streams.state import Exposure, InterestEpisode
from streams.timers import Timer

WRITTEN_INITS = [
    Click,
    Search,
    LineItem,
    Purchase,
    Consent,
    Erasure,
    Trigger,
    Suppression,
    Conversion,
    Message,
    Recorded,
    Timer,
    Exposure,
    InterestEpisode,
    Candidate,
]

_TRIGGER = Trigger("t1", "u1", "abandoned_cart", 5, "push", {"cart_value": 1.0}, "left a cart")

# A value of each declared type, different for every field (compiled classes check types on set).
_VALUES: dict[str, Callable[[str, int], Any]] = {
    "str": lambda name, n: f"{name}-{n}",
    "int": lambda name, n: 1_000 + n,
    "float": lambda name, n: n + 0.5,
    "bool": lambda name, n: True,
    "bytes": lambda name, n: f"{name}-{n}".encode(),
    "list[int]": lambda name, n: [n],
    "dict[str, int]": lambda name, n: {name: n},
    "dict[str, Any]": lambda name, n: {name: n},
    "tuple[str, ...]": lambda name, n: (name, str(n)),
    "tuple[LineItem, ...]": lambda name, n: (LineItem(name, "shoes", 1.0, n),),
    "ClickAction": lambda name, n: ClickAction.ADD_TO_CART,
    "SuppressionReason": lambda name, n: SuppressionReason.FREQUENCY_CAP,
    "ConversionGroup": lambda name, n: ConversionGroup.HOLDOUT,
    "Trigger": lambda name, n: _TRIGGER,
    "Message": lambda name, n: Message("clicks", b"u1", b"{}", n),
    "RuleSpec": lambda name, n: RuleSpec("abandoned_cart", RuleKind.ABANDONED_CART, "push", AbandonedCartParams(delay_ms=n)),
}


def _value(record: type, field: dataclasses.Field, n: int) -> Any:
    declared = _declared_types(record)[field.name].removesuffix(" | None")
    return _VALUES[declared](field.name, n)


@cache
def _declared_types(record: type) -> dict[str, str]:
    """Each field's annotation as written: compiled, a class keeps only ``type`` for a union."""
    compiled_or_source = Path(sys.modules[record.__module__].__file__ or "")
    source = compiled_or_source.with_name(compiled_or_source.name.split(".")[0] + ".py")
    body = next(node for node in ast.walk(ast.parse(source.read_text())) if isinstance(node, ast.ClassDef) and node.name == record.__name__)
    return {
        node.target.id: ast.unparse(node.annotation)
        for node in body.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }


@pytest.mark.parametrize("record", WRITTEN_INITS, ids=lambda record: record.__name__)
def test_every_field_is_set_from_its_own_argument_in_declared_order(record: type) -> None:
    fields = dataclasses.fields(record)
    values = [_value(record, field, n) for n, field in enumerate(fields)]
    by_position = record(*values)
    by_name = record(**{field.name: value for field, value in zip(fields, values)})
    assert [getattr(by_position, field.name) for field in fields] == values
    assert by_name == by_position


@pytest.mark.parametrize("record", WRITTEN_INITS, ids=lambda record: record.__name__)
def test_omitted_fields_take_their_declared_defaults_fresh_each_time(record: type) -> None:
    fields = dataclasses.fields(record)
    required = [field for field in fields if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING]
    arguments = {field.name: _value(record, field, n) for n, field in enumerate(required)}
    first, second = record(**arguments), record(**arguments)
    for field in fields:
        if field.default is not dataclasses.MISSING:
            assert getattr(first, field.name) == field.default, field.name
        elif field.default_factory is not dataclasses.MISSING:
            assert getattr(first, field.name) == field.default_factory(), field.name
            assert getattr(first, field.name) is not getattr(second, field.name), f"{field.name} is shared between instances"
