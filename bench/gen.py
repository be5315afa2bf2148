"""Synthetic osquery logs for benchmarks: DHCP churn on many hosts, plus mixed tables.

Fast and deterministic; the fleet simulator (hindsight.sim) is the realistic one, this one only
has to produce volume with the right shapes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

DAY = 86_400
START = 1_790_000_000


def _cal(t: int) -> str:
    return time.strftime("%a %b %e %H:%M:%S %Y UTC", time.gmtime(t))


def _head(name: str, host: int, t: int, counter: int, numerics: bool) -> dict[str, object]:
    hid = f"host-{host:05d}"
    return {
        "name": name,
        "hostIdentifier": hid,
        "calendarTime": _cal(t),
        "unixTime": t,
        "epoch": 0,
        "counter": counter,
        "numerics": numerics,
        "decorations": {"host_uuid": f"00000000-0000-4000-8000-{host:012d}", "hostname": hid},
    }


def dhcp_lines(
    hosts: int, days: int, seed: int = 1, lease: tuple[int, int] = (300, 3600)
) -> Iterator[bytes]:
    """interface_addresses in event format: each host renews onto a new address of a shared
    /16 when its lease (5 to 60 minutes) ends; the query runs every 5 minutes."""
    rnd = random.Random(seed)
    for h in range(hosts):
        t, end = START + rnd.randrange(300), START + days * DAY
        numerics = h % 2 == 0
        addr = f"10.20.{rnd.randrange(64)}.{rnd.randrange(1, 255)}"
        counter = 0
        head = _head("pack_net_interface_addresses", h, t, counter, numerics)
        for cols in (
            {"address": "127.0.0.1", "interface": "lo", "mask": "255.0.0.0"},
            {"address": addr, "interface": "en0", "mask": "255.255.0.0"},
        ):
            yield orjson.dumps(
                {
                    **head,
                    "columns": {**cols, "broadcast": "", "point_to_point": "", "type": "unknown"},
                    "action": "added",
                }
            )
        while True:
            t += rnd.randint(*lease)
            t -= (t - START) % 300  # changes are seen at the next 5-minute execution
            t += 300
            if t >= end:
                break
            counter += 1
            new = f"10.20.{rnd.randrange(64)}.{rnd.randrange(1, 255)}"
            head = _head("pack_net_interface_addresses", h, t, counter, numerics)
            base = {
                "broadcast": "",
                "interface": "en0",
                "mask": "255.255.0.0",
                "point_to_point": "",
                "type": "unknown",
            }
            yield orjson.dumps({**head, "columns": {**base, "address": addr}, "action": "removed"})
            yield orjson.dumps({**head, "columns": {**base, "address": new}, "action": "added"})
            addr = new


def mixed_lines(
    hosts: int, hours: int, seed: int = 2, spread: int = 1, columns: bool = False
) -> Iterator[bytes]:
    """Mixed tables per host: users (batch), processes (snapshot), process_events, DHCP.
    SPREAD > 1: the hosts run their queries under SPREAD names each (`pack_ir_users_3`, ...),
    as a fleet scheduling many queries does; the lines are otherwise the same. COLUMNS: each
    name also has columns of its own (`uid_3`, ...): queries of as many distinct tables."""
    rnd = random.Random(seed)
    for h in range(hosts):
        for line in _mixed_host(rnd, h, hours):
            if spread > 1:
                doc = orjson.loads(line)
                doc["name"] = f"{doc['name']}_{h % spread}"
                if columns:
                    _suffix_columns(doc, f"_{h % spread}")
                line = orjson.dumps(doc)
            yield line


def _suffix_columns(doc: dict[str, Any], suffix: str) -> None:
    """Rename every column of DOC's rows with SUFFIX."""

    def renamed(row: dict[str, Any]) -> dict[str, Any]:
        return {k + suffix: v for k, v in row.items()}

    if "columns" in doc:
        doc["columns"] = renamed(doc["columns"])
    if "snapshot" in doc:
        doc["snapshot"] = [renamed(r) for r in doc["snapshot"]]
    if "diffResults" in doc:
        diff = doc["diffResults"]
        doc["diffResults"] = {k: [renamed(r) for r in diff[k]] for k in ("added", "removed")}


def _mixed_host(rnd: random.Random, h: int, hours: int) -> Iterator[bytes]:
    """One host's lines of `mixed_lines`."""
    numerics = h % 3 == 0
    procs = [
        {
            "pid": str(100 + i),
            "name": f"proc{i}",
            "path": f"/usr/bin/proc{i}",
            "uid": "0",
            "cmdline": f"/usr/bin/proc{i} --flag",
            "state": "S",
        }
        for i in range(30)
    ]
    users = [
        {
            "uid": str(1000 + i),
            "gid": "1000",
            "username": f"user{i}",
            "directory": f"/home/user{i}",
            "shell": "/bin/bash",
            "description": "",
        }
        for i in range(5)
    ]
    counter = 0
    for step in range(hours * 12):  # every 5 minutes
        t = START + step * 300 + h % 300
        if step % 6 == 0:  # processes snapshot every 30 minutes
            victim = rnd.randrange(len(procs))
            procs[victim] = {**procs[victim], "pid": str(rnd.randrange(200, 60000))}
            yield orjson.dumps(
                {
                    "snapshot": procs,
                    "action": "snapshot",
                    **_head("pack_ir_processes", h, t, 0, numerics),
                }
            )
        if step == 0 or rnd.random() < 0.05:
            removed = [] if step == 0 else [users.pop(rnd.randrange(len(users)))]
            added = users if step == 0 else [{**removed[0], "username": f"u{rnd.randrange(10**6)}"}]
            if step:
                users.append(added[0])
                counter += 1
            yield orjson.dumps(
                {
                    "diffResults": {"removed": removed, "added": added},
                    **_head("pack_ir_users", h, t, counter if step else 0, numerics),
                }
            )
        for _ in range(rnd.randrange(4)):
            ev = {
                "pid": str(rnd.randrange(60000)),
                "path": "/usr/bin/curl",
                "cmdline": "curl x",
                "uid": "1001",
                "auid": "1001",
                "time": str(t - rnd.randrange(300)),
                "cwd": "/tmp",
                "parent": "1",
            }
            yield orjson.dumps(
                {
                    **_head("process_events", h, t, step + 1, numerics),
                    "columns": ev,
                    "action": "added",
                }
            )


def events_lines(hosts: int, hours: int, seed: int = 3) -> Iterator[bytes]:
    """process_events as a Linux fleet logs them (audit-based, event format, every one of the
    table's 31 columns, numbers as text unless numerics): one row a line, 0 to 4 a host every
    5 minutes. Event tables are most of a real fleet's lines."""
    rnd = random.Random(seed)
    paths = ["/usr/bin/curl", "/usr/bin/bash", "/usr/bin/python3", "/usr/sbin/sshd", "/bin/ls"]
    for h in range(hosts):
        numerics = h % 3 == 0
        eid = 0
        for step in range(hours * 12):
            t = START + step * 300 + h % 300
            for _ in range(rnd.randrange(5)):
                eid += 1
                path = rnd.choice(paths)
                when = t - rnd.randrange(300)
                uid = rnd.choice((0, 1000, 1001))
                ids = {k: uid for k in ("auid", "euid", "fsuid", "suid", "uid")}
                gids = {k: uid for k in ("egid", "fsgid", "gid", "sgid")}
                row: dict[str, object] = {
                    "atime": when - 86_400,
                    "btime": 0,
                    "ctime": when - 864_000,
                    "mtime": when - 864_000,
                    "cmdline": f"{path} --opt {rnd.randrange(10**6)}",
                    "cmdline_size": 32,
                    "cwd": f"/home/user{uid}",
                    "eid": str(eid),
                    "env": "",
                    "env_count": 12,
                    "env_size": 610,
                    "mode": "0100755",
                    "overflows": "",
                    "owner_gid": 0,
                    "owner_uid": 0,
                    "parent": rnd.randrange(60000),
                    "path": path,
                    "pid": rnd.randrange(60000),
                    "status": 0,
                    "syscall": "execve",
                    "time": when,
                    "uptime": when - START + 1000,
                    **ids,
                    **gids,
                }
                if not numerics:
                    row = {k: str(v) for k, v in row.items()}
                yield orjson.dumps(
                    {
                        **_head("process_events", h, t, step + 1, numerics),
                        "columns": row,
                        "action": "added",
                    }
                )


def write(path: Path, lines: Iterator[bytes]) -> tuple[int, int]:
    count = size = 0
    with path.open("wb", buffering=1 << 22) as f:
        for line in lines:
            f.write(line + b"\n")
            count += 1
            size += len(line) + 1
    return count, size
