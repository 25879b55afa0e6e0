"""The loop closed through Kafka: a real worker, and a sender stub that reads `triggers` and
answers on `engagements`, as push, email and SMS senders do. Channel fallback, a bounce, an
unsubscribe and A/B variants behave as the core says they do, across real processes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from agents.settings import Settings
from schemas.events import EngagementType
from schemas.timestamps import parse_rfc3339
from streams.config import MINUTE_MS
from streams.responses import engagement_value
from tests.integration.harness import Shop, WorkerProcess, read_topic, wait_for
from tests.integration.test_worker import advance_all_partitions
from tests.wire import consent_value

T0_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z
RULES = """guardrails: {holdout: {fraction: 0}, frequency_cap: off, quiet_hours: off}
models: {enabled: false}
rules:
  - name: cart
    kind: abandoned_cart
    channel: [push, email]
    params: {delay: 10m}
    variants:
      - {name: plain}
      - {name: discount, offer: {discount_percent: 15}}
"""


def published(settings: Settings, topic: str) -> list[dict[str, Any]]:
    return [json.loads(record.value) for record in read_topic(settings, settings.topic(topic), quiet_s=1.0)]


def at_least(count: int, settings: Settings, topic: str) -> list[dict[str, Any]] | None:
    found = published(settings, topic)
    return found if len(found) >= count else None


def test_fallback_bounce_unsubscribe_and_variants_through_a_real_worker(settings: Settings, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    settings = dataclasses.replace(settings, rules=str(rules))
    worker = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
    shop = Shop(settings)
    try:
        # ann opted out of push; dan opted out of email. Everyone leaves a cart.
        shop.send("consents", "ann", consent_value("ann", T0_MS - MINUTE_MS, "push", granted=False))
        shop.send("consents", "dan", consent_value("dan", T0_MS - MINUTE_MS, "email", granted=False))
        for user in ("ann", "bob", "dan"):
            shop.click(user, T0_MS, "add_to_cart", product="p1", price=20.0)
        advance_all_partitions(shop, settings, T0_MS + 11 * MINUTE_MS)
        shop.flush()
        first = {t["user_id"]: t for t in wait_for(lambda: at_least(3, settings, "triggers"), timeout_s=60, what="three reminders")}
        assert {user: t["channel"] for user, t in first.items()} == {"ann": "email", "bob": "push", "dan": "push"}, "ann falls back to email"

        # The sender stub answers: bob's push bounces, dan unsubscribes from push, ann opens her email.
        answers = {"bob": [EngagementType.BOUNCED], "dan": [EngagementType.DELIVERED, EngagementType.UNSUBSCRIBED], "ann": [EngagementType.DELIVERED, EngagementType.OPENED]}
        for user, kinds in answers.items():
            trigger = first[user]
            at_ms = parse_rfc3339(trigger["ts"])[0]
            for step, kind in enumerate(kinds, start=1):
                shop.send("engagements", user, engagement_value(trigger["trigger_id"], user, trigger["channel"], kind, at_ms + step * 1000))
        # Each buys and leaves a new cart an hour later.
        for user in ("ann", "bob", "dan"):
            shop.purchase(user, T0_MS + 60 * MINUTE_MS, [("p1", 20.0, 1)])
            shop.click(user, T0_MS + 61 * MINUTE_MS, "add_to_cart", product="p2", price=30.0)
        advance_all_partitions(shop, settings, T0_MS + 72 * MINUTE_MS)
        shop.flush()

        def second_round() -> dict[str, dict[str, Any]] | None:
            later = [t for t in published(settings, "triggers") if t["trigger_id"] not in {f["trigger_id"] for f in first.values()}]
            stopped = published(settings, "suppressions")
            return {t["user_id"]: t for t in later + stopped} if len(later) + len(stopped) >= 3 else None

        second = wait_for(second_round, timeout_s=60, what="the second round of reminders")
        assert second["bob"]["channel"] == "email", "push bounced for bob: his next reminder goes by email"
        assert second["ann"]["channel"] == "email"
        assert second["dan"]["reason"] == "unsubscribed" and second["dan"]["trigger"]["channel"] == "push", "dan has no channel left"

        # Variants: every output names the user's variant, the same in both rounds, and only the discount variant has the offer.
        for user in ("ann", "bob", "dan"):
            variant = first[user]["variant"]
            assert variant in ("plain", "discount")
            later = second[user].get("trigger", second[user])
            assert later["variant"] == variant and ("offer" in later["payload"]) == (variant == "discount")
        conversions = published(settings, "conversions")
        assert {c["user_id"]: (c["variant"], c["clicked"]) for c in conversions} == {user: (first[user]["variant"], False) for user in ("ann", "bob", "dan")}

        metrics = wait_for(lambda: (m := worker.metrics()) and m.get(f"nudge_engagements_total{{channel=push,rule=cart,type=bounced,variant={first['bob']['variant']}}}") and m, timeout_s=15, what="the bounce counted")
        assert metrics[f"nudge_engagements_total{{channel=email,rule=cart,type=opened,variant={first['ann']['variant']}}}"] == 1
        assert metrics[f"nudge_suppressions_total{{reason=unsubscribed,rule=cart,variant={first['dan']['variant']}}}"] == 1
        status, dan = worker.profile("dan")
        assert status == 200 and dan["engagement"]["channels"]["push"]["blocked"]["reason"] == "unsubscribed"
    finally:
        shop.close()
        worker.stop()
