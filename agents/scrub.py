"""Recordings without the users who asked to be forgotten: ``nudge scrub``, ``record --scrub``
and ``replay --scrub``.

A recording made with ``nudge record`` holds every message it saw, erased users' included, and
Nudge never rewrites it behind its owner's back. Scrubbing drops every message of a user up to
and including their latest erasure request in the recording (what came after it is a user who
came back, and stays), and every message of the users named with ``--users`` (erasures asked for
outside the recording). Every other line is copied byte for byte, so the scrubbed recording
replays exactly as the original does for everyone else.

A user is the message key, as on every Nudge topic; a line whose key is not UTF-8 text names no
user and is kept. Finding a user's latest request needs the whole file first, so scrubbing reads
a recording twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import orjson

from agents.errors import SettingsError
from agents.recording import open_recording

ERASURES = "erasures"


@dataclass(slots=True)
class ScrubReport:
    kept: int = 0
    removed: int = 0
    removed_users: set[str] = field(default_factory=set)  # users whose messages were removed


class Scrubber:
    """Which lines of one recording go: built from a first read of it, applied to a second."""

    def __init__(self, source: Path, *, users: frozenset[str] = frozenset()) -> None:
        self.users = users
        self.erased_through = _last_erasures(source)
        self.report = ScrubReport()

    def lines(self, lines: Iterable[str]) -> Iterator[str]:
        """The recording's lines, each removed one as an empty line: a reader skips it, and the
        line numbers it reports for bad lines stay those of the file."""
        report = self.report
        for number, line in enumerate(lines):
            _, user = _parse(line)
            if user is not None and (user in self.users or number <= self.erased_through.get(user, -1)):
                report.removed += 1
                report.removed_users.add(user)
                yield "\n"
                continue
            report.kept += 1
            yield line


def scrub(source: Path, out: Path, *, users: frozenset[str] = frozenset()) -> ScrubReport:
    """Copy ``source`` to ``out`` without erased users' messages (see the module's docstring)."""
    try:
        scrubber = Scrubber(source, users=users)
        with open_recording(source, "r") as lines, open_recording(out, "w") as sink:
            for line in scrubber.lines(lines):
                if line != "\n":
                    sink.write(line)
        return scrubber.report
    except OSError as exc:
        raise SettingsError(f"cannot scrub {source} into {out}: {exc.strerror or exc}") from None


def _last_erasures(source: Path) -> dict[str, int]:
    """Per user, the line number of their latest erasure request."""
    last: dict[str, int] = {}
    with open_recording(source, "r") as lines:
        for number, line in enumerate(lines):
            topic, user = _parse(line)
            if topic == ERASURES and user is not None:
                last[user] = number
    return last


def _parse(line: str) -> tuple[str | None, str | None]:
    """A line's topic and user (its key as text); None for what it does not have."""
    try:
        fields = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(fields, dict):
        return None, None
    topic, key = fields.get("topic"), fields.get("key")
    return (topic if isinstance(topic, str) else None), (key if isinstance(key, str) else None)
