"""The same simulated fleet answered by the embedded engine and by Spark over the lake: every
question of this suite must get identical answers (rows compared as multisets, by column name)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from hindsight.api import Result
from hindsight.engines.spark import Unsupported
from hindsight.engines.spark.build import SparkBuilder
from hindsight.errors import ForbiddenSQL, QueryError
from hindsight.lake.compact import compact_lake
from tests.engines.conftest import CONTINUED_HOST, CONTINUED_UUID, REJECTED, SIGNALS_HOST, Fleet

HOUR = 3600


def rows(result: Result) -> list[str]:
    return sorted(json.dumps(sorted(d.items()), default=str) for d in result.dicts())


def same(fleet: Fleet, method: str, *args: Any) -> int:
    mine = getattr(fleet.spark, method)(*args)
    reference = getattr(fleet.embedded, method)(*args)
    assert not reference.truncated
    got, want = rows(mine), rows(reference)
    assert got == want, f"{method}{args}: spark-only {sorted(set(got) - set(want))[:3]}, embedded-only {sorted(set(want) - set(got))[:3]}"
    return len(want)


def manifest(fleet: Fleet) -> dict[str, Any]:
    return json.loads((fleet.out / "manifest.json").read_text())  # type: ignore[no-any-return]


def test_second_build_extends_and_replays(fleet: Fleet) -> None:
    assert fleet.first.intervals > 0 and fleet.first.version == 1
    assert fleet.second.version == 2
    assert fleet.second.extended_streams > 0, "streams whose new lines all come later are extended"
    assert fleet.second.replayed_streams > 0, "late backlogs and repeated files replay their streams"


def test_every_interval_of_every_state_query(fleet: Fleet) -> None:
    queries = [q["name"] for q in manifest(fleet)["queries"] if not q["event"]]
    total = sum(same(fleet, "sql", f"SELECT * FROM {q} FOR SYSTEM_TIME ALL") for q in queries)
    assert total > 500


def test_state_at_many_instants(fleet: Fleet) -> None:
    start = manifest(fleet)["start"]
    instants = [start - 1, start, start + 7 * HOUR + 17, start + 26 * HOUR, start + 47 * HOUR, start + 60 * HOUR]
    answered = 0
    for query in ("users", "processes", "interface_addresses", "pack_hw_usb_devices"):
        for at in instants:
            answered += same(fleet, "state", query, at)
    assert answered > 100


def test_state_of_one_host(fleet: Fleet) -> None:
    host = manifest(fleet)["hosts"][0]
    key = host.get("host_uuid") or host.get("uuid")
    assert same(fleet, "state", "logged_in_users", manifest(fleet)["start"] + 30 * HOUR, [key]) >= 0


def test_event_time_join(fleet: Fleet) -> None:
    sql = ("SELECT e.host, e.time, e.pid, e.path, u.username FROM process_events e "
           "JOIN users FOR SYSTEM_TIME AS OF e.time u ON u.host_key = e.host_key AND u.uid = e.uid")
    assert same(fleet, "sql", sql) > 100


def test_between_and_literal_as_of(fleet: Fleet) -> None:
    start = manifest(fleet)["start"]
    same(fleet, "sql", f"SELECT host, address, valid_from, valid_to FROM interface_addresses "
                       f"FOR SYSTEM_TIME BETWEEN {start + 10 * HOUR} AND {start + 20 * HOUR}")
    same(fleet, "sql", f"SELECT host, count(*) AS n FROM processes FOR SYSTEM_TIME AS OF {start + 30 * HOUR} GROUP BY host")
    same(fleet, "sql", "SELECT host, name FROM processes WHERE name LIKE 's%'", start + 40 * HOUR)


def test_events(fleet: Fleet) -> None:
    assert same(fleet, "sql", "SELECT * FROM process_events") > 100


def test_columns_named_by_expressions_read_the_same(fleet: Fleet) -> None:
    sql = 'SELECT "count(*)", "load avg", "user-name", "a.b", "q""uote" FROM pack_signals_odd'
    assert same(fleet, "sql", sql) == 1
    assert fleet.spark.sql(sql).rows == [("412", "0.5", "root", "x", "y")]
    assert same(fleet, "state", "pack_signals_odd", manifest(fleet)["start"] + HOUR) == 1


def test_a_column_no_store_can_hold_never_stops_the_builds(tmp_path: Path, spark: Any) -> None:
    """Two writers that never met each other's spelling (`Name`, `name`) both publish: the
    build leaves the second spelling out, where it failed with every build after it."""
    from hindsight.engines.spark.catalog import current
    from hindsight.lake import LakeWriter
    from hindsight.lake.layout import LakePaths
    from hindsight.osquery.reader import read_lines

    line = '{{"name":"caseq","hostIdentifier":"h","unixTime":{t},"epoch":0,"counter":{c},"columns":{{"{k}":"{v}"}},"action":"added"}}'
    lake = str(tmp_path / "lake")
    for n, (k, v) in enumerate([("Name", "A"), ("name", "b")]):
        src = tmp_path / f"{n}.log"
        src.write_text(line.format(t=1780000000 + 60 * n, c=n, k=k, v=v) + "\n")
        LakeWriter(lake).write(list(read_lines(src, 1 << 20)))
    report = SparkBuilder(spark, lake).build()
    assert report.version == 1 and report.queries == 1
    # (read from build.json: an engine here would replace the session's views of the fleet)
    built = current(LakePaths.open(lake))
    assert built is not None and built.queries["caseq"].columns == ("Name",)


def test_spark_sql_cannot_read_the_environment(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither by reflection (any static Java method) nor by Spark's `${env:...}` substitution:
    the lake's credentials come from the environment."""
    with pytest.raises(ForbiddenSQL, match="reflect"):
        fleet.spark.sql("SELECT reflect('java.lang.System', 'getenv', 'PATH') AS x")
    got = fleet.spark.sql("SELECT '${env:PATH}' AS a, '${system:user.home}' AS b")
    assert got.rows == [("${env:PATH}", "${system:user.home}")]


def test_what_spark_cannot_do_names_feature_and_engine(fleet: Fleet) -> None:
    with pytest.raises(Unsupported, match=r"generate_series.*spark engine"):
        fleet.spark.sql("SELECT * FROM range(3)")
    with pytest.raises(Unsupported, match=r"ordered list"):  # (the order was silently lost)
        fleet.spark.sql("SELECT list(username ORDER BY username) AS names FROM users")
    with pytest.raises(QueryError, match=r"on the spark engine: \S") as info:  # (said nothing)
        fleet.spark.sql("SELECT username[1:2] AS x FROM users")
    assert "pos " not in str(info.value)  # (a position in the translated SQL: not the user's)


def test_compaction_keeps_answers_and_costs_no_rebuild(fleet: Fleet, spark: Any) -> None:
    from click.testing import CliRunner

    from hindsight.cli import main

    lake = fleet.spark.paths.uri
    got = CliRunner().invoke(main, ["lake", "compact", lake, "--min-files", "2"])
    assert got.exit_code == 0 and "partitions compacted: 0" not in got.output, got.output
    assert compact_lake(lake, min_files=2)["partitions_compacted"] == 0  # nothing left to merge
    report = SparkBuilder(spark, lake).build()
    assert report.queries == 0 and report.version == fleet.second.version
    built = CliRunner().invoke(main, ["lake", "build", lake])
    assert built.exit_code == 0 and "queries: 0" in built.output, built.output
    test_every_interval_of_every_state_query(fleet)


def test_every_data_quality_signal(fleet: Fleet) -> None:
    """The build records every signal the embedded store records (host, query, instant, kind and
    count, worded alike): counter gaps, counter-0 diffs with removed rows, and the interval
    builder's removed rows never open and rows a reset closed, also across an extended stream
    and a replayed one (the signals host's second round)."""
    start = manifest(fleet)["start"]

    def count(detail: str) -> str:
        found = re.search(r"(\d+) (?:removed )?rows|counter \d+ -> \d+", detail)
        return found.group(1) or found.group(0) if found else ""

    mine = {(d["query"], int(d["at"].timestamp()) - start, d["kind"], count(d["detail"]))
            for d in fleet.embedded.quality().dicts() if d["host_key"] == SIGNALS_HOST}
    assert mine == {("pack_signals_a", 60, "removed_not_open", "1"),
                    ("pack_signals_a", 120, "counter_gap", "counter 1 -> 3"),
                    ("pack_signals_a", 180, "reset_closed_rows", "3"),
                    ("pack_signals_a", 240, "reset_with_removed", ""),
                    ("pack_signals_a", 300, "removed_not_open", "2"),
                    ("pack_signals_b", 60, "reset_closed_rows", "2"),
                    ("pack_signals_last", 60, "value_not_typed", ""),
                    ("pack_when_last", 0, "column_as_text", "")}
    assert same(fleet, "quality") > len(mine)
    shared = [(d["host_key"], int(d["at"].timestamp()) - start, d["detail"].split(" in ")[0])
              for d in fleet.embedded.quality().dicts() if d["kind"] == "identity_shared"]
    # (named-0001: a rename; back-0001, renamed and back, is marked too, as the signal says)
    assert shared == [("back-0001", 60, "reported as alpha and as bravo"),
                      ("clone-0001", 60, "reported as vm-a and as vm-b"),
                      ("split-0001", 60, "reported as alpha and as bravo")]


def test_a_host_renamed_back_is_named_alike(fleet: Fleet) -> None:
    """alpha, bravo, alpha again (the last line in the lake's second build): named by its runs
    on both engines, in state, intervals and lookups of a name as of an instant."""
    start = manifest(fleet)["start"]
    named = {at: [d["host"] for d in fleet.embedded.state("pack_names", at).dicts()
                  if d["host_key"] == "back-0001"] for at in (start + 30, start + 90, start + 150, start + 200)}
    assert named == {start + 30: ["alpha"], start + 90: ["bravo", "bravo"],
                     start + 150: ["alpha"] * 3, start + 200: ["alpha"] * 4}
    for at in named:
        same(fleet, "state", "pack_names", at)
    same(fleet, "sql", "SELECT host, host_key, v, valid_from FROM pack_names FOR SYSTEM_TIME ALL")


def test_a_late_line_amid_a_run_is_named_alike(fleet: Fleet) -> None:
    """bravo at 60, ingested late (the lake's second build), inside a run of alpha the first
    build knew by its ends, 0 and 180: alpha again from its line at 120, on both engines (the
    lake's run alone would name it bravo until 180)."""
    start = manifest(fleet)["start"]
    named = {at: {d["host"] for d in fleet.embedded.state("pack_names", at).dicts()
                  if d["host_key"] == "split-0001"} for at in (start + 30, start + 90, start + 150, start + 200)}
    assert named == {start + 30: {"alpha"}, start + 90: {"bravo"}, start + 150: {"alpha"},
                     start + 200: {"alpha"}}
    for at in named:
        same(fleet, "state", "pack_names", at)


def test_a_host_that_goes_on_under_a_uuid_key(fleet: Fleet) -> None:
    """A machine that began sending a host_uuid decoration (two host keys, one name): the old
    key's state ends where the new key's begins, on both engines, with a signal that says so;
    before it, the old key's state stands (the new key's first build came later)."""
    start, query = manifest(fleet)["start"], "pack_cont_addresses"
    held = {at: sorted((d["host_key"], d["v"]) for d in fleet.embedded.state(query, at).dicts())
            for at in (start + 90, start + 120, start + 200)}
    assert held == {start + 90: [(CONTINUED_HOST, "10.0.0.2")],
                    start + 120: [(CONTINUED_UUID, "10.0.0.2")],
                    start + 200: [(CONTINUED_UUID, "10.0.0.3")]}
    for at in held:
        same(fleet, "state", query, at)
    intervals = fleet.embedded.sql(f"SELECT host_key, v, valid_from, valid_to FROM {query} "
                                   "FOR SYSTEM_TIME ALL ORDER BY valid_from").rows
    assert intervals == [(CONTINUED_HOST, "10.0.0.1", start, start + 60),
                         (CONTINUED_HOST, "10.0.0.2", start + 60, start + 120),
                         (CONTINUED_UUID, "10.0.0.2", start + 120, start + 180),
                         (CONTINUED_UUID, "10.0.0.3", start + 180, None)]
    same(fleet, "sql", f"SELECT * FROM {query} FOR SYSTEM_TIME ALL")
    same(fleet, "sql", f"SELECT * FROM {query} FOR SYSTEM_TIME BETWEEN {start + 130} AND {start + 140}")
    signals = [(d["host_key"], int(d["at"].timestamp()) - start) for d in fleet.embedded.quality().dicts()
               if d["kind"] == "identity_continued"]
    assert signals == [(CONTINUED_HOST, 120)]


def test_values_a_typed_column_cannot_hold_read_the_same(fleet: Fleet) -> None:
    """A column that held values that fit reads NULL for an odd one (on the lake, though its
    first build typed the column with no odd value yet); one that never did becomes text."""
    for query in ("pack_signals_last", "pack_when_last"):
        sql = f"SELECT username, time, valid_from, valid_to FROM {query} FOR SYSTEM_TIME ALL"
        assert same(fleet, "sql", sql) >= 1
    got = fleet.embedded.sql("SELECT username, time FROM pack_signals_last FOR SYSTEM_TIME ALL "
                             "ORDER BY valid_from").rows
    assert got == [("alice", 1001), ("bob", None)]
    assert fleet.embedded.sql("SELECT time FROM pack_when_last").rows == [("Mon 10:00",)]


def test_command_line_on_spark(fleet: Fleet) -> None:
    from click.testing import CliRunner

    from hindsight.cli import main

    at = str(manifest(fleet)["start"] + 30 * HOUR)
    lake = fleet.spark.paths.uri
    got = CliRunner().invoke(main, ["state", "users", "--at", at, "--engine", "spark", "--lake", lake, "--format", "json"])
    assert got.exit_code == 0, got.output
    assert sorted(json.dumps(sorted(d.items())) for d in json.loads(got.output)) == rows(fleet.embedded.state("users", at))
    quality = CliRunner().invoke(main, ["quality", "--engine", "spark", "--lake", lake, "--format", "csv"])
    assert quality.exit_code == 0 and "reset_closed_rows" in quality.output and "removed_not_open" in quality.output
    bad = CliRunner().invoke(main, ["sql", "SELECT * FROM range(2)", "--engine", "spark", "--lake", lake])
    assert bad.exit_code == 2 and "not supported on the spark engine" in bad.output


# -- the listings: hosts, queries, rejects -----------------------------------------------------
LISTINGS = ("hosts", "queries", "rejects")


def typed(result: Result) -> list[tuple[tuple[str, Any], ...]]:
    """Rows in order, each value with its type; an instant as a UTC-aware datetime's seconds."""
    def one(value: Any) -> tuple[str, Any]:
        if isinstance(value, dt.datetime):
            assert value.utcoffset() == dt.timedelta(0), value
            return "datetime", value.timestamp()
        return type(value).__name__, value

    return [tuple(one(v) for v in row) for row in result.rows]


def lake_by_duckdb(fleet: Fleet, method: str) -> Result:
    """A listing read from the lake's files by DuckDB alone, as docs/lake.md shows it."""
    root = fleet.spark.paths.root
    build = json.loads((Path(root) / "built" / f"v{fleet.spark.build.version:08d}" / "build.json").read_text())
    sql = {
        "hosts": "SELECT coalesce(arg_max(identifier, (last_seen, identifier)), any_value(host_key)) AS host, host_key, "
                 "to_timestamp(min(first_seen)) AS first_seen, to_timestamp(max(last_seen)) AS last_seen, "
                 "string_agg(DISTINCT identifier, ', ' ORDER BY identifier) AS identifiers "
                 f"FROM read_parquet('{root}/hosts/*/*.parquet') GROUP BY host_key ORDER BY host, host_key",
        "queries": "SELECT b.query, b.kind, b.os_table AS osquery_table, count(DISTINCT h.host_key) AS hosts, "
                   "to_timestamp(min(h.first_seen)) AS first_seen, to_timestamp(max(h.last_seen)) AS last_seen "
                   f"FROM build b LEFT JOIN read_parquet('{root}/built/v{fleet.spark.build.version:08d}/query_hosts/*.parquet') h "
                   "ON h.query = b.query GROUP BY ALL ORDER BY query",
        "rejects": "SELECT source, line, reason, octet_length(raw) AS size "
                   f"FROM read_parquet('{root}/rejects/*/*.parquet') ORDER BY source, line",
    }[method]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE build(query VARCHAR, kind VARCHAR, os_table VARCHAR)")
    con.executemany("INSERT INTO build VALUES (?, ?, ?)",
                    [(q, b["kind"], b["os_table"]) for q, b in build["queries"].items()])
    cursor = con.execute(sql)
    return Result([d[0] for d in cursor.description or []], cursor.fetchall())


@pytest.mark.parametrize("method", LISTINGS)
def test_listings_row_for_row(fleet: Fleet, method: str) -> None:
    """hosts, queries and rejects: Spark and the lake's files read by DuckDB answer with the
    embedded store's columns, in its order, with its types, row for row."""
    reference = getattr(fleet.embedded, method)()
    assert not reference.truncated
    for mine in (getattr(fleet.spark, method)(), lake_by_duckdb(fleet, method)):
        assert mine.columns == reference.columns
        assert not mine.truncated
        assert typed(mine) == typed(reference)


def test_listings_are_not_empty(fleet: Fleet) -> None:
    hosts = fleet.embedded.hosts().dicts()
    assert len(hosts) >= 6 and SIGNALS_HOST in {h["host"] for h in hosts}
    assert ("beta", "alpha, beta") in {(h["host"], h["identifiers"]) for h in hosts}
    queries = fleet.embedded.queries().dicts()
    assert {q["kind"] for q in queries} == {"state", "event"}
    assert all(q["hosts"] > 0 for q in queries), "event queries count their hosts too"
    assert len(fleet.embedded.rejects().rows) == len(REJECTED)


def test_a_layout_3_build_lists_queries_then_is_extended(fleet: Fleet, spark: Any, tmp_path: Path) -> None:
    """A build written before query_hosts/ (layout 3) lists its queries with their kind and table
    but no hosts, first or last seen; the next build extends it (only the queries of its new
    files, no whole rebuild) and reads query_hosts from every raw file: the store's answer."""
    import shutil

    from hindsight.engines.spark.catalog import LAYOUT, version_dir
    from hindsight.engines.spark.engine import SparkEngine
    from hindsight.lake.ingest import ingest_files

    shutil.copytree(fleet.spark.paths.root, tmp_path / "lake")
    lake = str(tmp_path / "lake")
    version = version_dir(fleet.spark.paths, fleet.spark.build.version).rpartition("/")[2]
    shutil.rmtree(tmp_path / "lake" / "built" / version / "query_hosts")
    meta = tmp_path / "lake" / "built" / version / "build.json"
    meta.write_text(meta.read_text().replace(f'"layout": {LAYOUT}', '"layout": 3')
                    .replace(fleet.spark.paths.root, lake))  # the raw files it consumed: the copies
    old = SparkEngine(lake, spark).queries()
    want = fleet.embedded.queries()
    assert old.columns == want.columns
    assert [r[:3] for r in old.rows] == [r[:3] for r in want.rows]
    assert {r[3:] for r in old.rows} == {(None, None, None)}
    ingest_files(lake, [fleet.out / "signals" / "second.log"])  # lines the lake holds already
    report = SparkBuilder(spark, lake).build()  # (pack_signals_a, _b, _last, pack_cont_addresses, pack_names)
    assert report.queries == 5 and report.version == fleet.spark.build.version + 1
    assert typed(SparkEngine(lake, spark).queries()) == typed(want)


def test_listings_on_the_command_line_and_spark_submit(fleet: Fleet, capsys: pytest.CaptureFixture[str]) -> None:
    from click.testing import CliRunner

    from hindsight.cli import main
    from hindsight.engines.spark.__main__ import main as job

    lake = fleet.spark.paths.uri
    for method in LISTINGS:
        got = CliRunner().invoke(main, [method, "--engine", "spark", "--lake", lake, "--format", "json"])
        assert got.exit_code == 0, got.output
        want = json.loads(orjson.dumps(getattr(fleet.embedded, method)().dicts(), default=str))
        assert json.loads(got.output) == want and want
        capsys.readouterr()
        assert job([method, lake]) == 0
        assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == json.loads(
            json.dumps(getattr(fleet.embedded, method)().dicts(), default=str))


def test_a_lake_of_status_and_rejected_lines_alone_lists_them(fleet: Fleet, spark: Any, tmp_path: Path) -> None:
    """No result line yet (a host that only started, a line that could not be read): the build
    is one of no query, so that the lake's hosts and rejects are listed as the store lists
    them (there was no build to open, and building again made none)."""
    import hindsight
    from hindsight.engines.spark.engine import SparkEngine
    from hindsight.lake.ingest import ingest_files

    status = {"hostIdentifier": "web-1", "calendarTime": "x", "unixTime": "1700000000", "severity": "0",
              "filename": "a.cpp", "line": "1", "message": "started", "version": "5.9.1",
              "decorations": {"host_uuid": "U-1"}}
    log = tmp_path / "osqueryd.results.log"
    log.write_text(json.dumps(status) + "\n" + REJECTED[0] + "\n")
    lake = str(tmp_path / "lake")
    ingest_files(lake, [log])
    assert SparkBuilder(spark, lake).build().version == 1
    assert SparkBuilder(spark, lake).build().version == 1  # (nothing new: no other build)
    engine = SparkEngine(lake, spark)
    with hindsight.open(tmp_path / "data") as hs:
        hs.ingest([log])
        for method in ("hosts", "rejects", "queries"):
            assert rows(getattr(engine, method)()) == rows(getattr(hs, method)()), method
        assert len(hs.hosts().rows) == len(hs.rejects().rows) == 1
    # (each engine has a session of its own: the fleet's views are still the fleet's)
    assert rows(fleet.spark.hosts()) == rows(fleet.embedded.hosts())


def test_bounds_cut_sparks_answer_where_they_cut_the_embedded_stores(fleet: Fleet) -> None:
    """HINDSIGHT_MAX_RESPONSE_BYTES and HINDSIGHT_MAX_ROWS cut Spark's answer at the row they
    cut the embedded store's (text counted by its length), with the same reason; the bytes are
    counted in Spark, so the rows past them never reach the driver."""
    from hindsight.engines.spark.engine import SparkEngine
    from hindsight.settings import Settings

    sql = (
        "SELECT host, username, directory, shell FROM users FOR SYSTEM_TIME ALL "
        "ORDER BY host, username, directory, shell, valid_from"
    )
    whole = fleet.embedded.sql(sql)
    assert not whole.truncated and len(whole.rows) > 20
    assert fleet.spark.sql(sql).rows == whole.rows
    sizes = [sum(len(v) for v in row if v) for row in whole.rows]
    crossing = sum(sizes[:10]) + sizes[10] // 2  # the 11th row passes it

    def cut(**bound: int) -> Result:
        engine = SparkEngine(fleet.spark.paths, fleet.spark.spark, Settings.from_env(**bound))
        return engine.sql(sql)

    for bound, kept, reason in (
        ({"max_response_bytes": crossing}, 10, "max_bytes"),
        ({"max_response_bytes": 1}, 1, "max_bytes"),  # a first row alone is kept
        ({"max_rows": 7}, 7, "max_rows"),
        ({"max_rows": len(whole.rows)}, len(whole.rows), None),
    ):
        found = cut(**bound)
        assert found.rows == whole.rows[:kept], bound
        assert (found.truncated, found.truncated_reason) == (reason is not None, reason), bound
