"""Initial accounts, interfaces, mounts and hardware of a machine."""

from __future__ import annotations

import random

from .fleet import HostProfile
from .network import SitePlan
from .state import Addr, Group, Iface, Mount, User


def _mac(rng: random.Random, oui: str) -> str:
    return oui + "".join(f":{rng.randrange(256):02x}" for _ in range(3))


def guid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032X}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def hardware(rng: random.Random, p: HostProfile) -> dict[str, str]:
    sid = "S-1-5-21-" + "-".join(str(rng.randint(10**9, 4 * 10**9)) for _ in range(3))
    serial = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(10))
    if p.platform == "darwin":
        return {
            "cpu_type": "arm64e",
            "cpu_brand": "Apple M2 Pro",
            "cores": "10",
            "threads": "10",
            "memory": str(32 << 30),
            "vendor": "Apple Inc.",
            "model": "Mac14,9",
            "serial": serial,
            "sid": sid,
        }
    if p.kind == "server":
        return {
            "cpu_type": "x86_64",
            "cpu_brand": "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
            "cores": "8",
            "threads": "16",
            "memory": str(64 << 30),
            "vendor": "Amazon EC2",
            "model": "m6i.4xlarge",
            "serial": "ec2" + serial.lower(),
            "sid": sid,
        }
    return {
        "cpu_type": "x86_64",
        "cpu_brand": "11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz",
        "cores": "4",
        "threads": "8",
        "memory": str(16 << 30),
        "vendor": "LENOVO",
        "model": "20XW0055US",
        "serial": "PF" + serial[:6],
        "sid": sid,
    }


def base_users(rng: random.Random, p: HostProfile) -> list[User]:
    u = p.user
    if p.platform == "linux":
        users = [
            User(0, 0, "root", "root", "/root", "/bin/bash"),
            User(1, 1, "daemon", "daemon", "/usr/sbin", "/usr/sbin/nologin"),
            User(2, 2, "bin", "bin", "/bin", "/usr/sbin/nologin"),
            User(33, 33, "www-data", "www-data", "/var/www", "/usr/sbin/nologin"),
            User(
                100, 102, "systemd-network", "systemd Network Management", "/", "/usr/sbin/nologin"
            ),
            User(101, 103, "systemd-resolve", "systemd Resolver", "/", "/usr/sbin/nologin"),
            User(102, 105, "messagebus", "", "/nonexistent", "/usr/sbin/nologin"),
            User(105, 65534, "sshd", "", "/run/sshd", "/usr/sbin/nologin"),
            User(65534, 65534, "nobody", "nobody", "/nonexistent", "/usr/sbin/nologin"),
        ]
        if p.kind == "server":
            users += [
                User(
                    114,
                    120,
                    "postgres",
                    "PostgreSQL administrator",
                    "/var/lib/postgresql",
                    "/bin/bash",
                ),
                User(1000, 1000, "ops", "Operations,,,", "/home/ops", "/bin/bash"),
            ]
        else:
            users.append(User(1000, 1000, u, f"{u.title()},,,", f"/home/{u}", "/bin/bash"))
        return users
    if p.platform == "darwin":
        return [
            User(
                0,
                0,
                "root",
                "System Administrator",
                "/var/root",
                "/bin/sh",
                "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000000",
                "1",
            ),
            User(
                1,
                1,
                "daemon",
                "System Services",
                "/var/root",
                "/usr/bin/false",
                "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000001",
                "1",
            ),
            User(
                65,
                65,
                "_mdnsresponder",
                "mDNSResponder",
                "/var/empty",
                "/usr/bin/false",
                "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000041",
                "1",
            ),
            User(
                88,
                88,
                "_windowserver",
                "WindowServer",
                "/var/empty",
                "/usr/bin/false",
                "FFFFEEEE-DDDD-CCCC-BBBB-AAAA00000058",
                "1",
            ),
            User(
                4294967294,
                4294967294,
                "nobody",
                "Unprivileged User",
                "/var/empty",
                "/usr/bin/false",
                "FFFFEEEE-DDDD-CCCC-BBBB-AAAAFFFFFFFE",
                "1",
            ),
            User(501, 20, u, u.title(), f"/Users/{u}", "/bin/zsh", guid(rng), "0"),
        ]
    sid = "S-1-5-21-" + "-".join(str(rng.randint(10**9, 4 * 10**9)) for _ in range(3))
    human = "Administrator" if p.kind == "server" else u
    out = [
        User(
            500,
            513,
            "Administrator",
            "Built-in account for administering the computer/domain",
            "C:\\Users\\Administrator",
            "C:\\Windows\\system32\\cmd.exe",
            f"{sid}-500",
        ),
        User(
            501,
            513,
            "Guest",
            "Built-in account for guest access to the computer/domain",
            "",
            "C:\\Windows\\system32\\cmd.exe",
            f"{sid}-501",
        ),
        User(
            503,
            513,
            "DefaultAccount",
            "A user account managed by the system.",
            "",
            "C:\\Windows\\system32\\cmd.exe",
            f"{sid}-503",
        ),
        User(
            18,
            18,
            "SYSTEM",
            "",
            "%systemroot%\\system32\\config\\systemprofile",
            "C:\\Windows\\system32\\cmd.exe",
            "S-1-5-18",
            utype="special",
        ),
    ]
    if human != "Administrator":
        out.append(
            User(
                1001,
                513,
                human,
                "",
                f"C:\\Users\\{human}",
                "C:\\Windows\\system32\\cmd.exe",
                f"{sid}-1001",
            )
        )
    return out


def base_groups(p: HostProfile) -> list[Group]:
    if p.platform == "linux":
        names = [
            (0, "root"),
            (1, "daemon"),
            (2, "bin"),
            (4, "adm"),
            (27, "sudo"),
            (33, "www-data"),
            (100, "users"),
            (102, "systemd-network"),
            (103, "systemd-resolve"),
            (105, "messagebus"),
            (998, "docker"),
            (65534, "nogroup"),
        ]
        names += [(120, "postgres"), (1000, "ops")] if p.kind == "server" else [(1000, p.user)]
        return [Group(g, n) for g, n in names]
    if p.platform == "darwin":
        return [
            Group(0, "wheel", is_hidden="0"),
            Group(1, "daemon"),
            Group(12, "everyone"),
            Group(20, "staff"),
            Group(65, "_mdnsresponder", is_hidden="1"),
            Group(80, "admin"),
            Group(88, "_windowserver", is_hidden="1"),
            Group(4294967294, "nobody"),
            Group(4294967295, "nogroup"),
        ]
    return [
        Group(
            544,
            "Administrators",
            "S-1-5-32-544",
            "Administrators have complete and unrestricted access to the computer/domain",
        ),
        Group(
            545,
            "Users",
            "S-1-5-32-545",
            "Users are prevented from making accidental or intentional system-wide changes",
        ),
        Group(
            546,
            "Guests",
            "S-1-5-32-546",
            "Guests have the same access as members of the Users group by default",
        ),
        Group(
            555,
            "Remote Desktop Users",
            "S-1-5-32-555",
            "Members in this group are granted the right to logon remotely",
        ),
    ]


def base_ifaces(rng: random.Random, p: HostProfile, plan: SitePlan | None) -> dict[str, Iface]:
    if p.platform == "linux":
        ifs = [
            Iface(
                "lo",
                "00:00:00:00:00:00",
                772,
                65536,
                73,
                addrs=[
                    Addr("127.0.0.1", "255.0.0.0"),
                    Addr("::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
                ],
            )
        ]
        if p.kind == "server":
            eth = Iface("ens5", _mac(rng, "0a:1b:2c"), 1, 9001, 4163, "25000", "0000:00:05.0")
            net = plan.server_subnet if plan else "10.120.0"
            eth.addrs = [Addr(f"{net}.{10 + p.slot}", "255.255.255.0", f"{net}.255")]
            ifs.append(eth)
        else:
            name = "wlp0s20f3" if p.kind == "laptop" else "enp3s0"
            ifs.append(
                Iface(
                    name,
                    _mac(rng, "3c:a9:f4"),
                    1,
                    1500,
                    4163,
                    "",
                    "0000:00:14.3",
                    metric=600,
                    dhcp=True,
                    connected=False,
                )
            )
        ifs.append(
            Iface(
                "docker0",
                _mac(rng, "02:42:ac"),
                1,
                1500,
                4099,
                "",
                "",
                addrs=[Addr("172.17.0.1", "255.255.0.0", "172.17.255.255")],
            )
        )
        return {i.name: i for i in ifs}
    if p.platform == "darwin":
        lo0 = Iface(
            "lo0",
            "",
            24,
            16384,
            32841,
            addrs=[
                Addr("127.0.0.1", "255.0.0.0", "127.0.0.1"),
                Addr("::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
                Addr("fe80::1%lo0", "ffff:ffff:ffff:ffff::"),
            ],
        )
        en0 = Iface(
            "en0", _mac(rng, "a4:83:e7"), 6, 1500, 34915, "", metric=0, dhcp=True, connected=False
        )
        ifs = [lo0, en0]
        for k in range(3):
            ut = Iface(f"utun{k}", "", 1, 1380 + 620 * (k == 1), 32849)
            ut.addrs = [
                Addr(
                    f"fe80::{rng.randrange(1 << 16):x}:{rng.randrange(1 << 16):x}:"
                    f"{rng.randrange(1 << 16):x}:{rng.randrange(1 << 16):x}%utun{k}",
                    "ffff:ffff:ffff:ffff::",
                )
            ]
            ifs.append(ut)
        return {i.name: i for i in ifs}
    lo = Iface(
        "1",
        "",
        24,
        4294967295,
        0,
        friendly="Loopback Pseudo-Interface 1",
        addrs=[
            Addr("127.0.0.1", "255.0.0.0", "", "", "manual"),
            Addr("::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "", "", "manual"),
        ],
    )
    if p.kind == "server":
        eth = Iface(
            "6",
            _mac(rng, "00:15:5d").upper().replace(":", "-"),
            6,
            1500,
            0,
            friendly="Ethernet",
            description="Microsoft Hyper-V Network Adapter",
            metric=15,
        )
        net = plan.server_subnet if plan else "10.120.0"
        eth.addrs = [Addr(f"{net}.{10 + p.slot}", "255.255.255.0", f"{net}.255", "", "manual")]
        return {"1": lo, "6": eth}
    wifi = Iface(
        "12",
        _mac(rng, "8c:b8:7e").upper().replace(":", "-"),
        71,
        1500,
        0,
        friendly="Wi-Fi",
        description="Intel(R) Wi-Fi 6 AX201 160MHz",
        metric=35,
        dhcp=True,
        connected=False,
    )
    return {"1": lo, "12": wifi}


def base_mounts(p: HostProfile) -> list[Mount]:
    if p.platform == "linux":
        return [
            Mount(
                "/dev/nvme0n1p2",
                "/dev/nvme0n1p2",
                "/",
                "ext4",
                4096,
                122_040_123,
                "rw,relatime,errors=remount-ro",
            ),
            Mount(
                "/dev/nvme0n1p1",
                "/dev/nvme0n1p1",
                "/boot/efi",
                "vfat",
                4096,
                130_812,
                "rw,relatime,fmask=0077,dmask=0077",
            ),
            Mount(
                "tmpfs",
                "tmpfs",
                "/run",
                "tmpfs",
                4096,
                401_345,
                "rw,nosuid,nodev,noexec,relatime,size=1605380k,mode=755",
            ),
        ]
    if p.platform == "darwin":
        return [
            Mount(
                "/dev/disk3s1s1",
                "/dev/disk3s1s1",
                "/",
                "apfs",
                4096,
                242_837_545,
                "local,journaled,ro,nodev,nosuid",
            ),
            Mount(
                "/dev/disk3s5",
                "/dev/disk3s5",
                "/System/Volumes/Data",
                "apfs",
                4096,
                242_837_545,
                "local,journaled,nodev,nosuid,noowners",
            ),
        ]
    return []
