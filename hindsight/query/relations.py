"""SQL for the relations time-travel queries read: a query's state as of T, its intervals, its
events. Written once as DuckDB SQL text; the scale-out engine translates it with sqlglot.
"""

from __future__ import annotations

from hindsight.query.names import exposed
from hindsight.store.catalog import QueryInfo
from hindsight.store.layout import OPEN_END, cur_table, event_table, hist_table, quote


def _cols(info: QueryInfo, prefix: str = "iv.") -> str:
    return "".join(f", {prefix}{quote(c)} AS {quote(exposed(c))}" for c in info.columns)


def _raw_cols(info: QueryInfo, prefix: str = "") -> str:
    return "".join(f", {prefix}{quote(c)}" for c in info.columns)


def name_runs(observations: str) -> str:
    """`(host_id, identifier, first_seen, last_seen)`: the runs of OBSERVATIONS `(host_id,
    identifier, t)`, each the longest span of one host's consecutive observations (by t, then
    identifier) of one name. A host's name as of T is that of its last run begun at or before T:
    a host renamed and renamed back is named by its runs, where its spans per name
    (`host_names`) overlap. Engines keep them as `host_runs`."""
    runs = (
        "SELECT host_id, identifier, min(t) AS first_seen, max(t) AS last_seen FROM ("
        "SELECT *, sum(brk) OVER (PARTITION BY host_id ORDER BY t, identifier "
        "ROWS UNBOUNDED PRECEDING) AS run FROM ("
        "SELECT *, CASE WHEN lag(identifier) OVER (PARTITION BY host_id ORDER BY t, identifier) "
        "= identifier THEN 0 ELSE 1 END AS brk FROM ("
        f"SELECT DISTINCT host_id, identifier, t FROM ({observations}) o) d) k) g "
        "GROUP BY host_id, run, identifier"
    )
    # a run another begins in the same second with (two names in one second) names the host at
    # no instant: left out, so that no engine has two runs to choose from at one instant
    return (
        "SELECT host_id, identifier, first_seen, last_seen FROM (SELECT *, lead(first_seen) OVER "
        f"(PARTITION BY host_id ORDER BY first_seen, identifier) AS _next FROM ({runs}) r) x "
        "WHERE _next IS NULL OR _next > first_seen"
    )


#: The order of a host's runs (`n`): two names in one second are ordered by name, as runs are.
RUN_ORDER = "struct_pack(f := n.first_seen, i := n.identifier)"


def split_runs(runs: str, points: str, host: str) -> str:
    """`(HOST, lo, hi)`: per host, the span of its RUNS `(HOST, identifier, first_seen,
    last_seen)` that a line of POINTS `(HOST, identifier, t)` of another name falls inside, in
    the order of runs (by time, then name: a line in a run's first or last second may split
    it). Where the run's name resumes after such a line depends on the run's lines inside,
    which its ends do not tell: an engine reads them back over that span."""
    return (
        f"SELECT s.{host}, min(o.first_seen) AS lo, max(o.last_seen) AS hi FROM {points} s "
        f"JOIN {runs} o ON o.{host} = s.{host} AND o.identifier <> s.identifier "
        f"AND {_before('o.first_seen', 'o.identifier', 's.t', 's.identifier')} "
        f"AND {_before('s.t', 's.identifier', 'o.last_seen', 'o.identifier')} GROUP BY s.{host}"
    )


def _before(t1: str, name1: str, t2: str, name2: str) -> str:
    """Whether the line (T1, NAME1) comes before (T2, NAME2) in the order of a host's runs."""
    return f"({t1} < {t2} OR ({t1} = {t2} AND {name1} < {name2}))"


def hosts_as_of(at: int) -> str:
    """host_id -> identifier reported as of `at` (the earliest one before the host appeared)."""
    return (
        "(SELECT n.host_id, any_value(h.host_key) AS host_key, coalesce("
        f"arg_max(n.identifier, {RUN_ORDER}) FILTER (WHERE n.first_seen <= {at}), "
        f"arg_min(n.identifier, {RUN_ORDER})) AS host "
        "FROM host_runs n JOIN hosts h USING (host_id) GROUP BY n.host_id)"
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


#: The data-quality signal of a host that goes on under another host key.
CONTINUED = "identity_continued"


def _successions(among: str | None = None) -> str:
    """Host A whose reported name is reported by host B from `since` on, at or after A's last
    line, where one of the two is keyed by that name itself (it sent no uuid decoration): one
    machine that began (or stopped) sending a `host_uuid` decoration, or whose
    `--host_identifier=uuid` spelled the uuid in upper case, goes on under a new host key.
    AMONG: a relation `(host_id)`, the hosts A taken (default: every host)."""
    only = f" AND a.host_id IN (SELECT host_id FROM {among})" if among else ""
    return (
        "SELECT a.host_id, a.host_key, an.identifier, b.host_id AS next_id, "
        "bh.host_key AS next_key, b.first_seen AS since "
        "FROM hosts a JOIN host_names an ON an.host_id = a.host_id "
        "JOIN host_names b ON b.identifier = an.identifier AND b.host_id <> a.host_id "
        "JOIN hosts bh ON bh.host_id = b.host_id "
        "WHERE (a.host_key = an.identifier OR bh.host_key = an.identifier) "
        f"AND b.first_seen >= a.last_seen{only}"
    )


def superseded(among: str | None = None) -> str:
    """`(host_id, since)`: hosts that another host key took over (`_successions`) and when:
    their state ends there, as if a last execution had returned no rows. Engines keep it as
    table `host_ends`, which the relations below read (computed here, it would cost each
    lookup more than the lookup itself). AMONG: a relation `(host_id)`, the hosts taken
    (default: every host)."""
    return (
        f"(SELECT host_id, min(since) AS since FROM ({_successions(among)}) x GROUP BY host_id)"
    )


def sharing(hosts: str) -> str:
    """`(host_id)`: HOSTS (a relation with `host_id`) that report a name another host reports
    too, and those other hosts: the hosts whose `superseded` row a change to HOSTS' names or
    spans can change (a succession needs a name two hosts report)."""
    return (
        "SELECT DISTINCT unnest([n.host_id, o.host_id]) AS host_id FROM host_names n "
        "JOIN host_names o ON o.identifier = n.identifier AND o.host_id <> n.host_id "
        f"WHERE n.host_id IN (SELECT host_id FROM {hosts})"
    )


def continued_identities() -> str:
    """Data-quality signals (host_key, query, unix_time, kind, detail) of `superseded` hosts."""
    return (
        "SELECT s.host_key, CAST(NULL AS VARCHAR) AS query, s.since AS unix_time, "
        f"'{CONTINUED}' AS kind, 'host ' || s.next_key || ' reports its name ' || s.identifier || "
        "' from here on, after its last line: its state ends here (the machine began or stopped "
        "sending a uuid decoration?)' AS detail "
        "FROM (" + _successions() + ") s JOIN host_ends f ON f.host_id = s.host_id "
        "AND f.since = s.since"
    )


def capped(parts: str, columns: str = "") -> str:
    """Intervals `(_host, _from, _to, COLUMNS)` of PARTS (`_to` OPEN_END while open) ended where
    their host was superseded. COLUMNS: the other columns, each `, iv.<name>`."""
    return (
        f"(SELECT iv._host, iv._from, least(iv._to, coalesce(s.since, {OPEN_END})) AS _to"
        f"{columns} FROM ({parts}) iv LEFT JOIN host_ends s ON s.host_id = iv._host "
        "WHERE s.since IS NULL OR iv._from < s.since)"
    )


def state_as_of(info: QueryInfo, at: int, host_ids: list[int] | None = None) -> str:
    """Rows of a state query valid at `at`: the latest execution at or before `at` (none from
    the instant another host key took the host over: `superseded`)."""
    only = f" AND _host IN ({', '.join(map(str, host_ids))})" if host_ids is not None else ""
    cols = _raw_cols(info)
    return (
        f"(SELECT h.host, h.host_key{_cols(info)} FROM ("
        f"SELECT _host{cols} FROM {cur_table(info.query_id)} WHERE _from <= {at}{only} "
        f"UNION ALL SELECT _host{cols} FROM {hist_table(info.query_id)} "
        f"WHERE _from <= {at} AND {at} < _to{only}) iv "
        f"JOIN {hosts_as_of(at)} h ON h.host_id = iv._host "
        f"WHERE iv._host NOT IN (SELECT host_id FROM host_ends WHERE since <= {at}))"
    )


def intervals(info: QueryInfo, since: int | None = None, until: int | None = None) -> str:
    """Every interval of a state query (optionally those overlapping [since, until]), with
    valid_from and valid_to (NULL while open)."""
    cur_where = f" WHERE _from <= {until}" if until is not None else ""
    hist_conds = [f"_from <= {until}"] if until is not None else []
    if since is not None:
        hist_conds.append(f"_to > {since}")
    hist_where = f" WHERE {' AND '.join(hist_conds)}" if hist_conds else ""
    parts = _parts(info, cur_where, hist_where)
    # (an interval the end of its host cut may no longer reach SINCE)
    after = f" WHERE iv._to > {since}" if since is not None else ""
    return (
        f"(SELECT hn.identifier AS host, hs.host_key, iv._from AS valid_from, "
        f"nullif(iv._to, {OPEN_END}) AS valid_to"
        f"{_cols(info)} FROM {capped(parts, _raw_cols(info, 'iv.'))} iv "
        "JOIN hosts hs ON hs.host_id = iv._host "
        f"ASOF LEFT JOIN host_runs hn ON hn.host_id = iv._host AND iv._from >= hn.first_seen{after})"
    )


def _parts(info: QueryInfo, cur_where: str = "", hist_where: str = "") -> str:
    """`(_host, _from, _to, <raw columns>)`: a state query's open intervals (`_to` OPEN_END) and
    closed ones, each filtered by its WHERE clause."""
    cols = _raw_cols(info)
    return (
        f"SELECT _host, _from, {OPEN_END}::BIGINT AS _to{cols} FROM {cur_table(info.query_id)}{cur_where} "
        f"UNION ALL SELECT _host, _from, _to{cols} FROM {hist_table(info.query_id)}{hist_where}"
    )


def named_intervals(info: QueryInfo) -> str:
    """Every interval of a state query, cut where its host's name changes: each piece named as
    its host was over it, from `_named_from` to `_named_to` (OPEN_END while open). State as of
    an instant each row of another table gives (`FOR SYSTEM_TIME AS OF e.time`) is the piece
    over that instant, so `host` is the host's name then, not when the row appeared; valid_from
    and valid_to stay the interval's."""
    parts = _parts(info)
    # each run names the host from its start to the next run's (the first also before it)
    order = "PARTITION BY host_id ORDER BY first_seen, identifier"
    spans = (
        "SELECT host_id, identifier, CASE WHEN lag(first_seen) OVER "
        f"({order}) IS NULL THEN {-OPEN_END - 1} ELSE first_seen END AS _s, "
        f"coalesce(lead(first_seen) OVER ({order}), {OPEN_END}) AS _e FROM host_runs"
    )
    return (
        f"(SELECT sp.identifier AS host, hs.host_key, iv._from AS valid_from, "
        f"nullif(iv._to, {OPEN_END}) AS valid_to, greatest(iv._from, sp._s) AS _named_from, "
        f"least(iv._to, sp._e) AS _named_to{_cols(info)} "
        f"FROM {capped(parts, _raw_cols(info, 'iv.'))} iv JOIN hosts hs ON hs.host_id = iv._host "
        "JOIN (" + spans + ") sp ON sp.host_id = iv._host AND sp._s < iv._to AND iv._from < sp._e)"
    )


def events(info: QueryInfo) -> str:
    """Every event row of an event query, with its host as of the line's unixTime."""
    time_col = "" if "time" in info.columns else ", ev._time AS time"
    return (
        f"(SELECT hn.identifier AS host, hs.host_key{time_col}{_cols(info, 'ev.')} "
        f"FROM {event_table(info.query_id)} ev JOIN hosts hs ON hs.host_id = ev._host "
        "ASOF LEFT JOIN host_runs hn ON hn.host_id = ev._host AND ev._unix >= hn.first_seen)"
    )
