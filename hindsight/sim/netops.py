"""Network operations: DHCP leases, home networks and VPN tunnels."""

from __future__ import annotations

from .machine import Machine, wmi_time
from .network import NetPeriod
from .state import (
    Addr,
    Iface,
)


class NetworkOps(Machine):
    """The primary interface follows the site DHCP plan; VPN tunnels come and go."""

    def primary(self) -> Iface:
        return next(i for i in self.ifaces.values() if i.dhcp)

    def op_net(self, t: int, per: NetPeriod, up: bool) -> None:
        ifc = self.primary()
        win = not self.posix
        vpn = "tun0" if self.p.platform == "linux" else "utun4"
        if not up:
            ifc.addrs, ifc.connected = [], False
            ifc.lease_obtained = ifc.lease_expires = ifc.dhcp_server = ""
            self.ifaces.pop(vpn, None)
            self.bump("net")
            return
        if per.where == "none":
            return
        prefix = per.ip.rsplit(".", 1)[0]
        ifc.addrs = [
            Addr(per.ip, "255.255.255.0", f"{prefix}.255", "", "dhcp" if win else "unknown"),
            self.link_local(ifc),
        ]
        ifc.connected = True
        if win:
            lease = self.plan.lease if self.plan and per.where == "office" else 86400
            ifc.lease_obtained, ifc.lease_expires = (
                wmi_time(self.hclock(t)),
                wmi_time(self.hclock(t) + lease),
            )
            ifc.dhcp_server = f"{prefix}.1"
            if per.where == "office":
                for r in range(t + lease // 2, per.end, lease // 2):
                    self.push(r, "renew", per.start, lease)
        if per.vpn:
            ptp = f"10.8.{self.p.index % 200}.1"
            self.ifaces[vpn] = Iface(
                vpn,
                "",
                65534 if vpn == "tun0" else 1,
                1500 - 80,
                4305,
                addrs=[
                    Addr(
                        f"10.8.{self.p.index % 200}.{10 + self.p.slot}", "255.255.255.255", "", ptp
                    )
                ],
            )
        self.bump("net")

    def link_local(self, ifc: Iface) -> Addr:
        mac = ifc.mac.lower().replace("-", ":") or "02:00:00:00:00:01"
        b = [int(x, 16) for x in mac.split(":")]
        ll = f"fe80::{(b[0] ^ 2):x}{b[1]:02x}:{b[2]:x}ff:fe{b[3]:02x}:{b[4]:x}{b[5]:02x}"
        return Addr(f"{ll}%{ifc.name}", "ffff:ffff:ffff:ffff::", "", "", "unknown")

    def op_renew(self, t: int, start: int, lease: int) -> None:
        ifc = self.primary()
        if ifc.connected and ifc.lease_obtained:
            ifc.lease_obtained = wmi_time(self.hclock(t))
            ifc.lease_expires = wmi_time(self.hclock(t) + lease)
            self.bump("net")
