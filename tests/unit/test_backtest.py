"""``nudge backtest``: the comparison (streams/backtest.py) on outputs made by hand, and the command
as a user runs it, on a generated recording with the cart delay changed from 30 to 60 minutes."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from builders import T0_MS
from schemas.outputs import Conversion, ConversionGroup, Suppression, SuppressionReason, Trigger
from streams import backtest
from streams.config import MINUTE_MS
from streams.uplift import RuleOutcomes
from test_cli import REPO, nudge

SHIPPED = REPO / "streams" / "rules" / "default.yaml"


def trigger(trigger_id: str, ts_ms: int, rule: str = "cart") -> Trigger:
    return Trigger(trigger_id=trigger_id, user_id="u1", rule=rule, ts_ms=ts_ms, channel="push", payload={}, reason="")


def suppressed(trigger_id: str, ts_ms: int, reason: SuppressionReason, rule: str = "cart") -> Suppression:
    return Suppression(trigger(trigger_id, ts_ms, rule), reason)


def test_every_kind_of_change_trigger_by_trigger_in_time_order():
    old = backtest.decisions(
        [trigger("same", T0_MS), trigger("later", T0_MS + 1), trigger("gone", T0_MS + 2), trigger("held", T0_MS + 3), suppressed("cap", T0_MS + 4, SuppressionReason.FREQUENCY_CAP)]
    )
    new = backtest.decisions(
        [
            trigger("same", T0_MS),
            trigger("later", T0_MS + 30 * MINUTE_MS),
            suppressed("held", T0_MS + 3, SuppressionReason.HOLDOUT),
            suppressed("cap", T0_MS + 5, SuppressionReason.NO_CONSENT),
            trigger("new", T0_MS + 6),
        ]
    )
    changes = backtest.diff(old, new)
    assert [(change.trigger_id, change.kind) for change in changes] == [
        ("later", "retimed"),
        ("gone", "removed"),
        ("held", "decided"),
        ("cap", "retimed+decided"),
        ("new", "added"),
    ]
    assert changes[0].to_dict() == {
        "trigger_id": "later",
        "change": "retimed",
        "rule": "cart",
        "user_id": "u1",
        "old": {"ts": "2026-11-25T09:00:00.001Z", "outcome": "sent"},
        "new": {"ts": "2026-11-25T09:30:00.000Z", "outcome": "sent"},
    }
    assert changes[3].to_dict()["new"]["outcome"] == "no_consent"
    assert backtest.counts_by_kind(changes) == {"added": 1, "decided": 1, "removed": 1, "retimed": 1, "retimed+decided": 1}


def test_a_rule_s_summary():
    conversion = Conversion("c1", "u1", "cart", "t1", ConversionGroup.TREATED, "o1", 10.0, T0_MS + 9, T0_MS, None, False)
    held = Conversion("c2", "u2", "cart", "t9", ConversionGroup.HOLDOUT, "o2", 10.0, T0_MS + 9, T0_MS, None, False)
    outputs = [trigger("t1", T0_MS), trigger("t2", T0_MS), suppressed("t3", T0_MS, SuppressionReason.HOLDOUT), conversion, held]
    [(rule, summary)] = backtest.summarize(outputs, {"cart": RuleOutcomes(2, 1, 1, 1), "cart/a": RuleOutcomes(1, 1, 0, 0)}).items()
    assert (rule, summary.triggers, summary.suppressions, summary.conversions, summary.conversion_rate) == ("cart", 2, {"holdout": 1}, 1, 0.5)
    assert summary.uplift is not None and summary.uplift.uplift == pytest.approx(-0.5)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("backtest")
    result = nudge(
        "generate", "--out", str(folder / "shop.jsonl"), "--count", "6000", "--users", "200", "--seed", "4",
        "--start", "2026-11-25T09:00:00Z", "--rate", "1", "--time-scale", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shipped = SHIPPED.read_text()
    assert shipped.count("      delay: 30m\n") == 1
    (folder / "slower.yaml").write_text(shipped.replace("      delay: 30m\n", "      delay: 60m\n"))
    return folder


def test_a_slower_cart_reminder_is_retimed_by_thirty_minutes_removed_or_kept(files: Path):
    diff, page = files / "diff.jsonl", files / "report.html"
    result = nudge("backtest", str(files / "shop.jsonl"), "--against", str(files / "slower.yaml"), "--diff", str(diff), "--html", str(page), timeout_s=120)
    assert result.returncode == 0, result.stderr
    [cart] = [line for line in result.stdout.splitlines() if line.startswith("abandoned_cart ")]
    old, new = map(int, re.match(r"abandoned_cart\s+(\d+) -> (\d+)", cart).groups())  # type: ignore[union-attr]
    assert 0 < new < old  # shoppers who come back between 30 and 60 minutes no longer get one
    changes = [orjson.loads(line) for line in diff.read_text().splitlines()]
    carts = [change for change in changes if change["rule"] == "abandoned_cart"]
    retimed = [change for change in carts if change["change"] == "retimed"]
    assert retimed and all(_ms(change["new"]["ts"]) - _ms(change["old"]["ts"]) == 30 * MINUTE_MS for change in retimed if change["old"]["outcome"] == "sent")
    assert sum(change["change"] == "removed" for change in carts) >= old - new
    text = page.read_text()
    assert text.count("<svg") == 3 and "<script" not in text and "src=" not in text and "href=" not in text  # self-contained
    assert "abandoned_cart" in text and "retimed" in text
    assert f"changes in {diff}" in result.stderr


def test_it_shows_progress_through_the_recording(files: Path):
    from agents.backtest import run_backtest
    from streams.config import ProfileConfig
    from streams.rules.loading import default_rulebook

    seen: list[tuple[int, int]] = []
    report = run_backtest(
        files / "shop.jsonl",
        old=default_rulebook(),
        new=default_rulebook(),
        partitions=4,
        profile_config=ProfileConfig(),
        max_future_skew_ms=3_600_000,
        progress=lambda done, total, elapsed_s: seen.append((done, total)),
    )
    assert report.messages == 6000 and report.changes == []
    assert seen[0] == (4096, 6000) and seen[-1] == (6000, 6000)


def test_the_same_rules_change_nothing(files: Path):
    diff = files / "same.jsonl"
    result = nudge("backtest", str(files / "shop.jsonl"), "--against", str(SHIPPED), "--diff", str(diff), "--html", str(files / "same.html"), timeout_s=120)
    assert result.returncode == 0, result.stderr
    assert "changed triggers: none" in result.stdout and diff.read_text() == ""


@pytest.mark.parametrize(
    ("args", "mentions"),
    [(("missing.jsonl", "--against", str(SHIPPED)), "no recording at missing.jsonl"), (("{shop}", "--against", "nowhere.yaml"), "nowhere.yaml")],
)
def test_a_missing_file_is_one_line_and_exit_2(files: Path, args: tuple, mentions: str):
    result = nudge("backtest", *(arg.format(shop=files / "shop.jsonl") for arg in args), "--html", str(files / "x.html"), "--diff", str(files / "x.jsonl"))
    [line] = result.stderr.splitlines()
    assert result.returncode == 2 and line.startswith("nudge backtest: ") and mentions in line and "Traceback" not in result.stderr


def _ms(text: str) -> int:
    from schemas.timestamps import parse_rfc3339

    return parse_rfc3339(text)[0]
