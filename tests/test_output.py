"""Rows out: every column named in every format, values shown literally in the table."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from hindsight import output
from hindsight.api import Result
from hindsight.columns import unique_names
from hindsight.literal import visible
from hindsight.output import render
from hindsight.server.answer import answer_bytes

NAMES = st.lists(st.sampled_from(["pid", "pid_2", "pid_3", "host", "host_2", "x"]), max_size=12)


@given(NAMES)
def test_repeated_names_become_unique_and_the_others_stay(columns: list[str]) -> None:
    names = unique_names(columns)
    assert len(names) == len(columns) and len(set(names)) == len(names)
    for i, (given_name, name) in enumerate(zip(columns, names, strict=True)):
        if given_name not in columns[:i]:
            assert name == given_name  # a name's first column keeps it
        else:
            match = re.fullmatch(rf"{re.escape(given_name)}_(\d+)", name)
            assert match and int(match[1]) >= 2 and name not in columns


def test_suffixes_skip_names_already_taken() -> None:
    assert unique_names(["pid", "path", "pid", "pid_2", "pid", "path"]) == [
        "pid",
        "path",
        "pid_3",
        "pid_2",
        "pid_4",
        "path_2",
    ]


def _render(columns: list[str], rows: list[tuple[object, ...]], fmt: str) -> str:
    buffer = io.StringIO()
    render(columns, rows, fmt, Console(file=buffer, width=200))
    return buffer.getvalue()


def test_every_format_and_dicts_name_every_column() -> None:
    columns = ["pid", "cmdline", "pid", "cmdline"]
    rows: list[tuple[object, ...]] = [(4242, "curl x | sh", 100, "sshd: alice")]
    expected = {"pid": 4242, "cmdline": "curl x | sh", "pid_2": 100, "cmdline_2": "sshd: alice"}
    assert orjson.loads(_render(columns, rows, "json")) == [expected]
    assert Result(columns, rows).dicts() == [expected]
    assert Result(columns, rows).columns == list(expected)  # as the HTTP API and console give it
    [header, *_] = csv.reader(io.StringIO(_render(columns, rows, "csv")))
    assert header == ["pid", "cmdline", "pid_2", "cmdline_2"]
    table = _render(columns, rows, "table")
    assert "pid_2" in table and "cmdline_2" in table and "curl x | sh" in table


def test_visible_escapes_controls_and_keeps_the_rest() -> None:
    assert visible("a\x1b[0m\x00\x7f\x9b\n\t\r\u202e\u2066z") == (
        "a\\x1b[0m\\x00\\x7f\\x9b\\n\\t\\r\\u202e\\u2066z"
    )
    plain = "C:\\Windows [bold] :fire: é 日本 \u00a0"
    assert visible(plain) == plain


def test_instants_are_written_in_utc_whatever_their_zone() -> None:
    """DuckDB's client gives TIMESTAMPTZ values in the machine's zone: written as the UTC instant
    they are; naive ones (TIMESTAMP) are UTC already."""
    tokyo = dt.timezone(dt.timedelta(hours=9))
    row = (dt.datetime(2024, 6, 13, 18, 0, tzinfo=tokyo), dt.datetime(2024, 6, 13, 9, 0))
    for fmt in ("csv", "table"):
        out = _render(["tstz", "ts"], [row], fmt)
        assert out.count("2024-06-13T09:00:00Z") == 2, out
    assert orjson.loads(_render(["tstz", "ts"], [row], "json")) == [
        {"tstz": "2024-06-13T09:00:00+00:00", "ts": "2024-06-13T09:00:00+00:00"}
    ]


def test_integers_past_64_bits_are_written_whole() -> None:
    """A sum that outgrew BIGINT (DuckDB's HUGEINT): orjson refuses it; written as the number."""
    wide = 170141183460469231731687303715884105727
    assert json.loads(_render(["h"], [(wide,)], "json")) == [{"h": wide}]  # (orjson reads a float)
    body = json.loads(answer_bytes(Result(["h", "n"], [(wide, 1), (-wide, 2)]), 1 << 20))
    assert body["rows"] == [[wide, 1], [-wide, 2]]


_CELLS = st.one_of(
    st.none(),
    st.integers(-(2**70), 2**70),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
    st.sampled_from(["日本語", "[bold]x[/]", ":fire:", "a\x1b[0mb", "tab\there", "é\u0301"]),
    st.datetimes(timezones=st.just(dt.UTC)),
)


@given(
    columns=st.lists(
        st.sampled_from(["host", "pid", "名前", "a\x1b", "[b]"]), min_size=1, max_size=5
    ),
    data=st.data(),
    terminal=st.booleans(),
    legacy=st.booleans(),
)
def test_a_long_table_is_the_table_rich_draws(
    columns: list[str], data: st.DataObject, terminal: bool, legacy: bool
) -> None:
    """Past output.RICH_ROWS rows a table is written line by line (rich lays a table out at
    ~0.5 ms a row: 50 s for the rows a query may return); it is the table rich draws wherever
    the terminal is wide enough that rich wraps nothing, in color or not, on a legacy console."""
    rows = data.draw(st.lists(st.tuples(*[_CELLS] * len(columns)), min_size=1, max_size=8))

    def drawn(rich_rows: int) -> str:
        buffer = io.StringIO()
        console = Console(file=buffer, width=1000, force_terminal=terminal, legacy_windows=legacy)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(output, "RICH_ROWS", rich_rows)
            render(columns, rows, "table", console)
        return buffer.getvalue()

    assert drawn(0) == drawn(len(rows))


def test_tables_past_the_rich_rows_are_written_line_by_line() -> None:
    rows = [(n, f"host-{n}") for n in range(output.RICH_ROWS + 1)]
    table = _render(["n", "host"], rows, "table")
    lines = table.splitlines()
    assert len(lines) == len(rows) + 4  # top, header, rule, rows, bottom
    assert (
        lines[3] == "│ 0   │ host-0   │"
        and lines[-2] == f"│ {len(rows) - 1} │ host-{len(rows) - 1} │"
    )
