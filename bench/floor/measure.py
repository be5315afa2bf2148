"""Ceiling vs the Rust pass, medians of N runs, each run measuring everything in turn.

cargo build --release --offline   (README.md: the crates come from Debian's packages)
python measure.py FILE [runs]        (FILE: e.g. bench/gen.py's mixed file)
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import rc

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.bench_ingest import ceiling  # the same ceiling as issue #2's benchmark


def cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def busy() -> float:
    """Busy CPU seconds of the whole machine (all processes), from /proc/stat."""
    with open("/proc/stat") as stat:
        f = [int(x) for x in stat.readline().split()[1:]]
    return (sum(f) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")


def events_of(t: pa.Table, ev: pa.Array) -> pa.Table:
    return t.filter(pc.is_in(t.column("name_id"), value_set=ev))


def timed(fn):
    gc.collect()
    c, w = cpu(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - w, cpu() - c


DDL = (
    "CREATE TABLE t (line BIGINT, name_id UINTEGER, host_id UINTEGER, unix_time BIGINT, "
    "op UTINYINT, hash UBIGINT, canon VARCHAR)"
)


def insert(arrow_table, db: Path):
    """Fresh DuckDB file; INSERT of the Arrow table timed, then CHECKPOINT timed apart."""
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute(DDL)
    con.register("arrow_table", arrow_table)
    _, w, c = timed(lambda: con.execute("INSERT INTO t SELECT * FROM arrow_table"))
    _, cw, cc = timed(lambda: con.execute("CHECKPOINT"))
    n = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
    return n, w, c, cw, cc, db.stat().st_size


def main() -> None:
    path = Path(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    work = Path(tempfile.mkdtemp(prefix="hs-floor-"))
    res: list[dict] = []
    for r in range(runs):
        m: dict = {}
        b0, c0 = busy(), cpu()
        (rows, _), w, c = timed(lambda: ceiling(path))
        m["ceiling"] = (w, c)
        m["rows"] = rows
        (t, names, _hosts, _lines, bad), w, c = timed(lambda: rc.ingest(str(path), 1))
        assert t.num_rows == rows and bad == 0, (t.num_rows, rows, bad)
        m["passA"] = (w, c)
        n, w, c, cw, cc, size = insert(t, work / "all.duckdb")
        assert n == rows
        m["insert_all"] = (w, c)
        m["ckpt_all"] = (cw, cc)
        m["size_all"] = size
        ev = pa.array([i for i, s in enumerate(names) if s.endswith("_events")], "uint32")
        te, w, c = timed(partial(events_of, t, ev))
        m["filter_events"] = (w, c)
        m["event_rows"] = te.num_rows
        n, w, c, cw, cc, size = insert(te, work / "events.duckdb")
        assert n == te.num_rows
        m["insert_events"] = (w, c)
        m["ckpt_events"] = (cw, cc)
        m["size_events"] = size
        del t, te
        (t, names, _hosts, _lines, bad), w, c = timed(lambda: rc.ingest(str(path), 2))
        assert t.num_rows == rows and bad == 0
        m["passB"] = (w, c)
        n, w, c, cw, cc, size = insert(t, work / "allB.duckdb")
        m["insert_all_B"] = (w, c)
        m["ckpt_all_B"] = (cw, cc)
        del t
        m["others_cpu"] = busy() - b0 - (cpu() - c0)
        res.append(m)
        print(
            f"run {r}: "
            + ", ".join(
                f"{k}={v[0]:.3f}s/{v[1]:.3f}cpu" for k, v in m.items() if isinstance(v, tuple)
            )
            + f"; other processes' CPU during the run {m['others_cpu']:.2f} s",
            flush=True,
        )
    (work / "results.json").write_text(json.dumps(res, indent=1))
    print(f"raw results: {work / 'results.json'}")

    def med(key, i=0):
        return statistics.median(x[key][i] for x in res)

    rows = res[0]["rows"]
    ce = med("ceiling")
    print(
        f"\nfile {path} rows={rows:,} events={res[0]['event_rows']:,}; medians of {runs} runs (wall s / CPU s)"
    )
    print(
        f"ceiling (orjson)      {ce:.3f} s / {med('ceiling', 1):.3f} cpu  = {rows / ce:,.0f} rows/s"
    )
    for k in (
        "passA",
        "insert_all",
        "ckpt_all",
        "filter_events",
        "insert_events",
        "ckpt_events",
        "passB",
        "insert_all_B",
        "ckpt_all_B",
    ):
        print(f"{k:20s}  {med(k):.3f} s / {med(k, 1):.3f} cpu")

    def share(keys):
        tot = [sum(x[k][0] for k in keys) for x in res]
        pct = [100 * x["ceiling"][0] / sum(x[k][0] for k in keys) for x in res]
        return statistics.median(tot), statistics.median(pct)

    for label, keys in (
        ("pass A", ["passA"]),
        ("pass A + insert all", ["passA", "insert_all"]),
        ("pass A + insert all + ckpt", ["passA", "insert_all", "ckpt_all"]),
        ("pass A + filter + insert events", ["passA", "filter_events", "insert_events"]),
        (
            "pass A + filter + insert events + ckpt",
            ["passA", "filter_events", "insert_events", "ckpt_events"],
        ),
        ("pass B", ["passB"]),
        ("pass B + insert all", ["passB", "insert_all_B"]),
        ("pass B + insert all + ckpt", ["passB", "insert_all_B", "ckpt_all_B"]),
    ):
        tot, pct = share(keys)
        print(
            f"{label:40s} {tot:.3f} s = {rows / tot:,.0f} rows/s; rate vs ceiling (per-run median) {pct:.0f} %"
        )
    print(
        f"store sizes: all {res[0]['size_all'] / 1e6:.1f} MB, events {res[0]['size_events'] / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
