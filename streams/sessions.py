"""Sessions: a visit's worth of events, delimited by the shop's session id or by a quiet gap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.timestamps import format_rfc3339


@dataclass(slots=True)
class Session:
    count: int = 0  # sessions so far, the current one included
    session_id: str | None = None  # the shop's id, or user@start_ms when the shop sends none
    start_ms: int = 0
    last_ms: int = 0
    events: int = 0  # events in the current session
    last_length_ms: int | None = None  # first to last event of the previous session
    last_events: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "session_id": self.session_id,
            "start_ms": self.start_ms,
            "last_ms": self.last_ms,
            "events": self.events,
            "last_length_ms": self.last_length_ms,
            "last_events": self.last_events,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        return cls(**data)

    def view(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "current_id": self.session_id,
            "started": format_rfc3339(self.start_ms) if self.count else None,
            "events": self.events,
            "last_length_s": None if self.last_length_ms is None else self.last_length_ms / 1000,
            "last_events": self.last_events,
        }


def track_session(session: Session, *, user_id: str, session_id: str | None, ts_ms: int, gap_ms: int) -> bool:
    """Count one event into the session it belongs to; True when it starts a new session.

    With a shop session id, a different id is a new session. Without one (purchases never carry
    it), a gap of ``gap_ms`` or more since the session's latest event is. A late event (older
    than the session's latest) never splits a session: it joins the current one.

    >>> session = Session()
    >>> [track_session(session, user_id="u", session_id=None, ts_ms=t, gap_ms=10) for t in (0, 9, 19)]
    [True, False, True]
    >>> session.count, session.session_id, session.last_length_ms, session.last_events
    (2, 'u@19', 9, 2)
    """
    if session.count:
        if ts_ms < session.last_ms:
            starts = False
        elif session_id is not None:
            starts = session_id != session.session_id
        else:
            starts = ts_ms - session.last_ms >= gap_ms
        if not starts:
            session.events += 1
            if ts_ms > session.last_ms:
                session.last_ms = ts_ms
            return False
        session.last_length_ms = session.last_ms - session.start_ms
        session.last_events = session.events
    session.count += 1
    session.session_id = session_id if session_id is not None else f"{user_id}@{ts_ms}"
    session.start_ms = session.last_ms = ts_ms
    session.events = 1
    return True
