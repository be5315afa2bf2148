"""A Spark result brought to the driver within the bounds the embedded store keeps.

`collect()` of `limit(HINDSIGHT_MAX_ROWS + 1)` bounds the rows, not their bytes: 100,000 rows
of a few MB each would all reach Python before the answer cut them. Here each row's size is
computed in Spark, as the embedded store's fetch sizes rows (`hindsight.api._Sizer`: text by
its length, nested values by their text, other values 16 bytes), with its running total; only
the rows up to the first past HINDSIGHT_MAX_RESPONSE_BYTES are collected.
"""

from __future__ import annotations

from typing import Any

#: The columns added for the bound (the result's own are renamed `_cN` meanwhile: they may
#: repeat a name, `SELECT a.x, b.x`).
_SIZE, _ORDER, _UPTO, _ALL = "_hs_size", "_hs_n", "_hs_upto", "_hs_all"


def collect(df: Any, max_rows: int, max_bytes: int) -> tuple[list[tuple[Any, ...]], str | None]:
    """At most MAX_ROWS rows of DF (in its order), stopping before the row whose values pass
    MAX_BYTES (a first row is kept alone, as the embedded store does), and what cut them:
    "max_rows", "max_bytes" or None."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    names = [f"_c{i}" for i in range(len(df.columns))]
    plain = df.limit(max_rows + 1).toDF(*names)
    size = F.lit(0)
    for name, field in zip(names, plain.schema.fields, strict=True):
        size = size + _size(F, name, field.dataType)
    upto = Window.orderBy(_ORDER).rowsBetween(Window.unboundedPreceding, Window.currentRow)
    sized = plain.select(
        *names, size.alias(_SIZE), F.monotonically_increasing_id().alias(_ORDER)
    ).select(
        "*",
        F.sum(_SIZE).over(upto).alias(_UPTO),
        F.count("*").over(Window.partitionBy()).alias(_ALL),
    )
    # the rows that begin within the bound: those that fit, and the one that passes it
    found = sized.where(F.col(_UPTO) - F.col(_SIZE) <= max_bytes).orderBy(_ORDER).collect()
    rows: list[tuple[Any, ...]] = []
    for row in found:
        if row[_UPTO] > max_bytes and rows:
            return rows, "max_bytes"
        rows.append(tuple(row[: len(names)]))
    if len(rows) > max_rows:
        return rows[:max_rows], "max_rows"
    if found and len(found) < found[0][_ALL]:  # a first row alone past the bound
        return rows, "max_bytes"
    return rows, None


def _size(F: Any, name: str, kind: Any) -> Any:
    """A value's bytes as `api._Sizer` counts them (NULL text: 0)."""
    from pyspark.sql import types as T

    if isinstance(kind, T.StringType):
        return F.coalesce(F.length(name), F.lit(0))
    if isinstance(kind, T.BinaryType):
        return F.coalesce(F.octet_length(name), F.lit(0))
    if isinstance(kind, T.ArrayType | T.MapType | T.StructType):
        return F.coalesce(F.length(F.to_json(name)), F.lit(0))
    return F.lit(16)
