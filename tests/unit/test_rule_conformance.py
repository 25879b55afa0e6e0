"""One conformance suite, run over every registered rule kind (streams/rules/kinds.py), as River's
checks run over every estimator: each kind, with its own example rule, on forty days of the
synthetic shop.

- the rules file takes exactly the params its dataclass declares;
- it fires at all (or the checks below would prove nothing);
- it is deterministic under replay: the same events give the same outputs, id for id;
- its state survives the changelog codec: a store that encodes and decodes every user after
  every change, as a worker's table does, gives the same outputs as one that keeps the objects;
- it ignores the events it does not react to: called with one anyway, it changes nothing;
- it respects once_per (the kinds that have one), consent and the holdout: a longer once_per
  sends fewer, an opted-out shop gets no trigger of it, and a held-out one only ghost sends;
- its triggers carry stable, unique ids.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, MutableMapping
from functools import cache

import orjson
import pytest

from agents.records import UserRecord, decode_record, encode_record
from builders import add, consent, item, purchase, remove, search, view
from schemas.decoding import Rejection, decode_event
from schemas.events import Consent, Erasure, Event
from schemas.outputs import Output, Suppression, Trigger
from streams.partition import PartitionEngine
from streams.population import Population
from streams.profile import EVENT_KINDS
from streams.rules.base import Context, Effects
from streams.rules.kinds import KINDS
from streams.rules.loading import RulesError, parse_rulebook
from streams.rules.spec import WRITTEN_KINDS, Guardrails, RuleBook, RuleKind, RuleSpec
from streams.traffic import ShopSimulator

START_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z
DAY_MS = 86_400_000
GUARDS = Guardrails(holdout_fraction=0.2, frequency_cap=None)  # quiet hours on: held triggers come back through on_timer
KINDS_UNDER_TEST = sorted(KINDS, key=lambda kind: kind.value)


@cache
def shop() -> tuple[Event, ...]:
    """Forty days of 120 shoppers, some of whom fall silent for thirty (win-back)."""
    simulator = ShopSimulator(users=120, seed=5, start_ms=START_MS, mean_gap_ms=40 * DAY_MS / 10_000)
    events = []
    for message in simulator.events(10_000):
        event = decode_event(message.topic, orjson.dumps(message.value), message.user_id.encode())
        assert not isinstance(event, Rejection)
        events.append(event)
    return tuple(events)


def book_for(kind: RuleKind, **guardrails: object) -> RuleBook:
    return RuleBook((KINDS[kind].example(),), dataclasses.replace(GUARDS, **guardrails))


def spec_of(kind: RuleKind, book: RuleBook) -> RuleSpec:
    rule = book.rules[0]
    return rule if rule.kind is kind else rule.follow_up  # type: ignore[return-value]


def replay(book: RuleBook, events: tuple[Event, ...], store: MutableMapping | None = None) -> tuple[list[Output], PartitionEngine]:
    engine = PartitionEngine(store={} if store is None else store, book=book)
    outputs: list[Output] = []
    for event in events:
        outputs.extend(engine.on_event(event))
    outputs.extend(engine.advance(events[-1].ts_ms + 3 * DAY_MS))
    return outputs, engine


def wire(outputs: list[Output]) -> list[dict]:
    return [output.to_wire(emitted_at_ms=0) for output in outputs]


def sent_by(kind: RuleKind, book: RuleBook, outputs: list[Output]) -> list[Trigger]:
    name = spec_of(kind, book).name
    return [output for output in outputs if isinstance(output, Trigger) and output.rule == name]


@cache
def plain_run(kind: RuleKind) -> tuple[list[Output], PartitionEngine]:
    return replay(book_for(kind), shop())


@pytest.mark.parametrize("kind", KINDS_UNDER_TEST, ids=str)
def test_it_fires_on_the_shop(kind: RuleKind) -> None:
    outputs, _ = plain_run(kind)
    assert len(sent_by(kind, book_for(kind), outputs)) >= 3


@pytest.mark.parametrize("kind", KINDS_UNDER_TEST, ids=str)
def test_it_is_deterministic_under_replay_and_its_ids_are_stable_and_unique(kind: RuleKind) -> None:
    outputs, _ = plain_run(kind)
    again, _ = replay(book_for(kind), shop())
    assert wire(again) == wire(outputs)
    erased = {event.user_id for event in shop() if isinstance(event, Erasure)}
    # A user who asked to be forgotten and came back is new to Nudge: a campaign may reach them
    # again, under the same id (the senders deleted them on the erasure notice).
    ids = [trigger.trigger_id for trigger in sent_by(kind, book_for(kind), outputs) if trigger.user_id not in erased]
    assert ids and len(ids) == len(set(ids))


class ChangelogStore(MutableMapping):
    """Every user's state through the worker's record codec at each write, as the table keeps it."""

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}

    def __getitem__(self, user_id: str):  # type: ignore[no-untyped-def]
        return decode_record(self.records[user_id]).state

    def __setitem__(self, user_id: str, state) -> None:  # type: ignore[no-untyped-def]
        self.records[user_id] = encode_record(UserRecord(partition=0, state=state))

    def __delitem__(self, user_id: str) -> None:
        del self.records[user_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


@pytest.mark.parametrize("kind", KINDS_UNDER_TEST, ids=str)
def test_its_state_survives_the_changelog_codec(kind: RuleKind) -> None:
    outputs, _ = plain_run(kind)
    through_codec, _ = replay(book_for(kind), shop(), store=ChangelogStore())
    assert wire(through_codec) == wire(outputs)


def _other_events(user: str, ts_ms: int) -> dict[str, Event]:
    """One event of every kind the core knows, for ``user`` at ``ts_ms``."""
    return {
        "view": view(user, ts_ms, "p-x"),
        "add_to_cart": add(user, ts_ms, "p-x"),
        "remove_from_cart": remove(user, ts_ms, "p-x"),
        "search": search(user, ts_ms),
        "purchase": purchase(user, ts_ms, [item("p-x", 3.0)]),
        "consent": consent(user, ts_ms, "sms", False),
    }


SELECTIVE = [kind for kind in KINDS_UNDER_TEST if EVENT_KINDS - KINDS[kind].reacts_to]
"""The kinds that do not react to every kind of event (abandoned_interest does: any event prunes its spells)."""


def test_most_kinds_react_to_some_events_only() -> None:
    assert len(SELECTIVE) >= 4, SELECTIVE


@pytest.mark.parametrize("kind", SELECTIVE, ids=str)
def test_it_ignores_the_events_it_does_not_react_to(kind: RuleKind) -> None:
    logic = KINDS[kind]
    ignored = EVENT_KINDS - logic.reacts_to
    _, engine = plain_run(kind)
    book = book_for(kind)
    for user_id in sorted(engine.store)[:30]:
        state = engine.store[user_id]
        before = orjson.dumps(state.to_dict())
        effects = Effects()
        for name, event in _other_events(user_id, state.profile.last_seen_ms + 1).items():
            if name in ignored:
                logic.on_event(spec_of(kind, book), state, event, Context(book, engine.profile_config, Population(), event.ts_ms), effects)
        assert orjson.dumps(state.to_dict()) == before and not effects.candidates and not effects.schedule


@pytest.mark.parametrize("kind", KINDS_UNDER_TEST, ids=str)
def test_it_respects_consent(kind: RuleKind) -> None:
    # Without the shop's own opt-ins, and its erasures (a user who comes back is new, with the default consent).
    events = tuple(event for event in shop() if not isinstance(event, (Consent, Erasure)))
    users = sorted({event.user_id for event in events})
    opted_out = tuple(consent(user, START_MS - 1, "all", False) for user in users) + events
    outputs, _ = replay(book_for(kind), opted_out)
    assert sent_by(kind, book_for(kind), outputs) == []


@pytest.mark.parametrize("kind", KINDS_UNDER_TEST, ids=str)
def test_it_respects_the_holdout(kind: RuleKind) -> None:
    book = book_for(kind, holdout_fraction=1.0)
    outputs, _ = replay(book, shop())
    name = spec_of(kind, book).name
    if kind is RuleKind.FOLLOW_UP:  # the rule's holdout never got a first message to follow up
        assert not [o for o in outputs if isinstance(o, (Trigger, Suppression)) and (o.rule if isinstance(o, Trigger) else o.trigger.rule) == name]
        return
    assert sent_by(kind, book, outputs) == []
    assert [o for o in outputs if isinstance(o, Suppression) and o.trigger.rule == name and o.reason.value == "holdout"]


@pytest.mark.parametrize("kind", [kind for kind in KINDS_UNDER_TEST if kind in WRITTEN_KINDS], ids=str)
def test_the_rules_file_takes_exactly_the_params_the_kind_declares(kind: RuleKind) -> None:
    """The loader derives a kind's keys from its params dataclass: a new field is a new key, with
    no table to keep in step."""
    declared = [field.name.removesuffix("_ms") for field in dataclasses.fields(KINDS[kind].params_type)]
    text = f"rules:\n  - {{name: r, kind: {kind.value}, channel: push, params: {{nonsense: 1}}}}\n"
    with pytest.raises(RulesError, match=f"unknown key for {kind.value}; expected one of {', '.join(declared)}$"):
        parse_rulebook(text)


ONCE_PER = [kind for kind in KINDS_UNDER_TEST if "once_per_ms" in {field.name for field in dataclasses.fields(KINDS[kind].params_type)}]


@pytest.mark.parametrize("kind", ONCE_PER, ids=str)
def test_it_respects_once_per(kind: RuleKind) -> None:
    """Over forty days shoppers come back to the same carts and categories: a once_per longer than
    the shop sends fewer triggers than a day's, though not none."""
    outputs, _ = plain_run(kind)
    daily = sent_by(kind, book_for(kind), outputs)
    rule = KINDS[kind].example()
    rarely = RuleBook((dataclasses.replace(rule, params=dataclasses.replace(rule.params, once_per_ms=1000 * DAY_MS)),), GUARDS)
    seldom = sent_by(kind, rarely, replay(rarely, shop())[0])
    assert 0 < len(seldom) < len(daily)
