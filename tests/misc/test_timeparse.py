"""TIME arguments: every accepted spelling of an instant, and a clear refusal of the rest."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hindsight.errors import BadTime
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
