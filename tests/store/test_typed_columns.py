"""A typed column holds exactly what the host reported: a value its type cannot hold makes the
column text (store.fit), never NULL or rounded."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hindsight
from tests.helpers import event, snapshot, write

LAST = "pack_ir_last"  # osquery table `last`: `time` is an INTEGER column


def _types(hs: hindsight.Hindsight, query: str) -> dict[str, str]:
    return dict(
        hs.store.con.execute(
            "SELECT c.name, c.type FROM query_columns c JOIN queries q USING (query_id) "
            "WHERE q.name = ?",
            [query],
        ).fetchall()
    )


def test_a_computed_column_named_like_a_typed_one_keeps_its_text(
    hs: hindsight.Hindsight, tmp_path: Path
) -> None:
    """`SELECT username, datetime(time, 'unixepoch') AS time FROM last`: SQLite's text, in a
    column osquery declares INTEGER."""
    write(
        tmp_path / "a.log",
        snapshot(LAST, 100, [{"username": "alice", "tty": "pts/0", "time": "1718000000"}]),
        snapshot(LAST, 200, [{"username": "bob", "tty": "pts/1", "time": "2024-06-10 06:13:20"}]),
        snapshot(LAST, 300, [{"username": "carol", "tty": "pts/2", "time": ""}]),
    )
    summary = hs.ingest([tmp_path / "a.log"])
    assert summary.rejected == 0 and summary.rows == 3
    assert _types(hs, LAST)["time"] == "VARCHAR"
    times = {u: t for u, t in hs.sql(f"SELECT username, time FROM {LAST} FOR SYSTEM_TIME ALL").rows}
    assert times == {"alice": "1718000000", "bob": "2024-06-10 06:13:20", "carol": ""}
    assert hs.state(LAST, at=250).dicts()[0]["time"] == "2024-06-10 06:13:20"
    signals = hs.quality().dicts()
    assert [(s["kind"], s["at"].timestamp()) for s in signals] == [("column_as_text", 200)]
    assert "'2024-06-10 06:13:20', not a BIGINT (osquery table last)" in signals[0]["detail"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [("1.5", "1.5"), ("1e3", "1e3"), ("007", "007"), ("18446744073709551616", "18446744073709551616")],
)
def test_an_integer_column_never_rounds_or_reformats(
    hs: hindsight.Hindsight, tmp_path: Path, value: str, shown: str
) -> None:
    write(tmp_path / "a.log", snapshot(LAST, 100, [{"username": "alice", "time": value}]))
    hs.ingest([tmp_path / "a.log"])
    assert hs.state(LAST, at=100).dicts()[0]["time"] == shown


def test_values_that_fit_stay_typed(hs: hindsight.Hindsight, tmp_path: Path) -> None:
    write(
        tmp_path / "a.log",
        snapshot(LAST, 100, [{"username": "alice", "time": "1718000000", "pid": "-1"}]),
        snapshot(LAST, 200, [{"username": "bob", "time": "", "pid": "42"}]),
    )
    hs.ingest([tmp_path / "a.log"])
    assert _types(hs, LAST)["time"] == "BIGINT" and _types(hs, LAST)["pid"] == "BIGINT"
    assert hs.sql(f"SELECT username FROM {LAST} WHERE time > 1000").rows == []  # bob: NULL
    assert hs.quality().rows == []


def test_an_event_table_demoted_mid_stream_keeps_every_event(
    hs: hindsight.Hindsight, tmp_path: Path
) -> None:
    """Events of batches before the misfit keep their values (as text); those of the batch that
    held it are all stored, once."""
    pe = "process_events"
    write(tmp_path / "a.log", *(event(pe, 100 + i, "added", {"pid": str(i), "path": "/bin/a"}) for i in range(5)))
    hs.ingest([tmp_path / "a.log"])
    write(
        tmp_path / "b.log",
        event(pe, 200, "added", {"pid": "7", "path": "/bin/b"}),
        event(pe, 201, "added", {"pid": "0x1f", "path": "/bin/c"}),
        event(pe, 202, "added", {"pid": "9", "path": "/bin/d"}),
    )
    summary = hs.ingest([tmp_path / "b.log"])
    assert summary.rows == 3 and summary.rejected == 0
    pids = sorted(p for (p,) in hs.sql(f"SELECT pid FROM {pe}").rows)
    assert pids == sorted(["0", "1", "2", "3", "4", "7", "0x1f", "9"])
    assert [s["kind"] for s in hs.quality().dicts()] == ["column_as_text"]
    # the same lines again: nothing new, the column stays text
    assert hs.ingest([tmp_path / "a.log", tmp_path / "b.log"]).rows == 0
    assert hs.sql(f"SELECT count(*) FROM {pe}").rows == [(8,)]


def test_rebuild_keeps_the_text_and_the_signal(hs: hindsight.Hindsight, tmp_path: Path) -> None:
    write(
        tmp_path / "a.log",
        snapshot(LAST, 100, [{"username": "alice", "time": "1"}]),
        snapshot(LAST, 200, [{"username": "alice", "time": "yesterday"}]),
    )
    hs.ingest([tmp_path / "a.log"])
    before = hs.sql(f"SELECT username, time, valid_from, valid_to FROM {LAST} FOR SYSTEM_TIME ALL ORDER BY ALL").rows
    hs.rebuild()
    after = hs.sql(f"SELECT username, time, valid_from, valid_to FROM {LAST} FOR SYSTEM_TIME ALL ORDER BY ALL").rows
    assert after == before == [("alice", "1", 100, 200), ("alice", "yesterday", 200, None)]
    assert [s["kind"] for s in hs.quality().dicts()] == ["column_as_text"]


_TEXTS = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.integers(2**63, 2**65).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["", "007", "+5", " 12", "1e3", "0x10", "1_000", "-0", "Mon Jun 10", "true"]),
    st.text(max_size=8),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(_TEXTS, min_size=1, max_size=12), batch=st.integers(1, 5))
def test_every_value_reads_back_as_reported(tmp_path: Path, values: list[str], batch: int) -> None:
    """Whatever texts a typed column receives, in batches of any size, each reads back as the
    host reported it (typed when every value fits, else text; empty reads NULL while typed)."""
    lines = [
        snapshot(LAST, 100 + i, [{"username": f"u{i}", "time": v}]) for i, v in enumerate(values)
    ]
    path = write(tmp_path / f"v{len(list(tmp_path.iterdir()))}.log", *lines)
    with hindsight.open(tmp_path / f"d{len(list(tmp_path.iterdir()))}", batch_lines=batch) as hs:
        assert hs.ingest([path]).rejected == 0
        typed = _types(hs, LAST)["time"] == "BIGINT"
        got = dict(hs.sql(f"SELECT username, time FROM {LAST} FOR SYSTEM_TIME ALL").rows)
        signals = [s["kind"] for s in hs.quality().dicts()]
    for i, v in enumerate(values):
        read = got[f"u{i}"]
        if typed:
            assert (read is None and v == "") or str(read) == v
        else:
            assert read == v or (read is None and v == "")  # (stored typed before the switch)
    assert signals == ([] if typed else ["column_as_text"])
    assert typed == all(v == "" or _fits_bigint(v) for v in values)


def _fits_bigint(text: str) -> bool:
    try:
        return str(int(text)) == text and -(2**63) <= int(text) < 2**63
    except ValueError:
        return False
