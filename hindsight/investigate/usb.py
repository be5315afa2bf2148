"""Where a USB device went: every host and interval it was attached, its mount paths, and the
file events under those paths while mounted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hindsight.errors import InputError, did_you_mean
from hindsight.investigate.base import EVIDENCE_COLUMNS, Base, Row, with_evidence
from hindsight.investigate.source import (
    ALL_TIME,
    MissingTable,
    Window,
    event_sql,
    literal,
    state_sql,
)
from hindsight.investigate.who import usb_behind

if TYPE_CHECKING:
    from hindsight.api import Result

USB_COLUMNS = (
    "host",
    "host_key",
    "what",
    "serial",
    "vendor",
    "model",
    "path",
    "device",
    "time",
    "action",
    "certain",
    *EVIDENCE_COLUMNS,
)


def usb(inv: Base, serial: str) -> Result:
    """Attachments of the device with SERIAL (rows 'attached'), the mounts it was behind
    ('mounted') and the file events under them while mounted ('file': `certain` is false for
    an event in a mount's edge window, where the mount was not yet or no longer observed)."""
    if not serial.strip():
        raise InputError("a USB serial is required (the serial given is empty)")
    if not inv.queries("usb_devices"):
        raise MissingTable("usb_devices", "state")
    attached = inv.state(
        "usb_devices", ("serial", "vendor", "model"), f"serial = {literal(serial)}"
    )
    if not attached:
        raise _unknown_serial(inv, serial)
    rows: list[Row] = []
    for a, ev in zip(attached, inv.evidence(attached, None), strict=True):
        rows.append({**with_evidence(a, ev), "what": "attached"})
        rows.extend(_mounts(inv, a, ev.from_after))
    for r, name in zip(rows, inv.names_each([(r["_host"], r["_from"]) for r in rows]), strict=True):
        r["host"], r["host_key"] = name
    return inv.answer(USB_COLUMNS, rows)


def _unknown_serial(inv: Base, serial: str) -> InputError:
    """No device with SERIAL was ever attached: said so, with the closest serial recorded."""
    source = state_sql(inv.queries("usb_devices"), ("serial",), "serial <> ''", ALL_TIME)
    sql = f"SELECT DISTINCT serial FROM {source}"
    known = [str(r[0]) for r in inv.run(sql)]
    return InputError(
        f"no USB device with serial {serial!r} was recorded{did_you_mean(serial, known)}"
    )


def _mounts(inv: Base, device: Row, after: int | None) -> list[Row]:
    """Mounts that appeared while the device was attached and whose drive is this device."""
    host, start, end = device["_host"], device["_from"], device["_to"]
    lo = after if after is not None else start
    window = Window(since=lo, until=end, hosts=(host,))
    found = [
        m
        for m in inv.state("mounts", ("path", "device", "type"), window=window)
        if lo <= m["_from"] < end
    ]
    mounts = [m for m in found if usb_behind(inv, m, None).get("usb_serial") == device["serial"]]
    out: list[Row] = []
    for m, ev in zip(mounts, inv.evidence(mounts, None), strict=True):
        out.append({**with_evidence(m, ev), "what": "mounted", "serial": device["serial"]})
        out.extend(_files(inv, {**m, "serial": device["serial"]}, ev.from_after, ev.to_after))
    return out


def _files(inv: Base, mount: Row, after: int | None, last: int | None) -> list[Row]:
    queries = inv.queries("file_events", "event")
    if not queries:
        return []
    lo = after if after is not None else mount["_from"]
    base = str(mount["path"]).rstrip("/") + "/"
    events = event_sql(queries, ("target_path", "action"), f"_host = {mount['_host']}")
    sql = (
        f"SELECT _host, _q, _time, target_path, action FROM {events} "
        f"WHERE _time > {lo} AND _time < {mount['_to']} AND starts_with(target_path, {literal(base)}) "
        "ORDER BY _time"
    )
    sure_until = last if last is not None else mount["_to"]
    return [
        {
            "_host": r["_host"],
            "_from": r["_time"],
            "what": "file",
            "path": r["target_path"],
            "action": r["action"],
            "time": r["_time"],
            "serial": mount.get("serial"),
            "certain": mount["_from"] <= r["_time"] <= sure_until,
        }
        for r in inv.rows(sql)
    ]
