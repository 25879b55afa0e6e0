"""RFC 3339 event times <-> epoch milliseconds.

The wire carries RFC 3339 strings with an offset (a shop's local time); the core works in integer
epoch milliseconds, and keeps the offset so rules can reason about the user's local clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_DAY = _EPOCH.toordinal()


class BadTimestamp(ValueError):
    """The text is not an RFC 3339 timestamp with an offset."""


def parse_rfc3339(text: str) -> tuple[int, int]:
    """Return ``(epoch_ms, utc_offset_min)`` of an RFC 3339 timestamp.

    >>> parse_rfc3339("2026-11-25T10:00:00.250+01:00")
    (1795597200250, 60)
    >>> parse_rfc3339("2026-11-25T09:00:00Z")
    (1795597200000, 0)
    """
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise BadTimestamp(f"not an RFC 3339 timestamp: {text!r}") from exc
    offset = moment.utcoffset()
    if offset is None:
        raise BadTimestamp(f"timestamp has no UTC offset: {text!r}")
    # From the fields, not ``moment - epoch``: that builds a timedelta and costs half as much again.
    offset_s = offset.days * 86_400 + offset.seconds
    epoch_s = (moment.toordinal() - _EPOCH_DAY) * 86_400 + moment.hour * 3600 + moment.minute * 60 + moment.second - offset_s
    return epoch_s * 1000 + moment.microsecond // 1000, offset_s // 60


def format_rfc3339(epoch_ms: int, utc_offset_min: int = 0) -> str:
    """Render epoch milliseconds as RFC 3339 with millisecond precision.

    >>> format_rfc3339(1795597200250, 60)
    '2026-11-25T10:00:00.250+01:00'
    >>> format_rfc3339(1795597200000)
    '2026-11-25T09:00:00.000Z'
    """
    zone = timezone(timedelta(minutes=utc_offset_min))
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    text = moment.astimezone(zone).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
