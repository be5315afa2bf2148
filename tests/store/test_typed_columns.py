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
    column osquery declares INTEGER, from the start: the column becomes text."""
    write(
        tmp_path / "a.log",
        snapshot(LAST, 100, [{"username": "alice", "tty": "pts/0", "time": "2024-06-10 06:13:20"}]),
        snapshot(LAST, 200, [{"username": "bob", "tty": "pts/1", "time": "2024-06-10 07:00:00"}]),
        snapshot(LAST, 300, [{"username": "carol", "tty": "pts/2", "time": ""}]),
    )
    summary = hs.ingest([tmp_path / "a.log"])
    assert summary.rejected == 0 and summary.rows == 3
    assert _types(hs, LAST)["time"] == "VARCHAR"
    times = {u: t for u, t in hs.sql(f"SELECT username, time FROM {LAST} FOR SYSTEM_TIME ALL").rows}
    assert times == {"alice": "2024-06-10 06:13:20", "bob": "2024-06-10 07:00:00", "carol": ""}
    assert hs.state(LAST, at=250).dicts()[0]["time"] == "2024-06-10 07:00:00"
    signals = hs.quality().dicts()
    assert [(s["kind"], s["at"].timestamp()) for s in signals] == [("column_as_text", 100)]
    assert "'2024-06-10 06:13:20', not a BIGINT (osquery table last): kept as text" in signals[0]["detail"]


USERS = "pack_ir_users"


def test_one_odd_host_cannot_change_the_fleet_s_types(
    hs: hindsight.Hindsight, tmp_path: Path
) -> None:
    """A column that held values that fit stays typed: a later odd value reads NULL, with a
    signal naming it, and `uid = 1001` keeps working for every other host."""
    good = snapshot(USERS, 100, [{"uid": "1001", "username": "alice"}], host="good", uuid="G")
    hs.ingest([write(tmp_path / "a.log", good)])
    odd = snapshot(USERS, 150, [{"uid": "4294967294-x", "username": "x"}], host="odd", uuid="O")
    assert hs.ingest([write(tmp_path / "b.log", odd)]).rows == 1
    assert _types(hs, USERS)["uid"] == "BIGINT"
    assert hs.sql(f"SELECT host, username FROM {USERS} WHERE uid = 1001", at=200).rows == [
        ("good", "alice")
    ]
    assert hs.state(USERS, at=200, hosts=["odd"]).dicts()[0]["uid"] is None
    (signal,) = hs.quality().dicts()
    assert (signal["kind"], signal["host_key"], signal["at"].timestamp()) == ("value_not_typed", "o", 150)
    assert "'4294967294-x', not a BIGINT (osquery table users): such values read NULL" in signal["detail"]
    # later odd values read NULL without a new signal; values that fit stay typed
    more = snapshot(USERS, 300, [{"uid": "7", "username": "y"}, {"uid": "z", "username": "z"}], host="odd", uuid="O")
    hs.ingest([write(tmp_path / "c.log", more)])
    assert sorted(hs.sql(f"SELECT username, uid FROM {USERS}", at=300).rows, key=str) == [
        ("alice", 1001), ("y", 7), ("z", None)]
    assert len(hs.quality().rows) == 1


def test_values_that_fit_in_the_same_batch_keep_the_type(
    hs: hindsight.Hindsight, tmp_path: Path
) -> None:
    """The first batch of a fleet: one odd host among good ones."""
    write(
        tmp_path / "a.log",
        snapshot(USERS, 100, [{"uid": "x", "username": "x"}], host="odd", uuid="O"),
        snapshot(USERS, 100, [{"uid": "1001", "username": "alice"}], host="good", uuid="G"),
    )
    hs.ingest([tmp_path / "a.log"])
    assert _types(hs, USERS)["uid"] == "BIGINT"
    assert [s["kind"] for s in hs.quality().dicts()] == ["value_not_typed"]


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


def test_an_event_table_keeps_every_event(hs: hindsight.Hindsight, tmp_path: Path) -> None:
    """Events of the batch that held an odd value are all stored, once."""
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
    pids = sorted(hs.sql(f"SELECT pid FROM {pe}").rows, key=str)
    assert pids == [(0,), (1,), (2,), (3,), (4,), (7,), (9,), (None,)]
    assert [s["kind"] for s in hs.quality().dicts()] == ["value_not_typed"]
    # the same lines again: nothing new, nothing settled again
    assert hs.ingest([tmp_path / "a.log", tmp_path / "b.log"]).rows == 0
    assert hs.sql(f"SELECT count(*) FROM {pe}").rows == [(8,)]
    assert len(hs.quality().rows) == 1


def test_rebuild_keeps_the_types_and_the_signals(hs: hindsight.Hindsight, tmp_path: Path) -> None:
    write(
        tmp_path / "a.log",
        snapshot(LAST, 100, [{"username": "alice", "time": "1"}]),
        snapshot(LAST, 200, [{"username": "alice", "time": "yesterday"}]),
        snapshot("pack_x_last", 100, [{"username": "bob", "time": "today"}]),
    )
    hs.ingest([tmp_path / "a.log"])
    sql = "SELECT username, time, valid_from, valid_to FROM {} FOR SYSTEM_TIME ALL ORDER BY ALL"
    before = [hs.sql(sql.format(q)).rows for q in (LAST, "pack_x_last")]
    signals = hs.quality().rows
    hs.rebuild()
    after = [hs.sql(sql.format(q)).rows for q in (LAST, "pack_x_last")]
    assert after == before == [[("alice", 1, 100, 200), ("alice", None, 200, None)], [("bob", "today", 100, None)]]
    assert sorted(hs.quality().rows) == sorted(signals) and len(signals) == 2


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
    """Whatever texts a typed column receives, in ingests of any size: a column that never held
    a value that fits when the first odd one comes becomes text, every value reading back as
    reported (those stored typed before: NULL for empty); one that did stays typed, odd values
    reading NULL."""
    run = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    run.mkdir()
    with hindsight.open(run / "data") as hs:
        for start in range(0, len(values), batch):
            lines = [
                snapshot(LAST, 100 + i, [{"username": f"u{i}", "time": values[i]}])
                for i in range(start, min(start + batch, len(values)))
            ]
            assert hs.ingest([write(run / f"{start}.log", *lines)]).rejected == 0
        typ = _types(hs, LAST)["time"]
        got = dict(hs.sql(f"SELECT username, time FROM {LAST} FOR SYSTEM_TIME ALL").rows)
        signals = [s["kind"] for s in hs.quality().dicts()]
    mode, held, switched = "typed", False, len(values)
    for start in range(0, len(values), batch):
        part = values[start : start + batch]
        fitting = any(v != "" and _fits_bigint(v) for v in part)
        if mode == "typed" and any(v != "" and not _fits_bigint(v) for v in part):
            mode, switched = ("loose" if held or fitting else "text"), start
        held = held or fitting
    assert typ == ("VARCHAR" if mode == "text" else "BIGINT")
    assert signals == {"typed": [], "loose": ["value_not_typed"], "text": ["column_as_text"]}[mode]
    for i, v in enumerate(values):
        read = got[f"u{i}"]
        if mode == "text":
            assert read == v or (read is None and v == "" and i < switched)
        else:
            assert read == (int(v) if v != "" and _fits_bigint(v) else None)


def _fits_bigint(text: str) -> bool:
    try:
        return str(int(text)) == text and -(2**63) <= int(text) < 2**63
    except ValueError:
        return False


def test_a_store_written_before_loose_columns_opens_read_only(tmp_path: Path) -> None:
    path = write(tmp_path / "a.log", snapshot(USERS, 100, [{"uid": "1", "username": "a"}]))
    with hindsight.open(tmp_path / "data") as hs:
        hs.ingest([path])
        hs.store.con.execute("DROP TABLE loose_columns")  # as a store of the release before
    with hindsight.open(tmp_path / "data", read_only=True) as hs:
        assert hs.sql(f"SELECT uid FROM {USERS}").rows == [(1,)]


def test_columns_come_in_one_order_whatever_the_order_of_ingest(tmp_path: Path) -> None:
    """A column that appears later in a stream takes its place by name: the lake's engines and
    any order of ingest list the same columns in the same order."""
    early = snapshot(USERS, 100, [{"uid": "1", "username": "a"}])
    late = snapshot(USERS, 200, [{"uid": "1", "username": "a", "description": "d", "zz": "z"}])
    orders = []
    for n, files in enumerate([[early, late], [late, early]]):
        with hindsight.open(tmp_path / f"d{n}") as hs:
            for k, line in enumerate(files):
                hs.ingest([write(tmp_path / f"{n}-{k}.log", line)])
            orders.append(hs.sql(f"SELECT * FROM {USERS}").columns)
    assert orders[0] == orders[1] == ["host", "host_key", "description", "uid", "username", "zz"]


def test_rebuild_settles_a_store_written_before_values_were_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store whose odd values were stored NULL (before this check): `hindsight rebuild` meets
    them in the raw lines, settles the column and names the first odd value."""
    import hindsight.store.writes as writes

    old = monkeypatch.setattr  # the writes of the release before: a cast, NULL when it fails
    old(writes, "typed_value", lambda q, c, typ, value, cast: f"TRY_CAST(NULLIF({value}, '') AS {typ})")
    lines = [
        snapshot(LAST, 100, [{"username": "a", "time": "Mon 10:00"}], host="h2", uuid="H2"),
        snapshot(LAST, 100, [{"username": "b", "time": "Sun 09:00"}], host="h1", uuid="H1"),
        snapshot(LAST, 200, [{"username": "c", "time": "Tue 11:00"}], host="h1", uuid="H1"),
    ]
    with hindsight.open(tmp_path / "data") as hs:
        hs.ingest([write(tmp_path / "a.log", *lines)])
        assert hs.sql(f"SELECT count(time) FROM {LAST} FOR SYSTEM_TIME ALL").rows == [(0,)]
        monkeypatch.undo()
        hs.rebuild()
        assert _types(hs, LAST)["time"] == "VARCHAR"
        got = sorted(hs.sql(f"SELECT username, time FROM {LAST} FOR SYSTEM_TIME ALL").rows)
        assert got == [("a", "Mon 10:00"), ("b", "Sun 09:00"), ("c", "Tue 11:00")]
        (signal,) = hs.quality().dicts()
    assert (signal["host_key"], signal["at"].timestamp()) == ("h1", 100)  # instant, then host
    assert "holds 'Sun 09:00'" in signal["detail"]
