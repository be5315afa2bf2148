"""A lean fleet for the investigation bench (issue #4): only what `who ip`, `who uid`, `who mount`
and `enrich process_events` read, in osquery's real log shapes, at 10,000 hosts x 30+ days.

The fleet is simulated in time order (one heap of per-host transitions), lines are streamed to
one gzip file per day (as a log shipper would rotate them), and nothing but each host's current
state is held in memory. Hosts:

- laptops (60 %) live on their site's DHCP pool: online sessions of 10 minutes to 8 hours
  (log-uniform), then either a roam (a new lease at once) or sleep (5 minutes to 12 hours, osquery
  not running); a released address goes back to the pool and is handed to another host, so an
  address changes hands many times a day. A sleeping laptop keeps its last reported address
  until it wakes: osquery's state is the result set of its last execution, and so is the truth.
- servers (40 %) keep one static address.
- every host reports system_info, os_version, interface_details and logged_in_users once
  (differential queries log only their first run when nothing changes), and its accounts
  (`users`): accounts are deleted and their uid handed to a new account (uid reuse) every few days.
- process_events in bursts (a cron job, a shell session) sized so the fleet logs
  `events_per_host_day` events per host and day, each with the uid of an account of that host.
- every host reports its mounts and USB root hub once; laptops plug in a USB drive about every
  three days while awake (hardware_events add of the device and its disk, then usb_devices and
  a mount under /media/<owner>/<label>, seen at the next 5-minute run, the mount sometimes one
  run later), unplugged within the session (10 minutes to 4 hours). Labels are few, so a mount
  path is reused by other drives of the same host.

Formats: a quarter of the hosts log in event format (one line per row, numerics true), the
rest in batch format (`diffResults`, numerics false); decorations carry host_uuid and hostname.

Ground truth (`truth/*.jsonl`): samples of (address, instant) with the set of hosts whose last
execution at or before the instant showed the address; (uid, host, instant) with the account at
that instant and the nearest other accounts holding the uid before and after; events with
the username of their uid as of their time; and (path on a drive, host, instant) with the mount
holding the path and its drive's serial. Sampling keeps memory bounded: a reservoir per kind.
"""

from __future__ import annotations

import gzip
import heapq
import math
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

DAY = 86_400
START = 1_790_000_000
IFACE_EVERY, USERS_EVERY, EVENTS_EVERY = 300, 3600, 60
USB_EVERY = IFACE_EVERY  # usb_devices and mounts run every 5 minutes, in phase with the addresses
USB_PER_DAY = 1 / 3  # drives plugged into an awake laptop per day
DRIVES = (("SanDisk", "0781", "Cruzer_Blade", "5567"), ("Kingston", "0951", "DataTraveler_3.0", "1666"),
          ("Samsung", "090c", "Flash_Drive_FIT", "1000"), ("Verbatim", "18a5", "STORE_N_GO", "0302"))
LABELS = ("USB", "BACKUP", "DATA", "TRANSFER")
SITES = 8
POOL_SPARE = 1.15  # addresses per laptop in a site's pool: a released one is soon handed on
HUMANS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
          "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "xena", "yusuf", "zoe")
CMDS = ("/usr/bin/curl -s https://example.org", "/bin/ls -la", "/usr/bin/ssh db-01", "/usr/bin/python3 job.py",
        "/usr/bin/git pull", "/usr/sbin/cron -f", "/bin/bash -c backup.sh", "/usr/bin/vim notes.txt")


def cal(t: int) -> str:
    import time

    return time.strftime("%a %b %e %H:%M:%S %Y UTC", time.gmtime(t))


def log_uniform(rnd: random.Random, lo: float, hi: float) -> int:
    return int(math.exp(rnd.uniform(math.log(lo), math.log(hi))))


class Reservoir:
    """A uniform sample of at most `size` items of a stream."""

    def __init__(self, size: int, rnd: random.Random) -> None:
        self.size, self.rnd, self.seen, self.items = size, rnd, 0, []  # type: ignore[var-annotated]

    def offer(self, item: Any) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        elif (j := self.rnd.randrange(self.seen)) < self.size:
            self.items[j] = item


@dataclass
class Host:
    index: int
    laptop: bool
    event_format: bool
    site: int
    phase: int  # seconds into each 5-minute slot at which this host's queries run
    address: str | None = None
    online: bool = True
    counters: dict[str, int] = field(default_factory=dict)
    accounts: dict[int, str] = field(default_factory=dict)  # uid -> username (current)
    # uid -> [(username, from, to|None)]: the host's account history (a few entries per host)
    uid_history: dict[int, list[list[Any]]] = field(default_factory=dict)
    next_uid: int = 1000
    pid: int = 2000
    owner: str = ""  # the first user: drives mount under /media/<owner>
    session_end: int = 2**62  # a laptop's next sleep or roam (a drive is unplugged before it)
    drive: dict[str, Any] | None = None  # the drive plugged in now

    @property
    def name(self) -> str:
        return f"{'lt' if self.laptop else 'srv'}-{self.index:05d}"

    @property
    def uuid(self) -> str:
        return f"6c1f0e2a-0000-4000-8000-{self.index:012d}"

    def slot(self, t: int, every: int) -> int:
        """The first execution of a query running every `every` seconds at or after t."""
        base = START + self.phase
        return t if t <= base else base + -(-(t - base) // every) * every


class Writer:
    """Lines into one gzip file per day; counts lines and bytes."""

    def __init__(self, out: Path) -> None:
        self.out, self.day, self.f = out, -1, None  # type: ignore[var-annotated]
        self.lines = self.bytes = 0
        out.mkdir(parents=True, exist_ok=True)

    def write(self, t: int, line: bytes) -> None:
        day = (t - START) // DAY
        if day > self.day:  # lines come in time order, within a few minutes
            self.close()
            self.day = day
            self.f = gzip.open(self.out / f"osquery-day{day:03d}.log.gz", "wb", compresslevel=1)  # noqa: SIM115
        assert self.f is not None
        self.f.write(line + b"\n")
        self.lines += 1
        self.bytes += len(line) + 1

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


class Fleet:
    def __init__(self, out: Path, hosts: int, days: int, events_per_host_day: float, seed: int,
                 samples: int) -> None:
        self.rnd = random.Random(seed)
        self.out, self.days, self.end = out, days, START + days * DAY
        self.writer = Writer(out / "logs")
        self.events_rate = events_per_host_day
        self.hosts = [
            Host(i, laptop=self.rnd.random() < 0.6, event_format=i % 4 == 0, site=i % SITES,
                 phase=self.rnd.randrange(IFACE_EVERY))
            for i in range(hosts)
        ]
        laptops = [sum(1 for h in self.hosts if h.laptop and h.site == s) for s in range(SITES)]
        self.pools: list[deque[str]] = [
            deque(f"10.{16 + s}.{i // 250}.{i % 250 + 2}" for i in range(int(n * POOL_SPARE) + 8))
            for s, n in enumerate(laptops)
        ]
        for pool in self.pools:
            self.rnd.shuffle(pool)
        # address -> [host index, from, to|None] of its recent observed holders (pruned)
        self.holders: dict[str, list[list[Any]]] = {}
        self.ip_truth = Reservoir(samples, random.Random(seed + 1))
        self.event_truth = Reservoir(samples, random.Random(seed + 2))
        self.mount_truth = Reservoir(samples, random.Random(seed + 3))
        self.drives = 0
        self.heap: list[tuple[int, int, str]] = []
        self.events = 0

    # -- output -------------------------------------------------------------------------------
    def emit(self, h: Host, query: str, t: int, added: list[dict[str, Any]],
             removed: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
        counter = h.counters.get(query, -1) + 1
        h.counters[query] = counter
        head: dict[str, Any] = {
            "name": query, "hostIdentifier": h.name, "calendarTime": cal(t), "unixTime": t,
            "epoch": 0, "counter": counter, "numerics": h.event_format,
            "decorations": {"host_uuid": h.uuid, "hostname": h.name},
        }
        if h.event_format:
            for action, rows in (("removed", removed), ("added", added)):
                for row in rows:
                    cols = {k: row[k] for k in sorted(row)}
                    self.writer.write(t, orjson.dumps({**head, "columns": cols, "action": action}))
        else:
            text = [{k: str(r[k]) for k in sorted(r)} for r in (*removed, *added)]
            diff = {"removed": text[: len(removed)], "added": text[len(removed):]}
            self.writer.write(t, orjson.dumps({"diffResults": diff, **head}))

    # -- tables -------------------------------------------------------------------------------
    @staticmethod
    def addr_row(address: str, iface: str = "en0") -> dict[str, Any]:
        lo = address == "127.0.0.1"
        return {"address": address, "broadcast": "" if lo else address.rsplit(".", 1)[0] + ".255",
                "interface": "lo" if lo else iface, "mask": "255.0.0.0" if lo else "255.255.255.0",
                "point_to_point": "", "type": "unknown"}

    @staticmethod
    def user_row(uid: int, name: str) -> dict[str, Any]:
        return {"uid": uid, "gid": uid, "uid_signed": uid, "gid_signed": uid, "username": name,
                "description": name.title(), "directory": f"/home/{name}" if uid else "/root",
                "shell": "/bin/bash", "uuid": ""}

    def identity(self, h: Host, t: int) -> None:
        serial = f"SN{h.index:08d}"
        self.emit(h, "pack_id_system_info", t, [{
            "hostname": h.name, "uuid": h.uuid, "hardware_serial": serial, "computer_name": h.name,
            "cpu_brand": "Intel(R) Xeon(R)", "cpu_logical_cores": 8, "physical_memory": 17179869184,
            "hardware_vendor": "Dell Inc.", "hardware_model": "Latitude 7440" if h.laptop else "PowerEdge R650",
        }])
        self.emit(h, "pack_id_os_version", t, [{
            "name": "Ubuntu", "version": "22.04.4 LTS (Jammy Jellyfish)", "major": 22, "minor": 4,
            "patch": 0, "build": "", "platform": "ubuntu", "platform_like": "debian", "codename": "jammy",
            "arch": "x86_64",
        }])
        mac = "02:42:" + ":".join(f"{(h.index >> s) & 255:02x}" for s in (24, 16, 8, 0))
        self.emit(h, "pack_net_interface_details", t, [
            {"interface": "lo", "mac": "00:00:00:00:00:00", "type": 772, "mtu": 65536, "metric": 0, "flags": 73},
            {"interface": "en0", "mac": mac, "type": 1, "mtu": 1500, "metric": 0, "flags": 4163},
        ])
        if h.laptop:
            owner = h.accounts[1000]
            self.emit(h, "pack_ir_logged_in_users", t, [{
                "type": "user", "user": owner, "tty": "tty2", "host": "", "time": t, "pid": 1500,
                "sid": "", "registry_hive": "",
            }])

    # -- the simulation ------------------------------------------------------------------------
    def start(self) -> None:
        for h in self.hosts:
            t = START + h.phase
            h.accounts = {0: "root"}
            for _ in range(2 if h.laptop else self.rnd.randint(3, 6)):
                self.create_account(h, t)
            self.emit(h, "pack_ir_users", t, [self.user_row(u, n) for u, n in sorted(h.accounts.items())])
            for uid, name in h.accounts.items():
                h.uid_history.setdefault(uid, []).append([name, t, None])
            h.address = self.pools[h.site].popleft() if h.laptop else f"10.50.{h.index // 250}.{h.index % 250 + 2}"
            self.emit(h, "pack_net_interface_addresses", t, [self.addr_row("127.0.0.1"), self.addr_row(h.address)])
            self.observe(h.address, h.index, t)
            self.identity(h, t)
            self.devices(h, t)
            if h.laptop:
                h.session_end = self.push(t + log_uniform(self.rnd, 600, 8 * 3600), h, "net")
                self.push(t + int(self.rnd.expovariate(USB_PER_DAY / DAY)), h, "usb")
            self.push(t + log_uniform(self.rnd, DAY, 8 * DAY), h, "users")
            self.push(t + int(self.rnd.expovariate(self.events_rate / DAY / 10)), h, "burst")

    def push(self, t: int, h: Host, kind: str) -> int:
        """Schedule `kind` on the host's next run at or after t; that run's time."""
        every = {"net": IFACE_EVERY, "users": USERS_EVERY, "burst": EVENTS_EVERY, "wake": IFACE_EVERY,
                 "usb": USB_EVERY, "mount": USB_EVERY, "unplug": USB_EVERY}[kind]
        t = h.slot(t, every)
        if t < self.end:
            heapq.heappush(self.heap, (t, h.index, kind))
        return t

    def run(self) -> None:
        self.start()
        while self.heap:
            t, index, kind = heapq.heappop(self.heap)
            h = self.hosts[index]
            getattr(self, f"on_{kind}")(h, t)
        self.writer.close()

    def on_net(self, h: Host, t: int) -> None:
        """A session ends: roam (a new lease now) or sleep (the address goes back to the pool;
        osquery stops, so the last reported address stays the host's state until it wakes)."""
        self.pools[h.site].append(h.address)  # type: ignore[arg-type]
        if self.rnd.random() < 0.5:
            self.on_wake(h, t)
        else:
            h.online = False
            self.push(t + log_uniform(self.rnd, 300, 12 * 3600), h, "wake")

    def on_wake(self, h: Host, t: int) -> None:
        pool = self.pools[h.site]
        old = h.address
        if old in pool and self.rnd.random() < 0.3:  # the server hands the old lease back
            pool.remove(old)
            new = old
        else:
            new = pool.popleft()
        h.online, h.address = True, new
        if new != old:
            assert old is not None
            self.emit(h, "pack_net_interface_addresses", t, [self.addr_row(new)], [self.addr_row(old)])
            self.unobserve(old, h.index, t)
            self.observe(new, h.index, t)
        h.session_end = self.push(t + log_uniform(self.rnd, 600, 8 * 3600), h, "net")

    def observe(self, address: str, host: int, t: int) -> None:
        spans = self.holders.setdefault(address, [])
        spans[:] = [s for s in spans if s[2] is None or s[2] > t - 3 * DAY]
        spans.append([host, t, None])

    def unobserve(self, address: str, host: int, t: int) -> None:
        span = next(s for s in self.holders[address] if s[0] == host and s[2] is None)
        span[2] = t
        if 1 < span[2] - span[1] < 2 * DAY:  # other holders then are still in `holders`
            at = self.rnd.randrange(span[1], span[2])
            truth = sorted(self.hosts[s[0]].name for s in self.holders[address]
                           if s[1] <= at and (s[2] is None or at < s[2]))
            self.ip_truth.offer({"address": address, "at": at, "hosts": truth})

    def create_account(self, h: Host, t: int) -> None:
        free = [u for u in h.uid_history if u not in h.accounts and u >= 1000]
        uid = min(free) if free and self.rnd.random() < 0.8 else h.next_uid  # reuse a freed uid
        h.next_uid = max(h.next_uid, uid + 1)
        h.accounts[uid] = f"{self.rnd.choice(HUMANS)}{self.rnd.randrange(1000)}"

    def on_users(self, h: Host, t: int) -> None:
        """An account is deleted and another created (often with the freed uid)."""
        humans = [u for u in h.accounts if u >= 1000]
        removed = []
        if len(humans) > 1 or self.rnd.random() < 0.3:
            uid = self.rnd.choice(humans)
            removed = [self.user_row(uid, h.accounts.pop(uid))]
            h.uid_history[uid][-1][2] = t
        before = set(h.accounts.items())
        self.create_account(h, t)
        (uid, name), = set(h.accounts.items()) - before
        h.uid_history.setdefault(uid, []).append([name, t, None])
        self.emit(h, "pack_ir_users", t, [self.user_row(uid, name)], removed)
        self.push(t + log_uniform(self.rnd, DAY, 8 * DAY), h, "users")

    def on_burst(self, h: Host, t: int) -> None:
        """A burst of processes (logged at the next process_events run, `time` = when stored)."""
        if h.laptop and not h.online:  # asleep: nothing runs
            self.push(t + int(self.rnd.expovariate(self.events_rate / DAY / 10)) + 1, h, "burst")
            return
        rows = []
        uid = self.rnd.choice(list(h.accounts))
        for _ in range(self.rnd.randint(1, 19)):
            h.pid += self.rnd.randint(1, 40)
            at = t - self.rnd.randrange(1, EVENTS_EVERY)
            auid = uid if uid else 4294967295
            cmd = self.rnd.choice(CMDS)
            rows.append({
                "pid": h.pid, "parent": h.pid - 1, "path": cmd.split()[0], "cmdline": cmd, "cwd": "/tmp",
                "uid": uid, "euid": uid, "gid": uid, "egid": uid, "auid": auid, "time": at,
                "uptime": at - START + 100, "syscall": "execve", "mode": "0100755", "owner_uid": 0,
                "owner_gid": 0, "atime": START, "mtime": START, "ctime": START, "btime": "",
                "fsuid": uid, "suid": uid, "fsgid": uid, "sgid": uid,
            })
            self.events += 1
            # the truth: the account holding the uid as of the event's time
            self.event_truth.offer({"host": h.name, "pid": h.pid, "time": at, "uid": uid,
                                    "username": self.holder(h, uid, at)})
        self.emit(h, "process_events", t, rows)
        self.push(t + int(self.rnd.expovariate(self.events_rate / DAY / 10)) + 1, h, "burst")

    @staticmethod
    def holder(h: Host, uid: int, at: int) -> str | None:
        for name, lo, hi in h.uid_history.get(uid, []):
            if lo <= at and (hi is None or at < hi):
                return str(name)
        return None

    # -- drives -------------------------------------------------------------------------------
    def devices(self, h: Host, t: int) -> None:
        """The host's first mounts and USB devices (its disks and root hub)."""
        h.owner = h.accounts[min(u for u in h.accounts if u >= 1000)]
        self.emit(h, "pack_hw_mounts", t, [
            self.mount_row("/dev/nvme0n1p2", "/", "ext4", 122_040_123),
            self.mount_row("/dev/nvme0n1p1", "/boot/efi", "vfat", 130_812),
            self.mount_row("tmpfs", "/run", "tmpfs", 401_345),
        ])
        self.emit(h, "pack_hw_usb_devices", t, [self.usb_row(1, ("Linux Foundation", "1d6b", "3.0_root_hub",
                                                                 "0003"), "0000:00:14.0", 0)])

    @staticmethod
    def mount_row(device: str, path: str, kind: str, blocks: int) -> dict[str, Any]:
        return {"device": device, "device_alias": device, "path": path, "type": kind, "blocks_size": 4096,
                "blocks": blocks, "flags": "rw,nosuid,nodev,relatime"}

    @staticmethod
    def usb_row(address: int, model: tuple[str, ...], serial: str, removable: int) -> dict[str, Any]:
        vendor, vendor_id, name, model_id = model
        return {"usb_address": address, "usb_port": 1, "vendor": vendor, "vendor_id": vendor_id,
                "version": "0100", "model": name, "model_id": model_id, "serial": serial, "class": "0",
                "subclass": "0", "protocol": "0", "removable": removable}

    def hardware(self, h: Host, at: int, action: str, drive: dict[str, Any]) -> None:
        """The udev events of a drive (its USB device, then its disk), logged at the next run."""
        vendor, vendor_id, model, model_id = drive["model"]
        rows = [{"action": action, "driver": driver, "model": model, "model_id": model_id, "path": path,
                 "revision": "0100", "serial": drive["serial"], "time": at + i, "type": kind, "vendor": vendor,
                 "vendor_id": vendor_id}
                for i, (path, kind, driver) in enumerate((
                    (f"/dev/bus/usb/001/{drive['address']:03d}", "usb_device", "usb"), ("/dev/sdb", "disk", "sd")))]
        self.emit(h, "pack_hw_hardware_events", h.slot(at + 1, EVENTS_EVERY), rows if action == "add" else rows[::-1])

    def on_usb(self, h: Host, t: int) -> None:
        """A drive plugged in since the last run (and mounted then, or by the next run); it is
        unplugged before the laptop's session ends."""
        self.push(t + int(self.rnd.expovariate(USB_PER_DAY / DAY)) + 1, h, "usb")
        room = h.session_end - t - 2 * USB_EVERY
        if not h.online or h.drive is not None or room < 3 * USB_EVERY:
            return
        inserted = t - self.rnd.randrange(1, USB_EVERY)
        drive = h.drive = {"serial": f"{self.rnd.getrandbits(80):020X}", "model": self.rnd.choice(DRIVES),
                           "address": 5 + self.drives % 100, "mounted": None,
                           "path": f"/media/{h.owner}/{self.rnd.choice(LABELS)}"}
        self.drives += 1
        self.hardware(h, inserted, "add", drive)
        self.emit(h, "pack_hw_usb_devices", t, [self.usb_row(drive["address"], drive["model"], drive["serial"], 1)])
        if inserted + self.rnd.randint(3, 30) <= t:
            self.on_mount(h, t)
        else:
            self.push(t + 1, h, "mount")
        self.push(t + min(log_uniform(self.rnd, 600, 4 * 3600), room), h, "unplug")

    def on_mount(self, h: Host, t: int) -> None:
        assert h.drive is not None
        h.drive["mounted"] = t
        self.emit(h, "pack_hw_mounts", t, [self.mount_row("/dev/sdb1", h.drive["path"], "vfat", 7_700_000)])

    def on_unplug(self, h: Host, t: int) -> None:
        """Unmounted, then unplugged, since the last run: both gone at this one."""
        drive, h.drive = h.drive, None
        assert drive is not None and drive["mounted"] is not None
        unmounted = t - self.rnd.randrange(40, USB_EVERY - 10)
        self.hardware(h, unmounted + 30, "remove", drive)
        self.emit(h, "pack_hw_usb_devices", t, [], [self.usb_row(drive["address"], drive["model"], drive["serial"], 1)])
        self.emit(h, "pack_hw_mounts", t, [], [self.mount_row("/dev/sdb1", drive["path"], "vfat", 7_700_000)])
        at = self.rnd.randrange(drive["mounted"], t)
        self.mount_truth.offer({"path": f"{drive['path']}/report-{self.rnd.randrange(100)}.pdf", "host": h.name,
                                "at": at, "mount_path": drive["path"], "serial": drive["serial"]})

    # -- truth ----------------------------------------------------------------------------------
    def uid_truth(self, samples: int) -> Iterator[dict[str, Any]]:
        """(uid, host, instant) probes, the account at that instant and its neighbours, from
        the hosts' account histories (uids that changed hands preferred: any uid when none did,
        as in a fleet of a few hosts over a day)."""
        rnd = random.Random(5)
        held = [(h, u) for h in self.hosts for u in h.uid_history]
        reused = [(h, u) for h, u in held if len(h.uid_history[u]) > 1] or held
        for _ in range(samples):
            h, uid = rnd.choice(reused)
            spans = h.uid_history[uid]
            name, lo, hi = rnd.choice(spans)
            at = rnd.randrange(lo, hi if hi is not None else self.end)
            before = [s for s in spans if s[2] is not None and s[2] <= at and s[0] != name]
            after = [s for s in spans if s[1] > at and s[0] != name]
            want = [["at", name]]
            want += [["before", max(before, key=lambda s: s[2])[0]]] if before else []
            want += [["after", min(after, key=lambda s: s[1])[0]]] if after else []
            yield {"uid": uid, "host": h.name, "at": at, "accounts": sorted(want)}

    def save_truth(self, samples: int) -> None:
        out = self.out / "truth"
        out.mkdir(parents=True, exist_ok=True)
        for name, items in (("ip", self.ip_truth.items), ("events", self.event_truth.items),
                            ("uid", list(self.uid_truth(samples))), ("mount", self.mount_truth.items)):
            (out / f"{name}.jsonl").write_bytes(b"".join(orjson.dumps(i) + b"\n" for i in items))
        stats = {"hosts": len(self.hosts), "days": self.days, "lines": self.writer.lines,
                 "bytes": self.writer.bytes, "process_events": self.events,
                 "ip_handovers": self.ip_truth.seen, "usb_drives": self.drives}
        (out / "stats.json").write_bytes(orjson.dumps(stats))


def generate(out: Path, hosts: int, days: int, events: int, seed: int = 11, samples: int = 2000) -> dict[str, Any]:
    """Writes `out/logs/*.log.gz` and `out/truth/`; returns the stats (lines, events, ...)."""
    # bursts falling while a laptop sleeps are not logged: about a quarter of them
    fleet = Fleet(out, hosts, days, events / hosts / days / 0.75, seed, samples)
    fleet.run()
    fleet.save_truth(samples)
    return dict(orjson.loads((out / "truth" / "stats.json").read_bytes()))


def read_truth(out: Path, name: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (out / "truth" / f"{name}.jsonl").read_bytes().splitlines()]


def open_binary(path: Path) -> BinaryIO:
    return gzip.open(path, "rb")  # type: ignore[return-value]
