"""The lake's input SQL + the embedded interval SQL, run by DuckDB straight over the lake's raw
files, give the embedded store's intervals and data-quality signals (all four, counted and worded
alike): arbitrary histories with snapshots, diffs, event-format
lines, resets, epoch changes, repeated lines and lines out of order (property test, no Spark)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from tempfile import TemporaryDirectory

import duckdb
import orjson
from hypothesis import assume, given
from hypothesis import strategies as st

import hindsight
from hindsight.intervals.build_sql import interval_statements
from hindsight.lake import LakeWriter
from hindsight.lake import build_sql as lake_sql
from hindsight.osquery.reader import read_lines

T0 = 1718236800
rows = st.lists(st.integers(0, 3), max_size=4)
execution = st.tuples(
    st.sampled_from(["snapshot", "diff", "event"]), rows, rows, st.integers(0, 1), st.integers(0, 3)
)


def lines_of(history: list[tuple[str, list[int], list[int], int, int]], host: str) -> list[bytes]:
    out = []
    for i, (kind, added, removed, epoch, counter) in enumerate(history):
        head = {"name": "q", "hostIdentifier": host, "unixTime": T0 + 60 * i, "epoch": epoch,
                "counter": counter, "numerics": False}
        if kind == "snapshot":
            out.append({**head, "snapshot": [{"v": str(v)} for v in added]})
        elif kind == "diff":
            out.append({**head, "diffResults": {"added": [{"v": str(v)} for v in added],
                                                 "removed": [{"v": str(v)} for v in removed]}})
        else:
            out += [{**head, "action": a, "columns": {"v": str(v)}}
                    for a, vs in (("removed", removed), ("added", added)) for v in vs]
    return [orjson.dumps(d) for d in out]


Signals = Counter[tuple[str, int, str, str]]


def lake_intervals(lake: Path) -> tuple[Counter[tuple[str, int, int | None, str]], Signals]:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW raw AS SELECT *, 'q' AS query FROM read_parquet('{lake}/raw/*/*/*.parquet')")
    con.execute(f"CREATE TABLE obs AS {lake_sql.dedupe('raw')}")
    con.execute("CREATE TABLE pos AS SELECT 'q' AS query, 'h' AS host_key, 0 AS last_epoch, 0 AS last_ckey WHERE false")
    con.execute(f"CREATE TABLE execs AS {lake_sql.executions('obs', 'pos')}")
    con.execute(f"CREATE TABLE changes AS {lake_sql.changes('obs', 'execs')}")
    con.execute("CREATE TABLE open_before AS SELECT 'h' AS host_id, 'q' AS query_id, 0::BIGINT AS rh, "
                "0::BIGINT AS _from, 0::SMALLINT AS _n WHERE false")
    for sql in interval_statements("changes", "execs", "open_before"):
        con.execute(sql)
    got = con.execute(
        "SELECT host_id, _from, _to, json_extract_string(payload, '$.v') FROM iv_new_closed UNION ALL "
        "SELECT host_id, _from, NULL, json_extract_string(payload, '$.v') FROM iv_new_open").fetchall()
    con.execute(f"CREATE TABLE rows AS {lake_sql.execution_rows('execs', 'iv_signals')}")
    signals = con.execute(
        f"SELECT host_key, unix_time, kind, detail FROM ({lake_sql.quality('rows')})").fetchall()
    return Counter(got), Counter(signals)


@given(st.lists(st.lists(execution, min_size=1, max_size=8), min_size=1, max_size=2), st.randoms())
def test_lake_sql_equals_embedded(histories: list[list[tuple[str, list[int], list[int], int, int]]], rnd: object) -> None:
    lines = [ln for i, h in enumerate(histories) for ln in lines_of(h, f"host{i}")]
    assume(lines)  # event-format executions without rows write no line
    shuffled = list(lines) + lines[: len(lines) // 3]  # some lines again, and out of order
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    with TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.log"
        src.write_bytes(b"\n".join(lines) + b"\n")
        again = Path(tmp) / "again.log"
        again.write_bytes(b"\n".join(shuffled) + b"\n")
        writer = LakeWriter(str(Path(tmp) / "lake"), max_rows=7)  # many small files
        for path in (src, again):
            writer.append(read_lines(path, 1 << 20))
        writer.flush()
        with hindsight.open(Path(tmp) / "data") as hs:
            hs.ingest([src, again])
            want: Counter[tuple[str, int, int | None, str]] = Counter()
            if "q" in hs.store.catalog.queries:
                for d in hs.sql("SELECT * FROM q FOR SYSTEM_TIME ALL").dicts():
                    want[(d["host_key"], d["valid_from"], d["valid_to"], d.get("v"))] += 1
            signals = Counter(hs.store.con.execute(
                "SELECT h.host_key, unix_time, kind, detail FROM quality JOIN hosts h USING (host_id)"
            ).fetchall())
        assert lake_intervals(Path(tmp) / "lake") == (want, signals)
