"""The README is what a new user reads: its lists of dead-letter reasons, limits, metrics and
settings must be the code's, so a new bound or reason cannot land without being documented."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from agents.metrics import Metrics
from agents.pipeline import MAX_HELD_EVENTS
from agents.settings import ENV_PREFIX, Settings
from schemas.decoding import RejectReason
from schemas.limits import (
    DEAD_LETTER_PREFIX_BYTES,
    MAX_DETAIL_LENGTH,
    MAX_JSON_DEPTH,
    MAX_KEY_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_ORDER_ITEMS,
    MAX_OUTPUT_BYTES,
    MAX_POPULATION_RECORD_BYTES,
    MAX_TEXT_LENGTH,
    MAX_USER_RECORD_BYTES,
)
from streams.cart import MAX_CART_LINES
from streams.keywords import MAX_KEYWORD_LENGTH, MAX_KEYWORDS, MAX_KEYWORDS_PER_QUERY, MAX_MAP_BYTES
from streams.population import MAX_PRICED_CATEGORIES, MAX_PRICED_NAME_BYTES
from streams.profile import MAX_CONSENT_CHANNELS
from streams.rules.abandoned_interest import MAX_FIRED_CATEGORIES, MAX_INTEREST_EPISODES
from streams.state import MAX_EXPOSURE_PRODUCTS, MAX_EXPOSURES, MAX_PRODUCTS_PER_EPISODE, MAX_SENT_TIMES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


@pytest.mark.parametrize("reason", [reason.value for reason in RejectReason])
def test_every_dead_letter_reason_is_explained(reason: str) -> None:
    assert re.search(rf"^\s+- `{reason}`", section("Topics and schemas"), re.MULTILINE), reason


def _number(value: int) -> str:
    return f"{value:,}"


@pytest.mark.parametrize(
    "value",
    [
        MAX_MESSAGE_BYTES,
        MAX_KEY_BYTES,
        MAX_JSON_DEPTH,
        MAX_TEXT_LENGTH,
        MAX_ORDER_ITEMS,
        MAX_OUTPUT_BYTES,
        MAX_USER_RECORD_BYTES,
        MAX_POPULATION_RECORD_BYTES,
        DEAD_LETTER_PREFIX_BYTES,
        MAX_CART_LINES,
        MAX_INTEREST_EPISODES,
        MAX_PRODUCTS_PER_EPISODE,
        MAX_FIRED_CATEGORIES,
        MAX_CONSENT_CHANNELS,
        MAX_SENT_TIMES,
        MAX_EXPOSURES,
        MAX_EXPOSURE_PRODUCTS,
        MAX_KEYWORDS_PER_QUERY,
        MAX_KEYWORD_LENGTH,
        MAX_PRICED_CATEGORIES,
        MAX_KEYWORDS,
        MAX_HELD_EVENTS,
    ],
)
def test_every_bound_is_in_the_limits_section(value: int) -> None:
    assert re.search(rf"(?<![\d,]){re.escape(_number(value))}(?![\d,])", section("Limits")), value


def test_the_byte_budgets_are_in_the_limits_section() -> None:
    limits = section("Limits")
    assert f"{MAX_PRICED_NAME_BYTES // 1024} KiB of names" in limits
    assert f"{MAX_MAP_BYTES // 1024} KiB" in limits
    assert f"at most {MAX_DETAIL_LENGTH} characters" in section("Topics and schemas")


def test_every_metric_is_in_the_metrics_table() -> None:
    table = section("Metrics")
    for collector in Metrics().registry.collect():
        if collector.name.startswith(("process_", "python_")):
            continue  # prometheus-client's own collectors, named as a group below the table
        name = collector.name + {"counter": "_total", "info": "_info"}.get(collector.type, "")
        assert f"`{name}`" in table, name
    assert "`process_cpu_seconds_total`" in table and "`python_info`" in table


def test_every_setting_is_in_the_settings_table() -> None:
    table = section("Commands")
    for field in dataclasses.fields(Settings):
        assert f"`{ENV_PREFIX}{field.name.upper()}`" in table, field.name
