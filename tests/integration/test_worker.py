"""A real worker process on the embedded broker: triggers, dead letters, ordering and restarts."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from agents.admin import ensure_topics
from agents.records import decode_record
from agents.settings import Settings
from agents.topics import all_topics, changelog_topic, input_topics
from schemas.decoding import Rejection, decode_event
from schemas.outputs import trigger_id_for
from schemas.timestamps import parse_rfc3339
from streams.config import MINUTE_MS, ProfileConfig
from streams.partition import PartitionEngine
from streams.partitioning import partition_for
from streams.profile import Profile
from streams.rules.loading import load_rulebook_file
from tests.integration.harness import Shop, cart_only, WorkerProcess, committed_total, read_topic, triggers, wait_for

T0_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z
DELAY_S = 600


def with_delay(settings: Settings) -> Settings:
    return cart_only(settings, settings.data_dir.parent, delay_s=DELAY_S)


def fillers(settings: Settings) -> list[str]:
    """One user per partition, so a view by each moves every partition's clock."""
    users: dict[int, str] = {}
    n = 0
    while len(users) < settings.partitions:
        name = f"filler-{n}"
        users.setdefault(partition_of(name, settings), name)
        n += 1
    return list(users.values())


def advance_all_partitions(shop: Shop, settings: Settings, ts_ms: int) -> None:
    for user in fillers(settings):
        shop.click(user, ts_ms, "view", product="filler")


def partition_of(user: str, settings: Settings) -> int:
    """Kafka's default partitioner, which the shop's producer uses."""
    return partition_for(user.encode(), settings.partitions)


def expected_profiles(shop: Shop, settings: Settings) -> dict[str, Profile]:
    """What the events say, computed by the core itself: one engine per partition, as in the
    worker (each partition learns its own population), each in event-time order."""
    events = [decode_event(topic, raw, user.encode()) for topic, user, raw in shop.sent]
    engines = [PartitionEngine(store={}, book=load_rulebook_file(settings.rules)) for _ in range(settings.partitions)]
    for event in sorted((e for e in events if not isinstance(e, Rejection)), key=lambda e: e.ts_ms):
        engines[partition_of(event.user_id, settings)].on_event(event)
    return {user: state.profile for engine in engines for user, state in engine.store.items()}


def stored_profiles(settings: Settings) -> dict[str, dict[str, Any]]:
    """The last changelog record of every user: what a restarted worker restores."""
    latest: dict[str, Any] = {}
    for record in read_topic(settings, changelog_topic(settings)):
        latest[record.key.decode()] = record.value
    return {user: decode_record(value).state.profile.to_dict() for user, value in latest.items() if value is not None}


def test_abandoned_cart_triggers_and_dead_letters(settings: Settings, tmp_path: Path) -> None:
    settings = with_delay(settings)
    worker = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
    shop = Shop(settings)
    try:
        shop.click("alice", T0_MS, "add_to_cart", product="p1", price=20.0)
        shop.click("alice", T0_MS + MINUTE_MS, "add_to_cart", product="p2", price=5.5, quantity=2)
        shop.click("bob", T0_MS, "add_to_cart", product="p1", price=20.0)
        shop.purchase("bob", T0_MS + 5 * MINUTE_MS, [("p1", 20.0, 1)])
        shop.send("clicks", "mallory", b"{not json")
        shop.send("clicks", "eve", json.dumps({"event_id": "x", "user_id": "eve", "ts": "2026-11-25T09:00:00Z",
                                              "action": "view", "product_id": "p", "category": "c", "price": -1}).encode())
        advance_all_partitions(shop, settings, T0_MS + 20 * MINUTE_MS)
        shop.flush()
        sent = len(shop.sent)
        wait_for(lambda: worker.events_taken() >= sent, timeout_s=30, what="all events taken")

        found = wait_for(lambda: triggers(settings, quiet_s=1.0), timeout_s=30, what="a trigger")
        assert [t["user_id"] for t in found] == ["alice"], "bob bought, so only alice is reminded"
        [trigger] = found
        assert trigger["rule"] == "abandoned_cart"
        assert trigger["trigger_id"] == trigger_id_for("alice", "abandoned_cart", f"alice-add_to_cart-p2-{T0_MS + MINUTE_MS}")
        assert trigger["ts"] == "2026-11-25T09:11:00.000Z"  # last cart change + 10 min of event time
        assert trigger["payload"]["value"] == 31.0
        assert {item["product_id"]: item["quantity"] for item in trigger["payload"]["items"]} == {"p1": 1, "p2": 2}

        letters = [json.loads(r.value) for r in read_topic(settings, settings.topic("dead-letters"), quiet_s=1.0)]
        by_user = {letter["key"]: letter for letter in letters}
        assert by_user["mallory"]["reason"] == "bad_json"
        assert base64.b64decode(by_user["mallory"]["value_base64"]) == b"{not json"
        assert by_user["mallory"]["source_topic"] == "clicks"
        assert by_user["eve"]["reason"] == "absurd_value"

        status, bob = worker.profile("bob")
        assert status == 200
        assert bob["counts"] == {"add_to_cart": 1, "purchase": 1}
        assert bob["cart"] == [] and bob["rfm"]["total_spend"] == 20.0 and bob["rfm"]["order_count"] == 1
        status, alice = worker.profile("alice")
        assert status == 200 and alice["pending_timers"] == [] and alice["cart_value"] == 31.0
        # Why bob got nothing, and alice her reminder, in their own words and time zones.
        status, why = worker.decisions("bob")
        assert status == 200 and why["decisions"] == [
            {"at": "2026-11-25T09:05:00.000Z", "rule": "abandoned_cart", "outcome": "cancelled", "reason": "bought before the reminder was due"}
        ]
        status, why = worker.decisions("alice")
        [reminder] = why["decisions"]
        assert (reminder["at"], reminder["outcome"]) == ("2026-11-25T09:11:00.000Z", "sent") and reminder["reason"].startswith("on push: 3 item(s) worth 31.00")
        assert worker.decisions("nobody")[0] == 404
        assert worker.profile("nobody")[0] == 404

        metrics = worker.metrics()
        assert metrics["nudge_dead_letters_total{reason=bad_json}"] == 1
        assert metrics["nudge_dead_letters_total{reason=absurd_value}"] == 1
        assert metrics["nudge_triggers_total{channel=push,rule=abandoned_cart,variant=}"] == 1
        assert metrics["nudge_processing_latency_seconds_count{}"] >= sent
    finally:
        shop.close()
        worker.stop()


def test_purchase_read_after_later_clicks_still_cancels(settings: Settings, tmp_path: Path) -> None:
    """Kafka Streams' timestamp synchronization: ``clicks`` read ahead must wait for ``purchases``."""
    settings = with_delay(settings)
    ensure_topics(settings, all_topics(settings))
    shop = Shop(settings)
    try:
        for user in ("buyer", "carol"):
            shop.click(user, T0_MS, "add_to_cart", price=30.0)
            shop.click(user, T0_MS + 40 * MINUTE_MS, "view")
        shop.flush()  # the clicks are in the log before the purchase that happened between them
        shop.purchase("buyer", T0_MS + 5 * MINUTE_MS, [("p1", 30.0, 1)])
        shop.flush()
        worker = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
        try:
            wait_for(lambda: worker.events_taken() >= len(shop.sent), timeout_s=30, what="all events taken")
            found = wait_for(lambda: triggers(settings, quiet_s=1.0), timeout_s=30, what="carol's trigger")
            assert [t["user_id"] for t in found] == ["carol"]
        finally:
            worker.stop()
    finally:
        shop.close()


def test_restart_after_sigkill_loses_no_profile_and_no_timer(settings: Settings, tmp_path: Path) -> None:
    settings = with_delay(settings)
    shop = Shop(settings)
    users = [f"u{n:02d}" for n in range(40)]
    worker = WorkerProcess(settings, log_path=tmp_path / "worker-1.log").start()
    try:
        shop.click("pending", T0_MS, "add_to_cart", product="p7", price=12.5, quantity=3)
        for n, user in enumerate(users):
            ts = T0_MS + n * 1000
            shop.click(user, ts, "add_to_cart", product="p1", price=10.0, quantity=2)
            shop.click(user, ts + 1, "view", product="p2")
            if n % 2:
                shop.purchase(user, ts + 2, [("p1", 10.0, 1)])
            else:
                shop.click(user, ts + 2, "remove_from_cart", product="p1", quantity=2)
        shop.flush()
        first_phase = len(shop.sent)
        wait_for(lambda: worker.events_taken() >= first_phase, timeout_s=30, what="first phase taken")
        # Once the input is committed, nothing is redelivered: the restart must rebuild every
        # profile from the changelog alone, tail included (the embedded broker's ListOffsets
        # defect would cut that tail off).
        inputs = list(input_topics(settings).values())
        wait_for(lambda: committed_total(settings, inputs) >= first_phase, timeout_s=20, what="input committed")
    finally:
        worker.kill()

    for n, user in enumerate(users):  # produced while no worker runs
        shop.click(user, T0_MS + 3 * MINUTE_MS + n, "add_to_cart", product="p3", price=2.25)
    shop.flush()
    worker = WorkerProcess(settings, log_path=tmp_path / "worker-2.log").start()
    try:
        advance_all_partitions(shop, settings, T0_MS + 30 * MINUTE_MS)
        shop.flush()
        pending = wait_for(
            lambda: [t for t in triggers(settings, quiet_s=1.0) if t["user_id"] == "pending"],
            timeout_s=40,
            what="the pending cart's trigger after the restart",
        )
        assert {t["trigger_id"] for t in pending} == {trigger_id_for("pending", "abandoned_cart", f"pending-add_to_cart-p7-{T0_MS}")}
        assert pending[0]["payload"]["value"] == 37.5
        wait_for(lambda: worker.metrics().get("nudge_waiting_events{}") == 0, timeout_s=10, what="nothing held back")
        expected = expected_profiles(shop, settings)
        served = {user: worker.profile(user)[1] for user in expected}
        for user, view in served.items():
            del view["pending_timers"]
            as_of_ms = parse_rfc3339(view["as_of"])[0]
            assert view == expected[user].view(now_ms=as_of_ms, config=ProfileConfig()), f"{user}: served != the events"
    finally:
        worker.stop()
    shop.close()

    stored = stored_profiles(settings)
    wanted = {user: profile.to_dict() for user, profile in expected.items()}
    mismatched = {user: (stored.get(user), want) for user, want in wanted.items() if stored.get(user) != want}
    assert not mismatched, f"{len(mismatched)} profiles differ from the events, e.g. {next(iter(mismatched.items()))}"
    counts = defaultdict(int)
    for profile in stored.values():
        for kind, count in profile["counts"].items():
            counts[kind] += count
    assert counts["add_to_cart"] == 2 * len(users) + 1


def test_a_clean_stop_commits_everything_the_worker_took(settings: Settings, tmp_path: Path) -> None:
    """Offsets are committed at most once a second while running; a SIGTERM commits the rest, so
    a restart after a deploy reads nothing again."""
    ensure_topics(settings, all_topics(settings))
    shop = Shop(settings)
    for n in range(300):
        shop.click(f"user-{n % 40}", T0_MS + n * 1000, "view", product=f"p{n % 7}")
    shop.flush()
    worker = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
    try:
        wait_for(lambda: worker.events_taken() >= 300, timeout_s=30, what="every event taken")
    finally:
        worker.stop()
    assert committed_total(settings, list(input_topics(settings).values())) == 300
