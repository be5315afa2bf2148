"""Site networks: a DHCP server per site whose short leases pass addresses between laptops."""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

from .config import SimConfig
from .fleet import BLOCK, HOUR, HostProfile, make_profile
from .rand import rng_for

MINUTE = 60
LEASES = (10 * MINUTE, 20 * MINUTE, 30 * MINUTE, HOUR)


@dataclass(frozen=True)
class NetPeriod:
    start: int
    end: int
    where: str  # office (DHCP lease) | home | none
    ip: str
    vpn: bool


@dataclass(frozen=True)
class Handover:
    ip: str
    from_host: int
    to_host: int
    from_held: tuple[int, int]
    to_held: tuple[int, int]


@dataclass(frozen=True)
class SitePlan:
    subnet: str  # "10.20.3" (a /24)
    server_subnet: str
    lease: int
    periods: dict[int, tuple[NetPeriod, ...]]
    handovers: tuple[Handover, ...]

    def gateway(self) -> str:
        return f"{self.subnet}.1"


def site_subnets(block: int) -> tuple[str, str]:
    return f"10.{20 + block // 256}.{block % 256}", f"10.{120 + block // 256}.{block % 256}"


def _raw_periods(seed: int, p: HostProfile) -> list[NetPeriod]:
    rng = rng_for(seed, "net", p.index)
    home_ip = f"192.168.{rng.choice((0, 1, 178))}.{rng.randint(2, 250)}"
    out: list[NetPeriod] = []
    for s in p.sessions:
        t = s.start + rng.randint(20, 120)
        while t < s.end - 60:
            if p.kind == "desktop":
                out.append(NetPeriod(t, s.end, "office", "", False))
                break
            e = min(s.end, t + rng.randint(40 * MINUTE, 4 * HOUR))
            out.append(NetPeriod(t, e, "office", "", False))
            t = e + rng.randint(5, 60)
            e = min(s.end, t + rng.randint(10 * MINUTE, 2 * HOUR))
            if t < e:
                home = rng.random() < 0.6
                vpn = home and p.platform != "windows" and rng.random() < 0.6
                out.append(
                    NetPeriod(t, e, "home" if home else "none", home_ip if home else "", vpn)
                )
            t = e + rng.randint(5, 60)
    return out


class _Dhcp:
    """A DHCP server handing out the address free the longest (FIFO), as pools recycle."""

    def __init__(self, ips: list[str], lease: int) -> None:
        self.free = deque(ips)
        self.lease = lease
        self.pending: dict[str, tuple[int, int]] = {}  # ip -> (host, expiry)
        self.last_ip: dict[int, str] = {}

    def connect(self, host: int) -> str:
        ip = self.last_ip.get(host, "")
        if ip in self.pending and self.pending[ip][0] == host:
            del self.pending[ip]  # INIT-REBOOT: same client, lease not expired yet
            return ip
        if not self.free:  # pool exhausted: reclaim the address expiring first
            ip = min(self.pending, key=lambda k: self.pending[k][1])
            del self.pending[ip]
            return ip
        ip = self.free.popleft()
        self.last_ip[host] = ip
        return ip

    def release(self, host: int, ip: str, start: int, t: int) -> int:
        half = self.lease // 2
        expiry = start + ((t - start) // half) * half + self.lease
        self.pending[ip] = (host, expiry)
        self.last_ip[host] = ip
        return expiry

    def expire(self, ip: str, t: int) -> None:
        if ip in self.pending and self.pending[ip][1] == t:
            del self.pending[ip]
            self.free.append(ip)


def _allocate(dhcp: _Dhcp, raw: dict[int, list[NetPeriod]]) -> dict[int, list[NetPeriod]]:
    heap: list[tuple[int, int, int, int, int]] = []  # t, order, host, idx, kind
    for h, plist in raw.items():
        for i, per in enumerate(plist):
            if per.where == "office":
                heapq.heappush(heap, (per.start, 2, h, i, 0))
                heapq.heappush(heap, (per.end, 1, h, i, 0))
    out = {h: list(v) for h, v in raw.items()}
    expiring: list[tuple[int, str]] = []
    while heap:
        t, order, h, i, _ = heapq.heappop(heap)
        while expiring and expiring[0][0] <= t:
            et, eip = heapq.heappop(expiring)
            dhcp.expire(eip, et)
        per = out[h][i]
        if order == 2:
            out[h][i] = NetPeriod(per.start, per.end, per.where, dhcp.connect(h), per.vpn)
        else:
            heapq.heappush(expiring, (dhcp.release(h, per.ip, per.start, t), per.ip))
    return out


def _handovers(periods: dict[int, list[NetPeriod]]) -> tuple[Handover, ...]:
    holds: dict[str, list[tuple[int, int, int]]] = {}
    for h, plist in periods.items():
        for per in plist:
            if per.where == "office":
                holds.setdefault(per.ip, []).append((per.start, per.end, h))
    out = []
    for ip in sorted(holds):
        seq = sorted(holds[ip])
        for (a0, a1, ha), (b0, b1, hb) in itertools.pairwise(seq):
            if ha != hb:
                out.append(Handover(ip, ha, hb, (a0, a1), (b0, b1)))
    out.sort(key=lambda x: (x.to_held[0], x.ip))
    return tuple(out)


@lru_cache(maxsize=4)
def site_plan(cfg: SimConfig, block: int) -> SitePlan:
    members = [
        p
        for i in range(block * BLOCK, min(cfg.hosts, (block + 1) * BLOCK))
        if (p := make_profile(cfg, i)).dhcp
    ]
    rng = rng_for(cfg.seed, "site", block)
    subnet, server_subnet = site_subnets(block)
    lease = rng.choice(LEASES)
    ips = [f"{subnet}.{100 + k}" for k in range(2 * len(members) + 2)]
    rng.shuffle(ips)
    raw = {p.index: _raw_periods(cfg.seed, p) for p in members}
    periods = _allocate(_Dhcp(ips, lease), raw)
    return SitePlan(
        subnet=subnet,
        server_subnet=server_subnet,
        lease=lease,
        periods={h: tuple(v) for h, v in periods.items()},
        handovers=_handovers(periods),
    )
