"""RFC 3339 event times <-> epoch milliseconds.

The wire carries RFC 3339 strings with an offset (a shop's local time); the core works in integer
epoch milliseconds, and keeps the offset so rules can reason about the user's local clock.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_DAY = _EPOCH.toordinal()
_FORMAT = "%04d-%02d-%02dT%02d:%02d:%02d.%03d"
_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class BadTimestamp(ValueError):
    """The text is not an RFC 3339 timestamp with an offset."""


def parse_rfc3339(text: str) -> tuple[int, int]:
    """Return ``(epoch_ms, utc_offset_min)`` of an RFC 3339 timestamp.

    >>> parse_rfc3339("2026-11-25T10:00:00.250+01:00")
    (1795597200250, 60)
    >>> parse_rfc3339("2026-11-25T09:00:00Z")
    (1795597200000, 0)
    """
    # The layout shops send, 2026-11-25T10:00:00[.250](Z|+01:00), read digit by digit: a tenth
    # of the cost of datetime, and every input message has one. Anything else, and any field
    # out of range, goes to datetime, which accepts or rejects it; tests hold both ways to one
    # answer.
    size = len(text)
    if size >= 20 and text[4] == "-" and text[7] == "-" and text[10] == "T" and text[13] == ":" and text[16] == ":":
        zone = 23 if text[19] == "." else 19
        millisecond = _number(text, 20, 23) if zone == 23 else 0
        offset_min = 0
        if size == zone + 1 and text[zone] == "Z":
            zoned = True
        elif size == zone + 6 and (text[zone] == "+" or text[zone] == "-") and text[zone + 3] == ":":
            offset_hours, offset_minutes = _number(text, zone + 1, zone + 3), _number(text, zone + 4, zone + 6)
            zoned = 0 <= offset_hours < 24 and 0 <= offset_minutes < 60
            offset_min = offset_hours * 60 + offset_minutes
            if text[zone] == "-":
                offset_min = -offset_min
        else:
            zoned = False
        year, month, day = _number(text, 0, 4), _number(text, 5, 7), _number(text, 8, 10)
        hour, minute, second = _number(text, 11, 13), _number(text, 14, 16), _number(text, 17, 19)
        if (
            zoned
            and millisecond >= 0
            and year >= 1
            and 1 <= month <= 12
            and 1 <= day <= _days_in_month(year, month)
            and 0 <= hour < 24
            and 0 <= minute < 60
            and 0 <= second < 60
        ):
            epoch_s = _epoch_days(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60
            return epoch_s * 1000 + millisecond, offset_min
    return parse_rfc3339_slowly(text)


def parse_rfc3339_slowly(text: str) -> tuple[int, int]:
    """``parse_rfc3339`` by datetime alone: the reference, and the way for every other layout."""
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


def _number(text: str, start: int, end: int) -> int:
    """The number the ASCII digits ``text[start:end]`` spell; -1 if any is not one, or is missing."""
    if end > len(text):
        return -1
    value = 0
    for at in range(start, end):
        digit = ord(text[at]) - 48
        if digit < 0 or digit > 9:
            return -1
        value = value * 10 + digit
    return value


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month]


def _epoch_days(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a valid date (H. Hinnant's days_from_civil, for years from 1).

    >>> _epoch_days(1970, 1, 1), _epoch_days(2000, 3, 1), _epoch_days(1, 1, 1) == datetime(1, 1, 1).toordinal() - _EPOCH_DAY
    (0, 11017, True)
    """
    shifted = year - 1 if month <= 2 else year  # years start in March, so a leap day ends one
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * (month + 9 if month <= 2 else month - 3) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def format_rfc3339(epoch_ms: int, utc_offset_min: int = 0) -> str:
    """Render epoch milliseconds as RFC 3339 with millisecond precision.

    >>> format_rfc3339(1795597200250, 60)
    '2026-11-25T10:00:00.250+01:00'
    >>> format_rfc3339(1795597200000)
    '2026-11-25T09:00:00.000Z'
    """
    # time.gmtime and one format: half the cost of datetime arithmetic and isoformat, and every
    # output record carries two or three of these.
    local = time.gmtime(epoch_ms // 1000 + utc_offset_min * 60)
    text = _FORMAT % (local.tm_year, local.tm_mon, local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec, epoch_ms % 1000)
    if utc_offset_min == 0:
        return text + "Z"
    hours, minutes = divmod(abs(utc_offset_min), 60)
    return f"{text}{'+' if utc_offset_min > 0 else '-'}{hours:02d}:{minutes:02d}"
