"""A host's machine: state evolving through timed operations, plus its event buffers."""

from __future__ import annotations

import hashlib
import heapq
import time
import zlib
from typing import Any

from .catalog import (
    DARWIN_BASE, DARWIN_USB, LINUX_BASE, LINUX_DESKTOP, LINUX_HUBS, LINUX_LAPTOP_USB,
    LINUX_SERVER, OS_VERSIONS, WINDOWS_BASE, ProcSpec,
)
from .config import SimConfig
from .fleet import HostProfile, Session
from .network import NetPeriod, SitePlan
from .rand import rng_for
from .setup import guid, base_groups, base_ifaces, base_mounts, base_users, hardware
from .tables import columns, mask_for
from .state import (
    Addr, Drive, Group, Iface, LoginSession, Mount, Port, Proc, UsbDevice, UsbDrive, User,
)

DOMAINS = ("net", "users", "groups", "members", "sessions", "procs", "ports", "sysinfo", "os",
           "usb", "mounts", "drives")
EVENT_TABLES = ("process_events", "file_events", "hardware_events")
Op = tuple[int, int, str, tuple[Any, ...]]
Event = tuple[dict[str, str], dict[str, str | int] | None]  # (strings, typed if numerics)


def _wmi_time(t: int) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t)) + ".000000+000"


def _hashes(seed: str) -> tuple[str, str, str]:
    b = seed.encode()
    return (hashlib.md5(b).hexdigest(), hashlib.sha1(b).hexdigest(),
            hashlib.sha256(b).hexdigest())


class World:
    def __init__(self, cfg: SimConfig, prof: HostProfile, plan: SitePlan | None) -> None:
        self.p = prof
        self.plan = plan
        self.posix = prof.platform != "windows"
        self.rng = rng_for(cfg.seed, "world", prof.index)
        self.versions = dict.fromkeys(DOMAINS, 0)
        self.events: dict[str, list[Event]] = {t: [] for t in EVENT_TABLES}
        self.numeric = {t: frozenset(c for c, m in zip(columns(t, prof.platform),
                                                      mask_for(t, prof.platform), strict=True) if m)
                        for t in EVENT_TABLES} if self.posix else {}
        self.heap: list[Op] = []
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
            self.drives = [Drive("C:", "Local Disk", "Local Fixed Disk", 511_270_989_824, "NTFS", 1)]
        self.sessions: dict[int, LoginSession] = {}
        self.procs: dict[int, Proc] = {}
        self.ports: list[Port] = []
        self.by_serial: dict[int, Proc] = {}
        self.serial = 0
        self.next_pid = 1
        self.sid_seq = 0
        self.boot_time = prof.sessions[0].boot_time if prof.sessions else prof.start
        self.tx = 0
        self.inode = 1_000_000 + self.rng.randrange(1_000_000)
        self.notes: dict[str, Any] = {}
        self.shell: dict[str, int] = {}
        self._names_v = -1
        self._by_name: dict[str, User] = {}
        self._exe: dict[str, dict[str, str]] = {}

    # ------------------------------------------------------------------ plumbing
    def push(self, t: int, name: str, *args: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, name, args))

    def advance(self, t: int) -> None:
        heap = self.heap
        while heap and heap[0][0] <= t:
            ot, _, name, args = heapq.heappop(heap)
            getattr(self, "op_" + name)(ot, *args)

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

    # ------------------------------------------------------------------ processes
    def _pid(self) -> int:
        pid_max = {"linux": 4_194_304, "darwin": 99_998, "windows": 4_194_304}[self.p.platform]
        while True:
            step = int(self.rng.random() * 8) + 1
            self.next_pid += step * 4 if not self.posix else step
            if self.next_pid > pid_max:
                self.next_pid = 300 + step
            if self.next_pid not in self.procs:
                return self.next_pid

    def spawn(self, t: int, spec: ProcSpec, parent: int, cwd: str = "/") -> Proc:
        name, path, cmdline, user = spec
        uid = self.uid_of(user)
        gid = -1 if uid == -1 else next((u.gid for u in self.users if u.uid == uid), 0)
        self.serial += 1
        p = Proc(self.serial, self._pid(), parent, name, path, cmdline.replace("{u}", self.p.user),
                 cwd if self.posix else "", uid, gid, uid, gid, self.hclock(t))
        self.procs[p.pid] = p
        self.by_serial[p.serial] = p
        self.bump("procs")
        return p

    def _baseline(self) -> tuple[ProcSpec, ...]:
        plat, kind = self.p.platform, self.p.kind
        if plat == "windows":
            return WINDOWS_BASE
        if plat == "darwin":
            return DARWIN_BASE
        if kind != "server":
            return LINUX_BASE + LINUX_DESKTOP
        role = self.hostname.split("-")[0]
        return LINUX_BASE + LINUX_SERVER.get(role, LINUX_SERVER["other"])

    def boot(self, t: int) -> None:
        """Processes, sessions and listening sockets as after a (re)boot at t."""
        self.boot_time = t
        self.procs.clear()
        self.by_serial.clear()
        self.ports.clear()
        self.sessions.clear()
        self.shell.clear()
        self.next_pid = 0 if self.posix else 0
        first = 0
        for i, spec in enumerate(self._baseline()):
            p = self.spawn(t + i * 2, spec, first)
            first = first or p.pid
        self._base_ports()
        self._base_sessions(t + 40)
        self.mounts = base_mounts(self.p)
        self.usb = self._base_usb()
        self.bump("procs", "ports", "sessions", "mounts", "usb")

    def proc_named(self, name: str) -> Proc | None:
        for p in self.procs.values():
            if p.name == name:
                return p
        return None

    def _base_ports(self) -> None:
        plat = self.p.platform
        specs: list[tuple[str, int, int, int, str]] = []
        if plat == "linux":
            specs = [("sshd", 22, 6, 2, "0.0.0.0"), ("sshd", 22, 6, 10, "::"),
                     ("systemd-resolve", 53, 17, 2, "127.0.0.53"),
                     ("systemd-resolve", 53, 6, 2, "127.0.0.53")]
            specs += [("cupsd", 631, 6, 2, "127.0.0.1")] if self.p.kind != "server" else []
            specs += [("nginx", 80, 6, 2, "0.0.0.0"), ("nginx", 443, 6, 2, "0.0.0.0"),
                      ("postgres", 5432, 6, 2, "127.0.0.1")]
        elif plat == "darwin":
            specs = [("rapportd", 49152, 6, 2, "0.0.0.0"), ("rapportd", 49152, 6, 10, "::"),
                     ("mDNSResponder", 5353, 17, 2, "0.0.0.0")]
        else:
            specs = [("svchost.exe", 135, 6, 2, "0.0.0.0"), ("System", 445, 6, 2, "0.0.0.0"),
                     ("lsass.exe", 49664, 6, 2, "0.0.0.0"), ("svchost.exe", 5353, 17, 2, "0.0.0.0")]
        for name, port, proto, fam, addr in specs:
            p = self.proc_named(name)
            if p is not None:
                self.ports.append(self._port(p.pid, port, proto, fam, addr))

    def _port(self, pid: int, port: int, proto: int, fam: int, addr: str) -> Port:
        if not self.posix:
            return Port(pid, port, proto, fam, addr, -1, 0)
        return Port(pid, port, proto, fam, addr, self.rng.randint(3, 60),
                    self.rng.randint(20_000, 900_000))

    def _base_sessions(self, t: int) -> None:
        plat = self.p.platform
        if plat == "linux":
            getty = self.proc_named("agetty")
            self._session("login", "LOGIN", "tty1", "", t, getty.pid if getty else 1)
        if self.p.kind == "server" and plat != "windows":
            return
        tty = {"linux": "tty2", "darwin": "console", "windows": "console"}[plat]
        user = "Administrator" if self.p.kind == "server" else self.p.user
        host = self.proc_named({"linux": "gnome-shell", "darwin": "loginwindow",
                                "windows": "explorer.exe"}[plat])
        stype = "active" if plat == "windows" else "user"
        self._session(stype, user, tty, "", t + 20, host.pid if host else 1)

    def _session(self, stype: str, user: str, tty: str, host: str, t: int, pid: int) -> int:
        self.sid_seq += 1
        sid = hive = ""
        if not self.posix:
            u = self.user(user)
            sid = u.uuid if u else ""
            hive = f"HKEY_USERS\\{sid}"
        self.sessions[self.sid_seq] = LoginSession(stype, user, tty, host, self.hclock(t), pid,
                                                   sid, hive)
        self.bump("sessions")
        return self.sid_seq

    # ------------------------------------------------------------------ events
    def _exe_template(self, path: str) -> tuple[dict[str, str], dict[str, str | int]]:
        """Static columns of a process event for an executable (its file's stat), as strings
        and as typed under numerics=true."""
        tpl = self._exe.get(path)
        if tpl is None:
            crc = zlib.crc32(path.encode())
            mtime = 1_690_000_000 + crc % 20_000_000
            ts = {"atime": str(mtime + crc % 5_000_000), "btime": "", "ctime": str(mtime),
                  "mode": "0100755", "mtime": str(mtime), "owner_gid": "0", "owner_uid": "0",
                  "path": path}
            if self.p.platform == "linux":
                ts["syscall"] = "execve"
            else:
                ts.update(btime=str(mtime - 86_400), status="0")
            tpl = ts, self._typed("process_events", ts)
            self._exe[path] = tpl
        return tpl

    def _typed(self, table: str, d: dict[str, str]) -> dict[str, str | int]:
        num = self.numeric[table]
        return {k: (int(v) if v and k in num else v) for k, v in d.items()}

    def exec_event(self, t: int, p: Proc, auid: int) -> dict[str, str]:
        return self.exec_row(t, p.pid, p.parent, p.path, p.cmdline, p.cwd, p.uid, p.gid, auid)

    def exec_row(self, t: int, pid: int, parent: int, path: str, cmdline: str, cwd: str,
                 uid: int, gid: int, auid: int) -> dict[str, str]:
        if not self.posix:
            return {}
        ts, tt = self._exe_template(path)
        ht, up = t + self.p.clock_offset, t - self.boot_time
        d = dict(ts)
        su, sg = str(uid), str(gid)
        d.update(auid=str(auid), cmdline=cmdline, cwd=cwd, egid=sg, euid=su, gid=sg,
                 parent=str(parent), pid=str(pid), time=str(ht), uid=su, uptime=str(up))
        e: dict[str, str | int] | None = None
        if self.p.numerics:
            e = dict(tt)
            e.update(auid=auid, cmdline=cmdline, cwd=cwd, egid=gid, euid=uid, gid=gid,
                     parent=parent, pid=pid, time=ht, uid=uid, uptime=up)
        if self.p.platform == "linux":
            d.update(fsgid=sg, fsuid=su, sgid=sg, suid=su)
            if e is not None:
                e.update(fsgid=gid, fsuid=uid, sgid=gid, suid=uid)
        self.events["process_events"].append((d, e))
        return d

    def _emit(self, table: str, d: dict[str, str]) -> None:
        self.events[table].append((d, self._typed(table, d) if self.p.numerics else None))

    def file_event(self, t: int, path: str, action: str, category: str, uid: int,
                   gid: int, size: int) -> dict[str, str]:
        if not self.posix:
            return {}
        self.tx += 1
        txid = "0" if self.p.platform == "linux" else str(41_000_000 + self.tx)
        if action == "DELETED":
            d = dict.fromkeys(("atime", "ctime", "gid", "inode", "md5", "mtime", "sha1",
                               "sha256", "size", "uid"), "")
            d.update(hashed="0", mode="")
        else:
            self.inode += 1
            md5, sha1, sha256 = _hashes(f"{path}:{t}:{size}")
            ht = str(self.hclock(t))
            d = {"atime": ht, "ctime": ht, "gid": str(gid), "inode": str(self.inode),
                 "md5": md5, "mtime": ht, "sha1": sha1, "sha256": sha256, "size": str(size),
                 "uid": str(uid), "hashed": "1", "mode": "0100644"}
        d.update(action=action, category=category, target_path=path,
                 time=str(self.hclock(t)), transaction_id=txid)
        self._emit("file_events", d)
        return d

    def hw_event(self, t: int, action: str, path: str, htype: str, driver: str,
                 drive: UsbDrive) -> dict[str, str]:
        d = {"action": action, "driver": driver, "model": drive.model.replace(" ", "_"),
             "model_id": drive.model_id, "path": path, "revision": drive.revision.replace(".", ""),
             "serial": drive.serial, "time": str(self.hclock(t)), "type": htype,
             "vendor": drive.vendor, "vendor_id": drive.vendor_id}
        self._emit("hardware_events", d)
        return d

    # ------------------------------------------------------------------ operations
    def op_boot(self, t: int, session: Session) -> None:
        if self.p.upgrade_at is not None and t >= self.p.upgrade_at:
            self.os = OS_VERSIONS[self.p.platform][1]
            self.bump("os")
        self.boot(t)

    def op_rename(self, t: int, hostname: str) -> None:
        self.hostname = hostname
        self.bump("sysinfo")

    def op_exec(self, t: int, user: str, path: str, cmdline: str, sudo: bool, dur: int,
                port: int, tag: str) -> None:
        u = self.user(user)
        if u is None:
            return
        parent = self.shell.get(user) or next(iter(self.procs), 1)
        if dur <= 0 and not tag:  # short-lived: an exec event, never seen by `processes`
            if self.posix:
                uid, gid = (0, 0) if sudo else (u.uid, u.gid)
                self.exec_row(t, self._pid(), parent, path, cmdline, u.directory, uid, gid,
                              u.uid)
            return
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        cwd = u.directory if self.posix else ""
        p = self.spawn(t, (name, path, cmdline, "" if sudo else user), parent, cwd)
        ev = self.exec_event(t, p, u.uid)
        if tag:
            self.notes[tag] = {"time": ev.get("time", str(self.hclock(t))), "pid": p.pid,
                               "uid": p.uid, "auid": u.uid, "username": user, "path": path,
                               "cmdline": p.cmdline}
        if dur <= 0:
            self._reap(p)
            return
        if port:
            self.ports.append(self._port(p.pid, port, 6, 2, "0.0.0.0"))
            self.bump("ports")
        self.push(t + dur, "exit", p.serial)

    def _reap(self, p: Proc) -> None:
        self.procs.pop(p.pid, None)
        self.by_serial.pop(p.serial, None)

    def op_exit(self, t: int, serial: int) -> None:
        p = self.by_serial.get(serial)
        if p is None:
            return
        self._reap(p)
        self.bump("procs")
        before = len(self.ports)
        self.ports = [x for x in self.ports if x.pid != p.pid]
        if len(self.ports) != before:
            self.bump("ports")

    def op_login(self, t: int, user: str, tty: str, host: str, dur: int) -> None:
        u = self.user(user)
        if u is None:
            return
        sshd = self.proc_named("sshd")
        shell_path = u.shell if self.posix else "C:\\Windows\\System32\\cmd.exe"
        p = self.spawn(t, (shell_path.rsplit("/", 1)[-1], shell_path, f"-{shell_path}", user),
                       sshd.pid if sshd else 1, u.directory)
        self.exec_event(t, p, u.uid)
        self.shell[user] = p.pid
        stype = "active" if not self.posix else "user"
        sid = self._session(stype, user, tty, host, t, p.pid)
        self.push(t + dur, "logout", sid, p.serial, user)

    def op_logout(self, t: int, sid: int, serial: int, user: str) -> None:
        if self.sessions.pop(sid, None) is not None:
            self.bump("sessions")
        self.op_exit(t, serial)
        self.shell.pop(user, None)

    def _next_uid(self) -> int:
        lo = {"linux": 1000, "darwin": 501, "windows": 1001}[self.p.platform]
        return max([u.uid for u in self.users if lo <= u.uid < 60000] + [lo - 1]) + 1

    def _etc_events(self, t: int, files: tuple[str, ...]) -> None:
        for i, f in enumerate(files):
            self.file_event(t + i, f, "UPDATED", "etc", 0, 0, 2000 + 37 * len(self.users))

    def op_useradd(self, t: int, name: str, gecos: str, admin: str, tag: str) -> None:
        plat = self.p.platform
        uid = self._next_uid()
        if plat == "linux":
            gid = uid
            self.groups.append(self._group(gid, name))
            self.bump("groups")
            u = User(uid, gid, name, gecos, f"/home/{name}", "/bin/bash")
        elif plat == "darwin":
            gid = 20
            u = User(uid, gid, name, gecos, f"/Users/{name}", "/bin/zsh",
                     uuid=guid(self.rng))
        else:
            gid = 513
            u = User(uid, gid, name, gecos, f"C:\\Users\\{name}", "C:\\Windows\\system32\\cmd.exe",
                     uuid=f"{self.hw['sid']}-{uid}")
        self.users.append(u)
        self.members.append((uid, gid))
        self.bump("users", "members")
        self._admin_cmd(t, admin, "useradd", f"useradd -m -c {gecos.split(',')[0]} {name}")
        self._etc_events(t + 1, ("/etc/passwd", "/etc/shadow", "/etc/group"))
        self.notes[tag] = {"uid": uid, "username": name, "at": t}

    def _group(self, gid: int, name: str) -> Group:
        return Group(gid, name)

    def _admin_cmd(self, t: int, admin: str, binary: str, cmdline: str) -> None:
        if self.posix:
            prefix = "/usr/sbin/" if self.p.platform == "linux" else "/usr/bin/"
            path = prefix + (binary if self.p.platform == "linux" else "dscl")
            self.op_exec(t, admin, path, cmdline, True, 0, 0, "")

    def op_userdel(self, t: int, name: str, admin: str, tag: str) -> None:
        u = self.user(name)
        if u is None:
            return
        self.users.remove(u)
        self.members = [m for m in self.members if m[0] != u.uid]
        before = len(self.groups)
        self.groups = [g for g in self.groups if not (g.groupname == name and g.gid == u.gid)]
        self.bump("users", "members", *(("groups",) if len(self.groups) != before else ()))
        self._admin_cmd(t, admin, "userdel", f"userdel -r {name}")
        self._etc_events(t + 1, ("/etc/passwd", "/etc/shadow", "/etc/group"))
        self.notes[tag] = {"uid": u.uid, "username": name, "at": t}

    def op_groupadd(self, t: int, name: str, gid: int, admin: str) -> None:
        g = self._group(gid, name)
        if not self.posix:
            g.sid, g.comment = f"{self.hw['sid']}-{gid}", "Contractors with temporary access"
        self.groups.append(g)
        self.bump("groups")
        self._admin_cmd(t, admin, "groupadd", f"groupadd -g {gid} {name}")
        self._etc_events(t + 1, ("/etc/group",))

    def op_groupdel(self, t: int, name: str, admin: str) -> None:
        gids = {g.gid for g in self.groups if g.groupname == name}
        self.groups = [g for g in self.groups if g.groupname != name]
        self.members = [m for m in self.members if m[1] not in gids]
        self.bump("groups", "members")
        self._admin_cmd(t, admin, "groupdel", f"groupdel {name}")
        self._etc_events(t + 1, ("/etc/group",))

    def op_member(self, t: int, user: str, group: str, add: bool, admin: str) -> None:
        u, gid = self.user(user), next((g.gid for g in self.groups if g.groupname == group), None)
        if u is None or gid is None:
            return
        if add and (u.uid, gid) not in self.members:
            self.members.append((u.uid, gid))
        elif not add and (u.uid, gid) in self.members:
            self.members.remove((u.uid, gid))
        else:
            return
        self.bump("members")
        self._admin_cmd(t, admin, "gpasswd", f"gpasswd -{'a' if add else 'd'} {user} {group}")
        self._etc_events(t + 1, ("/etc/group",))

    # ------------------------------------------------------------------ network
    def primary(self) -> Iface:
        return next(i for i in self.ifaces.values() if i.dhcp)

    def op_net(self, t: int, per: NetPeriod, up: bool) -> None:
        ifc = self.primary()
        win = not self.posix
        vpn = "tun0" if self.p.platform == "linux" else "utun4"
        if not up:
            ifc.addrs, ifc.connected = [], False
            ifc.lease_obtained = ifc.lease_expires = ifc.dhcp_server = ""
            if self.ifaces.pop(vpn, None) is not None:
                pass
            self.bump("net")
            return
        if per.where == "none":
            return
        prefix = per.ip.rsplit(".", 1)[0]
        ifc.addrs = [Addr(per.ip, "255.255.255.0", f"{prefix}.255", "",
                          "dhcp" if win else "unknown"), self.link_local(ifc)]
        ifc.connected = True
        if win:
            lease = self.plan.lease if self.plan and per.where == "office" else 86400
            ifc.lease_obtained, ifc.lease_expires = _wmi_time(self.hclock(t)), _wmi_time(
                self.hclock(t) + lease)
            ifc.dhcp_server = f"{prefix}.1"
            if per.where == "office":
                for r in range(t + lease // 2, per.end, lease // 2):
                    self.push(r, "renew", per.start, lease)
        if per.vpn:
            ptp = f"10.8.{self.p.index % 200}.1"
            self.ifaces[vpn] = Iface(vpn, "", 65534 if vpn == "tun0" else 1, 1500 - 80, 4305,
                                     addrs=[Addr(f"10.8.{self.p.index % 200}.{10 + self.p.slot}",
                                                 "255.255.255.255", "", ptp)])
        self.bump("net")

    def link_local(self, ifc: Iface) -> Addr:
        mac = ifc.mac.lower().replace("-", ":") or "02:00:00:00:00:01"
        b = [int(x, 16) for x in mac.split(":")]
        ll = (f"fe80::{(b[0] ^ 2):x}{b[1]:02x}:{b[2]:x}ff:fe{b[3]:02x}:{b[4]:x}{b[5]:02x}")
        return Addr(f"{ll}%{ifc.name}", "ffff:ffff:ffff:ffff::", "", "", "unknown")

    def op_renew(self, t: int, start: int, lease: int) -> None:
        ifc = self.primary()
        if ifc.connected and ifc.lease_obtained:
            ifc.lease_obtained = _wmi_time(self.hclock(t))
            ifc.lease_expires = _wmi_time(self.hclock(t) + lease)
            self.bump("net")

    # ------------------------------------------------------------------ removable drives
    def op_usb_insert(self, t: int, drive: UsbDrive, tag: str) -> None:
        note: dict[str, Any] = {"serial": drive.serial, "vendor": drive.vendor,
                                "model": drive.model, "inserted_at": t}
        self.notes[tag] = note
        if not self.posix:
            self.drives.append(Drive("E:", "Removable Disk", "Removable Disk",
                                     drive.blocks * 512, "FAT32", 0))
            note.update(mount_path="E:\\", device="E:")
            self.bump("drives")
            return
        addr = 5 + sum(1 for k in self.notes if k.startswith("usb"))
        self.usb.append(UsbDevice(addr, 2, drive.vendor, drive.vendor_id, drive.revision,
                                  drive.model, drive.model_id, drive.serial, "0", "0", "0", "1"))
        self.bump("usb")
        if self.p.platform == "linux":
            ev = self.hw_event(t, "add", f"/dev/bus/usb/001/{addr:03d}", "usb_device", "usb", drive)
            self.hw_event(t + 1, "add", "/dev/sdb", "disk", "sd", drive)
        else:
            ev = self.hw_event(t, "attach", "IOService:/AppleARMPE/arm-io@10F00000/AppleT810xIO/"
                               f"usb-drd1@2280000/AppleT8103USBXHCI@01000000/{drive.model}"
                               f"@0110{addr:04d}", "", "IOUSBHostDevice", drive)
        note["hardware_event"] = ev

    def op_usb_mount(self, t: int, drive: UsbDrive, tag: str) -> None:
        if self.p.platform == "linux":
            m = Mount("/dev/sdb1", "/dev/sdb1", f"/media/{self.p.user}/{drive.label}", "vfat",
                      4096, drive.blocks // 8, "rw,nosuid,nodev,relatime,uid=1000,gid=1000,"
                      "fmask=0022,dmask=0022,codepage=437,iocharset=iso8859-1,shortname=mixed,"
                      "showexec,utf8,flush,errors=remount-ro")
        else:
            m = Mount("/dev/disk4s1", "/dev/disk4s1", f"/Volumes/{drive.label}", "msdos", 512,
                      drive.blocks, "local,nodev,nosuid,noowners")
        self.mounts.append(m)
        self.bump("mounts")
        self.notes[tag].update(mount_path=m.path, device=m.device, mounted_at=t)

    def op_usb_file(self, t: int, name: str, action: str, size: int, tag: str) -> None:
        note = self.notes[tag]
        u = self.user(self.p.user)
        uid, gid = (u.uid, u.gid) if u else (0, 0)
        path = f"{note['mount_path']}/{name}"
        if action == "CREATED":
            src = f"{u.directory if u else '/tmp'}/Documents/{name}"
            self.op_exec(t - 1, self.p.user, "/bin/cp", f"cp {src} {path}", False, 0, 0, "")
        ev = self.file_event(t, path, action, "usb", uid, gid, size)
        note.setdefault("file_event", ev)

    def op_usb_unmount(self, t: int, tag: str) -> None:
        path = self.notes[tag].get("mount_path")
        self.mounts = [m for m in self.mounts if m.path != path]
        self.bump("mounts")
        self.notes[tag]["unmounted_at"] = t

    def op_usb_remove(self, t: int, drive: UsbDrive, tag: str) -> None:
        self.notes[tag]["removed_at"] = t
        if not self.posix:
            self.drives = [d for d in self.drives if d.device_id != "E:"]
            self.bump("drives")
            return
        dev = next(u for u in self.usb if u.serial == drive.serial)
        self.usb.remove(dev)
        self.bump("usb")
        if self.p.platform == "linux":
            self.hw_event(t, "remove", "/dev/sdb", "disk", "sd", drive)
            self.hw_event(t, "remove", f"/dev/bus/usb/001/{dev.usb_address:03d}", "usb_device",
                          "usb", drive)
        else:
            self.hw_event(t, "detach", "IOService:/AppleARMPE/arm-io@10F00000/AppleT810xIO/"
                          f"usb-drd1@2280000/AppleT8103USBXHCI@01000000/{drive.model}"
                          f"@0110{dev.usb_address:04d}", "", "IOUSBHostDevice", drive)
