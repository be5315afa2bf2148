"""The first stage of ingest, on its own connection: a batch's lines parsed into tables of a
shared in-memory database, while the writer (the second stage, on the store's connection)
applies the batch before. DuckDB releases the GIL, so the two stages use both cores; the
writer's transaction still holds every durable write of a batch."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import duckdb

from hindsight.osquery.reader import Line
from hindsight.store import normalise as nm

#: The in-memory database the stages share (attached databases are seen by every connection).
SCRATCH = "hindsight_scratch"


@dataclass
class Prepared:
    """A batch parsed: `{tables}_hdr` and `{tables}_rows` hold its kept lines (see normalise)."""

    lines: list[Line]
    kept: list[Line]  # the lines without a read error, indexed by the tables' `i`
    fallback: nm.Fallback
    tables: str


class Preparer:
    """Parses batches on a cursor of the store's connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con.cursor()
        self.con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {SCRATCH}")
        self.numbers = itertools.count()

    def prepare(self, lines: list[Line]) -> Prepared:
        kept = [ln for ln in lines if ln.error is None]
        tables = f"{SCRATCH}.b{next(self.numbers)}"
        fallback = nm.normalise(
            self.con, [ln.raw for ln in kept], [ln.parsed for ln in kept], "_p", into=tables
        )
        return Prepared(lines, kept, fallback, tables)

    def prepare_all(self, batches: Iterable[list[Line]]) -> Iterator[Prepared]:
        for batch in batches:
            yield self.prepare(batch)

    def close(self) -> None:
        """Drop what was parsed and not written (batches prepared ahead of a failed write)."""
        self.con.execute(f"DETACH DATABASE IF EXISTS {SCRATCH}")
        self.con.close()


def release(con: duckdb.DuckDBPyConnection, prepared: Prepared) -> None:
    """Drop a batch's tables once written."""
    for part in ("hdr", "rows"):
        con.execute(f"DROP TABLE IF EXISTS {prepared.tables}_{part}")
