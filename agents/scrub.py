"""``nudge scrub``: a recording without the users who asked to be forgotten.

A recording made with ``nudge record`` holds every message it saw, erased users' included, and
Nudge never rewrites it behind its owner's back. ``nudge scrub`` writes a copy without them:
every message of a user up to and including their latest erasure request in the recording
(what came after it is a user who came back, and stays), and every message of the users named
with ``--users`` (erasures asked for outside the recording). Every other line is copied byte for
byte, so the scrubbed recording replays exactly as the original does for everyone else.

A user is the message key, as on every Nudge topic; a line whose key is not UTF-8 text names no
user and is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from agents.errors import SettingsError
from agents.recording import open_recording

ERASURES = "erasures"


@dataclass(slots=True)
class ScrubReport:
    kept: int = 0
    removed: int = 0
    users: int = 0  # users whose messages were removed


def scrub(source: Path, out: Path, *, users: frozenset[str] = frozenset()) -> ScrubReport:
    """Copy ``source`` to ``out`` without erased users' messages (see the module's docstring)."""
    try:
        last_erasure = _last_erasures(source)
        report = ScrubReport()
        removed_users: set[str] = set()
        with open_recording(source, "r") as lines, open_recording(out, "w") as sink:
            for number, line in enumerate(lines):
                _, user = _parse(line)
                if user is not None and (user in users or number <= last_erasure.get(user, -1)):
                    report.removed += 1
                    removed_users.add(user)
                    continue
                sink.write(line)
                report.kept += 1
        report.users = len(removed_users)
        return report
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
