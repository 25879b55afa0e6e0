"""Rules that load but are almost surely mistakes: warned about by ``nudge rules check`` and by a
starting worker, never refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_cli import nudge

from streams.rules.checks import DEFAULT_CHANNELS, describe, rule_warnings
from streams.rules.loading import default_rulebook, parse_rulebook

ENDED = """rules:
  - name: old_sale
    kind: timed_promotion
    channel: email
    params: {start: 2025-11-01T00:00:00Z, end: 2025-12-01T00:00:00Z}
"""
DEC_2025_MS = 1_764_547_200_000  # 2025-12-01T00:00:00Z, the campaign's (exclusive) end


def test_a_channel_no_sender_reads_is_warned_with_the_closest_known_one() -> None:
    book = parse_rulebook("rules:\n  - {name: cart, kind: abandoned_cart, channel: emial}\n  - {name: talk, kind: win_back, channel: pigeon}\n")
    first, second = rule_warnings(book, channels=DEFAULT_CHANNELS, now_ms=0)
    assert "channel 'emial'" in first and "did you mean 'email'?" in first
    assert "channel 'pigeon'" in second and "did you mean" not in second
    assert rule_warnings(book, channels=("emial", "pigeon"), now_ms=0) == []  # the configured list decides


def test_no_enabled_rule_is_warned() -> None:
    assert rule_warnings(parse_rulebook("rules: []\n"), channels=DEFAULT_CHANNELS, now_ms=0) == [
        "no rule is enabled: the worker would keep profiles but never send a trigger"
    ]
    disabled = parse_rulebook("rules:\n  - {name: cart, kind: abandoned_cart, channel: push, enabled: false}\n")
    assert len(rule_warnings(disabled, channels=DEFAULT_CHANNELS, now_ms=0)) == 1


def test_a_campaign_is_warned_about_from_the_moment_its_window_closes() -> None:
    book = parse_rulebook(ENDED)
    assert rule_warnings(book, channels=DEFAULT_CHANNELS, now_ms=DEC_2025_MS - 1) == []
    [ended] = rule_warnings(book, channels=DEFAULT_CHANNELS, now_ms=DEC_2025_MS)
    assert ended == "rule 'old_sale': the campaign ended at 2025-12-01T00:00:00.000Z: it will never send again"


def test_the_shipped_rules_are_clean_while_their_campaign_runs() -> None:
    assert rule_warnings(default_rulebook(), channels=DEFAULT_CHANNELS, now_ms=DEC_2025_MS + 365 * 86_400_000) == []


def test_nudge_rules_check_exits_1_with_a_line_per_warning_and_0_when_clean(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(ENDED.replace("channel: email", "channel: emial"))
    result = nudge("rules", "check", str(rules))
    assert result.returncode == 1, result.stderr
    summary, described, *warnings = result.stdout.splitlines()
    assert summary == f"{rules}: 1 rules, 1 enabled (old_sale); models on (logistic)"
    assert described == "  old_sale: timed_promotion on emial"
    assert len(warnings) == 2 and all(line.startswith("warning: rule 'old_sale'") for line in warnings)
    assert nudge("rules", "check", str(rules), env={"NUDGE_CHANNELS": "emial"}).stdout.count("warning:") == 1  # only the ended campaign
    assert nudge("rules", "check").returncode == 0


def test_nudge_rules_check_of_a_broken_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: cart\n    kind: abandoned_cart\n    channel: push\n    params: {delay: soon}\n")
    result = nudge("rules", "check", str(rules))
    assert result.returncode == 2 and result.stderr.startswith("nudge rules: invalid rules:") and "line 5" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_second_win_back_rule_is_warned_its_thresholds_go_unused() -> None:
    book = parse_rulebook(
        "rules:\n  - {name: back, kind: win_back, channel: email}\n  - {name: again, kind: win_back, channel: email, params: {multiple: 2}}\n"
    )
    assert rule_warnings(book, channels=DEFAULT_CHANNELS, now_ms=0) == [
        "rule 'again': win_back rule 'back' comes first and sets when users are at risk and churned: this one's multiple, bounds and min_gaps are not used"
    ]


def test_win_back_is_described_by_its_thresholds() -> None:
    [rule] = parse_rulebook("rules:\n  - {name: back, kind: win_back, channel: email, params: {multiple: 2.5, at_most: 45d}}\n").rules
    assert describe(rule) == (
        "back: win_back on email; at risk after 2.5x their usual gap between visits (7-45 days; 30 days before 3 gaps are known),"
        " then churned after 3x that"
    )


@pytest.mark.parametrize(
    ("rule", "line"),
    [
        (
            "{name: next, kind: cross_sell, channel: email, params: {delay: 36h, min_support: 20}}",
            "next: cross_sell on email; 36h after a purchase, the partner category seen 20+ times with a lift of 1.5+ at its cautious bound",
        ),
        (
            "{name: coffee, kind: replenishment, channel: push, params: {categories: [coffee, tea], lead: 2d}}",
            "coffee: replenishment on push; coffee, tea, 2d before the expected restock",
        ),
    ],
)
def test_cross_sell_and_replenishment_are_described_by_when_they_send(rule: str, line: str) -> None:
    [spec] = parse_rulebook(f"rules:\n  - {rule}\n").rules
    assert describe(spec) == line
