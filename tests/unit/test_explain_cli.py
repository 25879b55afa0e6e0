"""``nudge explain USER --recording FILE``: a user's decisions from a recording, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import nudge

T0_MS = 1_795_597_200_000  # 2026-11-25T09:00:00Z


def line(topic: str, offset: int, value: dict) -> str:
    return json.dumps({"topic": topic, "partition": 0, "offset": offset, "key": value["user_id"], "ts": T0_MS, "value": value})


def test_it_tells_why_one_user_got_nothing_in_their_time_zone(tmp_path: Path):
    path = tmp_path / "rec.jsonl"
    add = {"event_id": "e1", "user_id": "bob", "ts": "2026-11-25T10:00:00+01:00", "action": "add_to_cart", "product_id": "p1", "category": "shoes", "price": 10.0}
    bought = {"event_id": "e2", "user_id": "bob", "ts": "2026-11-25T10:10:00+01:00", "order_id": "o1", "items": [{"product_id": "p1", "category": "shoes", "price": 10.0, "quantity": 1}], "total": 10.0}
    path.write_text(line("clicks", 0, add) + "\n" + line("purchases", 0, bought) + "\n")
    result = nudge("explain", "bob", "--recording", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [  # the shipped rules, through the end-of-input horizon
        "bob: 3 decision(s), newest first, in their time zone",
        "  2026-11-27T10:10:00.000+01:00  cross_sell          dropped     after shoes: no trusted partner category they have not bought",
        "  2026-11-26T10:00:00.000+01:00  winter_sale         sent        on email: eligible for campaign winter_sale while it runs",
        "  2026-11-25T10:10:00.000+01:00  abandoned_cart      cancelled   bought before the reminder was due",
    ]
    missing = nudge("explain", "nobody", "--recording", str(path))
    [error] = missing.stderr.splitlines()
    assert missing.returncode == 2 and error == f"nudge explain: no user 'nobody' in {path} (or they asked to be forgotten)"
