"""Each console page's data, computed next to the store in one call.

Under `hindsight serve` these run in the store process (`core.store.call("console.ask", ...)`),
so a page costs one round trip; they take an open `Hindsight` and return plain values (lists,
dicts, `Result`) that cross the pipe. Times in and out are unix seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hindsight.console.recognise import Question, recognise
from hindsight.errors import InputError
from hindsight.investigate.enrich import EventFilter, enrich
from hindsight.investigate.source import Window, literal, queries_of, state_sql
from hindsight.query.names import resolve_query
from hindsight.store.layout import OPEN_END, quote
from hindsight.timeparse import in_utc

if TYPE_CHECKING:
    from hindsight.api import Hindsight, Result

Row = dict[str, Any]
DAY = 86_400
#: a timeline spans this much before and after the asked instant
SPAN = 15 * DAY
#: most change points a host's query slider moves through (the latest ones)
MAX_POINTS = 5_000
STRIP_BUCKETS = 96


def unix(value: Any) -> int | None:
    """Unix seconds of a datetime or number (None and the open end stay None)."""
    if value is None or value == OPEN_END:
        return None
    if isinstance(value, datetime):  # a naive one (TIMESTAMP) is UTC, not the server's zone
        return int(in_utc(value).timestamp())
    return int(value)


#: a whole number as typed (ASCII digits only: `str.isdigit` takes '²' and other scripts' digits)
WHOLE = re.compile(r"-?[0-9]{1,18}")


def _rows(hs: Hindsight, sql: str) -> list[Row]:
    return hs._run(sql).dicts()


def _table(result: Result) -> dict[str, Any]:
    return {
        "columns": list(result.columns),
        "rows": [list(r) for r in result.rows],
        "truncated": result.truncated,
    }


def time_range(hs: Hindsight) -> tuple[int, int]:
    """First and last instant the store has seen anything (0, 0 when empty)."""
    lo, hi = hs._run("SELECT min(first_seen), max(last_seen) FROM hosts").rows[0]
    return int(lo or 0), int(hi or 0)


def host_refs(hs: Hindsight, host: str) -> list[tuple[int, str]]:
    """(host id, host key) of every host named HOST: the host whose key it is, else every host
    that ever reported it as an identifier (a name may be several machines: a reimaged or
    cloned one)."""
    ids = hs.host_ids([host])
    rows = hs._run(
        f"SELECT host_id, host_key FROM hosts WHERE host_id IN ({', '.join(map(str, ids))}) "
        "ORDER BY host_id"
    ).rows
    refs = [(int(i), str(k)) for i, k in rows]
    return [r for r in refs if r[1] == host.lower()] or refs


def host_ref(hs: Hindsight, host: str) -> tuple[int, str]:
    """(host id, host key) of the one host named HOST (several: an error naming their keys)."""
    refs = host_refs(hs, host)
    if len(refs) > 1:
        raise InputError(
            f"{host!r} names {len(refs)} hosts: give one of their keys "
            f"({', '.join(k for _, k in refs)})"
        )
    return refs[0]


def hosts_named(hs: Hindsight, refs: list[tuple[int, str]]) -> list[Row]:
    """The hosts REFS to choose from: key, the names each reported, first and last seen."""
    ids = ", ".join(str(i) for i, _ in refs)
    return _rows(
        hs,
        "SELECT any_value(h.host_key) AS host_key, string_agg(DISTINCT n.identifier, ', ') AS names, "
        "any_value(h.first_seen) AS first_seen, any_value(h.last_seen) AS last_seen "
        f"FROM hosts h LEFT JOIN host_names n USING (host_id) WHERE h.host_id IN ({ids}) "
        "GROUP BY h.host_id ORDER BY last_seen DESC",
    )


# -- Ask ------------------------------------------------------------------------------------------
def ask(hs: Hindsight, text: str, kind: str, at: int) -> dict[str, Any]:
    """The answer card and timeline for what the Ask box was given."""
    q = recognise(text, kind)
    if q.kind == "word":
        q = _resolve_word(hs, q.subject)
    if q.kind == "host":
        refs = host_refs(hs, q.subject)
        if len(refs) > 1:
            return {"kind": "hosts", "subject": q.subject, "hosts": hosts_named(hs, refs), "at": at}
        return {"kind": "host", "subject": q.subject, "host_key": refs[0][1], "at": at}
    window = _window(hs, at)
    answer: dict[str, Any] = {
        "kind": q.kind,
        "subject": q.subject,
        "host": q.host,
        "at": at,
        "window": window,
    }
    answer.update(_ANSWERS[q.kind](hs, q, at, window))
    return answer


def _window(hs: Hindsight, at: int) -> tuple[int, int]:
    """The timeline's span: the data's, at most SPAN either side of AT, always holding AT (also
    an instant before or after all the data)."""
    lo, hi = time_range(hs)
    start = min(max(lo, at - SPAN), at)
    end = max(min(max(hi, at), at + SPAN), at)
    return start, max(end, start + 1)


def _resolve_word(hs: Hindsight, word: str) -> Question:
    """A bare word: a host (key or name), else a user name, else a USB serial."""
    if hs._run(
        "SELECT 1 FROM hosts h LEFT JOIN host_names n USING (host_id) "
        f"WHERE h.host_key = {literal(word.lower())} OR n.identifier = {literal(word)} LIMIT 1"
    ).rows:
        return Question("host", word)
    for kind, table, column in (("user", "users", "username"), ("usb", "usb_devices", "serial")):
        queries = queries_of(hs.store.catalog, table)
        if (
            queries
            and hs._run(
                f"SELECT 1 FROM {state_sql(queries, (column,), f'{quote(column)} = {literal(word)}')} LIMIT 1"
            ).rows
        ):
            return Question(kind, word)
    raise InputError(
        f"{word!r} is not a host, user or USB serial this store has seen "
        "(for a uid or a path, type uid@host or path@host)"
    )


def _item(
    group: str,
    label: str,
    start: int,
    end: int | None,
    *,
    cls: str,
    title: str = "",
    host: str | None = None,
    at: int | None = None,
    query: str | None = None,
) -> Row:
    return {
        "group": group,
        "content": label,
        "start": start,
        "end": end,
        "className": cls,
        "title": title or label,
        "host": host,
        "at": at,
        "query": query,
    }


def _evidence_items(row: Row, group: str) -> list[Row]:
    """The windows in which an interval's edges happened, drawn as uncertain spans."""
    items = []
    start, after = unix(row.get("valid_from")), unix(row.get("from_after"))
    if start is not None and after is not None and after < start:
        items.append(
            _item(
                group,
                "",
                after,
                start,
                cls="uncertain",
                title="appeared somewhere in this window (between two executions)",
            )
        )
    end, to_after = unix(row.get("valid_to")), unix(row.get("to_after"))
    if end is not None and to_after is not None and to_after < end:
        items.append(
            _item(
                group,
                "",
                to_after,
                end,
                cls="uncertain",
                title="ended somewhere in this window (between two executions)",
            )
        )
    return items


def _bar(
    row: Row, group: str, label: str, hi: int, at: int, host: str | None, query: str | None = None
) -> Row:
    start = unix(row["valid_from"]) or 0
    end = unix(row.get("valid_to"))
    shown_end = end if end is not None else max(hi, start + 1)
    fresh = row.get("freshness") or "unknown"
    title = (
        f"{label}: from {_iso(start)} to {_iso(end) if end else 'now (still valid)'}; "
        f"freshness {fresh}"
    )
    return _item(
        group,
        label,
        start,
        shown_end,
        cls=f"bar {fresh}",
        title=title,
        host=host,
        at=min(max(at, start), shown_end - 1),
        query=query or row.get("query"),
    )


def _iso(value: int | None) -> str:
    from hindsight.timeparse import format_time

    return format_time(value)


def _ip(hs: Hindsight, q: Question, at: int, window: tuple[int, int]) -> Row:
    card = hs.investigate.who_ip(q.subject, at)
    line = hs.investigate.timeline_ip(q.subject, window[0], window[1])
    items: list[Row] = []
    for r in line.dicts():
        if r["what"] == "gap":
            items.append(
                _item(
                    "",
                    "unknown",
                    unix(r["valid_from"]) or window[0],
                    unix(r["valid_to"]) or window[1],
                    cls="unknown",
                    title="nothing known",
                )
            )
            continue
        items.append(_bar(r, r["host_key"], r["host"], window[1], at, r["host_key"]))
        items.extend(_evidence_items(r, r["host_key"]))
    groups = _groups(items, {r["host_key"]: r["host"] for r in line.dicts() if r["host_key"]})
    return {"card": _table(card), "items": items, "groups": groups}


def _groups(items: list[Row], names: dict[str, str]) -> list[Row]:
    seen = [g for g in dict.fromkeys(i["group"] for i in items) if g]
    return [{"id": g, "content": names.get(g, g)} for g in seen]


def _uid(hs: Hindsight, q: Question, at: int, window: tuple[int, int]) -> Row:
    assert q.host is not None
    card = hs.investigate.who_uid(int(q.subject), q.host, at)
    refs = host_refs(hs, q.host)
    inv = hs.investigate
    items: list[Row] = []
    for host_id, key in refs:  # a name several hosts reported: each one's accounts
        accounts = inv.state(
            "users",
            ("uid", "username"),
            f"uid = {int(q.subject)}",
            Window(since=window[0], until=window[1], hosts=(host_id,)),
        )
        bars = _state_bars(inv, accounts, "username", at, key, window, _query_of(hs, "users"))
        items += _on(bars, key, len(refs))
    return {
        "card": _table(card),
        "items": items,
        "groups": _groups(items, {}),
        "host_key": refs[0][1],
    }


def _on(items: list[Row], key: str, hosts: int) -> list[Row]:
    """Timeline items of one of HOSTS hosts sharing a name: each group says which host (its
    key); the spans where nothing held it are left out (they are one host's, not the name's)."""
    if hosts == 1:
        return items
    for i in items:
        if i["group"]:
            i["group"] = i["content"] = f"{i['group']} on {key}"
    return [i for i in items if i["group"]]


def _state_bars(
    inv: Any,
    rows: list[Row],
    column: str,
    at: int,
    key: str,
    window: tuple[int, int],
    query: str | None = None,
) -> list[Row]:
    """Bars of state intervals (rows from `Base.state`), one group per value of COLUMN, with
    their edge windows and, between them, the spans where nothing held it."""
    evidence = inv.evidence(rows, at) if rows else []
    items: list[Row] = []
    covered = window[0]
    for r, ev in sorted(zip(rows, evidence, strict=True), key=lambda p: p[0]["_from"]):
        row = {
            "valid_from": r["_from"],
            "valid_to": unix(r["_to"]),
            "from_after": ev.from_after,
            "to_after": ev.to_after,
            "freshness": ev.freshness,
        }
        if r["_from"] > covered:
            items.append(
                _item(
                    "",
                    "none",
                    covered,
                    r["_from"],
                    cls="unknown",
                    title="nothing recorded holding it",
                )
            )
        group = str(r[column])
        items.append(_bar(row, group, group, window[1], at, key, query))
        items.extend(_evidence_items(row, group))
        covered = max(covered, unix(r["_to"]) or window[1])
    if covered < window[1]:
        items.append(
            _item(
                "", "none", covered, window[1], cls="unknown", title="nothing recorded holding it"
            )
        )
    return items


def _mount(hs: Hindsight, q: Question, at: int, window: tuple[int, int]) -> Row:
    assert q.host is not None
    card = hs.investigate.who_mount(q.subject, q.host, at)
    refs = host_refs(hs, q.host)
    paths = sorted({str(d["mount_path"]) for d in card.dicts() if d["mount_path"]} | {q.subject})
    items: list[Row] = []
    for host_id, key in refs:  # a name several hosts reported: each one's mounts and drives
        items += _on(_mount_bars(hs, host_id, key, paths, at, window), key, len(refs))
    return {
        "card": _table(card),
        "items": items,
        "groups": _groups(items, {}),
        "host_key": refs[0][1],
    }


def _mount_bars(
    hs: Hindsight, host_id: int, key: str, paths: list[str], at: int, window: tuple[int, int]
) -> list[Row]:
    inv = hs.investigate
    w = Window(since=window[0], until=window[1], hosts=(host_id,))
    mounts = inv.state(
        "mounts", ("path", "device"), f"path IN ({', '.join(map(literal, paths))})", w
    )
    drives = inv.state("usb_devices", ("serial", "removable"), "removable = 1", w)
    items = _state_bars(inv, mounts, "path", at, key, window, _query_of(hs, "mounts"))
    items += [
        i
        for i in _state_bars(inv, drives, "serial", at, key, window, _query_of(hs, "usb_devices"))
        if i["group"]
    ]
    for i in items:
        if i["group"] and i["group"] not in paths:
            i["group"] = f"USB {i['group']}"
            i["content"] = i["group"]
    return items


def _usb(hs: Hindsight, q: Question, at: int, window: tuple[int, int]) -> Row:
    card = hs.investigate.usb(q.subject)
    items: list[Row] = []
    for r in card.dicts():
        if r["what"] == "file":
            t = unix(r["time"]) or 0
            items.append(
                {
                    **_item(
                        r["host_key"],
                        "",
                        t,
                        None,
                        cls="event",
                        title=f"{r['action']} {r['path']}",
                        host=r["host_key"],
                        at=t,
                    ),
                    "type": "point",
                }
            )
        else:
            label = f"{r['what']} {r['path'] or ''}".strip()
            items.append(_bar(r, r["host_key"], label, window[1], at, r["host_key"]))
    names = {r["host_key"]: r["host"] for r in card.dicts()}
    return {"card": _table(card), "items": items, "groups": _groups(items, names)}


def _user(hs: Hindsight, q: Question, at: int, window: tuple[int, int]) -> Row:
    line = hs.investigate.timeline_user(q.subject, window[0], window[1])
    items = [
        _bar(r, r["host_key"], f"{r['what']} {r['detail']}", window[1], at, r["host_key"])
        for r in line.dicts()
    ]
    names = {r["host_key"]: r["host"] for r in line.dicts()}
    return {"card": _table(line), "items": items, "groups": _groups(items, names)}


def _query_of(hs: Hindsight, table: str) -> str | None:
    queries = queries_of(hs.store.catalog, table)
    return queries[0].name if queries else None


_ANSWERS: dict[str, Callable[[Hindsight, Question, int, tuple[int, int]], Row]] = {
    "ip": _ip,
    "uid": _uid,
    "mount": _mount,
    "usb": _usb,
    "user": _user,
}


# -- Host -----------------------------------------------------------------------------------------
def host(hs: Hindsight, name: str) -> dict[str, Any]:
    """Who the host is over time, its recorded queries with their last execution, and a strip of
    changes over time per query."""
    refs = host_refs(hs, name)
    if len(refs) > 1:
        return {"choose": hosts_named(hs, refs), "name": name}
    host_id, key = refs[0]
    names = _rows(
        hs,
        f"SELECT identifier, first_seen, last_seen FROM host_names "
        f"WHERE host_id = {host_id} ORDER BY first_seen",
    )
    first, last = hs._run(
        f"SELECT first_seen, last_seen FROM hosts WHERE host_id = {host_id}"
    ).rows[0]
    return {
        "host_key": key,
        "host_id": host_id,
        "names": names,
        "first_seen": first,
        "last_seen": last,
        "identity": _identity(hs, host_id),
        "queries": _queries(hs, host_id),
        "strip": _strip(hs, host_id, int(first), int(last)),
    }


def _queries(hs: Hindsight, host_id: int) -> list[Row]:
    """The host's recorded queries: state ones with their executions, event ones with their
    events (ingest records executions of state queries only)."""
    state = _rows(
        hs,
        "SELECT q.name AS query, q.kind, q.os_table, count(*) AS executions, "
        "max(e.unix_time) AS last_execution FROM executions e JOIN queries q "
        f"USING (query_id) WHERE e.host_id = {host_id} GROUP BY ALL",
    )
    events = [
        {
            "query": info.name,
            "kind": "event",
            "os_table": info.os_table,
            "executions": n,
            "last_execution": last,
        }
        for info in hs.store.catalog.queries.values()
        if info.is_event
        for n, last in hs._run(
            f"SELECT count(*), max(_time) FROM {_event_table(info.query_id)} WHERE _host = {host_id}"
        ).rows
        if n
    ]
    return sorted(state + events, key=lambda q: str(q["query"]))


def _identity(hs: Hindsight, host_id: int) -> list[Row]:
    """system_info and os_version intervals of the host: names, uuid, serial, platform."""
    out: list[Row] = []
    for table, columns in (
        ("system_info", ("hostname", "uuid", "hardware_serial")),
        ("os_version", ("platform", "name", "version")),
    ):
        for r in hs.investigate.state(table, columns, window=Window(hosts=(host_id,))):
            detail = ", ".join(f"{c} {r[c]}" for c in columns if r[c] not in (None, ""))
            out.append(
                {
                    "table": table,
                    "detail": detail,
                    "valid_from": r["_from"],
                    "valid_to": unix(r["_to"]),
                }
            )
    return sorted(out, key=lambda r: (r["table"], r["valid_from"]))


def _strip(hs: Hindsight, host_id: int, lo: int, hi: int) -> list[Row]:
    """Per state query: how many intervals opened or closed in each of STRIP_BUCKETS spans."""
    width = max(1, (hi - lo + STRIP_BUCKETS - 1) // STRIP_BUCKETS)
    out = []
    for info in sorted(hs.store.catalog.queries.values(), key=lambda q: q.name):
        if info.is_event:
            continue
        src = state_sql([info], (), "", Window(hosts=(host_id,)))
        rows = hs._run(
            f"SELECT (t - {lo}) // {width} AS b, count(*) FROM (SELECT _from AS t FROM {src} "
            f"UNION ALL SELECT _to FROM {src} WHERE _to <> {OPEN_END}) GROUP BY b ORDER BY b"
        ).rows
        if rows:
            out.append(
                {
                    "query": info.name,
                    "width": width,
                    "start": lo,
                    "buckets": [(lo + int(b) * width, int(n)) for b, n in rows],
                }
            )
    return out


def host_state(hs: Hindsight, name: str, query: str, at: int | None) -> dict[str, Any]:
    """The query's change points on the host (for the slider) and its state at AT (default: the
    latest change point)."""
    host_id, key = host_ref(hs, name)
    info = resolve_query(hs.store.catalog, query)
    if info.is_event:
        raise InputError(f"{info.name} is an event query: see it on the Events page")
    src = state_sql([info], (), "", Window(hosts=(host_id,)))
    points = [
        int(r[0])
        for r in hs._run(
            f"SELECT t FROM (SELECT DISTINCT t FROM (SELECT _from AS t FROM {src} UNION ALL "
            f"SELECT _to FROM {src} WHERE _to <> {OPEN_END}) ORDER BY t DESC LIMIT {MAX_POINTS}) ORDER BY t"
        ).rows
    ]
    instant = at if at is not None else (points[-1] if points else 0)
    state = hs.state(info.name, instant, [key])
    return {
        "query": info.name,
        "host_key": key,
        "at": instant,
        "points": points,
        "state": _table(state),
    }


def host_diff(hs: Hindsight, name: str, query: str, t1: int, t2: int) -> dict[str, Any]:
    return _table(hs.investigate.diff(query, name, t1, t2))


# -- Events ---------------------------------------------------------------------------------------
def events(
    hs: Hindsight,
    query: str | None,
    host: str | None,
    since: int | None,
    until: int | None,
    text: str,
    limit: int,
) -> dict[str, Any]:
    """Event rows of QUERY, each enriched with state as of its own time, filtered by host, time
    and text: the newest LIMIT matches (newest first). Without a span: the query's last hour.

    The text is looked for in the event's own columns (text ones; number ones for a number). Only the newest LIMIT matching events are
    enriched (the span is narrowed to them first), so a page costs about the same whatever the
    span and the fleet's size."""
    queries = sorted(q.name for q in hs.store.catalog.queries.values() if q.is_event)
    if not queries:
        return {"queries": [], "query": None, "table": None, "since": since, "until": until}
    process = [
        q.name
        for q in hs.store.catalog.queries.values()
        if q.is_event and q.os_table == "process_events"
    ]
    info = resolve_query(hs.store.catalog, query or (process or queries)[0])
    if not info.is_event:
        raise InputError(
            f"{info.name} is a state query: events are read from event queries ({', '.join(queries)})"
        )
    table = _event_table(info.query_id)
    host_ids = tuple(hs.host_ids([host])) if host else None
    if until is None:  # the last hour of the query on the hosts asked about, not the fleet's
        on = _Matching(None, None, host_ids).sql()
        until = int(hs._run(f"SELECT max(_time) FROM {table} WHERE {on}").rows[0][0] or 0)
    if since is None:
        since = until - 3600
    where = _Matching(since, until, host_ids).sql()
    total = int(hs._run(f"SELECT count(*) FROM {table} WHERE {where}").rows[0][0])
    matching = ""
    if text:
        matching = _text_condition(info.columns, text)
        where = _Matching(since, until, host_ids, matching).sql()
    times = hs._run(
        f"SELECT _time FROM {table} WHERE {where} ORDER BY _time DESC LIMIT {limit}"
    ).rows
    cut = int(times[-1][0]) if times else until
    if not times:
        return {
            "queries": queries,
            "query": info.name,
            "since": since,
            "until": until,
            "total": total,
            "scanned_from": since,
            "matched": 0,
            "table": {"columns": [], "rows": [], "truncated": False},
        }
    result = enrich(hs.investigate, info.name, _Matching(cut, until, host_ids, matching))
    rows = result.rows
    if "time" in result.columns:
        at = result.columns.index("time")
        rows.sort(key=lambda r: r[at] or 0, reverse=True)
    columns, rows = _enriched_first(result.columns, rows, info.columns)
    return {
        "queries": queries,
        "query": info.name,
        "since": since,
        "until": until,
        "total": total,
        "scanned_from": cut,
        "matched": len(rows),
        "table": {
            "columns": columns,
            "rows": rows[:limit],
            "truncated": result.truncated or len(rows) > limit,
        },
    }


def _enriched_first(
    columns: list[str], rows: list[tuple[Any, ...]], own: dict[str, str]
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Columns ordered host, time, the enrichments (state as of the event), the event's own."""
    head = [c for c in ("host", "time") if c in columns]
    mine = {c for c in own} | {f"{c}_" for c in own} | {"host_key", *head}
    added = [c for c in columns if c not in mine]
    order = [*head, *added, *(c for c in columns if c in mine and c not in head)]
    index = [columns.index(c) for c in order]
    return order, [tuple(r[i] for i in index) for r in rows]


def _text_condition(columns: dict[str, str], text: str) -> str:
    """SQL: a text column contains TEXT (any case), or, for a whole number, a number column
    equals it."""
    needle = literal(text.lower())
    conds = [f"contains(lower({quote(c)}), {needle})" for c, t in columns.items() if t == "VARCHAR"]
    if WHOLE.fullmatch(text.strip()):
        number = int(text.strip())
        conds += [
            f"{quote(c)} = {number}" for c, t in columns.items() if t in ("BIGINT", "INTEGER")
        ]
    return "(" + (" OR ".join(conds) or "FALSE") + ")"


@dataclass(frozen=True)
class _Matching(EventFilter):
    """Events in a span, on hosts, whose own columns satisfy an extra SQL condition."""

    extra: str = ""

    def sql(self) -> str:
        base = super().sql()
        return f"{base} AND {self.extra}" if self.extra else base


def _event_table(query_id: int) -> str:
    from hindsight.store.layout import event_table

    return event_table(query_id)


# -- Fleet ----------------------------------------------------------------------------------------
def fleet(hs: Hindsight, silent_after_s: int) -> dict[str, Any]:
    """Data-quality signals and the ingest rate as the data tells it (executions per hour)."""
    lo, hi = time_range(hs)
    return {
        "first": lo,
        "last": hi,
        "quality": _rows(
            hs,
            "SELECT kind, count(*) AS signals, count(DISTINCT host_id) AS hosts, "
            "max(unix_time) AS latest FROM quality GROUP BY kind ORDER BY kind",
        ),
        "rejects": _rows(
            hs,
            "SELECT reason, count(*) AS lines FROM rejects GROUP BY reason ORDER BY lines DESC LIMIT 20",
        ),
        "silent": _rows(
            hs,
            "SELECT coalesce(arg_max(n.identifier, n.last_seen), any_value(h.host_key)) AS host, "
            "any_value(h.host_key) AS host_key, any_value(h.last_seen) AS last_seen "
            f"FROM hosts h LEFT JOIN host_names n USING (host_id) GROUP BY h.host_id "
            f"HAVING any_value(h.last_seen) < {hi - silent_after_s} ORDER BY last_seen LIMIT 200",
        ),
        "rate": [
            tuple(map(int, r))
            for r in hs._run(
                f"SELECT unix_time // 3600 * 3600 AS hour, count(*) FROM executions WHERE unix_time > {hi - DAY} "
                "GROUP BY hour ORDER BY hour"
            ).rows
        ],
    }


#: the calls the store process answers for the console (`console.<name>`)
CALLS: dict[str, Callable[..., Any]] = {
    "ask": ask,
    "host": host,
    "host_state": host_state,
    "host_diff": host_diff,
    "events": events,
    "fleet": fleet,
    "time_range": time_range,
}
