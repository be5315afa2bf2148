"""`hindsight demo`: a simulated fleet, ingested, and the three questions Hindsight exists for,
each answered with the exact command a user would type, next to what really happened."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape

from hindsight.api import Hindsight, Result
from hindsight.output import render
from hindsight.sim import SimConfig, simulate
from hindsight.timeparse import format_time


@dataclass(frozen=True)
class Question:
    title: str
    sql: str
    at: int | None
    truth: str
    expect: str  # a value the answer must contain

    def command(self, data: Path) -> str:
        at = f" --at {format_time(self.at)}" if self.at is not None else ""
        return f"hindsight sql {_quote(self.sql)}{at} --data {shlex.quote(str(data))}"


def _quote(sql: str) -> str:
    """SQL as a shell argument a person would type: in double quotes when that is safe."""
    return f'"{sql}"' if not any(c in sql for c in '"$`\\!') else shlex.quote(sql)


def questions(hs: Hindsight, manifest: dict[str, Any]) -> list[Question]:
    """The three questions, picked from the simulation's noteworthy moments."""
    moments: dict[str, dict[str, Any]] = {}
    for m in manifest["moments"]:
        moments.setdefault(m["kind"], m)
    offsets = {h["uuid"]: h["clock_offset"] for h in manifest["hosts"]}
    usb = moments["usb_drive"]
    return [
        _ip(moments["ip_handover"]),
        _uid(moments["uid_reuse"]),
        _usb(usb, _copied_file(hs, usb, offsets.get(usb["host"], 0))),
    ]


def _copied_file(hs: Hindsight, m: dict[str, Any], offset: int) -> dict[str, Any]:
    """A file written on the drive once the mounts query had seen it mounted (host clock).

    A file written in the minutes between the mount and the next `mounts` execution has no
    recorded mount yet: that uncertainty is what the investigations report, not this demo.
    """
    rows = hs.sql(
        "SELECT f.time, f.target_path FROM file_events f JOIN mounts FOR SYSTEM_TIME AS OF f.time m "
        "ON m.host_key = f.host_key AND m.path = ? "
        f"WHERE f.host_key = '{m['host'].lower()}' AND starts_with(f.target_path, '{m['mount_path']}/') "
        f"AND f.time BETWEEN {m['mounted_at'] + offset} AND {m['unmounted_at'] + offset} ORDER BY f.time LIMIT 1".replace(
            "?", f"'{m['mount_path']}'"
        )
    ).rows
    return {"time": rows[0][0], "path": rows[0][1]} if rows else dict(m["file_event"])


def _ip(m: dict[str, Any]) -> Question:
    at = m["ask_to_at"] + m["to_clock_offset"]
    return Question(
        f"Which host had IP {m['ip']} at {format_time(at)}? "
        f"(it passed from {m['from_hostname']} to {m['to_hostname']} that day)",
        f"SELECT host, interface, address FROM interface_addresses WHERE address = '{m['ip']}'",
        at,
        f"{m['to_hostname']} held {m['ip']} then; {m['from_hostname']} had held it before",
        m["to_hostname"],
    )


def _uid(m: dict[str, Any]) -> Question:
    old, new = m["old_process_event"], m["new_process_event"]
    return Question(
        f"Which user had uid {m['uid']} on {m['hostname']} when these processes ran? "
        f"(uid {m['uid']} was {m['old_user']}'s, freed, then given to {m['new_user']})",
        "SELECT e.time, e.pid, e.path, e.uid, u.username FROM process_events e "
        "JOIN users FOR SYSTEM_TIME AS OF e.time u ON u.host_key = e.host_key AND u.uid = e.uid "
        f"WHERE e.host_key = '{m['host'].lower()}' AND e.pid IN ({old['pid']}, {new['pid']}) "
        f"AND e.time IN ({old['time']}, {new['time']}) ORDER BY e.time",
        None,
        f"pid {old['pid']} ran as {old['username']}, pid {new['pid']} as {new['username']}",
        new["username"],
    )


def _usb(m: dict[str, Any], ev: dict[str, Any]) -> Question:
    return Question(
        f"Which USB drive was behind {m['mount_path']} on {m['hostname']} when "
        f"{ev['path']} was written?",
        "SELECT f.time, m.path AS mount, m.device, d.vendor, d.model, d.serial "
        "FROM file_events f "
        "JOIN mounts FOR SYSTEM_TIME AS OF f.time m ON m.host_key = f.host_key "
        "AND starts_with(f.target_path, m.path || '/') "
        "JOIN usb_devices FOR SYSTEM_TIME AS OF f.time d ON d.host_key = f.host_key AND d.removable = 1 "
        f"WHERE f.host_key = '{m['host'].lower()}' AND f.target_path = '{ev['path']}' AND f.time = {ev['time']}",
        None,
        f"drive serial {m['serial']} was mounted at {m['mount_path']}",
        str(m["serial"]),
    )


def run_demo(workdir: Path, hosts: int, days: float, seed: int, console: Console) -> bool:
    """Simulate, ingest, answer. Returns whether every answer matched the truth."""
    sim, data = workdir / "fleet", workdir / "data"
    shown_sim, shown_data = escape(str(sim)), escape(str(data))  # (a path is not markup)
    console.print(f"[bold]1. Simulating {hosts} hosts over {days:g} days[/bold] into {shown_sim}")
    summary = simulate(SimConfig(hosts=hosts, days=days, out=sim, seed=seed))
    console.print(
        f"   {summary.lines:,} osquery lines, {summary.rows:,} rows, {summary.files} files"
    )
    console.print(
        f"[bold]2. Ingesting[/bold]: hindsight ingest {shown_sim}/hosts {shown_sim}/late "
        f"--data {shown_data}"
    )
    with Hindsight(data) as hs:
        ingested = hs.ingest([sim / "hosts", sim / "late"])
        console.print(
            "   " + "  ".join(f"{k.replace('_', ' ')}: {v}" for k, v in ingested.as_dict().items())
        )
        manifest = orjson.loads((sim / "manifest.json").read_bytes())
        ok = all([_ask(hs, q, i, data, console) for i, q in enumerate(questions(hs, manifest), 3)])
    console.print("[bold]Explore further[/bold]")
    console.print(f"   hindsight queries --data {shown_data}        # what was recorded")
    console.print(f'   hindsight sql "SELECT * FROM users FOR SYSTEM_TIME ALL" --data {shown_data}')
    console.print(
        f"   hindsight state interface_addresses --at {format_time(manifest['start'] + 3600)} "
        f"--data {shown_data}"
    )
    from hindsight.console.hints import console_hints

    console.print("[bold]Or look instead of typing: the web console[/bold]")
    for line in console_hints(data, manifest):
        console.print(f"   {line}", highlight=False, markup=False)
    return ok


def _ask(hs: Hindsight, q: Question, number: int, data: Path, console: Console) -> bool:
    console.print(f"\n[bold]{number}. {q.title}[/bold]")
    console.print(f"   $ {q.command(data)}", highlight=False, markup=False)
    result: Result = hs.sql(q.sql, at=q.at)
    render(result.columns, result.rows, "table", console)
    found = any(q.expect in map(str, row) for row in result.rows)
    mark = "[green]matches[/green]" if found else "[red]DOES NOT MATCH[/red]"
    console.print(f"   truth: {q.truth} -> {mark}")
    return found
