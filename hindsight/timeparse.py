"""TIME arguments: ISO 8601 (with or without offset; UTC when none), unix seconds, osquery's
calendarTime, or relative to now (`now`, `now-2h`, `90m ago`)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from hindsight.errors import BadTime

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RELATIVE = re.compile(
    r"^(?:now\s*(?:(?P<sign>[-+])\s*(?P<n>\d+)\s*(?P<unit>[smhdw]))?"
    r"|(?P<ago>\d+)\s*(?P<ago_unit>[smhdw])\s+ago)$",
    re.IGNORECASE,
)
_DATE = re.compile(r"^\d{4}-\d\d-\d\d")
#: unix seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z
_FIRST, _LAST = -62135596800, 253402300799
_SMALLER_UNITS = ((1000, "milliseconds"), (10**6, "microseconds"), (10**9, "nanoseconds"))
_CALENDAR = re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d \d{4}( UTC)?$")


def parse_time(value: str | int | float | None, *, default_now: bool = True) -> int:
    """Return unix seconds for TIME; None means now."""
    if value is None:
        if default_now:
            return int(time.time())
        raise BadTime("a TIME is required")
    if isinstance(value, int | float):
        return _seconds(value, value)
    text = value.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return _seconds(float(text), value)
    relative = _RELATIVE.match(text)
    if relative:
        return _seconds(int(time.time()) + _offset(relative), value, plain=False)
    if _CALENDAR.match(text):
        return _calendar(text, value)
    return _iso(text, value)


def _calendar(text: str, value: str) -> int:
    """osquery's calendarTime; an impossible date (Nov 31, second 61) named as such."""
    try:
        stamp = datetime.strptime(text.removesuffix(" UTC"), "%a %b %d %H:%M:%S %Y")
    except ValueError as exc:
        raise BadTime(f"cannot read TIME {value!r} (osquery's calendarTime): {exc}") from None
    return int(stamp.replace(tzinfo=UTC).timestamp())


def _iso(text: str, value: str) -> int:
    try:
        stamp = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as exc:  # a date-shaped TIME is told what is wrong with it
        reason = f" ({exc})" if _DATE.match(text) else ""
        raise BadTime(
            f"cannot read TIME {value!r}{reason}: use ISO 8601 like 2026-11-01T14:03:00Z "
            "(an offset such as +02:00 is allowed), unix seconds like 1793541780, or a time "
            "relative to now like now-2h or 90m ago (units s, m, h, d, w)"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp())


def _seconds(number: int | float, value: str | int | float, plain: bool = True) -> int:
    """NUMBER as unix seconds, refused outside the years 1 to 9999: a PLAIN number (not a
    relative time) in milliseconds, as a SIEM may give it, is told so."""
    if _FIRST <= number <= _LAST:
        return int(number)
    where = (
        "before the year 1"
        if number < _FIRST
        else "after the year 9999" if number > _LAST else "not a number"
    )
    hint = "unix seconds are between -62135596800 and 253402300799"
    for divisor, unit in _SMALLER_UNITS if plain else ():
        if _FIRST <= number / divisor <= _LAST:
            hint = f"looks like {unit}: did you mean {int(number / divisor)}?"
            break
    raise BadTime(f"cannot read TIME {value!r}: {where}; {hint}")


def _offset(match: re.Match[str]) -> int:
    """Seconds from now of a relative TIME (negative: in the past)."""
    if match["ago"]:
        return -int(match["ago"]) * _UNITS[match["ago_unit"].lower()]
    if match["n"] is None:
        return 0
    seconds = int(match["n"]) * _UNITS[match["unit"].lower()]
    return -seconds if match["sign"] == "-" else seconds


ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


def format_time(unix: int | None) -> str:
    """ISO 8601 UTC text for unix seconds (empty for None)."""
    if unix is None:
        return ""
    return datetime.fromtimestamp(unix, tz=UTC).strftime(ISO_UTC)


def in_utc(value: datetime) -> datetime:
    """An instant in UTC: a zoned datetime converted (DuckDB's client gives a TIMESTAMPTZ in the
    machine's zone), a naive one (a TIMESTAMP) taken as UTC, Hindsight's convention, never as
    the machine's local time."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_value(value: object) -> object:
    """VALUE, a datetime in it put in UTC (`in_utc`)."""
    return in_utc(value) if isinstance(value, datetime) else value


def format_instant(value: datetime) -> str:
    """ISO 8601 UTC text for a datetime (`in_utc`)."""
    return in_utc(value).strftime(ISO_UTC)
