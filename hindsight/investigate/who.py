"""Who had it: the host behind an address, the account behind a uid, the drive behind a path."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from hindsight.errors import InputError
from hindsight.investigate.base import EVIDENCE_COLUMNS, Base, Row, with_evidence
from hindsight.investigate.source import MissingTable, Window, event_sql, literal

if TYPE_CHECKING:
    from hindsight.api import Result

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

HOST_COLUMNS = ("hostname", "uuid", "hardware_serial", "platform", "logged_in_users")
WHO_IP_COLUMNS = (
    "host",
    "host_key",
    "address",
    "interface",
    "mac",
    "first_seen",
    "last_seen",
    *EVIDENCE_COLUMNS,
    *HOST_COLUMNS,
)


def parse_address(text: str) -> Network:
    """An address (a one-address network) or a CIDR range; a clear error otherwise."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise InputError(f"not an IP address or CIDR range: {text!r}") from None


def address_filter(net: Network) -> str:
    """SQL on `address` that keeps at least the addresses in `net` (exact for one address;
    a text prefix for IPv4 ranges of whole octets, refined in Python)."""
    if net.num_addresses == 1:
        exact = f"address = {literal(str(net.network_address))}"
        if net.version == 6 and "%" not in str(net.network_address):
            # (osquery writes a link-local address with its zone: fe80::1%eth0)
            return f"({exact} OR starts_with(address, {literal(str(net.network_address) + '%')}))"
        return exact
    if net.version == 4 and net.prefixlen >= 8:
        octets = str(net.network_address).split(".")[: net.prefixlen // 8]
        return f"starts_with(address, {literal('.'.join(octets) + '.')})"
    return f"contains(address, {literal(':' if net.version == 6 else '.')})"


def contains(net: Network, address: Any) -> bool:
    """Whether an address as osquery reports it (maybe with a %zone) is in the network."""
    try:
        return ipaddress.ip_address(str(address).split("%")[0]) in net
    except ValueError:
        return False


def who_ip(inv: Base, address: str, at: int) -> Result:
    """The host(s) that had ADDRESS (or an address in a CIDR range) at AT, with the interface,
    MAC, the assignment's first/last observation, and who the host was as of AT."""
    net = parse_address(address)
    if not inv.queries("interface_addresses"):
        raise MissingTable("interface_addresses", "state")
    found = [
        r
        for r in inv.state(
            "interface_addresses", ("interface", "address"), address_filter(net), Window(at=at)
        )
        if contains(net, r["address"])
    ]
    hosts = {r["_host"] for r in found}
    context, macs = host_context(inv, hosts, at)
    names = inv.names(hosts, at)
    rows = []
    for r, ev in zip(found, inv.evidence(found, at), strict=True):
        row = with_evidence(r, ev)
        row.update(context.get(r["_host"], {}))
        row.update(
            host=names[r["_host"]][0],
            host_key=names[r["_host"]][1],
            mac=macs.get((r["_host"], r["interface"])),
            first_seen=r["_from"],
            last_seen=ev.to_after if ev.to_after is not None else ev.confirmed_at,
        )
        rows.append(row)
    rows.sort(key=lambda x: (str(x["address"]), x["host"]))
    return inv.answer(WHO_IP_COLUMNS, rows)


def host_context(
    inv: Base, hosts: set[int], at: int
) -> tuple[dict[int, Row], dict[tuple[int, str], str]]:
    """Who each host is as of AT (system_info, os_version and logged-in users), and the MAC of
    each of its interfaces, read in one statement."""
    if not hosts:
        return {}, {}
    found = inv.states_as_text(
        [
            ("system_info", ("hostname", "uuid", "hardware_serial")),
            ("os_version", ("platform", "name")),
            ("logged_in_users", ("user", "type")),
            ("interface_details", ("interface", "mac")),
        ],
        Window(at=at, hosts=tuple(sorted(hosts))),
    )
    out: dict[int, Row] = {h: {} for h in hosts}
    for r in found["system_info"]:
        out[r["_host"]].update(
            hostname=r["hostname"], uuid=r["uuid"], hardware_serial=r["hardware_serial"]
        )
    for r in found["os_version"]:
        out[r["_host"]]["platform"] = r["platform"] or r["name"]
    users: dict[int, set[str]] = {}
    for r in found["logged_in_users"]:
        if r["user"] and r["type"] in (None, "user", "active", ""):
            users.setdefault(r["_host"], set()).add(str(r["user"]))
    for host, names in users.items():
        out[host]["logged_in_users"] = ", ".join(sorted(names))
    macs = {(r["_host"], r["interface"]): r["mac"] for r in found["interface_details"]}
    return out, macs


WHO_UID_COLUMNS = (
    "relation",
    "host",
    "host_key",
    "uid",
    "username",
    "description",
    "directory",
    "shell",
    "groups",
    *EVIDENCE_COLUMNS,
)


def who_uid(inv: Base, uid: int, host: str, at: int) -> Result:
    """The account behind UID on HOST at AT, and the nearest other accounts that held the uid
    before and after."""
    if not inv.queries("users"):
        raise MissingTable("users", "state")
    hosts = inv.host_ids(host)
    cols = ("uid", "username", "description", "directory", "shell", "gid")
    found = neighbours(inv.state("users", cols, f"uid = {int(uid)}", Window(hosts=hosts)), at)
    names = inv.names({r["_host"] for r in found}, at)
    memberships = _memberships(inv, found, int(uid))
    rows = []
    for r, ev in zip(found, inv.evidence(found, at), strict=True):
        relation = "before" if r["_to"] <= at else "after" if r["_from"] > at else "at"
        instant = at if relation == "at" else r["_to"] - 1 if relation == "before" else r["_from"]
        row = with_evidence(r, ev)
        row.update(
            relation=relation,
            host=names[r["_host"]][0],
            host_key=names[r["_host"]][1],
            groups=memberships.names(r, instant),
        )
        rows.append(row)
    return inv.answer(WHO_UID_COLUMNS, rows)


def neighbours(accounts: list[Row], at: int) -> list[Row]:
    """Per host: the accounts holding the uid at AT, and the nearest other account (another
    username) that held it before and after."""
    out: list[Row] = []
    for host in sorted({r["_host"] for r in accounts}):
        mine = [r for r in accounts if r["_host"] == host]
        current = [r for r in mine if r["_from"] <= at < r["_to"]]
        held = {r["username"] for r in current}
        others = [r for r in mine if r["username"] not in held]
        before = [r for r in others if r["_to"] <= at]
        after = [r for r in others if r["_from"] > at]
        out += [max(before, key=lambda r: r["_to"])] if before else []
        out += current
        out += [min(after, key=lambda r: r["_from"])] if after else []
    return out


def _valid(row: Row, host: int, instant: int) -> bool:
    return bool(row["_host"] == host and row["_from"] <= instant < row["_to"])


class _Memberships:
    """Group memberships of one uid (user_groups, and the account's primary gid) and the
    groups' names, read once for every account row of the answer."""

    def __init__(self, members: list[Row], groups: list[Row]) -> None:
        self.members, self.groups = members, groups

    def names(self, account: Row, instant: int) -> str | None:
        host = account["_host"]
        gids = {m["gid"] for m in self.members if _valid(m, host, instant)} | {account["gid"]}
        found = {
            str(g["groupname"])
            for g in self.groups
            if g["gid"] in gids and _valid(g, host, instant)
        }
        return ", ".join(sorted(found)) or None


def _memberships(inv: Base, accounts: list[Row], uid: int) -> _Memberships:
    hosts = tuple(sorted({r["_host"] for r in accounts}))
    if not hosts:
        return _Memberships([], [])
    members = inv.state("user_groups", ("uid", "gid"), f"uid = {uid}", Window(hosts=hosts))
    gids = {r["gid"] for r in [*members, *accounts] if r["gid"] is not None}
    where = f"gid IN ({', '.join(str(int(g)) for g in gids) or 'NULL'})"
    return _Memberships(
        members, inv.state("groups", ("gid", "groupname"), where, Window(hosts=hosts))
    )


WHO_MOUNT_COLUMNS = (
    "host",
    "host_key",
    "path",
    "mount_path",
    "device",
    "type",
    "settled",
    *EVIDENCE_COLUMNS,
    "usb_serial",
    "usb_vendor",
    "usb_model",
    "attached_from",
    "attached_to",
    "link",
)


def who_mount(inv: Base, path: str, host: str, at: int) -> Result:
    """The mount behind PATH on HOST at AT (longest mounts.path prefix), its device, and the USB
    device behind it. `mounts` runs every few minutes, so a drive mounted just before AT may not
    have been seen yet: a longer mount covering PATH first seen after AT, by the next execution
    of `mounts`, and not seen by the one before AT (its `from_after` is before AT), may be the
    one; it follows, and neither row is `settled`."""
    if not inv.queries("mounts"):
        raise MissingTable("mounts", "state")
    hosts = inv.host_ids(host)
    columns = ("path", "device", "type")
    best = _longest(inv.state("mounts", columns, window=Window(at=at, hosts=hosts)), path, {})
    reach = max((inv.schedule.splay(q.query_id) for q in inv.queries("mounts")), default=0)
    later = (  # (none to look for while the schedule of mounts is unknown)
        inv.state("mounts", columns, window=Window(since=at + 1, until=at + reach, hosts=hosts))
        if reach
        else []
    )
    seen_after = _longest([m for m in later if m["_from"] > at], path, best)
    chosen = [*best.values(), *seen_after.values()]
    names = inv.names(best.keys() | seen_after.keys(), at)
    rows = []
    for m, ev in zip(chosen, inv.evidence(chosen, at), strict=True):
        if m["_from"] > at and ev.from_after is not None and ev.from_after >= at:
            continue  # an execution at or after AT did not show it: mounted after AT
        row = with_evidence(m, ev)
        row.update(
            host=names[m["_host"]][0],
            host_key=names[m["_host"]][1],
            mount_path=m["path"],
            path=path,
        )
        row.update(usb_behind(inv, m, ev.from_after))
        rows.append(row)
    unsure = {r["_host"] for r in rows if r["_from"] > at}
    for row in rows:
        row["settled"] = row["_host"] not in unsure
    return inv.answer(WHO_MOUNT_COLUMNS, rows)


def _longest(mounts: list[Row], path: str, than: dict[int, Row]) -> dict[int, Row]:
    """Per host, the longest mount covering PATH, among those longer than THAN's of the host."""
    best: dict[int, Row] = {}
    for m in mounts:
        floor = best.get(m["_host"]) or than.get(m["_host"])
        if covers(str(m["path"]), path) and (
            floor is None or len(str(m["path"])) > len(str(floor["path"]))
        ):
            best[m["_host"]] = m
    return best


def covers(mount: str, path: str) -> bool:
    """Whether `path` is at or under the mount point."""
    if mount in ("/", path):
        return True
    return path.startswith(mount if mount.endswith(("/", "\\")) else mount + "/")


def usb_behind(inv: Base, mount: Row, after: int | None) -> Row:
    """The USB device behind a mount: the hardware event that added the mount's disk (its
    serial), else the removable device that was attached when the mount appeared (first seen
    up to the setting `attach_slack_s` after it: the two queries run on their own schedules).
    The hardware event is looked for since the mount's `from_after`, else `lookback_s` before."""
    host, start, end = mount["_host"], mount["_from"], mount["_to"]
    settings = inv.hs.settings
    slack, lo = settings.attach_slack_s, after or start - settings.lookback_s
    serial, link = _hardware_serial(inv, host, str(mount["device"] or ""), lo, start)
    window = Window(since=start, until=end, hosts=(host,))
    where = f"serial = {literal(serial)}" if serial else "removable = 1"
    devices = [
        d
        for d in inv.state("usb_devices", ("serial", "vendor", "model", "removable"), where, window)
        if d["_to"] > start and (serial or d["_from"] - slack <= start)
    ]
    if not devices:
        return {"link": link and f"{link}; device not in usb_devices"}
    best = max(devices, key=lambda d: min(d["_to"], end) - max(d["_from"], start))
    return {
        "usb_serial": best["serial"],
        "usb_vendor": best["vendor"],
        "usb_model": best["model"],
        "attached_from": best["_from"],
        "attached_to": best["_to"],
        "link": link or "removable device attached while mounted",
    }


def _hardware_serial(
    inv: Base, host: int, device: str, lo: int, hi: int
) -> tuple[str | None, str | None]:
    queries = inv.queries("hardware_events", "event")
    if not queries or not device:
        return None, None
    sql = (
        f"SELECT serial FROM {event_sql(queries, ('action', 'path', 'serial'))} "
        f"WHERE _host = {host} AND _time BETWEEN {lo} AND {hi} AND action IN ('add', 'attach') "
        f"AND path <> '' AND starts_with({literal(device)}, path) AND serial <> '' ORDER BY _time DESC LIMIT 1"
    )
    rows = inv.run(sql)
    return (str(rows[0][0]), "hardware_events add of the mount's disk") if rows else (None, None)
