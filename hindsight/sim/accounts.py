"""Account operations: users, groups and memberships (with their audit trail)."""

from __future__ import annotations

from .procs import ProcessOps
from .setup import guid
from .state import (
    Group,
    User,
)


class AccountOps(ProcessOps):
    """useradd/userdel/groupadd/groupdel/gpasswd, each with its process and file events."""

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
            u = User(uid, gid, name, gecos, f"/Users/{name}", "/bin/zsh", uuid=guid(self.rng))
        else:
            gid = 513
            u = User(
                uid,
                gid,
                name,
                gecos,
                f"C:\\Users\\{name}",
                "C:\\Windows\\system32\\cmd.exe",
                uuid=f"{self.hw['sid']}-{uid}",
            )
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
