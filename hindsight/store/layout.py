"""The embedded store's layout: DDL and the names of per-query tables.

Per state query `q` (id N): `cur_N` holds the open intervals (the state now, small, hot) and
`hist_N` the closed ones (append-only, re-sorted by the table's lookup key on compaction so
row-group statistics prune as-of lookups). Per event query: `ev_N`. Internal columns start with
`_` so they never collide with osquery's: `_host` (host id), `_from`/`_to` (unixTime, [from, to)),
`_n` (instance number among identical rows), `_rh` (row hash), `_time` (an event's own time).
"""

from __future__ import annotations

LAYOUT_VERSION = "5"  # 2: row and line hashes computed in SQL, not xxh3 in Python;
# 3: line keys of 64 bits (32 bits confused distinct lines of one large execution);
# 4: a double logged with numerics on identified by osquery's text of it with numerics off;
# 5: raw chunks by column (store/chunks.py), which a Hindsight of layout 4 would misread
# (store.migrate brings a store of layout 3 or 4 to it)
#: Row and line identities use DuckDB's hash(); a store records what it gave for this value, so
#: that a DuckDB whose hash() differs is caught at open instead of silently splitting identities.
HASH_CANARY_SQL = "SELECT hash('hindsight', 1001, 'canary')::VARCHAR"
OPEN_END = 9223372036854775807  # _to of an interval still open
#: the tables' and views' own columns, which no osquery column may be named (store/columns.py)
INTERNAL_COLUMNS = frozenset({"_host", "_from", "_to", "_n", "_rh", "_unix", "_time"})
STATUS_QUERY_ID = 0  # raw chunks of status lines

DDL = """
CREATE TABLE IF NOT EXISTS meta(key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS hosts(
    host_id INTEGER PRIMARY KEY, host_key VARCHAR UNIQUE, first_seen BIGINT, last_seen BIGINT);
CREATE TABLE IF NOT EXISTS host_names(
    host_id INTEGER, identifier VARCHAR, first_seen BIGINT, last_seen BIGINT,
    PRIMARY KEY (host_id, identifier));
CREATE TABLE IF NOT EXISTS queries(
    query_id INTEGER PRIMARY KEY, name VARCHAR UNIQUE, kind VARCHAR, os_table VARCHAR,
    first_seen BIGINT, last_seen BIGINT, sorted_rows BIGINT DEFAULT 0);
CREATE TABLE IF NOT EXISTS query_columns(
    query_id INTEGER, name VARCHAR, type VARCHAR, position INTEGER, PRIMARY KEY (query_id, name));
CREATE TABLE IF NOT EXISTS streams(
    host_id INTEGER, query_id INTEGER, last_time BIGINT, last_epoch BIGINT, last_counter BIGINT,
    last_snapshot BOOLEAN, epoch BIGINT, counter BIGINT, PRIMARY KEY (host_id, query_id));
CREATE TABLE IF NOT EXISTS executions(
    host_id INTEGER, query_id INTEGER, unix_time BIGINT, epoch BIGINT, counter BIGINT,
    full_set BOOLEAN, added INTEGER, removed INTEGER);
-- the dedupe counts what the raw archive holds (store.archive); stores before it kept keys
DROP TABLE IF EXISTS seen;
-- `data` is zstd already: DuckDB's analysis for FSST and dictionary finds nothing there (0.1 of
-- a checkpoint's 0.16 s after the mixed bench file's ingest), nor does its zstd layout, chosen
-- for how it packs long values: densely, where its uncompressed layout gives each segment
-- overflow blocks of their own (bench_ingest's stores 4-7 % smaller; checkpoint 13 against 6 ms
-- for 1.3 MB of chunks).
CREATE TABLE IF NOT EXISTS raw_chunks(
    host_id INTEGER, query_id INTEGER, min_time BIGINT, max_time BIGINT, lines INTEGER,
    data BLOB USING COMPRESSION zstd);
CREATE TABLE IF NOT EXISTS rejects(
    source VARCHAR, line BIGINT, reason VARCHAR, size BIGINT,
    data BLOB USING COMPRESSION zstd, rejected_at BIGINT);
CREATE TABLE IF NOT EXISTS status_logs(
    host_id INTEGER, identifier VARCHAR, unix_time BIGINT, severity INTEGER, filename VARCHAR,
    line INTEGER, message VARCHAR, version VARCHAR);
CREATE TABLE IF NOT EXISTS quality(
    host_id INTEGER, query_id INTEGER, unix_time BIGINT, kind VARCHAR, detail VARCHAR);
-- derived from the names hosts report (store.identity): runs of one name; hosts another host
-- key took over, and when
CREATE TABLE IF NOT EXISTS host_runs(
    host_id INTEGER, identifier VARCHAR, first_seen BIGINT, last_seen BIGINT);
CREATE TABLE IF NOT EXISTS host_ends(host_id INTEGER PRIMARY KEY, since BIGINT);
-- typed columns that read NULL for a value their type cannot hold (store.fit)
CREATE TABLE IF NOT EXISTS loose_columns(query_id INTEGER, name VARCHAR, PRIMARY KEY (query_id, name));
"""

#: Columns that as-of lookups filter on, per osquery table: hist tables are sorted by them.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "interface_addresses": ("address",),
    "interface_details": ("mac",),
    "arp_cache": ("address",),
    "users": ("uid",),
    "groups": ("gid",),
    "user_groups": ("uid",),
    "logged_in_users": ("user",),
    "mounts": ("path",),
    "usb_devices": ("serial",),
    "block_devices": ("serial",),
    "logical_drives": ("device_id",),
    "processes": ("pid",),
    "listening_ports": ("port",),
    "process_open_sockets": ("remote_address",),
    "system_info": ("hostname",),
    "etc_hosts": ("address",),
}


def cur_table(query_id: int) -> str:
    return f"cur_{query_id}"


def hist_table(query_id: int) -> str:
    return f"hist_{query_id}"


def event_table(query_id: int) -> str:
    return f"ev_{query_id}"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
