"""The scheduled queries, their columns per platform, and row builders from machine state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .schema import numeric_mask

if TYPE_CHECKING:
    from .world import World

Dict = dict[str, str]

_C = {
    "interface_addresses": "interface address mask broadcast point_to_point type",
    "interface_details": "interface mac type mtu metric flags",
    "users": "uid gid uid_signed gid_signed username description directory shell uuid",
    "groups": "gid gid_signed groupname",
    "user_groups": "uid gid",
    "logged_in_users": "type user tty host time pid",
    "processes": "pid name path cmdline cwd uid gid euid egid parent start_time",
    "listening_ports": "pid port protocol family address fd socket path",
    "system_info": "hostname uuid cpu_type cpu_brand cpu_physical_cores cpu_logical_cores "
    "physical_memory hardware_vendor hardware_model hardware_serial computer_name local_hostname",
    "os_version": "name version major minor patch build platform platform_like codename arch",
    "usb_devices": "usb_address usb_port vendor vendor_id version model model_id serial class "
    "subclass protocol removable",
    "mounts": "device device_alias path type blocks_size blocks flags",
    "logical_drives": "device_id type description size file_system boot_partition",
    "process_events": "atime auid btime cmdline ctime cwd egid euid gid mode mtime owner_gid "
    "owner_uid parent path pid time uid uptime",
    "file_events": "action atime category ctime gid hashed inode md5 mode mtime sha1 sha256 size "
    "target_path time transaction_id uid",
    "hardware_events": "action driver model model_id path revision serial time type vendor "
    "vendor_id",
    "user_events": "address auid eid message path pid terminal time type uid uptime",
    "socket_events": "action auid eid family fd local_address local_port path pid protocol "
    "remote_address remote_port socket success time uptime",
}
_EXTRA = {
    ("interface_addresses", "windows"): "friendly_name",
    ("interface_details", "linux"): "link_speed pci_slot",
    ("interface_details", "darwin"): "link_speed",
    ("interface_details", "windows"): "friendly_name description connection_status enabled "
    "physical_adapter dhcp_enabled dhcp_lease_obtained dhcp_lease_expires dhcp_server",
    ("users", "darwin"): "is_hidden",
    ("users", "windows"): "type",
    ("groups", "darwin"): "is_hidden",
    ("groups", "windows"): "group_sid comment",
    ("logged_in_users", "windows"): "sid registry_hive",
    ("process_events", "linux"): "fsgid fsuid sgid suid syscall",
    ("process_events", "darwin"): "status",
}


def columns(table: str, platform: str) -> tuple[str, ...]:
    cols = _C[table].split() + _EXTRA.get((table, platform), "").split()
    return tuple(sorted(cols))


@dataclass(frozen=True)
class QuerySpec:
    name: str
    table: str
    interval: int
    snapshot: bool
    platforms: tuple[str, ...]
    domain: str  # state domain whose version invalidates cached results ("" = event table)
    event: bool = False

    def sql(self, platform: str) -> str:
        return f"SELECT {', '.join(columns(self.table, platform))} FROM {self.table};"


ALL = ("linux", "darwin", "windows")
POSIX = ("linux", "darwin")
QUERIES: tuple[QuerySpec, ...] = (
    QuerySpec("pack_net_interface_addresses", "interface_addresses", 180, False, ALL, "net"),
    QuerySpec("pack_net_interface_details", "interface_details", 600, False, ALL, "net"),
    QuerySpec("pack_ir_users", "users", 300, False, ALL, "users"),
    QuerySpec("pack_ir_groups", "groups", 900, False, ALL, "groups"),
    QuerySpec("pack_ir_user_groups", "user_groups", 900, False, ALL, "members"),
    QuerySpec("logged_in_users", "logged_in_users", 300, False, ALL, "sessions"),
    QuerySpec("processes", "processes", 600, False, ALL, "procs"),
    QuerySpec("pack_inventory_processes_snapshot", "processes", 900, True, ALL, "procs"),
    QuerySpec("listening_ports", "listening_ports", 600, False, ALL, "ports"),
    QuerySpec("system_info", "system_info", 3600, True, ALL, "sysinfo"),
    QuerySpec("os_version", "os_version", 3600, False, ALL, "os"),
    QuerySpec("pack_hw_usb_devices", "usb_devices", 300, False, POSIX, "usb"),
    QuerySpec("pack_hw_mounts", "mounts", 300, False, POSIX, "mounts"),
    QuerySpec("pack_hw_logical_drives", "logical_drives", 300, False, ("windows",), "drives"),
    QuerySpec("process_events", "process_events", 120, False, POSIX, "", True),
    QuerySpec("pack_fim_file_events", "file_events", 300, False, POSIX, "", True),
    QuerySpec("pack_hw_hardware_events", "hardware_events", 300, False, POSIX, "", True),
    QuerySpec("user_events", "user_events", 60, False, ("linux",), "", True),
    QuerySpec("socket_events", "socket_events", 60, False, ("linux",), "", True),
)


def host_queries(platform: str, procsnap: bool) -> tuple[QuerySpec, ...]:
    """The schedule of one host: processes is either differential or a snapshot."""
    skip = "processes" if procsnap else "pack_inventory_processes_snapshot"
    return tuple(q for q in QUERIES if platform in q.platforms and q.name != skip)


def mask_for(table: str, platform: str) -> tuple[bool, ...]:
    return numeric_mask(table, columns(table, platform))


# ---------------------------------------------------------------- row builders (state -> dicts)


def _interface_addresses(w: World) -> list[Dict]:
    win = w.p.platform == "windows"
    out = []
    for ifc in w.ifaces.values():
        for a in ifc.addrs:
            d = {
                "interface": ifc.name,
                "address": a.address,
                "mask": a.mask,
                "broadcast": a.broadcast,
                "point_to_point": a.ptp,
                "type": a.atype if win else "unknown",
            }
            if win:
                d["friendly_name"] = ifc.friendly
            out.append(d)
    return out


def _interface_details(w: World) -> list[Dict]:
    out = []
    for ifc in w.ifaces.values():
        d = {
            "interface": ifc.name,
            "mac": ifc.mac,
            "type": str(ifc.itype),
            "mtu": str(ifc.mtu),
            "metric": str(ifc.metric),
            "flags": str(ifc.flags),
        }
        if w.p.platform == "windows":
            if ifc.itype == 24:
                continue  # the loopback pseudo-interface has no Win32_NetworkAdapter
            d.update(
                friendly_name=ifc.friendly,
                description=ifc.description,
                connection_status="2" if ifc.connected else "7",
                enabled="1",
                physical_adapter="1",
                dhcp_enabled="1" if ifc.dhcp else "0",
                dhcp_lease_obtained=ifc.lease_obtained,
                dhcp_lease_expires=ifc.lease_expires,
                dhcp_server=ifc.dhcp_server,
            )
        else:
            d["link_speed"] = ifc.link_speed
            if w.p.platform == "linux":
                d["pci_slot"] = ifc.pci_slot
        out.append(d)
    return out


def _signed(v: int) -> str:
    return str(v - (1 << 32) if v >= 1 << 31 else v)


def _users(w: World) -> list[Dict]:
    out = []
    for u in w.users:
        d = {
            "uid": str(u.uid),
            "gid": str(u.gid),
            "uid_signed": _signed(u.uid),
            "gid_signed": _signed(u.gid),
            "username": u.username,
            "description": u.description,
            "directory": u.directory,
            "shell": u.shell,
            "uuid": u.uuid,
        }
        if w.p.platform == "darwin":
            d["is_hidden"] = u.is_hidden
        elif w.p.platform == "windows":
            d["type"] = u.utype
        out.append(d)
    return out


def _groups(w: World) -> list[Dict]:
    out = []
    for g in w.groups:
        d = {"gid": str(g.gid), "gid_signed": _signed(g.gid), "groupname": g.groupname}
        if w.p.platform == "darwin":
            d["is_hidden"] = g.is_hidden
        elif w.p.platform == "windows":
            d.update(group_sid=g.sid, comment=g.comment)
        out.append(d)
    return out


def _user_groups(w: World) -> list[Dict]:
    return [{"uid": str(u), "gid": str(g)} for u, g in w.members]


def _logged_in_users(w: World) -> list[Dict]:
    out = []
    for s in w.sessions.values():
        d = {
            "type": s.stype,
            "user": s.user,
            "tty": s.tty,
            "host": s.host,
            "time": str(s.time),
            "pid": str(s.pid),
        }
        if w.p.platform == "windows":
            d.update(sid=s.sid, registry_hive=s.hive)
        out.append(d)
    return out


def _processes(w: World) -> list[Dict]:
    return [
        {
            "pid": str(p.pid),
            "name": p.name,
            "path": p.path,
            "cmdline": p.cmdline,
            "cwd": p.cwd,
            "uid": str(p.uid),
            "gid": str(p.gid),
            "euid": str(p.euid),
            "egid": str(p.egid),
            "parent": str(p.parent),
            "start_time": str(p.start_time),
        }
        for p in w.procs.values()
    ]


def _listening_ports(w: World) -> list[Dict]:
    return [
        {
            "pid": str(p.pid),
            "port": str(p.port),
            "protocol": str(p.protocol),
            "family": str(p.family),
            "address": p.address,
            "fd": str(p.fd),
            "socket": str(p.socket),
            "path": p.path,
        }
        for p in w.ports
    ]


def _system_info(w: World) -> list[Dict]:
    hw = w.hw
    return [
        {
            "hostname": w.hostname,
            "uuid": w.p.uuid,
            "cpu_type": hw["cpu_type"],
            "cpu_brand": hw["cpu_brand"],
            "cpu_physical_cores": hw["cores"],
            "cpu_logical_cores": hw["threads"],
            "physical_memory": hw["memory"],
            "hardware_vendor": hw["vendor"],
            "hardware_model": hw["model"],
            "hardware_serial": hw["serial"],
            "computer_name": w.hostname.split(".")[0],
            "local_hostname": w.hostname.split(".")[0],
        }
    ]


def _os_version(w: World) -> list[Dict]:
    o = w.os
    return [
        {
            "name": o.name,
            "version": o.version,
            "major": str(o.major),
            "minor": str(o.minor),
            "patch": str(o.patch),
            "build": o.build,
            "platform": o.platform,
            "platform_like": o.platform_like,
            "codename": o.codename,
            "arch": o.arch,
        }
    ]


def _usb_devices(w: World) -> list[Dict]:
    return [
        {
            "usb_address": str(u.usb_address),
            "usb_port": str(u.usb_port),
            "vendor": u.vendor,
            "vendor_id": u.vendor_id,
            "version": u.version,
            "model": u.model,
            "model_id": u.model_id,
            "serial": u.serial,
            "class": u.cls,
            "subclass": u.subclass,
            "protocol": u.protocol,
            "removable": u.removable,
        }
        for u in w.usb
    ]


def _mounts(w: World) -> list[Dict]:
    return [
        {
            "device": m.device,
            "device_alias": m.alias,
            "path": m.path,
            "type": m.fstype,
            "blocks_size": str(m.blocks_size),
            "blocks": str(m.blocks),
            "flags": m.flags,
        }
        for m in w.mounts
    ]


def _logical_drives(w: World) -> list[Dict]:
    return [
        {
            "device_id": d.device_id,
            "type": d.dtype,
            "description": d.description,
            "size": str(d.size),
            "file_system": d.file_system,
            "boot_partition": str(d.boot_partition),
        }
        for d in w.drives
    ]


BUILDERS: dict[str, Callable[[World], list[Dict]]] = {
    "interface_addresses": _interface_addresses,
    "interface_details": _interface_details,
    "users": _users,
    "groups": _groups,
    "user_groups": _user_groups,
    "logged_in_users": _logged_in_users,
    "processes": _processes,
    "listening_ports": _listening_ports,
    "system_info": _system_info,
    "os_version": _os_version,
    "usb_devices": _usb_devices,
    "mounts": _mounts,
    "logical_drives": _logical_drives,
}
