"""Per-core rates of the lake pipeline on Spark local mode (issue #7), the inputs of docs/scale.md.

Stages, on one simulated fleet (default 20 hosts x 2 days, every simulator behaviour):
  receive      read + normalise osquery lines (the server's and file ingest's work), 1 core
  write raw    LakeWriter: lines -> zstd Parquet files, published atomically, 1 core
  build        Spark: raw -> validity intervals, first build and an incremental one
  point query  Spark: who had one address at T (sql), one host's state at T
  fleet state  Spark: a query's state on every host at T
  investigate  Spark: who ip/uid/mount, timeline ip/user/host, diff, enrich process_events (median of 3), against the
               embedded engine answering the same questions in the same run
Baseline measured in the same run: the embedded engine ingesting the same files (1 core).
Spark runs with local[CORES] (default 1, so its rates are per core); wall times include Spark's
fixed per-job overhead, which a bigger input amortises.

    python bench/bench_spark.py [--hosts 20] [--days 2] [--cores 1] [--out /tmp/bench-spark]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hindsight
from hindsight.engines.spark.build import SparkBuilder
from hindsight.engines.spark.engine import SparkEngine
from hindsight.engines.spark.session import LOCAL_SMALL, get_session
from hindsight.lake import LakeWriter
from hindsight.osquery.reader import expand, read_lines
from hindsight.sim import SimConfig, simulate


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def files(path: Path) -> int:
    return sum(1 for p in path.rglob("*.parquet"))


class Figures(dict[str, Any]):
    """Measurements, printed as they come (a failure later keeps the earlier ones)."""

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        print(f"{key:40s} {value:,.3f}" if isinstance(value, float) else f"{key:40s} {value:,}", flush=True)


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--days", type=float, default=2.0)
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-spark"))
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    sim = args.out / "sim"
    simulate(SimConfig(hosts=args.hosts, days=args.days, out=sim, seed=11, workers=1))
    sources = expand([sim / "hosts", sim / "late"])
    log_bytes = sum(Path(s).stat().st_size for s in sources)
    m = Figures()
    m["hosts"], m["days"], m["cores"], m["log_bytes"] = args.hosts, args.days, args.cores, log_bytes

    lines, t = timed(lambda: [ln for s in sources for ln in read_lines(s, 16 << 20)])
    m["lines"] = len(lines)
    m["rows"] = sum(len(ln.parsed.added) + len(ln.parsed.removed) for ln in lines if hasattr(ln.parsed, "added"))
    m["receive_lines_per_s"] = len(lines) / t

    lake = args.out / "lake"
    writer = LakeWriter(str(lake))
    _, t = timed(lambda: (writer.append(lines), writer.flush()))
    m["write_raw_lines_per_s"] = len(lines) / t
    m["write_raw_rows_per_s"] = m["rows"] / t
    m["raw_bytes"], m["raw_files"] = du(lake / "raw"), files(lake / "raw")

    embedded = hindsight.open(args.out / "embedded")
    _, t = timed(lambda: embedded.ingest([sim / "hosts", sim / "late"]))
    m["baseline_embedded_ingest_lines_per_s"] = len(lines) / t

    spark = get_session({**LOCAL_SMALL, "spark.master": f"local[{args.cores}]", "spark.driver.memory": "2g"})
    first, t = timed(SparkBuilder(spark, str(lake)).build)
    m["build_first_s"] = t
    m["build_rows_per_s_per_core"] = m["rows"] / t / args.cores
    m["intervals"] = first.intervals
    m["interval_bytes"] = du(lake / "built")
    # an incremental build: the late backlogs again (all repeats: their streams replay)
    LakeWriter(str(lake)).write([ln for s in expand([sim / "late"]) for ln in read_lines(s, 16 << 20)])
    second, t = timed(SparkBuilder(spark, str(lake)).build)
    m["build_incremental_s"], m["build_incremental_replayed"] = t, second.replayed_streams

    engine, t = timed(SparkEngine, str(lake), spark)
    m["engine_open_s"] = t
    manifest = json.loads((sim / "manifest.json").read_text())
    at = manifest["start"] + int(args.days * 86400 * 0.6)
    host = manifest["hosts"][0]["uuid"]
    engine.state("interface_addresses", at)  # warm: schema read, code generated
    point, fleet_wide, who = [], [], []
    for i in range(5):
        t0 = at - i * 3600
        point.append(timed(engine.state, "interface_addresses", t0, [host])[1])
        res, dt = timed(engine.state, "processes", t0)
        fleet_wide.append(dt)
        who.append(timed(engine.sql, "SELECT host FROM interface_addresses WHERE address = '10.0.0.1'", t0)[1])
    m["point_query_host_state_ms"] = statistics.median(point) * 1000
    m["point_query_who_had_ip_ms"] = statistics.median(who) * 1000
    m["fleet_state_processes_ms"] = statistics.median(fleet_wide) * 1000
    m["fleet_state_rows"] = len(res.rows)
    m["raw_bytes_per_host_day"] = m["raw_bytes"] / args.hosts / args.days
    m["interval_bytes_per_host_day"] = m["interval_bytes"] / args.hosts / args.days
    m["lines_per_host_day"] = m["lines"] / args.hosts / args.days
    m["rows_per_host_day"] = m["rows"] / args.hosts / args.days
    m["spark_vs_embedded_build"] = m["build_rows_per_s_per_core"] / (m["rows"] / (len(lines) / m["baseline_embedded_ingest_lines_per_s"]))
    investigations(m, engine, embedded, manifest)
    embedded.close()
    spark.stop()


def questions(manifest: dict[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """One question of each investigation, around the fleet's moments."""
    def first(kind: str) -> dict[str, Any]:
        return next(x for x in manifest["moments"] if x["kind"] == kind and x.get("unmounted_at", 1))

    ip, uid, usb = first("ip_handover"), first("uid_reuse"), first("usb_drive")
    mid = (usb["mounted_at"] + usb["unmounted_at"]) // 2
    t1, t2 = uid["old_created_at"] - 600, uid["new_process_event"]["time"]
    return [
        ("who_ip", (ip["ip"], ip["ask_to_at"])),
        ("who_uid", (uid["uid"], uid["host"], t2)),
        ("who_mount", (usb["mount_path"] + "/report.pdf", usb["host"], mid)),
        ("timeline_ip", (ip["ip"], None, None)),
        ("timeline_user", (uid["old_user"], None, None)),
        ("timeline_host", (uid["host"], "users", None, None)),
        ("diff", ("users", uid["host"], t1, t2)),
        ("enrich", ("process_events", None, None)),  # every event of the fleet
    ]


def investigations(m: Figures, engine: SparkEngine, hs: hindsight.Hindsight, manifest: dict[str, Any]) -> None:
    """Each investigation on Spark (median of 3) and on the embedded engine, same questions."""
    spark_inv, t = timed(lambda: engine.investigate)
    _, t2 = timed(lambda: spark_inv.schedule)
    m["investigate_open_s (executions, schedule)"] = t + t2
    for method, args in questions(manifest):
        spark_s = statistics.median(timed(getattr(spark_inv, method), *args)[1] for _ in range(3))
        embedded_s = statistics.median(timed(getattr(hs.investigate, method), *args)[1] for _ in range(3))
        m[f"{method}_spark_ms"] = spark_s * 1000
        m[f"{method}_embedded_ms"] = embedded_s * 1000


if __name__ == "__main__":
    main()
