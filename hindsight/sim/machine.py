"""A host's machine: its state, the timed operations that change it, and its event
buffers (the base of World)."""

from __future__ import annotations

import hashlib
import heapq
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import orjson

from .catalog import (
    DARWIN_USB,
    LINUX_HUBS,
    LINUX_LAPTOP_USB,
    OS_VERSIONS,
)
from .config import SimConfig
from .fleet import HostProfile
from .network import SitePlan
from .rand import rng_for
from .setup import base_groups, base_ifaces, base_mounts, base_users, hardware
from .state import (
    Drive,
    Iface,
    LoginSession,
    Mount,
    Port,
    Proc,
    UsbDevice,
    UsbDrive,
    User,
)
from .tables import columns, mask_for

DOMAINS = (
    "net",
    "users",
    "groups",
    "members",
    "sessions",
    "procs",
    "ports",
    "sysinfo",
    "os",
    "usb",
    "mounts",
    "drives",
)
EVENT_TABLES = ("process_events", "file_events", "hardware_events", "user_events", "socket_events")
Op = tuple[int, int, Callable[..., None], tuple[Any, ...]]
Event = tuple[bytes, bytes]  # row JSON: (all strings, as logged under the host's numerics)


def wmi_time(t: int) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t)) + ".000000+000"


def _render(spec: list[tuple[str, str, object]], typed: bool) -> bytes:
    """A %-format for a JSON object: D -> %d, J -> %s (pre-encoded JSON), N/T -> literal."""
    q = b"" if typed else b'"'
    parts = []
    for key, kind, value in spec:
        k = b'"' + key.encode() + b'":'
        if kind == "D":
            parts.append(k + q + b"%d" + q)
        elif kind == "J":
            parts.append(k + b"%s")
        elif kind == "N":
            parts.append(k + q + str(value).encode() + q)
        else:
            parts.append(k + orjson.dumps(value).replace(b"%", b"%%"))
    return b"{" + b",".join(parts) + b"}"


def _hashes(seed: str) -> tuple[str, str, str]:
    b = seed.encode()
    return (hashlib.md5(b).hexdigest(), hashlib.sha1(b).hexdigest(), hashlib.sha256(b).hexdigest())


class Machine(ABC):
    """State, plumbing (timed operations) and event emission of one host."""

    def __init__(self, cfg: SimConfig, prof: HostProfile, plan: SitePlan | None) -> None:
        self.p = prof
        self.plan = plan
        self.posix = prof.platform != "windows"
        self.rng = rng_for(cfg.seed, "world", prof.index)
        self.versions = dict.fromkeys(DOMAINS, 0)
        self.events: dict[str, list[Event]] = {t: [] for t in EVENT_TABLES}
        self.numeric = (
            {
                t: frozenset(
                    c
                    for c, m in zip(
                        columns(t, prof.platform), mask_for(t, prof.platform), strict=True
                    )
                    if m
                )
                for t in EVENT_TABLES
            }
            if self.posix
            else {}
        )
        self.heap: list[Op] = []
        self.cmds: list[tuple[int, int, str, str, str, bool]] = []
        self.ci = 0
        self.cmd_t = 1 << 62
        self.seq = 0
        self.hostname = prof.hostnames[0][1]
        self.hw = hardware(self.rng, prof)
        self.os = OS_VERSIONS[prof.platform][0]
        self.users = base_users(self.rng, prof)
        self.groups = base_groups(prof)
        self.members: list[tuple[int, int]] = self._base_members()
        self.ifaces: dict[str, Iface] = base_ifaces(self.rng, prof, plan)
        self.mounts: list[Mount] = base_mounts(prof)
        self.usb: list[UsbDevice] = self._base_usb()
        self.drives: list[Drive] = []
        if prof.platform == "windows":
            self.drives = [
                Drive("C:", "Local Disk", "Local Fixed Disk", 511_270_989_824, "NTFS", 1)
            ]
        self.sessions: dict[int, LoginSession] = {}
        self.procs: dict[int, Proc] = {}
        self.ports: list[Port] = []
        self.by_serial: dict[int, Proc] = {}
        self.serial = 0
        self.next_pid = 1
        self.sid_seq = 0
        self.boot_time = prof.sessions[0].boot_time if prof.sessions else prof.start
        self.tx = 0
        self.eid = 0  # audit event ids of user_events and socket_events
        self.inode = 1_000_000 + self.rng.randrange(1_000_000)
        self.notes: dict[str, Any] = {}
        self.shell: dict[str, int] = {}
        self.init_pid = 1
        self._names_v = -1
        self._by_name: dict[str, User] = {}
        self._exe: dict[str, tuple[bytes, bytes]] = {}
        self._jtext: dict[str, bytes] = {}

    # ------------------------------------------------------------------ plumbing
    def push(self, t: int, name: str, *args: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, getattr(self, "op_" + name), args))

    def push_cmd(self, t: int, user: str, path: str, cmdline: str, sudo: bool) -> None:
        """A short-lived command: kept in a sorted stream beside the heap (cheaper)."""
        self.seq += 1
        self.cmds.append((t, self.seq, user, path, cmdline, sudo))

    def seal(self) -> None:
        self.cmds.sort()
        self.cmd_t = self.cmds[0][0] if self.cmds else 1 << 62

    def advance(self, t: int) -> None:
        """Apply every operation due at or before t, in (time, creation) order."""
        heap, pop, cmds, run = self.heap, heapq.heappop, self.cmds, self.op_exec
        i, n = self.ci, len(self.cmds)
        while True:
            if i < n and cmds[i][0] <= t and not (heap and heap[0][:2] < cmds[i][:2]):
                ct, _, user, path, cmdline, sudo = cmds[i]
                i += 1
                run(ct, user, path, cmdline, sudo, 0, 0, "")
            elif heap and heap[0][0] <= t:
                ot, _, fn, args = pop(heap)
                fn(ot, *args)
            else:
                break
        self.ci = i
        self.cmd_t = cmds[i][0] if i < n else 1 << 62

    @abstractmethod
    def op_exec(
        self, t: int, user: str, path: str, cmdline: str, sudo: bool, dur: int, port: int, tag: str
    ) -> None:
        """Run a process (implemented by ProcessOps)."""

    def bump(self, *domains: str) -> None:
        for d in domains:
            self.versions[d] += 1

    def hclock(self, t: int) -> int:
        return t + self.p.clock_offset

    def take_events(self, table: str) -> list[Event]:
        evs = self.events[table]
        self.events[table] = []
        return evs

    def clear_events(self) -> None:
        for k in self.events:
            self.events[k] = []

    def user(self, name: str) -> User | None:
        if self._names_v != self.versions["users"]:
            self._names_v = self.versions["users"]
            self._by_name = {u.username: u for u in self.users}
        return self._by_name.get(name)

    def uid_of(self, name: str) -> int:
        if name in ("", "root", "SYSTEM"):
            return -1 if not self.posix else 0
        u = self.user(self.p.user if name == "$u" else name)
        return u.uid if u else -1

    def _base_members(self) -> list[tuple[int, int]]:
        out = [(u.uid, u.gid) for u in self.users]
        admin = {"linux": 27, "darwin": 80, "windows": 544}[self.p.platform]
        for u in self.users:
            if u.username in (self.p.user, "ops", "Administrator"):
                out.append((u.uid, admin))
        return out

    def _base_usb(self) -> list[UsbDevice]:
        if self.p.platform == "linux":
            return list(LINUX_HUBS) + (list(LINUX_LAPTOP_USB) if self.p.kind == "laptop" else [])
        return list(DARWIN_USB) if self.p.platform == "darwin" else []

    # ------------------------------------------------------------------ events
    def _exe_stat(self, path: str) -> tuple[int, int, int, int]:
        """(atime, btime, ctime, mtime) of an executable: fixed per path."""
        crc = zlib.crc32(path.encode())
        mtime = 1_690_000_000 + crc % 20_000_000
        return mtime + crc % 5_000_000, mtime - 86_400, mtime, mtime

    def _exe_formats(self, path: str) -> tuple[bytes, bytes]:
        """%-formats rendering a process event row for this executable straight to JSON (keys
        sorted), as all-strings and as typed under numerics=true. Equal, byte for byte, to
        orjson.dumps(exec_dict(...), OPT_SORT_KEYS) (checked by the tests)."""
        fmts = self._exe.get(path)
        if fmts is None:
            atime, btime, ctime, mtime = self._exe_stat(path)
            linux = self.p.platform == "linux"
            # kind: D dynamic int, J dynamic JSON text, N static int, T static text
            spec: list[tuple[str, str, object]] = [
                ("atime", "N", atime),
                ("auid", "D", 0),
                ("btime", "T", "") if linux else ("btime", "N", btime),
                ("cmdline", "J", 0),
                ("ctime", "N", ctime),
                ("cwd", "J", 0),
                ("egid", "D", 0),
                ("euid", "D", 0),
            ]
            spec += [("fsgid", "D", 0), ("fsuid", "D", 0)] if linux else []
            spec += [
                ("gid", "D", 0),
                ("mode", "T", "0100755"),
                ("mtime", "N", mtime),
                ("owner_gid", "N", 0),
                ("owner_uid", "N", 0),
                ("parent", "D", 0),
                ("path", "T", path),
                ("pid", "D", 0),
            ]
            spec += (
                [("sgid", "D", 0), ("suid", "D", 0), ("syscall", "T", "execve")]
                if linux
                else [("status", "N", 0)]
            )
            spec += [("time", "D", 0), ("uid", "D", 0), ("uptime", "D", 0)]
            fmts = (_render(spec, typed=False), _render(spec, typed=True))
            self._exe[path] = fmts
        return fmts

    def _json_text(self, value: str) -> bytes:
        b = self._jtext.get(value)
        if b is None:
            if len(self._jtext) > 50_000:
                self._jtext.clear()
            b = self._jtext[value] = orjson.dumps(value)
        return b

    def exec_event(self, t: int, p: Proc, auid: int) -> None:
        self.exec_row(t, p.pid, p.parent, p.path, p.cmdline, p.cwd, p.uid, p.gid, auid)

    def exec_row(
        self,
        t: int,
        pid: int,
        parent: int,
        path: str,
        cmdline: str,
        cwd: str,
        uid: int,
        gid: int,
        auid: int,
    ) -> None:
        """Buffer one process_events row (uid=euid=suid=fsuid, gid likewise)."""
        if not self.posix:
            return
        fs, ft = self._exe_formats(path)
        cj, wj = self._json_text(cmdline), self._json_text(cwd)
        ht, up = t + self.p.clock_offset, t - self.boot_time
        if self.p.platform == "linux":
            args: tuple[int | bytes, ...] = (
                auid,
                cj,
                wj,
                gid,
                uid,
                gid,
                uid,
                gid,
                parent,
                pid,
                gid,
                uid,
                ht,
                uid,
                up,
            )
        else:
            args = (auid, cj, wj, gid, uid, gid, parent, pid, ht, uid, up)
        row = fs % args
        self.events["process_events"].append((row, ft % args if self.p.numerics else row))

    def exec_dict(
        self,
        t: int,
        pid: int,
        parent: int,
        path: str,
        cmdline: str,
        cwd: str,
        uid: int,
        gid: int,
        auid: int,
    ) -> dict[str, str]:
        """The same row as exec_row, as a dict of strings (reference and notes)."""
        atime, btime, ctime, mtime = self._exe_stat(path)
        su, sg = str(uid), str(gid)
        d = {
            "atime": str(atime),
            "auid": str(auid),
            "btime": "",
            "cmdline": cmdline,
            "ctime": str(ctime),
            "cwd": cwd,
            "egid": sg,
            "euid": su,
            "gid": sg,
            "mode": "0100755",
            "mtime": str(mtime),
            "owner_gid": "0",
            "owner_uid": "0",
            "parent": str(parent),
            "path": path,
            "pid": str(pid),
            "time": str(t + self.p.clock_offset),
            "uid": su,
            "uptime": str(t - self.boot_time),
        }
        if self.p.platform == "linux":
            d.update(fsgid=sg, fsuid=su, sgid=sg, suid=su, syscall="execve")
        else:
            d.update(btime=str(btime), status="0")
        return d

    def _typed(self, table: str, d: dict[str, str]) -> dict[str, str | int]:
        num = self.numeric[table]
        return {k: (int(v) if v and k in num else v) for k, v in d.items()}

    def _emit(self, table: str, d: dict[str, str]) -> None:
        row = orjson.dumps(d, option=orjson.OPT_SORT_KEYS)
        typed = self._typed(table, d) if self.p.numerics else None
        self.events[table].append(
            (row, row if typed is None else orjson.dumps(typed, option=orjson.OPT_SORT_KEYS))
        )

    def file_event(
        self, t: int, path: str, action: str, category: str, uid: int, gid: int, size: int
    ) -> dict[str, str]:
        if not self.posix:
            return {}
        self.tx += 1
        txid = "0" if self.p.platform == "linux" else str(41_000_000 + self.tx)
        if action == "DELETED":
            d = dict.fromkeys(
                ("atime", "ctime", "gid", "inode", "md5", "mtime", "sha1", "sha256", "size", "uid"),
                "",
            )
            d.update(hashed="0", mode="")
        else:
            self.inode += 1
            md5, sha1, sha256 = _hashes(f"{path}:{t}:{size}")
            ht = str(self.hclock(t))
            d = {
                "atime": ht,
                "ctime": ht,
                "gid": str(gid),
                "inode": str(self.inode),
                "md5": md5,
                "mtime": ht,
                "sha1": sha1,
                "sha256": sha256,
                "size": str(size),
                "uid": str(uid),
                "hashed": "1",
                "mode": "0100644",
            }
        d.update(
            action=action,
            category=category,
            target_path=path,
            time=str(self.hclock(t)),
            transaction_id=txid,
        )
        self._emit("file_events", d)
        return d

    def user_event(
        self,
        t: int,
        etype: int,
        uid: int,
        auid: int,
        pid: int,
        path: str,
        message: str,
        address: str = "",
        terminal: str = "",
    ) -> None:
        """One audit user event (Linux): a login (1112 USER_LOGIN) or a sudo command (1123)."""
        if self.p.platform != "linux":
            return
        self.eid += 1
        self._emit(
            "user_events",
            {
                "address": address,
                "auid": str(auid),
                "eid": str(self.eid),
                "message": message,
                "path": path,
                "pid": str(pid),
                "terminal": terminal,
                "time": str(self.hclock(t)),
                "type": str(etype),
                "uid": str(uid),
                "uptime": str(t - self.boot_time),
            },
        )

    def socket_event(
        self,
        t: int,
        action: str,
        pid: int,
        path: str,
        auid: int,
        local: tuple[str, int],
        remote: tuple[str, int],
    ) -> None:
        """One audit socket event (Linux): `accept` by a server, `connect` by a client."""
        if self.p.platform != "linux":
            return
        self.eid += 1
        self._emit(
            "socket_events",
            {
                "action": action,
                "auid": str(auid),
                "eid": str(self.eid),
                "family": "2",
                "fd": "3",
                "local_address": local[0],
                "local_port": str(local[1]),
                "path": path,
                "pid": str(pid),
                "protocol": "6",
                "remote_address": remote[0],
                "remote_port": str(remote[1]),
                "socket": "",
                "success": "1",
                "time": str(self.hclock(t)),
                "uptime": str(t - self.boot_time),
            },
        )

    def hw_event(
        self, t: int, action: str, path: str, htype: str, driver: str, drive: UsbDrive
    ) -> dict[str, str]:
        d = {
            "action": action,
            "driver": driver,
            "model": drive.model.replace(" ", "_"),
            "model_id": drive.model_id,
            "path": path,
            "revision": drive.revision.replace(".", ""),
            "serial": drive.serial,
            "time": str(self.hclock(t)),
            "type": htype,
            "vendor": drive.vendor,
            "vendor_id": drive.vendor_id,
        }
        self._emit("hardware_events", d)
        return d
