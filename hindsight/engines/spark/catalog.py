"""What the lake's published build holds: per query its kind, columns and data version.

    LAKE/built/CURRENT                    "v<NNNNNNNN>": the published build (one atomic rename)
    LAKE/built/v<N>/build.json            queries (kind, columns, version holding their data,
                                          osquery table since layout 4, columns settled
                                          by a value their type cannot hold),
                                          raw files consumed
    LAKE/built/v<N>/intervals/query=<q>/to_day=<d>/*.parquet  (untyped: _row JSON, _key)
    LAKE/built/v<N>/events/query=<q>/day=<d>/*.parquet
    LAKE/built/v<N>/executions/query=<q>/*.parquet  every execution of a state query, classified
                                          (full_set, added, removed, the four data-quality
                                          signals: counter_gap, reset_with_removed,
                                          removed_not_open, reset_closed_rows)
    LAKE/built/v<N>/streams/*.parquet     each stream's last execution (for extension)
    LAKE/built/v<N>/query_hosts/*.parquet every (query, host) with lines, first and last seen
                                          (layout 4; every query, rewritten whole by each build)

A query untouched by a build keeps its data in the version that last wrote it. The query catalog
is the embedded store's own `Catalog` over an in-memory DuckDB, filled from build.json, so query
names, kinds and column types resolve exactly as they do embedded.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow.fs as pafs

from hindsight.lake.layout import LakePaths, publish_bytes
from hindsight.osquery.schema import table_for_query
from hindsight.store.catalog import Catalog
from hindsight.store.fit import Misfit
from hindsight.store.layout import DDL

CURRENT = "CURRENT"
#: Version of the built layout: 2 added executions/, 3 their removed_not_open and
#: reset_closed_rows, 4 query_hosts/ (the hosts that reported each query, first and last seen).
LAYOUT = 4
#: A build of an older layout than this is rebuilt whole by the next build; a layout-3 build is
#: extended (the next build reads query_hosts/ from every raw file, its intervals stay).
REBUILD_BELOW = 3


@dataclass(frozen=True)
class QueryBuild:
    kind: str  # "state" or "event"
    columns: tuple[str, ...]
    version: int  # the build whose directory holds this query's data
    # the columns settled by a value their type cannot hold (store.fit: made text, or loose),
    # each with the first such value (by instant, then host), as the embedded store settles them
    settled: tuple[Misfit, ...] = ()
    held: tuple[str, ...] = ()  # the typed columns that held a value that fits

    def settles(self, column: str) -> bool:
        return any(m.column == column for m in self.settled)


@dataclass(frozen=True)
class Build:
    """One published build of the lake."""

    version: int
    queries: dict[str, QueryBuild] = field(default_factory=dict)
    consumed: tuple[str, ...] = ()  # raw files read so far
    layout: int = LAYOUT

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "layout": self.layout,
                "version": self.version,
                "consumed": list(self.consumed),
                "queries": {
                    q: {
                        "kind": b.kind,
                        "columns": list(b.columns),
                        "version": b.version,
                        "os_table": os_table(q, b.columns),
                        "settled": [dataclasses.asdict(m) for m in b.settled],
                        "held": list(b.held),
                    }
                    for q, b in sorted(self.queries.items())
                },
            }
        ).encode()

    @classmethod
    def from_json(cls, body: bytes) -> Build:
        doc: dict[str, Any] = json.loads(body)
        queries = {
            q: QueryBuild(
                v["kind"],
                tuple(v["columns"]),
                v["version"],
                tuple(Misfit(**m) for m in v.get("settled", ())),
                tuple(v.get("held", ())),
            )
            for q, v in doc["queries"].items()
        }
        return cls(doc["version"], queries, tuple(doc["consumed"]), int(doc.get("layout", 1)))


def os_table(query: str, columns: tuple[str, ...]) -> str | None:
    """The osquery table the query reads, as the store's catalog resolves it (layout 4 writes it
    in build.json, for engines reading the lake without Hindsight; Hindsight resolves it again)."""
    schema = table_for_query(query, set(columns))
    return schema.name if schema else None


def version_dir(paths: LakePaths, version: int) -> str:
    return f"{paths.root}/built/v{version:08d}"


def data_root(paths: LakePaths, build: QueryBuild) -> str:
    """The dataset (partitioned by query) holding a query's built data. Its `query=` directory
    is written by Spark (Hive escaping): readers filter on the partition column."""
    kind = "events" if build.kind == "event" else "intervals"
    return f"{version_dir(paths, build.version)}/{kind}"


def executions_root(paths: LakePaths, build: QueryBuild) -> str:
    """The dataset (partitioned by query) holding a state query's executions."""
    return f"{version_dir(paths, build.version)}/executions"


def current(paths: LakePaths) -> Build | None:
    """The published build (None before the first one)."""
    pointer = f"{paths.root}/built/{CURRENT}"
    if paths.fs.get_file_info(pointer).type != pafs.FileType.File:
        return None
    with paths.fs.open_input_stream(pointer) as f:
        version = int(f.read().decode().strip().lstrip("v"))
    with paths.fs.open_input_stream(f"{version_dir(paths, version)}/build.json") as f:
        return Build.from_json(f.read())


def publish(paths: LakePaths, build: Build) -> None:
    """Write the build's metadata, then point CURRENT at it (one atomic rename)."""
    publish_bytes(paths.fs, f"{version_dir(paths, build.version)}/build.json", build.as_json())
    publish_bytes(paths.fs, f"{paths.root}/built/{CURRENT}", f"v{build.version:08d}\n".encode())


def lake_catalog(queries: dict[str, QueryBuild], event_patterns: tuple[str, ...]) -> Catalog:
    con = duckdb.connect()
    con.execute(DDL)
    catalog = Catalog(con, event_patterns)
    for q, b in queries.items():
        for m in b.settled:
            (catalog.as_loose if m.loose else catalog.as_text).setdefault(q, set()).add(m.column)
    catalog.queries_of({name: queries[name].columns for name in sorted(queries)})
    return catalog
