"""Ingest's native fast path (native/, in Rust), where it was built.

In the first stage it parses a batch's lines into the tables `normalise.normalise` makes
(`_hdr`, `_rows`), with each row's identity computed beside it (the `rhs`/`rht` columns that
`normalise.hash_rows` takes when given), each query's columns, each line's sums of identities
(`line_sums`), the dedupe keys (`dedupe_keys`) and event rows read into their columns
(`event_rows`), for every line it can vouch for: the common
shapes, with string, integer, boolean and null values. It defers every other line (a double, a
nested value, a repeated key, a status line, invalid JSON, ...) to the SQL path, the
reference, which then reads only those. In the writer, `apply_streams` groups and classifies
the executions and builds the intervals in one pass. tests/store/test_native.py compares the
two paths on every kind of line and a whole store written either way;
tests/intervals/ compares the stream step with the reference and the SQL.

The library is a C ABI read through ctypes (no Python object per line or row): its columns
become Arrow arrays without a copy. It is built by `pip install` where cargo and Debian's
`librust-serde-json-dev`, `librust-memchr-dev` and `librust-ahash-0.7-dev` are (pyproject.toml;
.cargo/config.toml builds offline). Where it is not, ingest runs the SQL path alone
(HINDSIGHT_NATIVE=auto), slower and otherwise the same.

Modules: `load` (finding, loading and checking the library), `ffi` (columns in and out of it),
`first_stage` (a batch parsed, its keys), `scan` (the reader's test and split of a block) and
`streams` (the writer's stream step).
"""

from hindsight.store.native.first_stage import (
    SHAPE_SQL,
    NativeBatch,
    Normalised,
    batch_keys,
    coded_header,
    dedupe_keys,
    event_rows,
    first_rows,
    identities,
    line_sums,
    materialize,
    normalise,
    parse,
    relations,
)
from hindsight.store.native.load import (
    BUILD_HINT,
    SLOWER,
    NativeFailed,
    NativeUnavailable,
    available,
    library,
)
from hindsight.store.native.scan import holds, split
from hindsight.store.native.streams import apply_streams, build_intervals

__all__ = [
    "BUILD_HINT",
    "SHAPE_SQL",
    "SLOWER",
    "NativeBatch",
    "NativeFailed",
    "NativeUnavailable",
    "Normalised",
    "apply_streams",
    "available",
    "batch_keys",
    "build_intervals",
    "coded_header",
    "dedupe_keys",
    "event_rows",
    "first_rows",
    "holds",
    "identities",
    "library",
    "line_sums",
    "materialize",
    "normalise",
    "parse",
    "relations",
    "split",
]
