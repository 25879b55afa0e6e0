"""The shipped rule book through a real worker gives exactly what the core gives offline.

One scenario exercises every rule and guardrail: interest, carts, a timed promotion sent at the
user's best hour, win-back after 30 silent days, a reminder held through quiet hours, a missing
consent, holdouts and conversions. The worker's triggers, suppressions and conversions must be
the ones per-partition engines compute from the same events, id for id and payload for payload.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agents.admin import ensure_topics
from agents.settings import Settings
from agents.topics import all_topics
from schemas.decoding import Rejection, decode_event
from schemas.timestamps import format_rfc3339
from streams.config import DAY_MS, HOUR_MS, MINUTE_MS
from streams.partition import PartitionEngine
from streams.rules.loading import default_rulebook
from tests.integration.harness import Shop, WorkerProcess, read_topic, wait_for
from tests.integration.test_worker import advance_all_partitions, partition_of
from tests.wire import click_value, consent_value, purchase_value

T0_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z, inside the default winter_sale window
END_MS = T0_MS + 31 * DAY_MS + 3 * HOUR_MS  # past every sweep, hold and timer the scenario arms
OUTPUT_TOPICS = ("triggers", "suppressions", "conversions")


def at(user: str, ts_ms: int, action: str, product: str, *, offset_min: int = 0, category: str = "shoes", price: float = 50.0) -> dict[str, Any]:
    value = click_value(user, ts_ms, action, product, price, category=category)
    value["ts"] = format_rfc3339(ts_ms, offset_min)
    return value


def scenario(shop: Shop) -> None:
    t = T0_MS
    for n in range(3):  # ann: three shoe views in ten minutes, then nothing: abandoned interest
        shop.send("clicks", "ann", at("ann", t + n * 5 * MINUTE_MS, "view", f"shoes-0{n}"))
    shop.send("clicks", "ben", at("ben", t + 1000, "add_to_cart", "shoes-01"))  # a reminder, then a purchase
    shop.send("purchases", "ben", purchase_value("ben", t + 2 * HOUR_MS, [("shoes-01", 50.0, 1)]))
    # dan is at UTC-10: his cart comes due at 23:30 local and waits for 08:00.
    shop.send("clicks", "dan", at("dan", t + 2000, "add_to_cart", "books-07", offset_min=-600, category="books"))
    shop.send("consents", "eve", consent_value("eve", t + 3000, "all", granted=False))  # no channel left for her cart
    shop.send("clicks", "eve", at("eve", t + 4000, "add_to_cart", "toys-03", category="toys"))
    # fay buys, which makes her active and a customer; her next visit makes her eligible for the sale.
    shop.send("purchases", "fay", purchase_value("fay", t + 5000, [("kitchen-02", 30.0, 1)]))
    shop.send("clicks", "fay", at("fay", t + HOUR_MS, "view", "kitchen-04", category="kitchen"))
    for n in range(12):  # more shoppers, so holdouts and the frequency cap have someone to meet
        user = f"guest-{n}"
        shop.send("clicks", user, at(user, t + 6000 + n, "add_to_cart", f"garden-0{n % 10}", category="garden"))
        shop.send("clicks", user, at(user, t + 3 * HOUR_MS + n, "view", f"garden-1{n % 10}", category="garden"))


def expected(shop: Shop, settings: Settings) -> dict[str, set[str]]:
    book = default_rulebook()
    engines = [PartitionEngine(store={}, book=book) for _ in range(settings.partitions)]
    events = [decode_event(topic, raw, user.encode()) for topic, user, raw in shop.sent]
    outputs: dict[str, set[str]] = {topic: set() for topic in OUTPUT_TOPICS}
    names = {"Trigger": "triggers", "Suppression": "suppressions", "Conversion": "conversions"}
    for event in sorted((e for e in events if not isinstance(e, Rejection)), key=lambda e: e.ts_ms):
        for output in engines[partition_of(event.user_id, settings)].on_event(event):
            outputs[names[type(output).__name__]].add(canonical(output.to_wire(emitted_at_ms=0)))
    return outputs


def canonical(wire: dict[str, Any]) -> str:
    """The record without its wall-clock parts, as comparable text."""
    body = {key: value for key, value in wire.items() if key != "emitted_at"}
    if "trigger" in body:
        body["trigger"] = {key: value for key, value in body["trigger"].items() if key != "emitted_at"}
    return json.dumps(body, sort_keys=True)


def published(settings: Settings) -> dict[str, set[str]]:
    return {
        topic: {canonical(json.loads(record.value)) for record in read_topic(settings, settings.topic(topic), quiet_s=1.0)}
        for topic in OUTPUT_TOPICS
    }


def test_the_worker_emits_what_the_core_computes_offline(settings: Settings, tmp_path: Path) -> None:
    # The scenario is written before the worker starts, so the worker merges topics knowing
    # everything there is (a worker racing its producer could see a topic's end a fetch late).
    ensure_topics(settings, all_topics(settings))
    shop = Shop(settings)
    worker = None
    try:
        scenario(shop)
        advance_all_partitions(shop, settings, T0_MS + 6 * HOUR_MS)
        advance_all_partitions(shop, settings, END_MS)
        shop.flush()
        worker = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
        want = expected(shop, settings)
        # Every rule and guardrail must have had its say, or the comparison proves little.
        kinds = {json.loads(record)["rule"] for record in want["triggers"]}
        assert kinds == {"abandoned_cart", "abandoned_cart-follow-up", "abandoned_interest", "winter_sale", "win_back"}, kinds
        reasons = {json.loads(record)["reason"] for record in want["suppressions"]}
        assert {"no_consent", "holdout"} <= reasons, reasons
        assert want["conversions"], "ben's purchase converts his reminder"
        dan = [json.loads(r) for r in want["triggers"] if json.loads(r)["user_id"] == "dan" and json.loads(r)["rule"] == "abandoned_cart"]
        assert [trigger["ts"] for trigger in dan] == ["2026-11-25T18:00:00.000Z"], "held until 08:00 at UTC-10"

        wait_for(lambda: worker.events_taken() >= len(shop.sent), timeout_s=30, what="every event taken")
        try:
            wait_for(lambda: published(settings) == want, timeout_s=30, what="the worker's outputs")
        except AssertionError:
            pass  # the assertion below shows how they differ
        assert published(settings) == want
    finally:
        if worker is not None:
            worker.stop()
        shop.close()
