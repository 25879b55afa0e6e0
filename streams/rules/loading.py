"""Rules file -> ``RuleBook``: the YAML a marketer writes, checked key by key.

The file is composed into YAML nodes, never constructed into Python values, so YAML cannot
turn ``22:00`` into 1320, ``no`` into False or a date into a ``datetime`` behind our back. Each
scalar is read as the type its key expects, and every node keeps its line for the error.

A typo must fail loudly rather than silently do nothing: unknown keys, missing keys, duplicate
keys and values of the wrong type are all a ``RulesError`` naming the key and its line.

>>> book = parse_rulebook('''
... rules:
...   - {name: cart, kind: abandoned_cart, channel: push, params: {delay: 1h}}
... ''')
>>> book.rules[0].params
AbandonedCartParams(delay_ms=3600000, once_per_ms=86400000)
>>> parse_rulebook('''
... rules:
...   - {name: cart, kind: abandoned_cart, channel: push, params: {delay: soon}}
... ''', source="rules.yaml")
Traceback (most recent call last):
...
streams.rules.loading.RulesError: rules.yaml line 3: rules[0].params.delay: expected a duration like 30m, 2h or 1d, got 'soon'
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import re
from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from typing import Any, NoReturn

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from schemas.timestamps import BadTimestamp, parse_rfc3339
from streams.learning import MODELS
from streams.lifecycle import Stage
from streams.rfm import SEGMENTS
from streams.rules.kinds import KINDS
from streams.rules.spec import (
    BEST_CHANNEL,
    WRITTEN_KINDS,
    FollowUpParams,
    Guardrails,
    Models,
    QuietHours,
    RuleBook,
    RuleKind,
    RuleSpec,
    SegmentFilter,
    SendAt,
    TimedPromotionParams,
    Variant,
    channel_choices,
)
from streams.state import MAX_SENT_TIMES

PRICE_SENSITIVITIES = ("bargain_hunter", "regular", "premium")
DEFAULT_RULES = "default.yaml"  # shipped next to this module as package data


class RulesError(ValueError):
    """A rules file that cannot become a ``RuleBook``.

    ``key_path`` names the offending key like ``rules[2].params.delay``, or is "" when the
    problem is the whole file (YAML syntax, no ``rules``); ``line`` is 1-based, None only when
    the file could not be read at all.
    """

    def __init__(self, problem: str, *, source: str, line: int | None, key_path: str) -> None:
        self.problem = problem
        self.source = source
        self.line = line
        self.key_path = key_path
        where = source if line is None else f"{source} line {line}"
        super().__init__(f"{where}: {key_path}: {problem}" if key_path else f"{where}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        # keyword-only arguments would otherwise be lost when the error crosses a process boundary
        rebuild = functools.partial(type(self), source=self.source, line=self.line, key_path=self.key_path)
        return rebuild, (self.problem,)


def parse_rulebook(text: str, *, source: str = "<rules>") -> RuleBook:
    """Turn the text of a rules file into a ``RuleBook``; ``source`` names it in errors."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed"
        if exc.problem and exc.context:
            problem = f"{exc.problem} ({exc.context})"
        raise RulesError(
            f"invalid YAML: {problem}", source=source, line=mark.line + 1 if mark else None, key_path=""
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise RulesError(f"invalid YAML: {exc.reason}", source=source, line=line, key_path="") from None
    except yaml.YAMLError as exc:
        raise RulesError(f"invalid YAML: {exc}", source=source, line=None, key_path="") from None
    try:
        return _book(root)
    except _Invalid as exc:
        raise RulesError(exc.problem, source=source, line=exc.line, key_path=exc.key_path) from None


def load_rulebook_file(path: str | os.PathLike[str]) -> RuleBook:
    """Read and parse a rules file; an unreadable file is a ``RulesError`` too, so a caller
    catches one exception for every mistake in or about the file."""
    source = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"cannot read the rules file: {exc}", source=source, line=None, key_path="") from None
    return parse_rulebook(text, source=source)


def default_rulebook() -> RuleBook:
    """The rules Nudge ships with (streams/rules/default.yaml)."""
    text = resources.files(__package__).joinpath(DEFAULT_RULES).read_text(encoding="utf-8")
    return parse_rulebook(text, source=DEFAULT_RULES)


# --- the walk: each function reads one kind of node and raises _Invalid at the node's line ---


class _Invalid(Exception):
    """Raised inside the walk; ``parse_rulebook`` adds the source name and re-raises a RulesError."""

    def __init__(self, line: int, key_path: str, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.key_path = key_path
        self.problem = problem


_NULL_TAG = "tag:yaml.org,2002:null"
# At most 64 characters: a rule's name is on every output and a key of the partition's uplift
# counts, whose record has a size bound (schemas/limits.py).
_RULE_NAME = re.compile(r"[a-z0-9_-]{1,64}")
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DURATION_UNIT_MS = (86_400_000, 3_600_000, 60_000, 1_000)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_BOOLS = {"true": True, "yes": True, "false": False, "no": False}


def _fail(node: Node, key_path: str, problem: str) -> NoReturn:
    raise _Invalid(node.start_mark.line + 1, key_path, problem)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL_TAG


def _describe(node: Node) -> str:
    if _is_null(node):
        return "no value"
    if isinstance(node, ScalarNode):
        return repr(node.value)
    return "a list" if isinstance(node, SequenceNode) else "a mapping"


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _entries(node: Node, path: str, expected: str = "a mapping") -> dict[str, tuple[Node, Node]]:
    """key -> (key node, value node); duplicate keys are an error, as YAML itself lets them pass."""
    if not isinstance(node, MappingNode):
        _fail(node, path, f"expected {expected}, got {_describe(node)}")
    entries: dict[str, tuple[Node, Node]] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode) or _is_null(key_node):
            _fail(key_node, path, f"expected a plain key, got {_describe(key_node)}")
        key = key_node.value
        if key in entries:
            first_line = entries[key][0].start_mark.line + 1
            _fail(key_node, _join(path, key), f"duplicate key, first given at line {first_line}")
        entries[key] = (key_node, value_node)
    return entries


def _mapping(
    node: Node,
    path: str,
    *,
    allowed: Sequence[str],
    required: Sequence[str] = (),
    what: str = "",
    expected: str = "a mapping",
) -> dict[str, Node]:
    entries = _entries(node, path, expected)
    for key, (key_node, _) in entries.items():
        if key not in allowed:
            choices = ", ".join(allowed)
            hint = _did_you_mean(key, allowed)
            _fail(key_node, _join(path, key), f"unknown key{what}; expected one of {choices}{hint}")
    for key in required:
        if key not in entries:
            _fail(node, path, f"missing required key {key!r}")
    return {key: value for key, (_, value) in entries.items()}


def _sequence(node: Node, path: str) -> list[Node]:
    if not isinstance(node, SequenceNode):
        _fail(node, path, f"expected a list, got {_describe(node)}")
    return node.value


def _scalar(node: Node, path: str, expected: str) -> str:
    if not isinstance(node, ScalarNode) or _is_null(node):
        _fail(node, path, f"expected {expected}, got {_describe(node)}")
    return node.value


def _text(node: Node, path: str, expected: str = "a non-empty string") -> str:
    value = _scalar(node, path, expected)
    if not value.strip():
        _fail(node, path, f"expected {expected}, got {value!r}")
    return value


def _choice(node: Node, path: str, choices: Sequence[str]) -> str:
    expected = f"one of {', '.join(choices)}"
    value = _scalar(node, path, expected)
    if value not in choices:
        _fail(node, path, f"expected {expected}, got {value!r}{_did_you_mean(value, choices)}")
    return value


def _strings(node: Node, path: str, *, choices: Sequence[str] | None = None) -> tuple[str, ...]:
    """A list of strings; a single string is a one-element list."""
    if isinstance(node, ScalarNode) and not _is_null(node):
        items = [(node, path)]
    else:
        items = [(item, f"{path}[{i}]") for i, item in enumerate(_sequence(node, path))]
    if choices is None:
        return tuple(_text(item, item_path) for item, item_path in items)
    return tuple(_choice(item, item_path, choices) for item, item_path in items)


def _int(node: Node, path: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _scalar(node, path, "a whole number")
    if not _INT.fullmatch(value):
        _fail(node, path, f"expected a whole number, got {value!r}")
    number = int(value)
    if minimum is not None and number < minimum:
        _fail(node, path, f"must be at least {minimum}, got {value!r}")
    if maximum is not None and number > maximum:
        _fail(node, path, f"must be at most {maximum}, got {value!r}")
    return number


def _float(node: Node, path: str, *, minimum: float | None = None) -> float:
    value = _scalar(node, path, "a number")
    if not _FLOAT.fullmatch(value) or not math.isfinite(float(value)):
        _fail(node, path, f"expected a number, got {value!r}")
    number = float(value)
    if minimum is not None and number < minimum:
        _fail(node, path, f"must be at least {minimum}, got {value!r}")
    return number


def _fraction(node: Node, path: str) -> float:
    expected = "a fraction between 0 and 1"
    value = _scalar(node, path, expected)
    if not _FLOAT.fullmatch(value) or not 0.0 <= float(value) <= 1.0:
        _fail(node, path, f"expected {expected}, got {value!r}")
    return float(value)


def _bool(node: Node, path: str) -> bool:
    expected = "true or false"
    value = _scalar(node, path, expected)
    if value.lower() not in _BOOLS:
        _fail(node, path, f"expected {expected}, got {value!r}")
    return _BOOLS[value.lower()]


def _duration_ms(node: Node, path: str) -> int:
    expected = "a duration like 30m, 2h or 1d"
    value = _scalar(node, path, expected)
    match = _DURATION.fullmatch(value)
    if match is None or not any(match.groups()):
        _fail(node, path, f"expected {expected}, got {value!r}")
    duration_ms = sum(int(amount) * unit_ms for amount, unit_ms in zip(match.groups(), _DURATION_UNIT_MS) if amount)
    if duration_ms <= 0:
        _fail(node, path, f"must be longer than zero, got {value!r}")
    return duration_ms


def _clock_min(node: Node, path: str) -> int:
    expected = "a clock time HH:MM like 22:00"
    value = _scalar(node, path, expected)
    match = _CLOCK.fullmatch(value)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        _fail(node, path, f"expected {expected}, got {value!r}")
    return int(match[1]) * 60 + int(match[2])


def _timestamp_ms(node: Node, path: str) -> int:
    expected = "an RFC 3339 timestamp with an offset like 2026-11-20T00:00:00Z"
    value = _scalar(node, path, expected)
    try:
        epoch_ms, _ = parse_rfc3339(value)
    except BadTimestamp:
        _fail(node, path, f"expected {expected}, got {value!r}")
    return epoch_ms


def _is_off(node: Node) -> bool:
    return isinstance(node, ScalarNode) and not _is_null(node) and node.value.lower() == "off"


def _plain(node: Node, path: str) -> Any:
    """An offer's YAML as plain Python: mappings -> dict, lists -> list, and an unquoted scalar
    -> int if it looks like one, else float if it looks like one, else bool for true/false, else
    None for null/~/empty, else the string. A quoted scalar always stays a string ("015")."""
    if isinstance(node, MappingNode):
        return {key: _plain(value, _join(path, key)) for key, (_, value) in _entries(node, path).items()}
    if isinstance(node, SequenceNode):
        return [_plain(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
    value = node.value
    if node.style is not None:
        return value
    if _is_null(node):
        return None
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


# --- the file's shape, top down ---

_TOP_KEYS = ("guardrails", "models", "rules")
_MODEL_KEYS = ("enabled", "propensity", "uplift", "horizon")
_GUARDRAIL_KEYS = ("holdout", "frequency_cap", "quiet_hours", "attribution_window", "variant_salt")
_RULE_KEYS = (
    "name", "kind", "channel", "channels", "priority", "enabled", "holdout", "propensity", "min_uplift", "params", "offer", "variants", "follow_up"
)  # fmt: skip
_VARIANT_KEYS = ("name", "weight", "params", "offer", "channel")
_FOLLOW_UP_KEYS = ("after", "channel", "offer")
MAX_VARIANTS = 8  # each is a key of the partition's uplift counts, whose record has a size bound
FOLLOW_UP_SUFFIX = "-follow-up"
_SEGMENT_KEYS = ("lifecycle", "rfm", "top_category", "price_sensitivity", "consent")



def _book(root: Node | None) -> RuleBook:
    if root is None:
        raise _Invalid(1, "", "the rules file is empty; it needs at least a 'rules' list")
    fields = _mapping(root, "", allowed=_TOP_KEYS, required=("rules",))
    guardrails = _guardrails(fields["guardrails"], "guardrails") if "guardrails" in fields else Guardrails()
    first_line_of: dict[str, int] = {}
    rules = tuple(
        _rule(item, f"rules[{i}]", first_line_of, guardrails) for i, item in enumerate(_sequence(fields["rules"], "rules"))
    )
    models = _models(fields["models"], "models") if "models" in fields else Models()
    return RuleBook(rules=rules, guardrails=guardrails, models=models)


def _models(node: Node, path: str) -> Models:
    fields = _mapping(node, path, allowed=_MODEL_KEYS)
    default = Models()
    names = sorted(MODELS)
    return Models(
        enabled=_bool(fields["enabled"], _join(path, "enabled")) if "enabled" in fields else default.enabled,
        propensity=_choice(fields["propensity"], _join(path, "propensity"), names) if "propensity" in fields else default.propensity,
        uplift=_choice(fields["uplift"], _join(path, "uplift"), names) if "uplift" in fields else default.uplift,
        horizon_ms=_duration_ms(fields["horizon"], _join(path, "horizon")) if "horizon" in fields else default.horizon_ms,
    )


def _guardrails(node: Node, path: str) -> Guardrails:
    fields = _mapping(node, path, allowed=_GUARDRAIL_KEYS)
    default = Guardrails()
    holdout_fraction, holdout_salt = default.holdout_fraction, default.holdout_salt
    if "holdout" in fields:
        holdout_path = _join(path, "holdout")
        holdout = _mapping(fields["holdout"], holdout_path, allowed=("fraction", "salt"))
        if "fraction" in holdout:
            holdout_fraction = _fraction(holdout["fraction"], _join(holdout_path, "fraction"))
        if "salt" in holdout:
            holdout_salt = _text(holdout["salt"], _join(holdout_path, "salt"))

    frequency_cap, frequency_window_ms = default.frequency_cap, default.frequency_window_ms
    if "frequency_cap" in fields and _is_off(fields["frequency_cap"]):
        frequency_cap = None
    elif "frequency_cap" in fields:
        cap_path = _join(path, "frequency_cap")
        cap_keys = ("max_triggers", "window")
        cap = _mapping(fields["frequency_cap"], cap_path, allowed=cap_keys, expected="a mapping or off")
        if "max_triggers" in cap:
            # A user's record keeps the latest MAX_SENT_TIMES send times, so a cap can count no more.
            frequency_cap = _int(cap["max_triggers"], _join(cap_path, "max_triggers"), minimum=1, maximum=MAX_SENT_TIMES)
        if "window" in cap:
            frequency_window_ms = _duration_ms(cap["window"], _join(cap_path, "window"))

    quiet_hours = default.quiet_hours
    if "quiet_hours" in fields and _is_off(fields["quiet_hours"]):
        quiet_hours = None
    elif "quiet_hours" in fields:
        quiet_path = _join(path, "quiet_hours")
        quiet = _mapping(fields["quiet_hours"], quiet_path, allowed=("start", "end"), expected="a mapping or off")
        start_min, end_min = QuietHours().start_min, QuietHours().end_min
        if "start" in quiet:
            start_min = _clock_min(quiet["start"], _join(quiet_path, "start"))
        if "end" in quiet:
            end_min = _clock_min(quiet["end"], _join(quiet_path, "end"))
        if start_min == end_min:
            # none or all day? Neither reading is safe to guess; `off` says the first plainly.
            problem = "start and end are the same time; write `quiet_hours: off` for none"
            _fail(fields["quiet_hours"], quiet_path, problem)
        quiet_hours = QuietHours(start_min=start_min, end_min=end_min)

    attribution_window_ms = default.attribution_window_ms
    if "attribution_window" in fields:
        attribution_window_ms = _duration_ms(fields["attribution_window"], _join(path, "attribution_window"))
    variant_salt = _text(fields["variant_salt"], _join(path, "variant_salt")) if "variant_salt" in fields else default.variant_salt

    return Guardrails(
        holdout_fraction=holdout_fraction,
        holdout_salt=holdout_salt,
        variant_salt=variant_salt,
        frequency_cap=frequency_cap,
        frequency_window_ms=frequency_window_ms,
        quiet_hours=quiet_hours,
        attribution_window_ms=attribution_window_ms,
    )


def _rule(node: Node, path: str, first_line_of: dict[str, int], guardrails: Guardrails) -> RuleSpec:
    fields = _mapping(node, path, allowed=_RULE_KEYS, required=("name", "kind", "channel"))
    name_node, name_path = fields["name"], _join(path, "name")
    name = _scalar(name_node, name_path, "a rule name")
    if not _RULE_NAME.fullmatch(name):
        _fail(name_node, name_path, f"expected a rule name of 1 to 64 lowercase letters, digits, _ and -, got {name!r}")
    if name in first_line_of:
        _fail(name_node, name_path, f"duplicate rule name {name!r}, first used at line {first_line_of[name]}")
    first_line_of[name] = name_node.start_mark.line + 1

    kind = RuleKind(_choice(fields["kind"], _join(path, "kind"), [kind.value for kind in WRITTEN_KINDS]))
    params = _params(KINDS[kind].params_type, fields.get("params"), _join(path, "params"), kind, rule_node=node, rule_path=path)

    propensity_min, propensity_max = _propensity_range(fields["propensity"], _join(path, "propensity")) if "propensity" in fields else (None, None)
    channel, channels = _channel(fields["channel"], _join(path, "channel"))
    if "offer" in fields and kind is RuleKind.TIMED_PROMOTION:
        _fail(fields["offer"], _join(path, "offer"), "a timed_promotion's offer goes in its params")
    if "channels" in fields:
        if channel != BEST_CHANNEL:
            _fail(fields["channels"], _join(path, "channels"), "only for `channel: best` (the channels it chooses among); otherwise list them in channel")
        channels = _channel_list(fields["channels"], _join(path, "channels"))
    rule = RuleSpec(
        name=name,
        kind=kind,
        channel=channel,
        channels=channels,
        offer=_offer(fields["offer"], _join(path, "offer")) if "offer" in fields else None,
        params=params,
        priority=_int(fields["priority"], _join(path, "priority")) if "priority" in fields else 0,
        enabled=_bool(fields["enabled"], _join(path, "enabled")) if "enabled" in fields else True,
        holdout_fraction=_fraction(fields["holdout"], _join(path, "holdout")) if "holdout" in fields else None,
        propensity_min=propensity_min,
        propensity_max=propensity_max,
        min_uplift=_signed_fraction(fields["min_uplift"], _join(path, "min_uplift")) if "min_uplift" in fields else None,
    )
    if "variants" in fields:
        rule = replace(rule, variants=_variants(fields["variants"], _join(path, "variants"), rule))
    if "follow_up" in fields:
        follow = _follow_up(fields["follow_up"], _join(path, "follow_up"), rule, guardrails, first_line_of)
        rule = replace(rule, follow_up=follow, variants=tuple(replace(v, rule=replace(v.rule, follow_up=follow)) for v in rule.variants))
    return rule


def _channel(node: Node, path: str) -> tuple[str, tuple[str, ...]]:
    """``channel: push`` (one), ``channel: [push, email]`` (the first usable, in order) or
    ``channel: best`` (the most responsive): the spec's ``channel`` and ``channels``."""
    if isinstance(node, SequenceNode):
        channels = _channel_list(node, path)
        return channels[0], channels
    return _text(node, path, "a channel name, a list of them, or best"), ()


def _channel_list(node: Node, path: str) -> tuple[str, ...]:
    channels = _strings(node, path)
    if not channels:
        _fail(node, path, "expected at least one channel")
    if BEST_CHANNEL in channels:
        _fail(node, path, "best chooses among channels; it is not one (write `channel: best` and list them in `channels`)")
    if len(set(channels)) != len(channels):
        _fail(node, path, f"a channel is listed twice: {', '.join(channels)}")
    return channels


def _offer(node: Node, path: str) -> dict[str, Any]:
    _entries(node, path)  # an offer must be a mapping, not a bare value
    offer: dict[str, Any] = _plain(node, path)
    return offer


def _follow_up(node: Node, path: str, rule: RuleSpec, guardrails: Guardrails, first_line_of: dict[str, int]) -> RuleSpec:
    """The rule's FOLLOW_UP step. It must change something (never the same message again), and
    fire within the attribution window, while the first message is still remembered."""
    fields = _mapping(node, path, allowed=_FOLLOW_UP_KEYS, required=("after",))
    after_ms = _duration_ms(fields["after"], _join(path, "after"))
    if after_ms >= guardrails.attribution_window_ms:
        _fail(fields["after"], _join(path, "after"), "must be shorter than the attribution window: the first message is remembered only that long")
    if "channel" not in fields and "offer" not in fields:
        _fail(node, path, "a follow-up must name another channel or offer: an ignored message is never simply resent")
    channel, channels = _channel(fields["channel"], _join(path, "channel")) if "channel" in fields else (rule.channel, rule.channels)
    offer = _offer(fields["offer"], _join(path, "offer")) if "offer" in fields else None
    # Without an offer, a follow-up avoids the channel the ignored message went on: it can send only
    # if it has another channel than every one that message could have used (any variant's too).
    follow_choices = channel_choices(channel, channels)
    first_choices = {choice for spec in (rule, *(variant.rule for variant in rule.variants)) for choice in spec.choices}
    if offer is None and len(follow_choices) == 1 and first_choices <= set(follow_choices):
        where = fields["channel"] if "channel" in fields else node
        _fail(where, _join(path, "channel"), "is the only channel the rule can use and there is no new offer: the ignored message would be resent as it was")
    name = rule.name + FOLLOW_UP_SUFFIX
    if name in first_line_of:
        _fail(node, path, f"its name {name!r} is taken by the rule at line {first_line_of[name]}")
    first_line_of[name] = node.start_mark.line + 1
    return RuleSpec(
        name=name,
        kind=RuleKind.FOLLOW_UP,
        channel=channel,
        channels=channels,
        params=FollowUpParams(after_ms=after_ms, parent=rule.name),
        priority=rule.priority,
        holdout_fraction=0.0,  # the rule's own holdout was never sent the first message: no follow-up to hold out
        offer=offer,
    )


def _variants(node: Node, path: str, rule: RuleSpec) -> tuple[Variant, ...]:
    items = _sequence(node, path)
    if not 2 <= len(items) <= MAX_VARIANTS:
        _fail(node, path, f"expected 2 to {MAX_VARIANTS} variants, got {len(items)}")
    variants: list[Variant] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        item_path = f"{path}[{i}]"
        fields = _mapping(item, item_path, allowed=_VARIANT_KEYS, required=("name",))
        name_node = fields["name"]
        name = _scalar(name_node, _join(item_path, "name"), "a variant name")
        if not _RULE_NAME.fullmatch(name):
            _fail(name_node, _join(item_path, "name"), f"expected a variant name of 1 to 64 lowercase letters, digits, _ and -, got {name!r}")
        if name in seen:
            _fail(name_node, _join(item_path, "name"), f"duplicate variant name {name!r}, first used at line {seen[name]}")
        seen[name] = name_node.start_mark.line + 1
        weight = 1.0
        if "weight" in fields:
            weight = _float(fields["weight"], _join(item_path, "weight"), minimum=0.0)
            if weight <= 0:
                _fail(fields["weight"], _join(item_path, "weight"), "must be above 0 (remove the variant to stop it)")
        spec = replace(rule, variant=name, variants=())
        if "params" in fields:
            spec = replace(spec, params=_params(KINDS[rule.kind].params_type, fields["params"], _join(item_path, "params"), rule.kind, base=rule.params))
        if "offer" in fields:
            offer = _offer(fields["offer"], _join(item_path, "offer"))
            spec = replace(spec, params=replace(spec.params, offer=offer)) if isinstance(spec.params, TimedPromotionParams) else replace(spec, offer=offer)
        if "channel" in fields:
            channel, channels = _channel(fields["channel"], _join(item_path, "channel"))
            spec = replace(spec, channel=channel, channels=channels if channels or channel != BEST_CHANNEL else rule.channels)
        variants.append(Variant(name=name, weight=weight, rule=spec))
    return tuple(variants)




def _signed_fraction(node: Node, path: str) -> float:
    expected = "a number between -1 and 1"
    value = _scalar(node, path, expected)
    if not _FLOAT.fullmatch(value) or not -1.0 <= float(value) <= 1.0:
        _fail(node, path, f"expected {expected}, got {value!r}")
    return float(value)


def _propensity_range(node: Node, path: str) -> tuple[float | None, float | None]:
    bounds = _mapping(node, path, allowed=("min", "max"))
    low = _fraction(bounds["min"], _join(path, "min")) if "min" in bounds else None
    high = _fraction(bounds["max"], _join(path, "max")) if "max" in bounds else None
    if low is not None and high is not None and low > high:
        _fail(node, path, f"min {low} is above max {high}: no user could be sent this rule")
    return low, high




def _segment(node: Node, path: str) -> SegmentFilter:
    fields = _mapping(node, path, allowed=_SEGMENT_KEYS)
    choices: dict[str, Sequence[str] | None] = {
        "lifecycle": [stage.value for stage in Stage],
        "rfm": SEGMENTS,
        "top_category": None,
        "price_sensitivity": PRICE_SENSITIVITIES,
    }
    lists = {}
    for key, allowed in choices.items():
        if key in fields:
            lists[key] = _strings(fields[key], _join(path, key), choices=allowed)
    consent = _text(fields["consent"], _join(path, "consent"), "a channel name") if "consent" in fields else None
    return SegmentFilter(**lists, consent=consent)


def _params(
    cls: type, node: Node | None, path: str, kind: RuleKind, *, rule_node: Node | None = None, rule_path: str = "", base: Any = None
) -> Any:
    """A kind's params, each key derived from its params dataclass (see streams/rules/spec.py).
    With ``base``, the keys given override it (a variant's params), and none is required."""
    keys = {_key_of(field): field for field in dataclasses.fields(cls)}
    required = [] if base is not None else [key for key, field in keys.items() if _required(field)]
    if node is None:
        if required:
            assert rule_node is not None
            _fail(rule_node, rule_path, f"missing required key 'params' (a {kind.value} needs at least {' and '.join(required)})")
        return cls()
    given = _mapping(node, path, allowed=tuple(keys), required=required, what=f" for {kind.value}")
    values = {keys[key].name: _read_param(keys[key], value, _join(path, key)) for key, value in given.items()}
    params = cls(**values) if base is None else replace(base, **values)
    problem = params.problem() if hasattr(params, "problem") else None
    if problem is not None:
        blamed, why = problem
        key = next((key for key in blamed if key in given), None)
        _fail(node if key is None else given[key], path if key is None else _join(path, key), why)
    return params


def _key_of(field: dataclasses.Field[Any]) -> str:
    return field.name.removesuffix("_ms")


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _read_param(field: dataclasses.Field[Any], node: Node, path: str) -> Any:
    """One param, read as its field's name, type and metadata say."""
    if field.metadata.get("read") == "timestamp":
        return _timestamp_ms(node, path)
    if field.name.endswith("_ms"):
        return _duration_ms(node, path)
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    if kind == "int":
        return _int(node, path, minimum=field.metadata.get("minimum", 0))
    if kind == "float":
        return _float(node, path, minimum=0.0)
    if kind == "SendAt":
        return SendAt(_choice(node, path, [when.value for when in SendAt]))
    if kind == "SegmentFilter":
        return _segment(node, path)
    if kind.startswith("dict"):
        return _offer(node, path)
    if kind.startswith("tuple"):  # tuple[str, ...]: written out as a string, or compiled, as the class itself
        return _strings(node, path)
    raise AssertionError(f"no reader for param {field.name} of type {kind}")  # a params class this loader does not know yet
