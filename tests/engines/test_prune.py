"""Closed-interval partition pruning added to the relations' SQL (no Spark needed)."""

from __future__ import annotations

import sqlglot

from hindsight.engines.spark.prune import prune_closed


def pruned(sql: str) -> str:
    return prune_closed(sqlglot.parse_one(sql, read="duckdb")).sql(dialect="duckdb")


def test_as_of_and_between_prune_closed_partitions() -> None:
    as_of = pruned("SELECT _host FROM hist_3 WHERE _from <= 1718280000 AND 1718280000 < _to")
    assert as_of.endswith("AND to_day >= '2024-06-13'")
    between = pruned("SELECT _host FROM hist_3 WHERE _from <= 1718400000 AND _to > 1718236800")
    assert between.endswith("AND to_day >= '2024-06-13'")


def test_nothing_else_is_touched() -> None:
    for sql in (
        "SELECT _host FROM cur_3 WHERE _from <= 5",  # open intervals
        "SELECT _host FROM hist_3",  # every interval
        "SELECT _host FROM hist_3 WHERE _from <= 5",  # no bound on _to
        "SELECT _host FROM hist_3 WHERE 99999999999999999 < _to",  # beyond the calendar
        "SELECT x FROM hist_3 h JOIN t ON h._to > 5",  # a join: left alone
    ):
        assert "to_day" not in pruned(sql)
