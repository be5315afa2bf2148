"""Mutable per-host machine state (what the osquery tables read)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Addr:
    address: str
    mask: str
    broadcast: str = ""
    ptp: str = ""
    atype: str = "unknown"


@dataclass
class Iface:
    name: str
    mac: str
    itype: int
    mtu: int
    flags: int
    link_speed: str = ""
    pci_slot: str = ""
    friendly: str = ""
    description: str = ""
    metric: int = 0
    addrs: list[Addr] = field(default_factory=list)
    dhcp: bool = False
    connected: bool = True
    lease_obtained: str = ""
    lease_expires: str = ""
    dhcp_server: str = ""


@dataclass
class User:
    uid: int
    gid: int
    username: str
    description: str
    directory: str
    shell: str
    uuid: str = ""
    is_hidden: str = "0"
    utype: str = "local"


@dataclass
class Group:
    gid: int
    groupname: str
    sid: str = ""
    comment: str = ""
    is_hidden: str = "0"


@dataclass
class LoginSession:
    stype: str
    user: str
    tty: str
    host: str
    time: int
    pid: int
    sid: str = ""
    hive: str = ""


@dataclass
class Proc:
    serial: int
    pid: int
    parent: int
    name: str
    path: str
    cmdline: str
    cwd: str
    uid: int
    gid: int
    euid: int
    egid: int
    start_time: int


@dataclass
class Port:
    pid: int
    port: int
    protocol: int
    family: int
    address: str
    fd: int
    socket: int
    path: str = ""


@dataclass
class UsbDevice:
    usb_address: int
    usb_port: int
    vendor: str
    vendor_id: str
    version: str
    model: str
    model_id: str
    serial: str
    cls: str
    subclass: str
    protocol: str
    removable: str


@dataclass
class Mount:
    device: str
    alias: str
    path: str
    fstype: str
    blocks_size: int
    blocks: int
    flags: str


@dataclass
class Drive:
    device_id: str
    dtype: str
    description: str
    size: int
    file_system: str
    boot_partition: int


@dataclass(frozen=True)
class OsInfo:
    name: str
    version: str
    major: int
    minor: int
    patch: int
    build: str
    platform: str
    platform_like: str
    codename: str
    arch: str


@dataclass(frozen=True)
class UsbDrive:
    """A removable drive the scenario plugs in (not a table row)."""

    vendor: str
    vendor_id: str
    model: str
    model_id: str
    serial: str
    revision: str
    blocks: int
    label: str
