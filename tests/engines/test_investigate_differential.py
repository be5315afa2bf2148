"""The investigations answered by both engines over the same simulated fleet: who ip/uid/mount,
usb, enrich, timeline ip/user/host and diff, at instants chosen around the fleet's uid reuse, IP handovers,
mount reuse, renames and power-offs; every column identical (freshness and edge windows too)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hindsight.api import Result
from hindsight.engines.spark import Unsupported
from tests.engines.conftest import Fleet

HOUR = 3600
Question = tuple[str, tuple[Any, ...]]


def manifest(fleet: Fleet) -> dict[str, Any]:
    return json.loads((fleet.out / "manifest.json").read_text())  # type: ignore[no-any-return]


def moments(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [m for m in doc["moments"] if m["kind"] == kind]


def who_questions(doc: dict[str, Any]) -> list[Question]:
    out: list[Question] = []
    m = moments(doc, "ip_handover")[0]
    out += [("who_ip", (m["ip"], m["ask_from_at"] + m["from_clock_offset"])),
            ("who_ip", (m["ip"], m["ask_to_at"] + m["to_clock_offset"]))]
    for m in moments(doc, "rename"):  # every IPv4 address, the hosts named as they were then
        out += [("who_ip", ("0.0.0.0/0", m["at"] - 600)), ("who_ip", ("0.0.0.0/0", m["at"] + HOUR))]
    for m in moments(doc, "power_off")[:1]:
        out.append(("who_ip", ("0.0.0.0/0", m["to"] - 600)))
    for m in moments(doc, "uid_reuse"):
        out += [("who_uid", (m["uid"], m["host"], m["old_process_event"]["time"])),
                ("who_uid", (m["uid"], m["hostname"], m["new_process_event"]["time"])),
                ("who_uid", (m["uid"], m["host"], m["old_deleted_at"] + 60))]
    drives = [m for m in moments(doc, "usb_drive") if m.get("unmounted_at")]
    assert any(m["path_reused_from_serial"] for m in drives), "a mount path reused by another drive"
    for m in drives:
        at = (m["mounted_at"] + m["unmounted_at"]) // 2
        out.append(("who_mount", (m["mount_path"] + "/report.pdf", m["host"], at)))
    out.append(("usb", (next(m["serial"] for m in drives if m["path_reused_from_serial"]),)))
    m = moments(doc, "uid_reuse")[0]  # process events with the account as it was then
    out.append(("enrich", ("process_events", m["old_process_event"]["time"] - HOUR, m["old_process_event"]["time"] + HOUR)))
    return out


def timeline_questions(doc: dict[str, Any]) -> list[Question]:
    start = doc["start"]
    m = moments(doc, "ip_handover")[0]
    out: list[Question] = [("timeline_ip", (m["ip"], None, None)),
                           ("timeline_ip", (m["subnet"], start + 20 * HOUR, start + 24 * HOUR))]
    for m in moments(doc, "uid_reuse"):
        out += [("timeline_user", (m["old_user"], None, None)),
                ("timeline_user", (m["new_user"], start, start + 36 * HOUR))]
    rename = moments(doc, "rename")[0]
    out += [("timeline_host", (rename["host"], None, rename["at"] - 3 * HOUR, rename["at"] + 3 * HOUR)),
            ("timeline_host", (rename["new"], "users", None, None))]
    off = moments(doc, "power_off")[0]
    out.append(("timeline_host", (off["host"], "interface_addresses", off["from"] - HOUR, off["to"] + HOUR)))
    return out


def diff_questions(doc: dict[str, Any]) -> list[Question]:
    out: list[Question] = []
    for m in moments(doc, "uid_reuse"):
        out += [("diff", ("users", m["host"], m["old_created_at"] - 600, m["new_created_at"] + 600)),
                ("diff", ("groups", m["hostname"], m["old_created_at"] - 600, m["old_deleted_at"] + 600))]
    m = moments(doc, "usb_drive")[0]
    out.append(("diff", ("mounts", m["host"], m["inserted_at"] - 600, m["inserted_at"] + 600)))
    m = moments(doc, "ip_handover")[0]
    out.append(("diff", ("interface_addresses", m["to_host"], m["ask_from_at"], m["ask_to_at"])))
    m = moments(doc, "usb_drive")[0]  # a laptop: its processes change
    out.append(("diff", ("pack_inventory_processes_snapshot", m["host"], m["inserted_at"] - HOUR,
                         m["inserted_at"] + 3 * HOUR)))
    return out


def rows(result: Result) -> list[str]:
    return sorted(json.dumps(sorted(d.items()), default=str) for d in result.dicts())


def ask(fleet: Fleet, questions: list[Question]) -> int:
    """Every question to both engines; the number of rows compared."""
    compared = 0
    for method, args in questions:
        want = getattr(fleet.embedded.investigate, method)(*args)
        got = getattr(fleet.spark.investigate, method)(*args)
        assert not want.truncated and got.columns == want.columns, (method, args)
        mine, reference = rows(got), rows(want)
        assert mine == reference, (
            f"{method}{args}: spark-only {sorted(set(mine) - set(reference))[:2]}, "
            f"embedded-only {sorted(set(reference) - set(mine))[:2]}")
        compared += len(reference)
    return compared


def test_who(fleet: Fleet) -> None:
    questions = who_questions(manifest(fleet))
    assert {m for m, _ in questions} == {"who_ip", "who_uid", "who_mount", "usb", "enrich"}
    assert ask(fleet, questions) > 20


def test_timeline(fleet: Fleet) -> None:
    assert ask(fleet, timeline_questions(manifest(fleet))) > 50


def test_diff(fleet: Fleet) -> None:
    assert ask(fleet, diff_questions(manifest(fleet))) > 5


def test_command_line_on_spark(fleet: Fleet) -> None:
    from click.testing import CliRunner

    from hindsight.cli import main

    m = moments(manifest(fleet), "ip_handover")[0]
    lake, at = fleet.spark.paths.uri, str(m["ask_to_at"])
    got = CliRunner().invoke(main, ["who", "ip", m["ip"], "--at", at, "--engine", "spark", "--lake", lake,
                                    "--format", "json"])
    assert got.exit_code == 0, got.output
    assert [r["host_key"] for r in json.loads(got.output)] == [m["to_host"].lower()]
    bad = CliRunner().invoke(main, ["diff", "users", "--host", "no-such-host", "--from", at, "--to", at,
                                    "--engine", "spark", "--lake", lake])
    assert bad.exit_code != 0 and "no-such-host" in bad.output


def test_spark_submit_job(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    """The job spark-submit runs (`hindsight/engines/spark/__main__.py investigate|quality ...`)."""
    from hindsight.engines.spark.__main__ import main

    m = moments(manifest(fleet), "uid_reuse")[0]
    lake, at = fleet.spark.paths.uri, str(m["new_process_event"]["time"])
    assert main(["investigate", lake, "who_uid", str(m["uid"]), m["host"], at]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["relation"]: r["username"] for r in printed} == {"before": m["old_user"], "at": m["new_user"]}
    assert main(["investigate", lake, "who_uid", "x", m["host"]]) == 2
    assert "uid must be a number" in capsys.readouterr().err
    assert main(["quality", lake]) == 0
    kinds = {json.loads(line)["kind"] for line in capsys.readouterr().out.splitlines()}
    assert kinds == {"counter_gap", "reset_with_removed", "removed_not_open", "reset_closed_rows",
                     "column_as_text", "value_not_typed", "identity_shared", "identity_continued"}


def test_enrich_numbers_events_over_partitions(fleet: Fleet, spark: Any) -> None:
    """enrich numbers events per host: Spark's plan spreads the numbering by host instead of
    moving every event into one task (`Exchange SinglePartition`)."""
    from hindsight.engines.spark.translate import to_spark
    from hindsight.investigate.enrich import EventFilter, enrich_sql

    engine = fleet.spark
    sql = enrich_sql(engine.catalog, "process_events", EventFilter())
    engine._ensure(engine._referenced(sql))
    plan = engine.spark.sql(to_spark(sql))._jdf.queryExecution().executedPlan().toString()
    assert "SinglePartition" not in plan and "hashpartitioning(_host" in plan


def test_what_spark_cannot_translate_is_named() -> None:
    from hindsight.engines.spark.translate import to_spark

    with pytest.raises(Unsupported, match=r"ROW_NUMBER\(\) OVER \(\) without other columns is not supported on the spark engine"):
        to_spark("SELECT row_number() OVER () FROM t")
    named = "SELECT ROW_NUMBER() OVER w AS s FROM x WINDOW w AS (PARTITION BY a ORDER BY b)"
    assert "ROW_NUMBER() OVER w AS s" in to_spark(named)
    assert "ROW_NUMBER() OVER (ORDER BY a NULLS LAST) AS n" in to_spark("SELECT a, ROW_NUMBER() OVER () AS n FROM x")
    partitioned = to_spark("SELECT a, b, ROW_NUMBER() OVER (PARTITION BY a) AS n FROM x")
    assert "ROW_NUMBER() OVER (PARTITION BY a ORDER BY a NULLS LAST, b NULLS LAST) AS n" in partitioned
    with pytest.raises(Unsupported, match=r"ASOF JOIN is not supported on the spark engine"):
        to_spark("SELECT * FROM a ASOF JOIN b ON a.t >= b.t AND a.u >= b.u")


def test_lake_executions_are_the_stores(fleet: Fleet) -> None:
    """The build's executions (read here by DuckDB, straight from the Parquet files) are the
    embedded store's: classified alike, with the same data-quality signals (the counts of
    removed rows never open and of rows a reset closed included)."""
    import duckdb

    from hindsight.engines.spark.catalog import executions_root

    paths, build = fleet.spark.paths, fleet.spark.build
    # each query's executions are in the root of the build that last wrote it (an older root
    # still holds its earlier ones: the engine reads a query from its own root only)
    by_root: dict[str, list[str]] = {}
    for name, q in build.queries.items():
        if q.kind == "state":
            by_root.setdefault(executions_root(paths, q), []).append(name)
    con = duckdb.connect()
    lake = []
    for root, names in by_root.items():
        files = [f"{paths.uri_of(f)}" for f in paths.files(root)]
        lake += con.execute(
            "SELECT DISTINCT query, host_key, unix_time, epoch, counter, full_set, added, removed, "
            "counter_gap, reset_with_removed, removed_not_open, reset_closed_rows "
            f"FROM read_parquet({files!r}, hive_partitioning = true) WHERE query IN ({', '.join(map(repr, names))})"
        ).fetchall()
    store = fleet.embedded.store.con.cursor()
    signals = ("SELECT host_id, query_id, unix_time, kind, "
               "CAST(regexp_extract(detail, '(\\d+) (removed )?rows', 1) AS INTEGER) AS n FROM quality")

    def signal(kind: str, alias: str) -> str:
        return (f"LEFT JOIN ({signals}) {alias} ON {alias}.kind = '{kind}' AND {alias}.host_id = x.host_id "
                f"AND {alias}.query_id = x.query_id AND {alias}.unix_time = x.unix_time ")

    embedded = store.execute(
        "SELECT DISTINCT q.name, h.host_key, x.unix_time, x.epoch, x.counter, x.full_set, x.added, x.removed, "
        "g.host_id IS NOT NULL, r.host_id IS NOT NULL, coalesce(o.n, 0), coalesce(c.n, 0) "
        "FROM executions x JOIN queries q USING (query_id) JOIN hosts h USING (host_id) "
        + signal("counter_gap", "g") + signal("reset_with_removed", "r")
        + signal("removed_not_open", "o") + signal("reset_closed_rows", "c")).fetchall()
    assert sorted(lake) == sorted(embedded)
    assert len(embedded) > 1000 and {row[5] for row in embedded} == {True, False}
    assert {r[10] for r in embedded} >= {0, 1, 2} and {r[11] for r in embedded} >= {0, 2, 3}


def test_a_build_without_executions_asks_for_a_rebuild(fleet: Fleet, spark: Any) -> None:
    """A layout-1 build (before executions/) cannot back the investigations: the error says so."""
    from hindsight.engines.spark.catalog import LAYOUT, version_dir
    from hindsight.engines.spark.engine import SparkEngine
    from hindsight.lake.layout import LakeError

    paths = fleet.spark.paths
    meta = f"{version_dir(paths, fleet.spark.build.version)}/build.json"

    def write(body: bytes) -> None:
        with paths.fs.open_output_stream(meta) as f:
            f.write(body)

    with paths.fs.open_input_stream(meta) as f:
        original = f.read()
    try:
        write(original.replace(f'"layout": {LAYOUT}'.encode(), b'"layout": 1'))
        with pytest.raises(LakeError, match=r"built with layout 1.*run `hindsight lake build` again"):
            _ = SparkEngine(paths.uri, spark).investigate
    finally:
        write(original)


def test_a_layout_2_build_reads_without_the_newer_signals(fleet: Fleet, spark: Any, tmp_path: Any) -> None:
    """A build written before executions carried removed_not_open and reset_closed_rows (layout 2)
    still answers: those columns read NULL, so it shows the two older signals only."""
    import shutil

    import pyarrow.parquet as pq

    from hindsight.engines.spark.catalog import LAYOUT, version_dir
    from hindsight.engines.spark.engine import SparkEngine
    from hindsight.lake.layout import LakePaths

    shutil.copytree(fleet.spark.paths.root, tmp_path / "lake")
    paths = LakePaths.open(str(tmp_path / "lake"))
    for root in sorted(set((tmp_path / "lake" / "built").glob("v*/executions"))):
        for f in root.rglob("*.parquet"):
            pq.write_table(pq.read_table(f, partitioning=None).drop_columns(["removed_not_open", "reset_closed_rows"]), f)
            f.with_name(f".{f.name}.crc").unlink(missing_ok=True)  # Hadoop's checksum of the file replaced
    meta = tmp_path / "lake" / "built" / version_dir(paths, fleet.spark.build.version).rpartition("/")[2] / "build.json"
    meta.write_text(meta.read_text().replace(f'"layout": {LAYOUT}', '"layout": 2'))
    old = SparkEngine(str(tmp_path / "lake"), spark)
    assert old.build.layout == 2
    # (and those not read from executions: columns settled, in build.json; host keys shared
    # or continued)
    older = {"counter_gap", "reset_with_removed", "column_as_text", "value_not_typed", "identity_shared",
             "identity_continued"}
    want = [d for d in fleet.embedded.quality().dicts() if d["kind"] in older]
    assert rows(old.quality()) == rows(Result(list(want[0]), [tuple(d.values()) for d in want]))
    _ = old.investigate  # the executions view registers, the newer columns NULL
    nulls = old.spark.sql("SELECT count(*) FROM executions WHERE removed_not_open IS NULL AND reset_closed_rows IS NULL")
    assert nulls.collect()[0][0] == old.spark.table("executions").count() > 1000
