"""SQL for the relations time-travel queries read: a query's state as of T, its intervals, its
events. Written once as DuckDB SQL text; the scale-out engine translates it with sqlglot.
"""

from __future__ import annotations

from hindsight.query.names import exposed
from hindsight.store.catalog import QueryInfo
from hindsight.store.layout import OPEN_END, cur_table, event_table, hist_table, quote


def _cols(info: QueryInfo, prefix: str = "iv.") -> str:
    return "".join(f", {prefix}{quote(c)} AS {quote(exposed(c))}" for c in info.columns)


def _raw_cols(info: QueryInfo) -> str:
    return "".join(f", {quote(c)}" for c in info.columns)


def hosts_as_of(at: int) -> str:
    """host_id -> identifier reported as of `at` (the earliest one before the host appeared)."""
    return (
        "(SELECT n.host_id, any_value(h.host_key) AS host_key, coalesce("
        f"arg_max(n.identifier, n.first_seen) FILTER (WHERE n.first_seen <= {at}), "
        "arg_min(n.identifier, n.first_seen)) AS host "
        "FROM host_names n JOIN hosts h USING (host_id) GROUP BY n.host_id)"
    )


#: The data-quality signal of a host key two machines seem to share.
SHARED = "identity_shared"


def shared_identities() -> str:
    """Data-quality signals (host_key, query, unix_time, kind, detail) of hosts that reported
    two identifiers in spans of time that overlap (or one inside the other): a rename ends one
    name before the next begins, but cloned VMs keep their image's hardware uuid (`host_uuid`) and each reports its
    own hostname, so one host in the store holds two machines' rows, each machine's executions
    replacing the other's. (Or the host was renamed back.)"""
    return (
        "SELECT h.host_key, CAST(NULL AS VARCHAR) AS query, "
        "greatest(a.first_seen, b.first_seen) AS unix_time, "
        f"'{SHARED}' AS kind, 'reported as ' || a.identifier || ' and as ' || b.identifier || "
        "' in overlapping spans of time: two machines may share this host key (cloned VMs with "
        "one hardware uuid?) and their results mix; or the host was renamed back' AS detail "
        "FROM host_names a JOIN host_names b ON a.host_id = b.host_id AND a.identifier < b.identifier "
        "JOIN hosts h ON h.host_id = a.host_id "
        # (spans that overlap, or one strictly inside the other: a rename may put both names
        # in one second, the last of one and the first of the other)
        "WHERE least(a.last_seen, b.last_seen) > greatest(a.first_seen, b.first_seen) "
        "OR (a.first_seen < b.first_seen AND b.last_seen < a.last_seen) "
        "OR (b.first_seen < a.first_seen AND a.last_seen < b.last_seen)"
    )


def state_as_of(info: QueryInfo, at: int, host_ids: list[int] | None = None) -> str:
    """Rows of a state query valid at `at`: the latest execution at or before `at`."""
    only = f" AND _host IN ({', '.join(map(str, host_ids))})" if host_ids is not None else ""
    cols = _raw_cols(info)
    return (
        f"(SELECT h.host, h.host_key{_cols(info)} FROM ("
        f"SELECT _host{cols} FROM {cur_table(info.query_id)} WHERE _from <= {at}{only} "
        f"UNION ALL SELECT _host{cols} FROM {hist_table(info.query_id)} "
        f"WHERE _from <= {at} AND {at} < _to{only}) iv "
        f"JOIN {hosts_as_of(at)} h ON h.host_id = iv._host)"
    )


def intervals(info: QueryInfo, since: int | None = None, until: int | None = None) -> str:
    """Every interval of a state query (optionally those overlapping [since, until]), with
    valid_from and valid_to (NULL while open)."""
    cols = _raw_cols(info)
    cur_where = f" WHERE _from <= {until}" if until is not None else ""
    hist_conds = [f"_from <= {until}"] if until is not None else []
    if since is not None:
        hist_conds.append(f"_to > {since}")
    hist_where = f" WHERE {' AND '.join(hist_conds)}" if hist_conds else ""
    return (
        f"(SELECT hn.identifier AS host, hs.host_key, iv._from AS valid_from, "
        f"nullif(iv._to, {OPEN_END}) AS valid_to"
        f"{_cols(info)} FROM ("
        f"SELECT _host, _from, {OPEN_END}::BIGINT AS _to{cols} FROM {cur_table(info.query_id)}{cur_where} "
        f"UNION ALL SELECT _host, _from, _to{cols} FROM {hist_table(info.query_id)}{hist_where}) iv "
        "JOIN hosts hs ON hs.host_id = iv._host "
        "ASOF LEFT JOIN host_names hn ON hn.host_id = iv._host AND iv._from >= hn.first_seen)"
    )


def events(info: QueryInfo) -> str:
    """Every event row of an event query, with its host as of the line's unixTime."""
    time_col = "" if "time" in info.columns else ", ev._time AS time"
    return (
        f"(SELECT hn.identifier AS host, hs.host_key{time_col}{_cols(info, 'ev.')} "
        f"FROM {event_table(info.query_id)} ev JOIN hosts hs ON hs.host_id = ev._host "
        "ASOF LEFT JOIN host_names hn ON hn.host_id = ev._host AND ev._unix >= hn.first_seen)"
    )
