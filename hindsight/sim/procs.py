"""Processes, logins and listening sockets of a machine."""

from __future__ import annotations

from .catalog import (
    DARWIN_BASE,
    LINUX_BASE,
    LINUX_DESKTOP,
    LINUX_SERVER,
    OS_VERSIONS,
    WINDOWS_BASE,
    ProcSpec,
)
from .fleet import Session
from .machine import Machine
from .setup import base_mounts
from .state import (
    LoginSession,
    Port,
    Proc,
)

UNSET_AUID = 4294967295  # audit's "no login uid" (a daemon started at boot)


class ProcessOps(Machine):
    """Processes, login sessions and listening sockets."""

    def _pid(self) -> int:
        pid_max = 99_998 if self.p.platform == "darwin" else 4_194_304
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
        p = Proc(
            self.serial,
            self._pid(),
            parent,
            name,
            path,
            cmdline.replace("{u}", self.p.user),
            cwd if self.posix else "",
            uid,
            gid,
            uid,
            gid,
            self.hclock(t),
        )
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
        self.next_pid = 0
        first = 0
        for i, spec in enumerate(self._baseline()):
            p = self.spawn(t + i * 2, spec, first)
            first = first or p.pid
        self.init_pid = first
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
            specs = [
                ("sshd", 22, 6, 2, "0.0.0.0"),
                ("sshd", 22, 6, 10, "::"),
                ("systemd-resolve", 53, 17, 2, "127.0.0.53"),
                ("systemd-resolve", 53, 6, 2, "127.0.0.53"),
            ]
            specs += [("cupsd", 631, 6, 2, "127.0.0.1")] if self.p.kind != "server" else []
            specs += [
                ("nginx", 80, 6, 2, "0.0.0.0"),
                ("nginx", 443, 6, 2, "0.0.0.0"),
                ("postgres", 5432, 6, 2, "127.0.0.1"),
            ]
        elif plat == "darwin":
            specs = [
                ("rapportd", 49152, 6, 2, "0.0.0.0"),
                ("rapportd", 49152, 6, 10, "::"),
                ("mDNSResponder", 5353, 17, 2, "0.0.0.0"),
            ]
        else:
            specs = [
                ("svchost.exe", 135, 6, 2, "0.0.0.0"),
                ("System", 445, 6, 2, "0.0.0.0"),
                ("lsass.exe", 49664, 6, 2, "0.0.0.0"),
                ("svchost.exe", 5353, 17, 2, "0.0.0.0"),
            ]
        for name, port, proto, fam, addr in specs:
            p = self.proc_named(name)
            if p is not None:
                self.ports.append(self._port(p.pid, port, proto, fam, addr))

    def _port(self, pid: int, port: int, proto: int, fam: int, addr: str) -> Port:
        if not self.posix:
            return Port(pid, port, proto, fam, addr, -1, 0)
        return Port(
            pid, port, proto, fam, addr, self.rng.randint(3, 60), self.rng.randint(20_000, 900_000)
        )

    def _base_sessions(self, t: int) -> None:
        plat = self.p.platform
        if plat == "linux":
            getty = self.proc_named("agetty")
            self._session("login", "LOGIN", "tty1", "", t, getty.pid if getty else 1)
        if self.p.kind == "server" and plat != "windows":
            return
        tty = {"linux": "tty2", "darwin": "console", "windows": "console"}[plat]
        user = "Administrator" if self.p.kind == "server" else self.p.user
        host = self.proc_named(
            {"linux": "gnome-shell", "darwin": "loginwindow", "windows": "explorer.exe"}[plat]
        )
        stype = "active" if plat == "windows" else "user"
        self._session(stype, user, tty, "", t + 20, host.pid if host else 1)

    def _session(self, stype: str, user: str, tty: str, host: str, t: int, pid: int) -> int:
        self.sid_seq += 1
        sid = hive = ""
        if not self.posix:
            u = self.user(user)
            sid = u.uuid if u else ""
            hive = f"HKEY_USERS\\{sid}"
        self.sessions[self.sid_seq] = LoginSession(
            stype, user, tty, host, self.hclock(t), pid, sid, hive
        )
        self.bump("sessions")
        return self.sid_seq

    # ------------------------------------------------------------------ operations
    def op_boot(self, t: int, session: Session) -> None:
        if self.p.upgrade_at is not None and t >= self.p.upgrade_at:
            self.os = OS_VERSIONS[self.p.platform][1]
            self.bump("os")
        self.boot(t)

    def op_rename(self, t: int, hostname: str) -> None:
        self.hostname = hostname
        self.bump("sysinfo")

    def op_exec(
        self, t: int, user: str, path: str, cmdline: str, sudo: bool, dur: int, port: int, tag: str
    ) -> None:
        u = self.user(user)
        if u is None:
            return
        parent = self.shell.get(user) or self.init_pid
        if sudo:
            self.user_event(
                t,
                1123,
                u.uid,
                u.uid,
                parent,
                "/usr/bin/sudo",
                f'cwd="{u.directory}" cmd="{cmdline}" exe="/usr/bin/sudo" res=success',
            )
        if dur <= 0 and not tag:  # short-lived: an exec event, never seen by `processes`
            if self.posix:
                uid, gid = (0, 0) if sudo else (u.uid, u.gid)
                self.exec_row(t, self._pid(), parent, path, cmdline, u.directory, uid, gid, u.uid)
            return
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        cwd = u.directory if self.posix else ""
        p = self.spawn(t, (name, path, cmdline, "" if sudo else user), parent, cwd)
        self.exec_event(t, p, u.uid)
        if tag:
            self.notes[tag] = {
                "time": self.hclock(t),
                "pid": p.pid,
                "uid": p.uid,
                "auid": u.uid,
                "username": user,
                "path": path,
                "cmdline": p.cmdline,
            }
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
        p = self.spawn(
            t,
            (shell_path.rsplit("/", 1)[-1], shell_path, f"-{shell_path}", user),
            sshd.pid if sshd else 1,
            u.directory,
        )
        self.exec_event(t, p, u.uid)
        self.shell[user] = p.pid
        if host:  # sshd accepts the client's connection, then audits the login
            daemon = sshd.pid if sshd else 1
            self.socket_event(
                t,
                "accept",
                daemon,
                "/usr/sbin/sshd",
                UNSET_AUID,
                (self.local_address(), 22),
                (host, 32768 + t % 28000),
            )
            self.user_event(
                t,
                1112,
                0,
                u.uid,
                daemon,
                "/usr/sbin/sshd",
                f'op=login id={u.uid} exe="/usr/sbin/sshd" hostname=? addr={host} '
                f"terminal=/dev/{tty} res=success",
                host,
                f"/dev/{tty}",
            )
        stype = "active" if not self.posix else "user"
        sid = self._session(stype, user, tty, host, t, p.pid)
        self.push(t + dur, "logout", sid, p.serial, user)

    def local_address(self) -> str:
        """The host's first IPv4 address, as a socket's local address."""
        for ifc in self.ifaces.values():
            for a in ifc.addrs:
                if ifc.name not in ("lo", "lo0") and "." in a.address:
                    return a.address
        return "0.0.0.0"

    def op_logout(self, t: int, sid: int, serial: int, user: str) -> None:
        if self.sessions.pop(sid, None) is not None:
            self.bump("sessions")
        self.op_exit(t, serial)
        self.shell.pop(user, None)
