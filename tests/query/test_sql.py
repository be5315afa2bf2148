"""Time-travel SQL: FOR SYSTEM_TIME in all its forms, names, and the read-only fence."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import hindsight
from hindsight.errors import ForbiddenSQL, QueryError, QueryTimeout, UnknownQuery
from tests.helpers import batch, event, write

USERS = "pack_ir_users"


@pytest.fixture
def fleet(hs: hindsight.Hindsight, tmp_path: Path) -> hindsight.Hindsight:
    """uid 1001 is alice until 1000, then bob (uid reused); a process runs as 1001 at 500 and 1500."""
    hs.ingest(
        [
            write(
                tmp_path / "a.log",
                batch(
                    USERS,
                    100,
                    [{"uid": "0", "username": "root"}, {"uid": "1001", "username": "alice"}],
                    counter=0,
                ),
                batch(
                    USERS,
                    1000,
                    [{"uid": "1001", "username": "bob"}],
                    [{"uid": "1001", "username": "alice"}],
                    counter=1,
                ),
                event(
                    "process_events",
                    520,
                    "added",
                    {"pid": "7", "uid": "1001", "time": "500", "path": "/bin/sh"},
                ),
                event(
                    "process_events",
                    1520,
                    "added",
                    {"pid": "8", "uid": "1001", "time": "1500", "path": "/bin/cp"},
                ),
                event(
                    "pack_net_interface_addresses",
                    100,
                    "added",
                    {"address": "10.1.2.3", "interface": "eth0"},
                    counter=0,
                ),
                event(
                    "pack_net_interface_addresses",
                    100,
                    "added",
                    {"address": "10.9.9.9", "interface": "eth1"},
                    counter=0,
                    uuid="U-2",
                    host="db-01",
                ),
            )
        ]
    )
    return hs


def test_plain_table_is_state_at_option(fleet: hindsight.Hindsight) -> None:
    assert fleet.sql("SELECT username FROM users WHERE uid = 1001", at=999).rows == [("alice",)]
    assert fleet.sql("SELECT username FROM users WHERE uid = 1001", at=1000).rows == [("bob",)]


def test_as_of_literal_iso_and_unix(fleet: hindsight.Hindsight) -> None:
    q = "SELECT username FROM users FOR SYSTEM_TIME AS OF {} WHERE uid = 1001"
    assert fleet.sql(q.format("'1970-01-01T00:08:20Z'")).rows == [("alice",)]
    assert fleet.sql(q.format("1500")).rows == [("bob",)]


def test_event_joined_with_state_as_of_its_own_time(fleet: hindsight.Hindsight) -> None:
    rows = fleet.sql(
        "SELECT e.time, e.host, e.path, u.username FROM process_events e "
        "JOIN users FOR SYSTEM_TIME AS OF e.time u ON u.host = e.host AND u.uid = e.uid ORDER BY e.time"
    ).rows
    assert rows == [(500, "web-07", "/bin/sh", "alice"), (1500, "web-07", "/bin/cp", "bob")]


def test_left_join_keeps_events_without_state(fleet: hindsight.Hindsight) -> None:
    rows = fleet.sql(
        "SELECT e.pid, u.username FROM process_events e LEFT JOIN users FOR SYSTEM_TIME AS OF e.time - 600 u "
        "ON u.host_key = e.host_key AND u.uid = e.uid ORDER BY e.pid"
    ).rows
    assert rows == [(7, None), (8, "alice")]


def test_all_and_between_give_intervals(fleet: hindsight.Hindsight) -> None:
    rows = fleet.sql(
        "SELECT username, valid_from, valid_to FROM users FOR SYSTEM_TIME ALL WHERE uid = 1001 ORDER BY 2"
    ).rows
    assert rows == [("alice", 100, 1000), ("bob", 1000, None)]
    between = fleet.sql(
        "SELECT username FROM users FOR SYSTEM_TIME BETWEEN 1200 AND 1300 WHERE uid = 1001"
    ).rows
    assert between == [("bob",)]


def test_which_host_had_ip(fleet: hindsight.Hindsight) -> None:
    rows = fleet.sql("SELECT host FROM interface_addresses WHERE address = '10.9.9.9'", at=200).rows
    assert rows == [("db-01",)]


def test_names_full_short_and_suggestions(fleet: hindsight.Hindsight) -> None:
    assert fleet.sql(f"SELECT count(*) FROM {USERS}", at=200).rows == [(2,)]
    assert fleet.sql('SELECT count(*) FROM "pack_ir_users"', at=200).rows == [(2,)]
    with pytest.raises(UnknownQuery, match="did you mean 'users'"):
        fleet.sql("SELECT * FROM usres")


def test_ctes_and_subqueries(fleet: hindsight.Hindsight) -> None:
    rows = fleet.sql(
        "WITH x AS (SELECT uid FROM users) SELECT count(*) FROM x WHERE uid IN (SELECT uid FROM users)",
        at=200,
    ).rows
    assert rows == [(2,)]


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE hosts",
        "INSERT INTO users VALUES (1)",
        "ATTACH '/tmp/x.db' AS x",
        "COPY (SELECT 1) TO '/tmp/x.csv'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT read_text('/etc/passwd')",
        "SELECT * FROM hosts",
        "SELECT * FROM main.cur_1",
        "SELECT 1; SELECT 2",
        "SET threads = 1",
        "PRAGMA version",
        # a CTE is seen in its own query only: `hosts` outside it is the store's table
        "SELECT * FROM users, (WITH hosts AS (SELECT 1 AS a) SELECT * FROM hosts) z, hosts h",
        "SELECT * FROM (WITH raw_chunks AS (SELECT 1 AS a) SELECT * FROM raw_chunks) z, raw_chunks",
    ],
)
def test_read_only_fence(fleet: hindsight.Hindsight, statement: str) -> None:
    with pytest.raises((ForbiddenSQL, UnknownQuery, QueryError)):
        fleet.sql(statement)


@pytest.mark.parametrize(
    "function",
    ["reflect('java.lang.System', 'getenv', 'HOME')", "java_method('java.lang.System', 'exit', 3)",
     "try_reflect('a', 'b')", "current_user", "user()", "session_user()", "input_file_name()"],
)  # fmt: skip
def test_functions_that_reach_the_engine_s_process_are_refused(
    fleet: hindsight.Hindsight, function: str
) -> None:
    """Spark's reflection and identity functions, refused by name on every engine."""
    with pytest.raises(ForbiddenSQL, match="is not allowed"):
        fleet.sql(f"SELECT {function} AS x FROM users")


def test_a_cte_is_seen_in_its_own_query_and_those_nested_in_it(fleet: hindsight.Hindsight) -> None:
    sql = ("WITH a AS (SELECT uid FROM users), b AS (SELECT * FROM a) "
           "SELECT count(*) FROM b WHERE uid IN (SELECT uid FROM a)")  # fmt: skip
    assert fleet.sql(sql, at=200).rows == [(2,)]
    assert fleet.sql("SELECT user FROM (SELECT username AS user FROM users)", at=200).rows


def test_errors_point_at_their_position(fleet: hindsight.Hindsight) -> None:
    with pytest.raises(QueryError) as info:
        fleet.sql("SELECT username FROM users WHERE uid = = 1")
    assert info.value.line == 1 and info.value.col is not None
    with pytest.raises(QueryError, match="did you mean 'SELECT'"):
        fleet.sql("SELEC username FROM users")


def test_an_unknown_column_lists_the_columns(fleet: hindsight.Hindsight) -> None:
    """Named in the user's terms: DuckDB's own message quotes the rewritten statement."""
    for sql in ("SELECT usrname FROM users", "SELECT u.usrname FROM users u"):
        with pytest.raises(QueryError) as info:
            fleet.sql(sql)
        message = str(info.value)
        assert message.startswith("unknown column 'usrname' (did you mean 'username'?)")
        assert "pack_ir_users has host, host_key, " in message and "username" in message
        assert "LINE" not in message and "iv." not in message
    with pytest.raises(QueryError) as info:
        fleet.sql("SELECT host FROM users u JOIN users v ON u.uid = v.uid")
    assert "Ambiguous" in str(info.value) and "LINE" not in str(info.value)




def test_a_value_of_the_wrong_type_says_what_to_write(fleet: hindsight.Hindsight) -> None:
    """A typed column compared with text, and a text column with a number: DuckDB names
    neither the column nor the fix."""
    with pytest.raises(QueryError) as info:
        fleet.sql("SELECT username FROM users WHERE uid = 'alice'", at=200)
    assert "'alice'" in str(info.value)
    assert "compare it with a number (uid = 1001), or compare its text" in str(info.value)
    assert fleet.sql("SELECT username FROM users WHERE uid::VARCHAR = '0'", at=200).rows == [
        ("root",)
    ]
    with pytest.raises(QueryError) as info:
        fleet.sql("SELECT uid FROM users WHERE username = 5", at=200)
    assert str(info.value).endswith(
        "username holds text; quote the value it is compared with (username = '...')"
    )
    assert "LINE" not in str(info.value)
def test_a_name_that_needs_quotes_says_so(fleet: hindsight.Hindsight, tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(event("pack/ir-x/users", 100, "added", {"uid": "7"}, counter=0) + b"\n")
    fleet.ingest([path])
    with pytest.raises(QueryError, match=r'quote query names .* FROM "pack/ir-x/users"'):
        fleet.sql("SELECT uid FROM pack/ir-x/users")
    assert fleet.sql('SELECT uid FROM "pack/ir-x/users"', at=100).rows == [(7,)]


def test_rows_are_bounded(tmp_path: Path) -> None:
    with hindsight.open(tmp_path / "d", max_rows=1) as hs:
        hs.ingest(
            [write(tmp_path / "a.log", batch(USERS, 1, [{"uid": "1"}, {"uid": "2"}], counter=0))]
        )
        result = hs.sql("SELECT uid FROM users ORDER BY uid", at=5)
        assert result.truncated and result.rows == [(1,)]


def test_time_is_bounded(tmp_path: Path) -> None:
    with hindsight.open(tmp_path / "d", query_timeout_s=0.2) as hs:
        hs.ingest([write(tmp_path / "a.log", batch(USERS, 1, [{"uid": "1"}], counter=0))])
        with pytest.raises(QueryTimeout, match=r"stopped after 0.2 s \(HINDSIGHT_QUERY_TIMEOUT\)"):
            hs.sql("SELECT count(*) FROM users a, range(100000000) r(i), range(100) s(j)")


def test_one_watchdog_bounds_many_statements() -> None:
    """Deadlines in any order: only the statements still running at theirs are interrupted."""
    from hindsight.watchdog import Watchdog

    dog, fired = Watchdog(), []
    with dog.bound(0.3, lambda: fired.append("slow")):
        with dog.bound(0.05, lambda: fired.append("quick, ended in time")):
            pass
        with dog.bound(0.1, lambda: fired.append("overran")):
            time.sleep(0.2)
        time.sleep(0.25)
    time.sleep(0.1)
    assert fired == ["overran", "slow"]


def test_a_failing_interrupt_does_not_stop_the_watchdog() -> None:
    from hindsight.watchdog import Watchdog

    def closed() -> None:
        raise RuntimeError("the cursor is already closed")

    dog, fired = Watchdog(), []
    with dog.bound(0.05, closed):
        time.sleep(0.1)
    with dog.bound(0.05, lambda: fired.append("next")):
        time.sleep(0.1)
    assert fired == ["next"]


@pytest.mark.parametrize(
    "statement",
    [
        # a CTE's name in its own body, or one defined later, read the store's table of that name
        "WITH rejects AS (SELECT * FROM rejects) SELECT source FROM rejects",
        "WITH raw_chunks AS (SELECT * FROM raw_chunks) SELECT count(*) FROM raw_chunks",
        "WITH a AS (SELECT * FROM meta), meta AS (SELECT 1 AS x) SELECT * FROM a",
        "WITH RECURSIVE meta AS (SELECT * FROM meta) SELECT * FROM meta",
        # table functions after LATERAL (no table reference) and one that runs any statement
        "SELECT t.table_name FROM range(1) r, LATERAL duckdb_tables() t",
        "SELECT d.path FROM range(1) r, LATERAL duckdb_databases() d",
        "SELECT s.value FROM range(1) r, LATERAL duckdb_settings() s",
        "SELECT x.* FROM range(1) r, LATERAL json_execute_serialized_sql(json_serialize_sql('SELECT * FROM meta')) x",
    ],
)
def test_no_way_around_the_fence_to_the_store_s_tables(
    fleet: hindsight.Hindsight, statement: str
) -> None:
    """QA's escapes: each read the store's internal tables (or its path and settings)."""
    with pytest.raises((ForbiddenSQL, UnknownQuery)):
        fleet.sql(statement)


def test_a_cte_shadows_a_query_whatever_its_case_and_a_recursive_one_reads_itself(
    fleet: hindsight.Hindsight,
) -> None:
    """DuckDB binds names without case: `WITH Users AS (...)` is what `FROM users` reads (the
    recorded query was read instead)."""
    shadow = "WITH Users AS (SELECT 0 AS uid, 'ghost' AS username) SELECT uid, username FROM users"
    assert fleet.sql(shadow).rows == [(0, "ghost")]
    counted = "WITH RECURSIVE n AS (SELECT 1 AS i UNION ALL SELECT i + 1 FROM n WHERE i < 3) SELECT sum(i) FROM n"
    assert fleet.sql(counted).rows == [(6,)]


@pytest.mark.parametrize("name", ["hosts", "HOST_RUNS", "host_ends", "cur_1", "hist_12", "ev_3"])
def test_a_cte_named_as_the_store_s_tables_is_refused_clearly(
    fleet: hindsight.Hindsight, name: str
) -> None:
    """The recorded queries read those tables: a CTE of that name was read in their place (a
    baffling error, or silently other hosts)."""
    with pytest.raises(QueryError, match=f"a CTE cannot be named {name}: .*rename it"):
        fleet.sql(f"WITH {name} AS (SELECT 1 AS host_id) SELECT username FROM users")


def test_as_of_a_column_names_the_host_as_of_that_instant(
    hs: hindsight.Hindsight, tmp_path: Path
) -> None:
    """A row valid across a rename: joined as of an event's time, or as of any expression, its
    `host` is the name then (it was the name when the row appeared), as a literal instant gives."""
    hs.ingest(
        [
            write(
                tmp_path / "a.log",
                batch(USERS, 100, [{"uid": "1001", "username": "bob"}], counter=0, host="old-name"),
                batch(USERS, 1000, [], counter=1, host="new-name"),
                event(
                    "process_events",
                    1520,
                    "added",
                    {"pid": "8", "uid": "1001", "time": "1500"},
                    host="new-name",
                ),
            )
        ]
    )
    joined = hs.sql(
        "SELECT e.host, u.host, u.username FROM process_events e "
        "JOIN users FOR SYSTEM_TIME AS OF e.time u ON u.host_key = e.host_key AND u.uid = e.uid"
    ).rows
    assert joined == [("new-name", "new-name", "bob")]
    for instant in ("1500", "(1500)", "1400 + 100"):
        assert hs.sql(f"SELECT host FROM users FOR SYSTEM_TIME AS OF {instant}").rows == [
            ("new-name",)
        ]
    assert hs.sql("SELECT host FROM users FOR SYSTEM_TIME AS OF 100 + 0").rows == [("old-name",)]


def test_as_of_a_column_in_a_right_or_full_join_is_refused(fleet: hindsight.Hindsight) -> None:
    """It kept every interval of every time on the state's side."""
    for side in ("RIGHT", "FULL"):
        with pytest.raises(QueryError, match=f"{side} JOIN would keep every interval"):
            fleet.sql(
                f"SELECT * FROM process_events e {side} JOIN users FOR SYSTEM_TIME AS OF e.time u "
                "ON u.uid = e.uid"
            )


def test_from_to_excludes_its_end_between_includes_it_and_a_reversed_span_is_refused(
    fleet: hindsight.Hindsight,
) -> None:
    """SQL:2011: FROM a TO b is [a, b), BETWEEN a AND b is [a, b]; bob begins at 1000."""
    q = "SELECT username FROM users FOR SYSTEM_TIME {} WHERE uid = 1001 ORDER BY 1"
    assert fleet.sql(q.format("FROM 900 TO 1000")).rows == [("alice",)]
    assert fleet.sql(q.format("BETWEEN 900 AND 1000")).rows == [("alice",), ("bob",)]
    with pytest.raises(QueryError, match="a is after b"):
        fleet.sql(q.format("BETWEEN 1900 AND 1100"))


def test_names_bind_without_case_as_sql_binds_them(fleet: hindsight.Hindsight) -> None:
    assert fleet.sql("SELECT count(*) FROM USERS", at=200).rows == [(2,)]
    assert fleet.sql("SELECT count(*) FROM Pack_IR_Users", at=200).rows == [(2,)]


def test_a_statement_nested_too_deeply_is_a_clear_error(fleet: hindsight.Hindsight) -> None:
    """(50 nested parentheses raised Python's RecursionError: a traceback on the command line)"""
    with pytest.raises(QueryError, match="nested too deeply"):
        fleet.sql("SELECT " + "(" * 400 + "1" + ")" * 400 + " AS x FROM users")


def test_a_table_s_modifiers_apply_to_the_recorded_query(fleet: hindsight.Hindsight) -> None:
    """PIVOT, UNPIVOT, TABLESAMPLE, column aliases and parenthesised joins were dropped or broken
    by the rewrite (the query's subquery took the table's place without them)."""
    pivoted = fleet.sql(
        'SELECT username, "0", "1001" FROM users PIVOT (count(*) FOR uid IN (0, 1001)) '
        "ORDER BY username",
        at=200,
    )
    assert pivoted.rows == [("alice", 0, 1), ("root", 1, 0)]
    assert fleet.sql("SELECT count(*) FROM users TABLESAMPLE 1 ROWS", at=200).rows == [(1,)]
    unpivoted = fleet.sql(
        "SELECT k, v FROM users UNPIVOT (v FOR k IN (host, username)) ORDER BY ALL", at=200
    )
    assert unpivoted.rows == [
        ("host", "web-07"),
        ("host", "web-07"),
        ("username", "alice"),
        ("username", "root"),
    ]
    renamed = fleet.sql("SELECT a, b, uid FROM users AS x(a, b) ORDER BY uid", at=200)
    assert renamed.rows == [("web-07", "u-1", 0), ("web-07", "u-1", 1001)]
    joined = fleet.sql(
        "SELECT a.username, b.username FROM (users a JOIN users b ON a.uid = b.uid) ORDER BY 1",
        at=200,
    )
    assert joined.rows == [("alice", "alice"), ("root", "root")]


def test_as_of_a_column_takes_a_table_to_its_left_and_an_instant(
    fleet: hindsight.Hindsight,
) -> None:
    """A table joined after it was accepted (its answer was the inner join's), NULL gave no rows
    silently, and a timestamp DuckDB's type error."""
    with pytest.raises(QueryError, match="e is joined after u; the instant must come from"):
        fleet.sql(
            "SELECT * FROM users FOR SYSTEM_TIME AS OF e.time u "
            "JOIN process_events e ON u.uid = e.uid"
        )
    with pytest.raises(QueryError, match="NULL names no instant"):
        fleet.sql(
            "SELECT * FROM process_events e JOIN users FOR SYSTEM_TIME AS OF NULL u "
            "ON u.uid = e.uid"
        )
    join = (
        "SELECT u.username FROM process_events e JOIN users FOR SYSTEM_TIME AS OF {} u "
        "ON u.uid = e.uid ORDER BY e.time"
    )
    with pytest.raises(QueryError, match=r"takes unix seconds; .* AS OF epoch\(<timestamp>\)"):
        fleet.sql(join.format("to_timestamp(e.time)"))
    assert fleet.sql(join.format("epoch(to_timestamp(e.time))")).rows == [("alice",), ("bob",)]


def test_rows_stop_at_the_byte_bound_before_they_are_held(tmp_path: Path) -> None:
    """Rows were fetched up to HINDSIGHT_MAX_ROWS whatever their size (QA: 10 GB of repeat()
    reached 5.9 GB of memory); now they stop once their values pass the byte bound, and the
    rows past it are never computed."""
    with hindsight.open(tmp_path / "d", max_response_bytes=1_000_000, max_rows=10**6) as hs:
        hs.ingest([write(tmp_path / "a.log", batch(USERS, 1, [{"uid": "1"}], counter=0))])
        result = hs.sql("SELECT repeat('x', 10000) AS s FROM users, range(100000)", at=5)
        assert result.truncated and result.truncated_reason == "max_bytes"
        assert 95 <= len(result.rows) <= 101
        small = hs.sql("SELECT uid FROM users, range(50)", at=5)
        assert not small.truncated and small.truncated_reason is None and len(small.rows) == 50
        # a first row alone past the bound is still returned (the query API refuses it: 413)
        alone = hs.sql("SELECT repeat('x', 2000000) AS s FROM users, range(3)", at=5)
        assert len(alone.rows) == 1 and alone.truncated_reason == "max_bytes"
        # nested values count by their items
        lists = hs.sql("SELECT [repeat('x', 10000)] AS s FROM users, range(1000)", at=5)
        assert 95 <= len(lists.rows) <= 101


def test_a_statement_is_bounded_in_length_and_its_reading_in_time(tmp_path: Path) -> None:
    """sqlglot reads a statement outside DuckDB's time bound and cannot be stopped (QA: 0.59 MB
    of SQL held the store 8.4 s against a 1 s bound): its length is bounded, and its reading
    counts in the query's time."""
    with hindsight.open(tmp_path / "d", max_sql_bytes=2000, query_timeout_s=0.05) as hs:
        hs.ingest([write(tmp_path / "a.log", batch(USERS, 1, [{"uid": "1"}], counter=0))])
        long = "SELECT uid FROM users WHERE " + " OR ".join(f"uid = {i}" for i in range(300))
        with pytest.raises(QueryError, match=r"past HINDSIGHT_MAX_SQL_BYTES \(2000\)"):
            hs.sql(long)
    longer = "SELECT uid FROM users WHERE " + " OR ".join(f"uid = {i}" for i in range(3000))
    with hindsight.open(tmp_path / "d", query_timeout_s=0.05) as hs, pytest.raises(QueryTimeout):
        hs.sql(longer)  # its reading alone takes some 0.5 s
