"""Hosts: who they are and what happens to them (cheap, computed without simulating)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .config import SimConfig
from .rand import hex_id, rng_for, uuid_str

BLOCK = 20  # hosts per site; every behaviour appears in each full block
DAY = 86400
HOUR = 3600


@dataclass(frozen=True)
class Slot:
    platform: str  # linux | darwin | windows
    kind: str  # laptop | desktop | server
    event_format: bool  # --logger_event_type
    numerics: bool  # --logger_numerics
    snapshot_events: bool  # --logger_snapshot_event_type
    features: frozenset[str]


def _slot(p: str, k: str, ev: bool, num: bool, snap: bool, feats: str) -> Slot:
    return Slot(p, k, ev, num, snap, frozenset(feats.split()))


SLOTS: tuple[Slot, ...] = (
    _slot("linux", "server", True, True, False, "procsnap dups"),
    _slot("linux", "server", False, False, False, "epoch upgrade"),
    _slot("linux", "laptop", True, True, False, "usb uidreuse"),
    _slot("linux", "laptop", True, False, True, "usb rename"),
    _slot("linux", "laptop", True, False, False, "dbreset usb"),
    _slot("linux", "laptop", True, True, False, "offline procsnap"),
    _slot("linux", "laptop", False, False, False, "poweroff"),
    _slot("linux", "desktop", True, False, False, "skew logrotate"),
    _slot("linux", "server", True, True, False, "logrotate offline"),
    _slot("darwin", "laptop", True, False, False, "usb uidreuse"),
    _slot("darwin", "laptop", True, True, True, "epoch"),
    _slot("darwin", "laptop", False, False, False, "poweroff rename"),
    _slot("darwin", "laptop", True, True, False, "skew dups usb"),
    _slot("darwin", "laptop", True, False, False, "offline procsnap upgrade"),
    _slot("darwin", "laptop", True, False, False, "poweroff logrotate"),
    _slot("windows", "laptop", True, False, False, "usb rename"),
    _slot("windows", "laptop", False, True, False, "poweroff"),
    _slot("windows", "desktop", True, True, False, "skew offline"),
    _slot("windows", "server", True, False, False, "dbreset procsnap"),
    _slot("linux", "server", True, False, False, "uidreuse epoch"),
)

FIRST_NAMES = (
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "wendy",
)
SERVER_ROLES = ("web", "db", "build", "app", "cache", "mq")


@dataclass(frozen=True)
class Session:
    """An interval during which the host is up and osqueryd runs."""

    start: int
    end: int
    boot: bool  # the machine (re)booted at start (processes restart)
    dbwipe: bool  # osqueryd started with a wiped database
    boot_time: int


@dataclass(frozen=True)
class HostProfile:
    index: int
    block: int
    slot: int
    uuid: str
    platform: str
    kind: str
    event_format: bool
    numerics: bool
    snapshot_events: bool
    features: frozenset[str]
    clock_offset: int
    node_key: str
    user: str
    hostnames: tuple[tuple[int, str], ...]  # (since, hostname), real time
    sessions: tuple[Session, ...]
    offline: tuple[tuple[int, int], ...]  # cannot deliver: lines go to late TLS bodies
    epochs: tuple[tuple[int, int], ...]  # (since, schedule_epoch)
    upgrade_at: int | None
    start: int
    end: int

    @property
    def dhcp(self) -> bool:
        return self.kind in ("laptop", "desktop")

    @property
    def rotation(self) -> str:
        return "logrotate-gz" if "logrotate" in self.features else "osquery-zstd"

    def has(self, feature: str) -> bool:
        return feature in self.features

    def is_on(self, t: int) -> bool:
        return any(s.start <= t < s.end for s in self.sessions)

    def session_at(self, t: int) -> Session | None:
        for s in self.sessions:
            if s.start <= t < s.end:
                return s
        return None

    def at(self, frac: float) -> int:
        return self.start + int((self.end - self.start) * frac)


def slot_of(seed: int, index: int) -> tuple[int, int]:
    block = index // BLOCK
    perm = list(range(BLOCK))
    rng_for(seed, "block", block).shuffle(perm)
    return block, perm[index % BLOCK]


def _hostnames(rng: random.Random, slot: Slot, index: int, user: str) -> tuple[str, str]:
    if slot.platform == "windows":
        alnum = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        name = "DESKTOP-" + "".join(rng.choice(alnum) for _ in range(7))
        return name, f"ACME-LT-{index:04d}"
    if slot.kind == "server":
        role = rng.choice(SERVER_ROLES)
        return f"{role}-{index:04d}", f"{role}-{index:04d}.prod.acme.internal"
    if slot.platform == "darwin":
        return f"{user}-mbp-{index:04d}", f"eng-mac-{index:04d}"
    return f"{user}-thinkpad-{index:04d}", f"eng-lt-{index:04d}"


def _power_off(rng: random.Random, start: int, end: int) -> list[tuple[int, int]]:
    out = []
    for d in range(math.ceil((end - start) / DAY)):
        a = start + d * DAY + 2 * HOUR + rng.randint(-HOUR, HOUR)
        b = a + rng.randint(5 * HOUR, 8 * HOUR)
        if a < end:
            out.append((a, min(b, end)))
    return out


def _offline(rng: random.Random, start: int, end: int) -> list[tuple[int, int]]:
    out = []
    for d in range(math.ceil((end - start) / DAY)):
        a = start + d * DAY + 9 * HOUR + rng.randint(0, HOUR)
        b = a + rng.randint(3 * HOUR, 5 * HOUR)
        if a + HOUR < end:
            out.append((a, min(b, end)))
    return out


def _sessions(
    start: int, end: int, downs: list[tuple[int, int, bool, bool]], boot0: int
) -> tuple[Session, ...]:
    """Complement of the down intervals; each down says whether the next start boots/wipes."""
    out: list[Session] = []
    cur, boot, wipe, boot_time = start, False, False, boot0
    for a, b, nboot, nwipe in sorted(downs):
        if a > cur:
            out.append(Session(cur, a, boot, wipe, boot_time))
        cur, boot, wipe = max(cur, b), nboot, nwipe
        if nboot:
            boot_time = b
    if cur < end:
        out.append(Session(cur, end, boot, wipe, boot_time))
    return tuple(out)


def make_profile(cfg: SimConfig, index: int) -> HostProfile:
    block, slot_no = slot_of(cfg.seed, index)
    slot = SLOTS[slot_no]
    rng = rng_for(cfg.seed, "host", index)
    start, end = cfg.start, cfg.end
    span = end - start
    user = FIRST_NAMES[(slot_no + block) % len(FIRST_NAMES)]  # distinct within a site
    name0, name1 = _hostnames(rng, slot, index, user)
    hostnames = [(start, name0)]
    if "rename" in slot.features:
        hostnames.append((start + int(span * 0.35), name1))
    downs: list[tuple[int, int, bool, bool]] = []
    if "poweroff" in slot.features:
        downs += [(a, b, True, False) for a, b in _power_off(rng, start, end)]
    upgrade_at = None
    if "upgrade" in slot.features:
        upgrade_at = start + int(span * 0.7)
        downs.append((upgrade_at, upgrade_at + rng.randint(90, 240), True, False))
    if "dbreset" in slot.features:
        t = start + int(span * 0.6)
        downs.append((t, t + rng.randint(3, 20), False, True))
    epochs = [(start, 0)]
    if "epoch" in slot.features:
        epochs.append((start + int(span * 0.45), 1))
    offset = 0
    if "skew" in slot.features:
        offset = rng.choice((-1, 1)) * rng.randint(120, 900)
    offline = _offline(rng, start, end) if "offline" in slot.features else []
    features = slot.features
    if rng.random() < 0.6:  # processes as a snapshot query on most of the fleet
        features = features | {"procsnap"}
    return HostProfile(
        index=index,
        block=block,
        slot=slot_no,
        uuid=uuid_str(rng, upper=slot.platform != "linux"),
        platform=slot.platform,
        kind=slot.kind,
        event_format=slot.event_format,
        numerics=slot.numerics,
        snapshot_events=slot.snapshot_events,
        features=features,
        clock_offset=offset,
        node_key=hex_id(rng, 16),
        user=user,
        hostnames=tuple(hostnames),
        sessions=_sessions(start, end, downs, start - rng.randint(2 * HOUR, 20 * DAY)),
        offline=tuple(offline),
        epochs=tuple(epochs),
        upgrade_at=upgrade_at,
        start=start,
        end=end,
    )
