"""Live profiles through a real worker: events in, HTTP profile and segment counts out, erasure."""

from __future__ import annotations

import re

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from agents.admin import admin_client
from agents.settings import Settings
from agents.topics import changelog_topic
from schemas.timestamps import format_rfc3339
from streams.config import MINUTE_MS
from tests.integration.harness import REPO, Shop, WorkerProcess, read_topic, triggers, wait_for
from tests.wire import consent_value

HOUR_MS = 60 * MINUTE_MS


def search_value(user: str, ts_ms: int, query: str, session_id: str) -> dict:
    return {"event_id": f"{user}-search-{ts_ms}", "user_id": user, "ts": format_rfc3339(ts_ms), "query": query, "session_id": session_id}


def forget(settings: Settings, user: str) -> subprocess.CompletedProcess[str]:
    """The real command a privacy team would run."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **settings.to_environ()}
    return subprocess.run(
        [sys.executable, "-m", "agents.cli", "forget", user], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def test_profile_served_over_http_and_erased_on_request(settings: Settings, tmp_path: Path) -> None:
    # `nudge forget` stamps its request with the wall clock, and erasure is applied in event
    # time like everything else: the shop's events must be recent for the erasure to come
    # before carol's cart reminder is due.
    T0_MS = int(time.time() * 1000) - MINUTE_MS
    worker = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
    shop = Shop(settings)
    try:
        # dave teaches the partition's keyword map: a search for "trail runners", then a view in "shoes".
        shop.send("searches", "dave", search_value("dave", T0_MS, "Trail Runners", "dave-s1"))
        shop.click("dave", T0_MS + 1000, "view", product="shoe-1", price=100.0)
        # carol browses books, then searches without a category, then buys shoes with a coupon.
        shop.click("carol", T0_MS + 2000, "view", product="book-1", price=20.0, category="books")
        shop.send("searches", "carol", search_value("carol", T0_MS + 3000, "trail runners", "carol-s1"))
        shop.click("carol", T0_MS + 4000, "add_to_cart", product="shoe-2", price=60.0)
        shop.send("consents", "carol", consent_value("carol", T0_MS + 5000, "push", granted=False))
        shop.flush()
        wait_for(lambda: worker.events_taken() >= 6, timeout_s=30, what="events taken")

        status, carol = worker.profile("carol")
        assert status == 200
        # Interests: view 1 (books), search 2 + add 3 (shoes, via the learned keywords).
        top = [entry["key"] for entry in carol["interests"]["top_categories"]]
        assert top == ["shoes", "books"]
        assert carol["interests"]["top_products"][0]["key"] == "shoe-2"
        assert carol["session"]["count"] == 2  # the view had no session id, the search started carol-s1
        assert carol["session"]["current_id"] == "carol-s1"
        assert carol["consents"]["push"]["granted"] is False
        assert carol["lifecycle_stage"] == "new"
        assert carol["rhythm"]["best_send_hour"] == (T0_MS + 3000) // HOUR_MS % 24  # most of her events, UTC
        assert "trail" not in str(carol), "the profile keeps categories, not search words"
        assert carol["pending_timers"][0]["rule"] == "abandoned_cart"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)", carol["pending_timers"][0]["due"])  # RFC 3339, her offset

        new = worker.segment_count("new")
        assert new == {"segment": "lifecycle:new", "count": 2, "partitions": [0, 1]}
        assert worker.segment_count("nonsense")["error"] == "no segment 'nonsense'"
        assert worker.metrics()["nudge_segment_users{segment=lifecycle:new}"] == 2

        done = forget(settings, "carol")
        assert done.returncode == 0, done.stderr
        assert "erasure of user 'carol' requested" in done.stdout
        wait_for(lambda: worker.profile("carol")[0] == 404, timeout_s=20, what="carol forgotten")
        assert worker.segment_count("new")["count"] == 1
        assert worker.metrics()["nudge_erasures_total{}"] == 1

        # carol's abandoned cart went with her: moving time past its deadline reminds nobody.
        shop.click("dave", T0_MS + 2 * HOUR_MS, "view", product="shoe-1", price=100.0)
        shop.click("carol", T0_MS + 2 * HOUR_MS, "view", product="book-2", price=15.0, category="books")
        shop.flush()
        wait_for(lambda: worker.profile("carol")[0] == 200, timeout_s=20, what="carol back")
        status, carol = worker.profile("carol")
        assert carol["counts"] == {"view": 1}, "a returning user starts afresh"
        assert carol["consents"] == {}
    finally:
        worker.stop()
        shop.close()
    assert [t for t in triggers(settings, quiet_s=1.0) if t["user_id"] == "carol"] == []
    tombstones = [r for r in read_topic(settings, changelog_topic(settings), quiet_s=1.0) if r.key == b"carol" and r.value is None]
    assert len(tombstones) == 1, "the changelog must hold a tombstone, so compaction forgets carol"


def test_forget_with_no_broker_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NUDGE_BROKER": "kafka://127.0.0.1:9"}
    done = subprocess.run(
        [sys.executable, "-m", "agents.cli", "forget", "carol"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "cannot reach" in done.stderr


def test_any_worker_serves_any_profile_by_forwarding_to_the_owner(settings: Settings, tmp_path: Path) -> None:
    first = WorkerProcess(settings, log_path=tmp_path / "worker-1.log").start()
    second = None
    shop = Shop(settings)
    try:
        second = WorkerProcess(settings, log_path=tmp_path / "worker-2.log").start()
        # After the rebalance each worker owns one of the two partitions.
        wait_for(
            lambda: sorted([first.segment_count("new")["partitions"], second.segment_count("new")["partitions"]]) == [[0], [1]],
            timeout_s=40,
            what="the partitions split between the two workers",
        )
        now_ms = int(time.time() * 1000)
        users = [f"shopper-{n}" for n in range(8)]  # both partitions get some
        for n, user in enumerate(users):
            shop.click(user, now_ms + n, "view", product=f"p{n}")
        shop.flush()
        wait_for(lambda: first.events_taken() + second.events_taken() >= len(users), timeout_s=30, what="events taken")
        for user in users:
            for worker in (first, second):
                status, profile = worker.profile(user)
                assert status == 200, f"{user} via {worker.web_port}: {profile}"
                assert profile["user_id"] == user and profile["counts"] == {"view": 1}
        owned = first.segment_count("new")["count"] + second.segment_count("new")["count"]
        assert owned == len(users), "each user is counted once, by the worker that owns them"
    finally:
        if second is not None:
            second.stop()
        first.stop()
        shop.close()


def test_forget_with_a_mistyped_prefix_refuses_and_creates_no_topic(settings: Settings) -> None:
    """A broker that auto-creates topics would take the request into a topic no worker reads."""
    typo = dataclasses.replace(settings, topic_prefix=settings.topic_prefix + "typo-")
    done = forget(typo, "carol")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"no topic '{typo.topic('erasures')}'" in done.stderr and "nothing was sent" in done.stderr
    with admin_client(settings) as admin:
        assert not any(topic.startswith(typo.topic_prefix) for topic in admin.list_topics())


def _forget(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), **settings.to_environ()}
    return subprocess.run([sys.executable, "-m", "agents.cli", "forget", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=90)


def test_forget_wait_returns_once_the_owner_erased_the_user_and_downstream_gets_the_notice(settings: Settings, tmp_path: Path) -> None:
    t0_ms = int(time.time() * 1000) - MINUTE_MS
    worker = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
    shop = Shop(settings)
    try:
        shop.click("erin", t0_ms, "add_to_cart", product="shoe-2", price=60.0)
        shop.flush()
        wait_for(lambda: worker.profile("erin")[0] == 200, timeout_s=30, what="erin's profile")
        erased = _forget(settings, "erin", "--wait")
        assert erased.returncode == 0 and erased.stdout.startswith("user 'erin' erased at "), erased.stderr
        assert worker.profile("erin")[0] == 404  # confirmed means done: no wait needed
        unknown = _forget(settings, "nobody", "--wait")
        assert unknown.returncode == 0 and "nothing held about them" in unknown.stdout, unknown.stderr
    finally:
        worker.stop()
        shop.close()
    notices = [json.loads(record.value) for record in read_topic(settings, settings.topic("erasures-done"), quiet_s=1.0)]
    assert sorted((notice["user_id"], notice["found"]) for notice in notices) == [("erin", True), ("nobody", False)]
    # With no worker running, --wait says so in one line instead of hanging.
    unconfirmed = _forget(settings, "erin", "--wait", "--timeout", "3")
    assert unconfirmed.returncode == 2 and len(unconfirmed.stderr.splitlines()) == 1, unconfirmed.stderr
    assert "no worker confirmed the erasure within 3 s" in unconfirmed.stderr
