"""Timelines (intervals in time order, with the gaps where nothing is known) and diffs."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import orjson

from hindsight.errors import InputError
from hindsight.investigate.base import EVIDENCE_COLUMNS, Base, Row, stamp, with_evidence
from hindsight.investigate.evidence import Edge, checkins, gather
from hindsight.investigate.source import MissingTable, Window, literal, state_sql
from hindsight.investigate.who import address_filter, contains, parse_address
from hindsight.query.names import resolve_query
from hindsight.store.layout import OPEN_END, quote

if TYPE_CHECKING:
    from hindsight.api import Result

TIMELINE_COLUMNS = ("what", "host", "host_key", "query", "detail", *EVIDENCE_COLUMNS)


def _finish(
    inv: Base, found: list[tuple[str, str, Row]], since: int | None, until: int | None, gaps: bool
) -> Result:
    """Rows with evidence, host names and (optionally) gaps where no interval covers time."""
    rows = [r for _, _, r in found]
    names = inv.names_each([(r["_host"], r["_from"]) for r in rows])
    out: list[Row] = []
    for (what, detail, r), ev, (host, key) in zip(
        found, inv.evidence(rows, None), names, strict=True
    ):
        query = inv.catalog.by_id(r["_q"]).name
        out.append(
            {
                **with_evidence(r, ev),
                "what": what,
                "detail": detail,
                "host": host,
                "host_key": key,
                "query": query,
            }
        )
    out.sort(key=lambda r: (r["valid_from"], r["host"]))
    return inv.answer(TIMELINE_COLUMNS, _with_gaps(out, since, until) if gaps else out)


def _with_gaps(rows: list[Row], since: int | None, until: int | None) -> list[Row]:
    out: list[Row] = []
    covered = since
    for r in rows:
        if covered is not None and r["valid_from"] > covered:
            out.append(
                {
                    "what": "gap",
                    "detail": "no recorded host had it",
                    "valid_from": covered,
                    "valid_to": r["valid_from"],
                }
            )
        out.append(r)
        end = r["valid_to"]
        covered = end if covered is None else max(covered, end)
    if until is not None and covered is not None and covered < until:
        out.append(
            {
                "what": "gap",
                "detail": "no recorded host had it",
                "valid_from": covered,
                "valid_to": until,
            }
        )
    return out


def timeline_ip(inv: Base, address: str, since: int | None, until: int | None) -> Result:
    """Every host that had ADDRESS, in time order, with the gaps when none had it."""
    net = parse_address(address)
    if not inv.queries("interface_addresses"):
        raise MissingTable("interface_addresses", "state")
    window = Window(since=since, until=until)
    rows = inv.state("interface_addresses", ("interface", "address"), address_filter(net), window)
    found = [
        ("address", f"{r['address']} on {r['interface']}", r)
        for r in rows
        if contains(net, r["address"])
    ]
    return _finish(inv, found, since, until, gaps=True)


def timeline_user(inv: Base, name: str, since: int | None, until: int | None) -> Result:
    """The accounts named NAME on every host and their login sessions, in time order."""
    window = Window(since=since, until=until)
    found = [
        ("account", f"uid {r['uid']} home {r['directory']}", r)
        for r in inv.state(
            "users", ("uid", "username", "directory"), f"username = {literal(name)}", window
        )
    ]
    found += [
        ("session", f"{r['type']} {r['tty']} from {r['host']}".strip(), r)
        for r in inv.state(
            "logged_in_users", ("user", "type", "tty", "host"), f"user = {literal(name)}", window
        )
    ]
    return _finish(inv, found, since, until, gaps=False)


def timeline_host(
    inv: Base, host: str, query: str | None, since: int | None, until: int | None
) -> Result:
    """Every interval of HOST's state queries (or QUERY's), in time order, with the gaps where
    the host was silent for longer than the query allows."""
    hosts = inv.host_ids(host)
    infos = (
        [resolve_query(inv.catalog, query)]
        if query
        else [q for q in inv.catalog.queries.values() if not q.is_event]
    )
    found: list[tuple[str, str, Row]] = []
    for info in infos:
        if info.is_event:
            continue
        cols = list(info.columns)
        window = Window(since=since, until=until, hosts=hosts)
        for r in inv.rows(f"SELECT * FROM {state_sql([info], cols, '', window)} ORDER BY _from"):
            detail = orjson.dumps({c: r[c] for c in cols}, default=str).decode()
            found.append(("row", detail, r))
    result = _finish(inv, found, since, until, gaps=False)
    return _with_silences(inv, result, hosts, since, until)


def _with_silences(
    inv: Base, result: Result, hosts: tuple[int, ...] | None, since: int | None, until: int | None
) -> Result:
    """Add 'silent' rows: spans with no line (execution or event) from the host long enough to
    prove it silent. Differential queries log nothing when nothing changed, so only a query that
    logs every run, a snapshot query, proves it: a span longer than `stale_factor` x the
    interval of the host's most frequent snapshot query. A host without one gets none."""
    ids = ", ".join(map(str, hosts or ())) or "NULL"
    lo, hi = since if since is not None else 0, until if until is not None else OPEN_END
    proof = _snapshot_interval(inv, ids)
    if proof is None:
        return result
    name, interval = proof
    limit = int(inv.schedule.tolerance.stale_factor * interval)
    gaps = inv.run(
        f"SELECT prev, t FROM (SELECT unix_time AS t, lag(unix_time) OVER (ORDER BY unix_time) AS prev "
        f"FROM (SELECT DISTINCT t AS unix_time FROM ({checkins(inv.catalog, ids, lo, hi)}))) "
        f"WHERE t - prev > {limit} ORDER BY prev"
    )
    extra = [
        tuple(
            {
                "what": "silent",
                "detail": f"no line for {t - prev} s ({name} logs every run, every {interval} s)",
                "valid_from": stamp(prev),
                "valid_to": stamp(t),
            }.get(c)
            for c in result.columns
        )
        for prev, t in gaps
    ]
    index = result.columns.index("valid_from")
    rows = sorted([*result.rows, *extra], key=lambda r: (r[index] is None, r[index] or 0))
    return replace(result, rows=rows)


def _snapshot_interval(inv: Base, ids: str) -> tuple[str, int] | None:
    """The name and interval of the hosts' most frequent query whose every execution is a whole
    result set (a snapshot query: at least 3 runs recorded), if its interval is known."""
    found = [
        (interval, inv.catalog.by_id(int(q)).name)
        for (q,) in inv.run(
            f"SELECT query_id FROM executions WHERE host_id IN ({ids}) GROUP BY query_id "
            "HAVING bool_and(full_set) AND count(*) >= 3"
        )
        if (interval := inv.schedule.interval(int(q)))
    ]
    if not found:
        return None
    interval, name = min(found)
    return name, interval


DIFF_COLUMNS_HEAD = ("change", "host", "host_key")


def diff(inv: Base, query: str, host: str, t1: int, t2: int) -> Result:
    """Rows of QUERY on HOST added (+) and removed (-) between T1 and T2, with what backs each
    end: the query's last execution at or before it and whether the host was silent then."""
    info = resolve_query(inv.catalog, query)
    if info.is_event:
        raise InputError(f"{info.name} is an event query: diff compares state")
    hosts = inv.host_ids(host)
    cols = list(info.columns)

    def at(t: int) -> str:
        names = ", ".join(quote(c) for c in cols)
        return (
            f"SELECT _host, {names} FROM {state_sql([info], cols, '', Window(at=t, hosts=hosts))}"
        )

    rows = inv.rows(
        f"SELECT '+' AS change, * FROM ({at(t2)} EXCEPT ALL {at(t1)}) "
        f"UNION ALL SELECT '-' AS change, * FROM ({at(t1)} EXCEPT ALL {at(t2)}) ORDER BY ALL"
    )
    ids = sorted(set(hosts or ()))
    ends = {
        t: dict(
            zip(
                ids,
                gather(
                    inv.run,
                    inv.catalog,
                    inv.schedule,
                    [Edge(h, info.query_id, t, OPEN_END) for h in ids],
                    t,
                ),
                strict=True,
            )
        )
        for t in (t1, t2)
    }
    names = inv.names(ids, t2)
    for r in rows:
        first, second = ends[t1][r["_host"]], ends[t2][r["_host"]]
        r.update(
            host=names[r["_host"]][0],
            host_key=names[r["_host"]][1],
            confirmed_from=first.confirmed_at,
            freshness_from=first.freshness,
            confirmed_to=second.confirmed_at,
            freshness_to=second.freshness,
        )
    tail = ("confirmed_from", "freshness_from", "confirmed_to", "freshness_to")
    return inv.answer((*DIFF_COLUMNS_HEAD, *cols, *tail), rows)
