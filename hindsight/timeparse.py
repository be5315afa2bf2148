"""TIME arguments: ISO 8601 (with or without offset; UTC when none) or unix seconds."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from hindsight.errors import BadTime

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
    if _CALENDAR.match(text):
        stamp = datetime.strptime(text.removesuffix(" UTC"), "%a %b %d %H:%M:%S %Y")
        return int(stamp.replace(tzinfo=UTC).timestamp())
    try:
        stamp = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise BadTime(
            f"cannot read TIME {value!r}: use ISO 8601 like 2026-11-01T14:03:00Z "
            "(an offset such as +02:00 is allowed) or unix seconds like 1793541780"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp())


def format_time(unix: int | None) -> str:
    """ISO 8601 UTC text for unix seconds (empty for None)."""
    if unix is None:
        return ""
    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
