"""Offline replay: a recording through the core in-process gives what the workers' partitions would.

The reference throughout is a PartitionEngine per partition, fed that partition's events in
event-time order and flushed to the last event time plus the book's longest delay.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import gc
import io
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from agents.generate import write_recording
from agents.recording import open_recording, recording_line
from agents.progress import progress_printer
from agents.replay import ReplayReport, replay_offline
from builders import MINUTE_MS, T0_MS, cart_book, rule_book, win_back_rule
from schemas.contracts import SCHEMA_FOR_TOPIC, load_schema
from schemas.decoding import decode_event
from schemas.outputs import Conversion, DeadLetter, Suppression, Trigger
from schemas.timestamps import format_rfc3339
from streams.config import ProfileConfig
from streams.partition import PartitionEngine
from streams.partitioning import partition_for
from streams.replay import Message, OfflineReplay
from streams.rules.kinds import longest_delay_ms
from streams.rules.loading import default_rulebook
from streams.rules.spec import Models, RuleBook
from tests.wire import click_value, consent_value, purchase_value

PARTITIONS = 4
DAY_MINUTES = 24 * 60
# Users of the hand-written scenarios and the partition each lands on with 4 partitions.
P0_USERS = ("u1", "cy")
P2_USERS = ("u2", "u3")
P3_USERS = ("u5",)
OUTPUT_SCHEMAS = {"triggers": "trigger", "suppressions": "suppression", "conversions": "conversion", "dead-letters": "dead_letter", "erasures-done": "erasure_done"}


def at(minutes: float) -> int:
    return T0_MS + round(minutes * MINUTE_MS)


def clicked(user: str, minutes: float, action: str, product: str = "p1") -> tuple[str, str, dict]:
    return ("clicks", user, click_value(user, at(minutes), action, product))


def bought(user: str, minutes: float, *products: str) -> tuple[str, str, dict]:
    return ("purchases", user, purchase_value(user, at(minutes), [(product, 10.0, 1) for product in products]))


def messages_of(lines: list[tuple[str, str, dict]]) -> list[Message]:
    return [Message(topic, user.encode(), orjson.dumps(value), offset) for offset, (topic, user, value) in enumerate(lines)]


def replay_all(book: RuleBook, messages: list[Message], **options) -> tuple[OfflineReplay, list]:
    replay = OfflineReplay(book, partitions=PARTITIONS, **options)
    outputs = [output for message in messages for output in replay.feed(message)]
    return replay, outputs + replay.finish()


def by_partition(replay: OfflineReplay, outputs: list) -> dict[int, list]:
    grouped: dict[int, list] = defaultdict(list)
    for output in outputs:
        grouped[replay.partition_of(output)].append(output)
    return dict(grouped)


def reference(book: RuleBook, messages: list[Message]) -> dict[int, list]:
    """One PartitionEngine per partition, fed in event-time order, flushed as the replay promises."""
    events: dict[int, list] = defaultdict(list)
    for message in messages:
        event = decode_event(message.topic, message.value, message.key)
        events[partition_for(message.key, PARTITIONS)].append(event)
    horizon_ms = max(event.ts_ms for partition in events.values() for event in partition) + longest_delay_ms(book)
    outputs: dict[int, list] = {}
    for number, partition in events.items():
        engine = PartitionEngine(store={}, book=book)
        found = [output for event in sorted(partition, key=lambda event: event.ts_ms) for output in engine.on_event(event)]
        found += engine.advance(horizon_ms)
        if found:
            outputs[number] = found
    return outputs


def summary(outputs: list) -> list[tuple]:
    rows = []
    for output in outputs:
        if isinstance(output, Trigger):
            rows.append(("trigger", output.user_id, output.trigger_id, output.ts_ms))
        elif isinstance(output, Suppression):
            rows.append(("suppression", output.trigger.user_id, output.trigger.trigger_id, output.trigger.ts_ms))
        elif isinstance(output, Conversion):
            rows.append(("conversion", output.user_id, output.trigger_id, output.ts_ms))
        else:
            rows.append(("dead letter", output.key, output.reason, output.offset))
    return rows


def test_the_scenario_users_land_on_the_partitions_named_above():
    placed = {user: partition_for(user.encode(), PARTITIONS) for user in P0_USERS + P2_USERS + P3_USERS}
    assert placed == {"u1": 0, "cy": 0, "u2": 2, "u3": 2, "u5": 3}


# --- what the partitions would give --------------------------------------------------------

# In event-time order across every topic; minutes after T0.
SCENARIO = [
    clicked("u1", 0, "add_to_cart", "p1"),
    clicked("u2", 1, "add_to_cart", "p1"),  # left alone: reminder at 31
    clicked("u3", 2, "add_to_cart", "p4"),
    clicked("u5", 3, "add_to_cart", "p5"),
    clicked("u2", 5, "view", "p2"),
    clicked("u3", 8, "remove_from_cart", "p4"),  # emptied: no reminder
    bought("u1", 10, "p1"),  # bought: no reminder for the first cart
    clicked("u5", 15, "add_to_cart", "p6"),  # re-armed: reminder at 45
    clicked("u1", 20, "add_to_cart", "p2"),  # a new cart: reminder at 50
    clicked("u1", 25, "view", "p3"),
    ("consents", "cy", consent_value("cy", at(30))),
    clicked("u2", 40, "view", "p3"),
    bought("u5", 50, "p5", "p6"),  # after the reminder at 45: its conversion
    clicked("cy", 55, "add_to_cart", "p9"),  # reminder at 85, only the end-of-input flush fires it
    clicked("u5", 60, "add_to_cart", "p7"),  # the last event: reminder at 90, the horizon itself
]


def test_offline_replay_gives_what_each_partitions_engine_gives_in_event_time_order():
    book = cart_book()
    messages = messages_of(SCENARIO)
    replay, outputs = replay_all(book, messages)
    expected = reference(book, messages)

    assert by_partition(replay, outputs) == expected
    assert {number: summary(found) for number, found in by_partition(replay, outputs).items()} == {
        number: summary(found) for number, found in expected.items()
    }
    # The scenario is worth comparing: reminders on three partitions, a conversion, the flush.
    fired = sorted((output.user_id, output.ts_ms) for output in outputs if isinstance(output, Trigger))
    assert fired == [("cy", at(85)), ("u1", at(50)), ("u2", at(31)), ("u5", at(45)), ("u5", at(90))]
    assert [(c.user_id, c.ts_ms) for c in outputs if isinstance(c, Conversion)] == [("u5", at(50))]
    assert replay.events == len(SCENARIO) and replay.last_event_ms == at(60)


def test_how_partitions_interleave_in_the_recording_does_not_matter():
    book = cart_book()
    messages = messages_of(SCENARIO)
    partition_blocks = sorted(messages, key=lambda message: -partition_for(message.key, PARTITIONS))  # stable
    assert partition_blocks != messages
    replay_a, outputs_a = replay_all(book, messages)
    replay_b, outputs_b = replay_all(book, partition_blocks)
    assert by_partition(replay_a, outputs_a) == by_partition(replay_b, outputs_b)


def test_trigger_ids_and_times_are_the_same_every_run():
    runs = [summary(replay_all(cart_book(), messages_of(SCENARIO))[1]) for _ in range(2)]
    assert runs[0] == runs[1] and runs[0]


# --- the end-of-input flush ----------------------------------------------------------------


def test_the_flush_fires_timers_due_after_the_last_event_up_to_the_longest_delay():
    book = cart_book(delay_ms=30 * MINUTE_MS)
    replay = OfflineReplay(book, partitions=PARTITIONS)
    fed = [replay.feed(message) for message in messages_of([clicked("u1", 0, "add_to_cart"), clicked("u2", 10, "add_to_cart")])]
    assert fed == [[], []]  # nothing is due while the input lasts
    flushed = replay.finish()
    assert sorted((t.user_id, t.ts_ms) for t in flushed) == [("u1", at(30)), ("u2", at(40))]
    assert at(40) == at(10) + longest_delay_ms(book)  # the last reminder is due at the horizon itself


@pytest.mark.parametrize("last_day, won_back", [(29, []), (31, ["u1"])])
def test_the_flush_goes_no_further_than_the_last_event_plus_the_longest_delay(last_day, won_back):
    """Beyond the horizon lie the daily sweeps that would find u1 silent for 30 days and win them
    back. With the last event on day 29 the flush must stop short of them; on day 31 it reaches them."""
    book = rule_book(cart_book(delay_ms=30 * MINUTE_MS).rules[0], win_back_rule())
    assert longest_delay_ms(book) == 30 * MINUTE_MS
    _, outputs = replay_all(book, messages_of([clicked("u1", 0, "view"), clicked("u2", last_day * DAY_MINUTES, "view")]))
    assert [t.user_id for t in outputs if t.rule == "win_back"] == won_back


def test_finish_without_any_event_gives_nothing():
    replay = OfflineReplay(cart_book(), partitions=PARTITIONS)
    assert replay.finish() == []
    assert replay.last_event_ms is None


def test_a_far_future_event_is_a_dead_letter_offline_as_live_and_never_moves_the_clock():
    """Judged against the recording's Kafka timestamps, as a worker judges it: an event dated 2056
    used to move its partition's clock 30 years ahead and fire every cart in it at once."""
    add, far_view, buy = messages_of([clicked("u1", 0, "add_to_cart"), clicked("u3", 30 * 525_600, "view"), bought("u1", 2, "p1")])
    stamped = [Message(m.topic, m.key, m.value, m.offset, timestamp_ms=at(n)) for n, m in enumerate((add, far_view, buy))]
    replay, outputs = replay_all(cart_book(), stamped)
    assert [(o.reason, o.key) for o in outputs if isinstance(o, DeadLetter)] == [("future_timestamp", b"u3")]
    assert [o for o in outputs if isinstance(o, Trigger)] == []  # u1 bought: no reminder
    assert replay.last_event_ms == at(2)


def test_an_erasure_stamped_far_ahead_does_not_move_the_end_of_input_horizon():
    later = at(10 * DAY_MINUTES)
    erase = ("erasures", "u3", {"event_id": "x", "user_id": "u3", "ts": format_rfc3339(later)})
    replay, outputs = replay_all(cart_book(delay_ms=30 * MINUTE_MS), messages_of([clicked("u1", 0, "add_to_cart"), erase]))
    assert replay.last_event_ms == at(0)
    assert [(t.user_id, t.ts_ms) for t in outputs if isinstance(t, Trigger)] == [("u1", at(30))]


# --- merging topics --------------------------------------------------------------------------

# cy shares u1's partition and has bought before: the partition's purchases topic is known.
EARLIER_PURCHASE = bought("cy", -60, "p0")
# Read in this order, u1's click at 40 would move the clock past the reminder at 30 before the
# purchase at 5 that cancels it.
CLICKS_READ_AHEAD = [
    clicked("u1", 0, "add_to_cart"),
    clicked("u1", 40, "view", "p2"),
    bought("u1", 5, "p1"),
]


def test_a_purchase_recorded_after_a_later_click_is_still_applied_first():
    replay, outputs = replay_all(cart_book(), messages_of([EARLIER_PURCHASE, *CLICKS_READ_AHEAD]))
    assert [output for output in outputs if isinstance(output, Trigger)] == []
    assert replay.events == 4


def test_without_lookahead_the_click_read_ahead_fires_the_reminder():
    # What the look-ahead saves: fed in file order, the reminder goes out before the purchase.
    _, outputs = replay_all(cart_book(), messages_of([EARLIER_PURCHASE, *CLICKS_READ_AHEAD]), lookahead=0)
    assert [(t.user_id, t.ts_ms) for t in outputs if isinstance(t, Trigger)] == [("u1", at(30))]


def test_within_a_topic_the_recording_order_is_kept():
    # The cart's removal is recorded after its addition but stamped earlier. Re-sorted, the
    # removal would come first and the addition would leave a cart to remind about.
    lines = [
        EARLIER_PURCHASE,
        clicked("u1", 5, "add_to_cart"),
        clicked("u1", 1, "remove_from_cart"),
        bought("cy", 20, "p0"),  # lets the synchronizer release the clicks it held
    ]
    book = cart_book()
    _, outputs = replay_all(book, messages_of(lines))
    assert [output for output in outputs if isinstance(output, Trigger)] == []

    resorted = PartitionEngine(store={}, book=book)
    for message in sorted(messages_of(lines), key=lambda message: orjson.loads(message.value)["ts"]):
        resorted.on_event(decode_event(message.topic, message.value, message.key))
    assert [(t.user_id, t.ts_ms) for t in resorted.advance(at(60))] == [("u1", at(35))]


# --- dead letters ----------------------------------------------------------------------------


def test_malformed_values_become_dead_letters_with_their_bytes_and_reason():
    no_product = orjson.dumps({key: value for key, value in click_value("u1", at(1), "add_to_cart").items() if key != "product_id"})
    no_product_spaced = b'{"user_id": "u1",   "price": 10.00}'  # kept as they are, spaces and all
    not_json = b"\xff{oops"
    order = orjson.dumps(click_value("u2", at(2), "view"))
    replay = OfflineReplay(cart_book(), partitions=PARTITIONS)
    messages = [
        Message("clicks", b"u1", not_json, 10),
        Message("clicks", b"u1", no_product, 11),
        Message("clicks", b"u1", no_product_spaced, 12),
        Message("orders", b"u2", order, 13),
        Message("clicks", b"u1", orjson.dumps(click_value("u1", at(3), "add_to_cart")), 14),
    ]
    outputs = [output for message in messages for output in replay.feed(message)] + replay.finish()
    dead = [output for output in outputs if isinstance(output, DeadLetter)]
    assert [(d.source_topic, d.partition, d.offset, d.key, d.value, d.reason) for d in dead] == [
        ("clicks", 0, 10, b"u1", not_json, "bad_json"),
        ("clicks", 0, 11, b"u1", no_product, "missing_field"),
        ("clicks", 0, 12, b"u1", no_product_spaced, "missing_field"),
        ("orders", 2, 13, b"u2", order, "unknown_type"),
    ]
    assert "product_id" in dead[1].detail and "orders" in dead[3].detail
    # The good message among them still counts.
    assert [(t.user_id, t.ts_ms) for t in outputs if isinstance(t, Trigger)] == [("u1", at(33))]
    assert replay.events == 1


# --- replay_offline over files ---------------------------------------------------------------


@functools.cache
def _registry() -> Registry:
    # As tests/unit/test_contracts.py: every schema under its $id, so a suppression's $ref to
    # the trigger schema resolves offline.
    schemas = [load_schema(name) for name in [*SCHEMA_FOR_TOPIC.values(), *OUTPUT_SCHEMAS.values()]]
    return Registry().with_resources((schema["$id"], Resource.from_contents(schema)) for schema in schemas)


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name), format_checker=FormatChecker(), registry=_registry())


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recording") / "shop.jsonl.gz"
    written = write_recording(
        path, users=50, count=3000, seed=7, start_ms=T0_MS, mean_gap_ms=10_000, partitions=PARTITIONS, bad_fraction=0
    )
    assert written == 3000
    return path


def replay_file(path: Path, out: Path) -> ReplayReport:
    return replay_offline(path, out, book=default_rulebook(), partitions=PARTITIONS, profile_config=ProfileConfig())


def test_a_replay_leaves_no_cycles_behind_since_it_runs_without_the_cycle_collector(tmp_path: Path):
    """replay_offline turns the collector off; reference counting alone must free what it drops.
    River's models hold a few reference cycles each (closures in their optimisers): a partition's
    learners live as long as the replay and are freed with it, so the cycles left are the same
    handful whatever the replay's length; any made per event would grow with it."""
    unreachable: list[int] = []
    for count in (3_000, 6_000):
        path = tmp_path / f"shop-{count}.jsonl"
        write_recording(path, users=200, count=count, seed=5, start_ms=T0_MS, mean_gap_ms=30_000, partitions=PARTITIONS, bad_fraction=0.05)
        with path.open("a") as lines:
            lines.write("{oops\n[]\n")  # bad lines, reported and skipped
        gc.collect()
        gc.disable()
        try:
            report = replay_file(path, tmp_path / "out.jsonl")
            assert not gc.isenabled()  # left as it found it
            unreachable.append(gc.collect())
        finally:
            gc.enable()
        assert report.outputs["dead-letters"] > 0 and report.outputs["triggers"] > 0 and len(report.bad_lines) == 2
    assert unreachable[0] == unreachable[1], unreachable
    no_models = dataclasses.replace(default_rulebook(), models=Models(enabled=False))
    gc.collect()
    gc.disable()
    try:
        replay_offline(path, tmp_path / "out.jsonl", book=no_models, partitions=PARTITIONS, profile_config=ProfileConfig())
        assert gc.collect() == 0  # without models, none at all
    finally:
        gc.enable()


def test_replaying_a_recording_twice_gives_the_same_bytes(recording: Path, tmp_path: Path):
    first = replay_file(recording, tmp_path / "first.jsonl")
    second = replay_file(recording, tmp_path / "second.jsonl")
    assert (tmp_path / "first.jsonl").read_bytes() == (tmp_path / "second.jsonl").read_bytes()
    assert first.outputs == second.outputs
    assert (first.lines, first.messages, first.bad_lines) == (3000, 3000, [])
    assert first.outputs.get("triggers", 0) > 0


def test_every_output_line_is_keyed_by_its_user_and_meets_its_schema(recording: Path, tmp_path: Path):
    out = tmp_path / "out.jsonl"
    report = replay_file(recording, out)
    lines = [orjson.loads(line) for line in out.read_text().splitlines()]
    counted: dict[str, int] = defaultdict(int)
    for line in lines:
        assert set(line) == {"topic", "key", "value"}
        topic, value = line["topic"], line["value"]
        counted[topic] += 1
        assert topic in OUTPUT_SCHEMAS
        errors = [error.message for error in _validator(OUTPUT_SCHEMAS[topic]).iter_errors(value)]
        assert errors == [], (topic, value)
        if topic != "dead-letters":
            assert line["key"] == (value["trigger"] if topic == "suppressions" else value)["user_id"]
    assert dict(counted) == report.outputs
    # Each kind the schemas describe was checked at least once.
    assert {"triggers", "suppressions", "conversions"} <= set(counted)


def test_bad_lines_are_reported_and_everything_else_still_replays(recording: Path, tmp_path: Path):
    clean = replay_file(recording, tmp_path / "clean.jsonl")
    with open_recording(recording, "r") as source:
        good = source.read().splitlines()
    bad = {2: "{oops", 101: '{"key": "u0001", "value": {}}', 2500: "[]"}
    mixed = list(good)
    for line_no in sorted(bad):  # ascending, so each lands on its own line number
        mixed.insert(line_no - 1, bad[line_no])
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(mixed) + "\n")

    report = replay_file(path, tmp_path / "mixed-out.jsonl")
    assert [bad_line.line_no for bad_line in report.bad_lines] == sorted(bad)
    assert (report.lines, report.messages) == (3003, 3000)
    assert report.outputs == clean.outputs
    assert (tmp_path / "mixed-out.jsonl").read_bytes() == (tmp_path / "clean.jsonl").read_bytes()



def test_a_dead_letter_line_carries_the_recorded_bytes(tmp_path: Path):
    raw = b"\xff{oops"
    path = tmp_path / "rec.jsonl"
    path.write_text(
        recording_line(topic="clicks", key=b"u1", raw=orjson.dumps(click_value("u1", at(0), "add_to_cart")), partition=0, offset=4)
        + "\n"
        + recording_line(topic="clicks", key=b"u1", raw=raw, partition=0, offset=5)
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    report = replay_offline(path, out, book=cart_book(), partitions=PARTITIONS, profile_config=ProfileConfig())
    lines = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert [line["topic"] for line in lines] == ["dead-letters", "triggers"]
    dead = lines[0]["value"]
    assert lines[0]["key"] == "u1"
    assert (dead["source_topic"], dead["partition"], dead["offset"], dead["reason"]) == ("clicks", 0, 5, "bad_json")
    assert base64.b64decode(dead["value_base64"]) == raw
    assert list(_validator("dead_letter").iter_errors(dead)) == []
    assert report.outputs == {"dead-letters": 1, "triggers": 1}


# --- progress ----------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_a_bar_redrawn_in_place():
    stream = _Terminal()
    show = progress_printer(stream)
    show(50, 100, 5.0)
    assert stream.getvalue().startswith("\r[" + "#" * 15 + " " * 15 + "] 50/100 sent  10/s  ETA 5 s")
    assert not stream.getvalue().endswith("\n")
    show(100, 100, 10.0)
    assert stream.getvalue().endswith("\n") and "[" + "#" * 30 + "] 100/100" in stream.getvalue()


def test_progress_elsewhere_is_a_log_line_every_few_seconds_and_at_the_end():
    stream = io.StringIO()
    show = progress_printer(stream)
    show(10, 100, 1.0)
    assert stream.getvalue() == ""
    show(50, 100, 5.0)
    assert stream.getvalue() == "replay: 50/100 sent (50%), 10/s, ETA 5 s\n"
    show(60, 100, 6.0)
    show(100, 100, 7.0)
    assert stream.getvalue().splitlines() == ["replay: 50/100 sent (50%), 10/s, ETA 5 s", "replay: 100/100 sent (100%), 14/s, ETA 0 s"]


def test_a_topic_seen_for_the_first_time_is_still_merged_by_event_time():
    # The purchase is the partition's first on its topic, recorded after a later click: a worker
    # holding both topics applies it first, and so must the replay.
    lines = [clicked("u1", 0, "add_to_cart"), clicked("u1", 40, "view"), bought("u1", 5, "p1")]
    _, outputs = replay_all(cart_book(), messages_of(lines))
    assert [output for output in outputs if isinstance(output, Trigger)] == []


def test_the_end_of_input_flush_reaches_a_promotion_scheduled_for_the_best_hour():
    from streams.rules.spec import NO_GUARDRAILS, RuleKind, RuleSpec, SegmentFilter, SendAt, TimedPromotionParams

    promotion = RuleSpec(
        "sale",
        RuleKind.TIMED_PROMOTION,
        "email",
        TimedPromotionParams(start_ms=at(60), end_ms=T0_MS + 7 * 86_400_000, send_at=SendAt.BEST_HOUR, segment=SegmentFilter()),
    )
    # Active around 09:00 UTC before the campaign, then a visit at 10:30 inside it: the best hour,
    # 09:00, comes round tomorrow, past the last event plus any rule's delay.
    lines = [clicked("u1", minutes, "view", "p9") for minutes in (0, 10, 20)] + [clicked("u1", 90, "view", "p9")]
    _, outputs = replay_all(RuleBook((promotion,), NO_GUARDRAILS), messages_of(lines))
    [trigger] = [output for output in outputs if isinstance(output, Trigger)]
    assert trigger.ts_ms == T0_MS + 86_400_000


def test_progress_of_an_unknown_total_is_a_count_and_a_rate_and_a_following_summary_needs_no_last_line():
    stream = io.StringIO()
    show = progress_printer(stream, label="record", verb="recorded", closing=False)
    show(100, 0, 1.0)
    show(5_000, 0, 5.0)
    assert stream.getvalue() == "record: 5,000 recorded, 1,000/s\n"
    known = io.StringIO()
    replayed = progress_printer(known, verb="replayed", closing=False)
    replayed(100, 100, 1.0)  # done before the first log line: the command's own summary says it
    assert known.getvalue() == ""


def test_the_offline_replay_and_generate_out_report_progress_as_they_go(tmp_path: Path):
    heard: list[tuple[int, int]] = []
    recording = tmp_path / "shop.jsonl"
    write_recording(recording, users=50, count=10_000, seed=1, start_ms=1_795_597_200_000, mean_gap_ms=1_000, partitions=2, progress=lambda done, total, _: heard.append((done, total)))
    assert heard == [(4_096, 10_000), (8_192, 10_000)]
    heard.clear()
    replay_offline(recording, tmp_path / "out.jsonl", book=default_rulebook(), partitions=2, profile_config=ProfileConfig(), progress=lambda done, total, _: heard.append((done, total)))
    assert heard == [(4_096, 10_000), (8_192, 10_000)]
