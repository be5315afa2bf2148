"""Events joined with state as of each event's own time on the same host, as one set-based SQL
statement (hash joins on host and key with the interval as a range condition): never a loop
over events. An event that matches two state rows at once (two accounts sharing a uid at the
same instant) appears once per match: the ambiguity is shown, not resolved at random.

Enrichments are data. Each says: for events of `event_table`, look up `event_column` in the
state of `state_table` by `key`, and add `values` (as `<name>_<value>` columns), with
`<name>_since`, since when that state row was observed, and `<name>_settled`: false when the
event falls within one interval of the state query before the row was last seen gone (it may
already have changed), or, for paths, when a longer mount covering the path was first seen
within one interval after the event (it may already have been mounted); NULL when not known.
`match` is how the key matches:

- "equal": state key = event value, same host, state as of the event's time;
- "prefix": the longest state key that the event value is at or under (a path and its mount);
- "any": any state row of the host as of the event's time (filtered by `where` and `link`, a
  condition relating the event row `e` and the state row `s`), the latest observed first; used
  only when the event column is set (a chain: file -> mount -> the USB device attached when
  that mount appeared);
- "next": the first state row appearing at or after the event, within the setting
  `next_within_s` (an hour), whose key is at or under the event value (a device's add event,
  then its mount).

`where` and `link` may say `$attach_slack`: the setting `attach_slack_s` in seconds (how long
after a mount appeared the device behind it may first be seen).

`fleet=True` looks the key up on every host (a remote address -> the fleet host that had it);
its value `host` is that host's key. An enrichment may read an earlier one's output column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from typing import TYPE_CHECKING

import orjson

from hindsight.errors import InputError, did_you_mean
from hindsight.investigate.source import Window, queries_of, state_sql
from hindsight.query.names import exposed, resolve_query
from hindsight.settings import Settings
from hindsight.store.layout import event_table, quote

if TYPE_CHECKING:
    from hindsight.api import Result
    from hindsight.investigate.base import Base
    from hindsight.store.catalog import Catalog, QueryInfo

#: each run of an identifier a host reported, with the span it was the host's name (a hash join,
#: not ASOF)
NAMES = (
    "(SELECT host_id, identifier, first_seen, coalesce(lead(first_seen) OVER "
    "(PARTITION BY host_id ORDER BY first_seen), 9223372036854775807) AS until FROM host_runs)"
)


@dataclass(frozen=True)
class EnrichWindows:
    """The lookups' time windows, in seconds: the settings next_within_s and attach_slack_s."""

    next_within: int = Settings.next_within_s
    attach_slack: int = Settings.attach_slack_s

    @classmethod
    def of(cls, settings: Settings) -> EnrichWindows:
        """The settings' windows; a clear error for a negative one."""
        settings.require(("next_within_s", "attach_slack_s"), lambda v: v >= 0, "0 or more")
        return cls(settings.next_within_s, settings.attach_slack_s)


@dataclass(frozen=True)
class Enrichment:
    """One lookup of event rows in state as of their time (see the module docstring)."""

    name: str
    event_table: str
    event_column: str
    state_table: str
    key: str
    values: tuple[str, ...]
    match: str = "equal"
    where: str = ""
    fleet: bool = False
    link: str = ""  # extra condition on the event row `e` and the state row `s`

    def columns(self) -> list[str]:
        return [self.name if v == "host" else f"{self.name}_{v}" for v in self.values] + [
            f"{self.name}_since",
            f"{self.name}_settled",
        ]


BUILTIN: tuple[Enrichment, ...] = (
    Enrichment("user", "process_events", "uid", "users", "uid", ("username",)),
    Enrichment("auid_user", "process_events", "auid", "users", "uid", ("username",)),
    Enrichment("user", "user_events", "uid", "users", "uid", ("username",)),
    Enrichment("auid_user", "user_events", "auid", "users", "uid", ("username",)),
    Enrichment(
        "mount", "file_events", "target_path", "mounts", "path", ("path", "device"), "prefix"
    ),
    Enrichment(
        "usb",
        "file_events",
        "mount_device",
        "usb_devices",
        "serial",
        ("serial", "vendor", "model"),
        "any",
        "removable = 1",
        link="e.mount_since BETWEEN s._from - $attach_slack AND s._to",
    ),
    Enrichment(
        "remote_host",
        "socket_events",
        "remote_address",
        "interface_addresses",
        "address",
        ("host", "interface"),
        where="address NOT IN ('127.0.0.1', '::1', '0.0.0.0', '::', '')",
        fleet=True,
    ),
    Enrichment("mount", "hardware_events", "path", "mounts", "device", ("path", "device"), "next"),
)
MATCHES = ("equal", "prefix", "any", "next")
_FIELDS = {f.name: f for f in fields(Enrichment)}


def parse_enrichments(text: str, source: str = "enrichments") -> list[Enrichment]:
    """Enrichments from JSON: a list of objects with Enrichment's fields (`values` a list).
    Errors name the source, the item and the field."""
    try:
        items = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{source}: not JSON ({exc})") from None
    if not isinstance(items, list):
        raise InputError(f"{source}: expected a JSON list of enrichments")
    return [_enrichment(item, f"{source}[{i}]") for i, item in enumerate(items)]


def _enrichment(item: object, where: str) -> Enrichment:
    if not isinstance(item, dict):
        raise InputError(f"{where}: expected an object")
    unknown = sorted(set(item) - set(_FIELDS))
    missing = sorted(n for n, f in _FIELDS.items() if f.default is MISSING and n not in item)
    if unknown:
        hint = did_you_mean(unknown[0], _FIELDS)
        raise InputError(
            f"{where}: unknown field{'s' * (len(unknown) > 1)} {', '.join(unknown)}{hint}"
        )
    if missing:
        raise InputError(f"{where}: missing field{'s' * (len(missing) > 1)} {', '.join(missing)}")
    values = item.get("values")
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise InputError(f"{where}.values: expected a non-empty list of column names")
    text = {k: v for k, v in item.items() if k not in ("values", "fleet")}
    for key, value in text.items():
        if not isinstance(value, str):
            raise InputError(f"{where}.{key}: expected a string")
    if item.get("match", "equal") not in MATCHES:
        raise InputError(f"{where}.match: one of {', '.join(MATCHES)}")
    return Enrichment(**text, values=tuple(values), fleet=bool(item.get("fleet", False)))


@dataclass(frozen=True)
class EventFilter:
    since: int | None = None
    until: int | None = None
    hosts: tuple[int, ...] | None = None

    def sql(self) -> str:
        conds = ["TRUE"]
        if self.since is not None:
            conds.append(f"_time >= {self.since}")
        if self.until is not None:
            conds.append(f"_time <= {self.until}")
        if self.hosts is not None:
            conds.append(f"_host IN ({', '.join(map(str, self.hosts)) or 'NULL'})")
        return " AND ".join(conds)


def applicable(info: QueryInfo, enrichments: Sequence[Enrichment]) -> list[Enrichment]:
    return [e for e in enrichments if e.event_table in (info.os_table, info.name)]


def enrich_sql(
    catalog: Catalog,
    query: str,
    flt: EventFilter,
    enrichments: Sequence[Enrichment] = BUILTIN,
    ordered: bool = True,
    intervals: Mapping[int, int] | None = None,
    windows: EnrichWindows | None = None,
) -> str:
    """The enriched events of event query QUERY as one SELECT (in time order unless not
    `ordered`: sorting costs more than the joins on large sets). `intervals` (query id ->
    seconds, with room for splay) lets each match say whether it is settled; `windows`
    defaults to the settings' defaults."""
    windows = windows or EnrichWindows()
    info = resolve_query(catalog, query)
    if not info.is_event:
        raise InputError(f"{info.name} is a state query: enrich reads event queries")
    cols = ", ".join(f"{quote(c)}" for c in info.columns)
    steps = [
        # an event is (_host, _eid): numbered per host, so an engine spreads the numbering
        # over its workers (Spark runs one unpartitioned window in a single task)
        f"e0 AS (SELECT _host, _unix, _time, row_number() OVER (PARTITION BY _host) AS _eid"
        f"{', ' + cols if cols else ''} "
        f"FROM {event_table(info.query_id)} WHERE {flt.sql()})"
    ]
    available = set(info.columns)
    out: list[str] = []
    for enr in applicable(info, enrichments):
        if enr.event_column not in available:
            if enr not in BUILTIN:  # one's own enrichment never silently does nothing
                raise InputError(
                    f"enrichment {enr.name}: {info.name} has no column {enr.event_column!r}"
                    f"{did_you_mean(enr.event_column, available)}"
                )
            continue
        if enr.match not in MATCHES:
            raise InputError(f"enrichment {enr.name}: match must be one of {', '.join(MATCHES)}")
        state = _State.of(catalog, enr, flt, windows, intervals or {})
        if not state.queries:
            if enr not in BUILTIN:
                raise _no_state(catalog, enr)
            continue
        steps.append(f"e{len(steps)} AS ({_step(enr, f'e{len(steps) - 1}', state, windows)})")
        if enr.match == "prefix":
            steps.append(f"e{len(steps)} AS ({_unsettle(enr, f'e{len(steps) - 1}', state)})")
        available |= {f"{enr.name}_{v}" for v in enr.values}
        out += enr.columns()
    last = f"e{len(steps) - 1}"
    shown = "".join(f", x.{quote(c)} AS {quote(exposed(c))}" for c in info.columns if c != "time")
    extra = "".join(f", x.{quote(c)}" for c in out)
    return (
        f"WITH {', '.join(steps)} SELECT hn.identifier AS host, hs.host_key, x._time AS time{shown}{extra} "
        f"FROM {last} x JOIN hosts hs ON hs.host_id = x._host "
        f"LEFT JOIN {NAMES} hn ON hn.host_id = x._host AND hn.first_seen <= x._unix AND x._unix < hn.until"
        + (" ORDER BY x._time, x._host, x._eid" if ordered else "")
    )


def _no_state(catalog: Catalog, enr: Enrichment) -> InputError:
    """An enrichment's state table that no state query records: said so, with the closest."""
    known = {n for q in catalog.queries.values() if q.kind == "state" for n in (q.os_table, q.name)}
    return InputError(
        f"enrichment {enr.name}: no state query records table {enr.state_table!r}"
        f"{did_you_mean(enr.state_table, sorted(n for n in known if n))}"
    )


@dataclass(frozen=True)
class _State:
    """The state an enrichment reads: its queries, their rows in the events' window (`sql`),
    and each query's interval with room for splay (`intervals`, to tell settled matches)."""

    queries: list[QueryInfo]
    sql: str
    intervals: Mapping[int, int]

    @classmethod
    def of(
        cls,
        catalog: Catalog,
        enr: Enrichment,
        flt: EventFilter,
        windows: EnrichWindows,
        intervals: Mapping[int, int],
    ) -> _State:
        queries = queries_of(catalog, enr.state_table)
        wanted = [enr.key, *(v for v in enr.values if v not in (enr.key, "host"))]
        window = Window(
            since=flt.since,
            until=None if flt.until is None else flt.until + windows.next_within,
            hosts=None if enr.fleet else flt.hosts,
        )
        where = _with_windows(enr.where, windows)
        sql = state_sql(queries, wanted, where, window) if queries else ""
        return cls(queries, sql, intervals)

    def slack(self, alias: str) -> str:
        """SQL: the interval of the state row's query, NULL where unknown."""
        known = [
            f"WHEN {q.query_id} THEN {self.intervals[q.query_id]}"
            for q in self.queries
            if q.query_id in self.intervals
        ]
        return f"(CASE {alias}._q {' '.join(known)} END)" if known else "NULL::BIGINT"


def _with_windows(sql: str, windows: EnrichWindows) -> str:
    """SQL of an enrichment's `where` or `link` with `$attach_slack` replaced by its value."""
    return sql.replace("$attach_slack", str(int(windows.attach_slack)))


def _step(enr: Enrichment, prev: str, st: _State, windows: EnrichWindows) -> str:
    """SQL: the events of PREV with the enrichment's columns, from the state ST."""
    state = st.sql
    col = f"e.{quote(enr.event_column)}"
    picks = ", ".join(
        f"{_value(enr, v)} AS {quote(c)}" for v, c in zip(enr.values, enr.columns(), strict=False)
    )
    settled = (
        "NULL::BOOLEAN"
        if enr.match == "next"
        else f"CASE WHEN s._from IS NOT NULL THEN e._time <= s._to - {st.slack('s')} END"
    )
    since = (
        f"s._from AS {quote(enr.name + '_since')}, {settled} AS {quote(enr.name + '_settled')}, "
        f"s.{quote(enr.key)} AS {quote('_k_' + enr.name)}"
    )
    if enr.match == "equal":
        host = "" if enr.fleet else "s._host = e._host AND "
        return (
            f"SELECT e.*, {picks}, {since} FROM {prev} e LEFT JOIN {state} s "
            f"ON {host}s.{quote(enr.key)} = TRY_CAST({col} AS {_key_type(st.queries, enr.key)}) "
            "AND s._from <= e._time AND e._time < s._to" + _host_join(enr)
        )
    key = f"s.{quote(enr.key)}"
    cond, order = {
        "prefix": (
            f"s._from <= e._time AND e._time < s._to AND ({key} IN ('/', {col}) OR "
            f"starts_with({col}, CASE WHEN ends_with({key}, '/') THEN {key} ELSE {key} || '/' END))",
            f"length({key}) DESC",
        ),
        "any": (f"{col} IS NOT NULL AND s._from <= e._time AND e._time < s._to", "s._from DESC"),
        "next": (
            f"s._from >= e._time AND s._from <= e._time + {windows.next_within} AND {col} <> '' "
            f"AND starts_with({key}, {col})",
            "s._from",
        ),
    }[enr.match]
    return (
        f"SELECT e.*, {picks}, {since} FROM {prev} e LEFT JOIN {state} s "
        f"ON s._host = e._host AND {cond}{' AND ' + _with_windows(enr.link, windows) if enr.link else ''} QUALIFY row_number() OVER (PARTITION BY e._host, e._eid ORDER BY {order}) = 1"
    )


def _unsettle(enr: Enrichment, prev: str, st: _State) -> str:
    """A path's mount is not settled when a longer mount covering it was first seen within one
    interval after the event: it may already have been mounted then, not yet observed."""
    state = st.sql
    key, col, k = f"n.{quote(enr.key)}", f"e.{quote(enr.event_column)}", quote("_k_" + enr.name)
    flag = quote(enr.name + "_settled")
    return (
        f"SELECT e.* REPLACE ({flag} AND n._from IS NULL AS {flag}) FROM {prev} e LEFT JOIN {state} n "
        f"ON n._host = e._host AND n._from > e._time AND n._from <= e._time + {st.slack('n')} "
        f"AND length({key}) > length(coalesce(e.{k}, '')) AND starts_with({col}, "
        f"CASE WHEN ends_with({key}, '/') THEN {key} ELSE {key} || '/' END) "
        "QUALIFY row_number() OVER (PARTITION BY e._host, e._eid ORDER BY n._from) = 1"
    )


def _value(enr: Enrichment, value: str) -> str:
    return "sh.host_key" if value == "host" else f"s.{quote(value)}"


def _host_join(enr: Enrichment) -> str:
    return " LEFT JOIN hosts sh ON sh.host_id = s._host" if "host" in enr.values else ""


def _key_type(queries: Sequence[QueryInfo], key: str) -> str:
    for q in queries:
        if key in q.columns:
            return q.columns[key]
    return "VARCHAR"


def enrich(
    inv: Base, query: str, flt: EventFilter, enrichments: Sequence[Enrichment] = BUILTIN
) -> Result:
    """Each event of QUERY with the state of its host as of its own time (bounded rows), with
    the windows of the investigator's settings."""
    windows = EnrichWindows.of(inv.hs.settings)
    sql = enrich_sql(
        inv.catalog, query, flt, enrichments, intervals=inv.schedule.splayed(), windows=windows
    )
    return inv.finish(inv.result(sql))
