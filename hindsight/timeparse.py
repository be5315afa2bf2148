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
_CALENDAR = re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d \d{4}( UTC)?$")


def parse_time(value: str | int | float | None, *, default_now: bool = True) -> int:
    """Return unix seconds for TIME; None means now."""
    if value is None:
        if default_now:
            return int(time.time())
        raise BadTime("a TIME is required")
    if isinstance(value, int | float):
        return int(value)
    text = value.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return int(float(text))
    relative = _RELATIVE.match(text)
    if relative:
        return int(time.time()) + _offset(relative)
    if _CALENDAR.match(text):
        stamp = datetime.strptime(text.removesuffix(" UTC"), "%a %b %d %H:%M:%S %Y")
        return int(stamp.replace(tzinfo=UTC).timestamp())
    try:
        stamp = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise BadTime(
            f"cannot read TIME {value!r}: use ISO 8601 like 2026-11-01T14:03:00Z "
            "(an offset such as +02:00 is allowed), unix seconds like 1793541780, or a time "
            "relative to now like now-2h or 90m ago (units s, m, h, d, w)"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp())


def _offset(match: re.Match[str]) -> int:
    """Seconds from now of a relative TIME (negative: in the past)."""
    if match["ago"]:
        return -int(match["ago"]) * _UNITS[match["ago_unit"].lower()]
    if match["n"] is None:
        return 0
    seconds = int(match["n"]) * _UNITS[match["unit"].lower()]
    return -seconds if match["sign"] == "-" else seconds


def format_time(unix: int | None) -> str:
    """ISO 8601 UTC text for unix seconds (empty for None)."""
    if unix is None:
        return ""
    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
