"""Byte-exact serialization of osquery result lines (FORMATS.md §1)."""

from __future__ import annotations

import time

import orjson

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Row = tuple[str, ...]


_DAY_CACHE: dict[int, tuple[str, str]] = {}


def calendar_time(t: int) -> str:
    """asctime layout + ' UTC', day space-padded, C locale (built by hand)."""
    day, sec = divmod(t, 86400)
    parts = _DAY_CACHE.get(day)
    if parts is None:
        g = time.gmtime(t)
        parts = (f"{_DAYS[g.tm_wday]} {_MONTHS[g.tm_mon - 1]} {g.tm_mday:2d} ", f" {g.tm_year} UTC")
        if len(_DAY_CACHE) > 4096:
            _DAY_CACHE.clear()
        _DAY_CACHE[day] = parts
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return f"{parts[0]}{h:02d}:{m:02d}:{s:02d}{parts[1]}"


def typed_value(value: str, numeric: bool) -> str | int:
    """The JSON value under numerics=true: INTEGER/BIGINT as int, NULL/empty stays ""."""
    if not numeric or value == "":
        return value
    try:
        return int(value)
    except ValueError:
        return value


def row_bytes(cols: tuple[str, ...], row: Row) -> bytes:
    return orjson.dumps(dict(zip(cols, row, strict=True)))


def typed_row_bytes(cols: tuple[str, ...], mask: tuple[bool, ...], row: Row) -> bytes:
    return orjson.dumps({c: typed_value(v, m) for c, v, m in zip(cols, row, mask, strict=True)})


def osquery_sort_key(mask: tuple[bool, ...], row: Row) -> tuple[tuple[int, int | str], ...]:
    """Order of std::multiset<RowTyped>: (key, variant<long long,double,string>) pairs."""
    out: list[tuple[int, int | str]] = []
    for v, m in zip(row, mask, strict=True):
        tv = typed_value(v, m)
        out.append((0, tv) if isinstance(tv, int) else (2, tv))
    return tuple(out)


class LineMeta:
    """Builds the shared top-level fields of one host's result lines."""

    def __init__(self, numerics: bool, host_uuid: str) -> None:
        self.numerics = b"true" if numerics else b"false"
        self.host_uuid = host_uuid
        self._hid = b""
        self._deco = b""
        self._cal_t = -1
        self._cal = b""

    def set_hostname(self, hostname: str) -> None:
        self._hid = orjson.dumps(hostname)
        self._deco = orjson.dumps({"host_uuid": self.host_uuid, "hostname": hostname})

    def meta(self, unix_time: int, epoch: int, counter: int) -> bytes:
        """`,"hostIdentifier":…,"calendarTime":…,…,"numerics":…,"decorations":{…}`."""
        if unix_time != self._cal_t:
            self._cal_t = unix_time
            self._cal = calendar_time(unix_time).encode()
        return b"".join(
            (
                b',"hostIdentifier":',
                self._hid,
                b',"calendarTime":"',
                self._cal,
                b'","unixTime":',
                str(unix_time).encode(),
                b',"epoch":',
                str(epoch).encode(),
                b',"counter":',
                str(counter).encode(),
                b',"numerics":',
                self.numerics,
                b',"decorations":',
                self._deco,
            )
        )


def event_prefix(name: bytes, meta: bytes) -> bytes:
    """Everything of an event-shaped line before the row object."""
    return b'{"name":' + name + meta + b',"columns":'


ADDED = b',"action":"added"}\n'
REMOVED = b',"action":"removed"}\n'
SNAPSHOT = b',"action":"snapshot"}\n'


def event_line(name: bytes, meta: bytes, row: bytes, action: bytes) -> bytes:
    """One event-format line (with its newline); action is added/removed/snapshot."""
    return event_prefix(name, meta) + row + b',"action":"' + action + b'"}\n'


def batch_line(name: bytes, meta: bytes, removed: bytes, added: bytes) -> bytes:
    return (
        b'{"diffResults":{"removed":[' + removed + b'],"added":[' + added + b"]},"
        b'"name":' + name + meta + b"}\n"
    )


def snapshot_line(name: bytes, meta: bytes, rows: bytes) -> bytes:
    return b'{"snapshot":[' + rows + b'],"action":"snapshot","name":' + name + meta + b"}\n"
