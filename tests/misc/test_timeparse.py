"""TIME arguments: every accepted spelling of an instant, and a clear refusal of the rest."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hindsight.errors import BadTime, HindsightError
from hindsight.timeparse import format_time, parse_time

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01T14:03:00Z",
        "2026-11-01T15:03:00+01:00",
        "2026-11-01 14:03:00",
        "1793541780",
        "1793541780.9",
        "Sun Nov  1 14:03:00 2026 UTC",
    ],
)
def test_absolute_spellings_of_one_instant(text: str) -> None:
    assert parse_time(text) == 1793541780
    assert format_time(parse_time(text)) == "2026-11-01T14:03:00Z"


@given(n=st.integers(0, 10_000), unit=st.sampled_from(sorted(UNITS)), form=st.integers(0, 3))
def test_relative_times_count_from_now(n: int, unit: str, form: int) -> None:
    text = [f"now-{n}{unit}", f"NOW - {n} {unit.upper()}", f"{n}{unit} ago", f"now+{n}{unit}"][form]
    before = int(time.time())
    got = parse_time(text)
    offset = n * UNITS[unit] * (1 if form == 3 else -1)
    assert before + offset <= got <= int(time.time()) + offset


def test_now_and_none_are_now() -> None:
    before = int(time.time())
    assert before <= parse_time("now") <= int(time.time())
    assert before <= parse_time(None) <= int(time.time())
    with pytest.raises(BadTime, match="a TIME is required"):
        parse_time(None, default_now=False)


@pytest.mark.parametrize("text", ["yesterday", "now-2", "now-2y", "2h", "-2h ago", "now 2h", ""])
def test_other_text_is_refused_with_the_forms_it_could_be(text: str) -> None:
    with pytest.raises(BadTime) as info:
        parse_time(text)
    message = str(info.value)
    assert f"cannot read TIME {text!r}" in message
    assert "ISO 8601" in message and "unix seconds" in message and "now-2h" in message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Sun Nov 31 14:03:00 2026 UTC", "day is out of range for month"),
        ("Sun Nov  1 14:03:61 2026 UTC", "second must be in 0..59"),
        ("Mon Feb 29 10:00:00 2027 UTC", "day is out of range for month"),
        ("2026-11-31T14:03:00Z", "day is out of range for month"),
    ],
)
def test_an_impossible_date_is_refused_with_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(BadTime) as info:  # a HindsightError, not a ValueError
        parse_time(text)
    assert isinstance(info.value, HindsightError)
    assert f"cannot read TIME {text!r}" in str(info.value) and reason in str(info.value)


@given(seconds=st.integers(-62135596800, 253402300799))
def test_every_instant_of_years_1_to_9999_is_read(seconds: int) -> None:
    assert parse_time(str(seconds)) == parse_time(seconds) == seconds


@given(seconds=st.integers(10**9, 4102444800), unit=st.sampled_from([1000, 10**6, 10**9]))
def test_milliseconds_are_refused_with_the_seconds_they_mean(seconds: int, unit: int) -> None:
    """Instants of 2001 to 2100 in a smaller unit (a SIEM's milliseconds)."""
    name = {1000: "milliseconds", 10**6: "microseconds", 10**9: "nanoseconds"}[unit]
    value = seconds * unit + unit // 2
    for given_value in (str(value), value):
        with pytest.raises(BadTime, match=f"after the year 9999; looks like {name}: did you "
                           f"mean {seconds}\\?"):
            parse_time(given_value)


@pytest.mark.parametrize("value", ["9" * 400, "now+99999999999w", "-99999999999999999999", float("nan")])
def test_instants_beyond_any_calendar_are_refused(value: str | float) -> None:
    with pytest.raises(BadTime, match="cannot read TIME"):
        parse_time(value)
