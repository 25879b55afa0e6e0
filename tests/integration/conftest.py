"""One embedded broker for the whole session; each test isolates itself with a topic prefix.

Tansu starts in well under a second, but sharing it keeps a run from spawning dozens of
processes, and a fresh prefix per test gives the same isolation as a fresh broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from agents.broker import EmbeddedBroker
from agents.settings import Settings

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration needs a broker, so ``-m 'not integration'`` skips it."""
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    embedded = EmbeddedBroker()
    embedded.start()
    try:
        yield embedded
    finally:
        embedded.stop()


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid4().hex[:8]}-"


@pytest.fixture
def settings(broker: EmbeddedBroker, topic_prefix: str, tmp_path: Path) -> Settings:
    return Settings(broker=broker.url, topic_prefix=topic_prefix, partitions=2, data_dir=tmp_path / "data")


MEASURED: list[str] = []


@pytest.fixture
def report() -> Callable[[str], None]:
    """Lines a test measured (a takeover's duration, say), printed at the end of the run."""
    return MEASURED.append


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if MEASURED:
        terminalreporter.section("measured by the integration tests")
        for line in MEASURED:
            terminalreporter.write_line(line)
