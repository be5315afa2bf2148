"""OUT/manifest.json, streamed host by host (memory does not grow with the fleet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import orjson

from .config import SimConfig
from .fleet import HostProfile
from .network import SitePlan
from .tables import ALL, QUERIES, columns

MOMENT_KINDS = (
    "ip_handover",
    "uid_reuse",
    "usb_drive",
    "rename",
    "epoch_change",
    "results_reset",
    "offline",
    "power_off",
)


def host_entry(p: HostProfile, plan: SitePlan | None) -> dict[str, Any]:
    return {
        "uuid": p.uuid,
        "index": p.index,
        "platform": p.platform,
        "kind": p.kind,
        "hostnames": [{"since": t, "hostname": h} for t, h in p.hostnames],
        "numerics": p.numerics,
        "event_format": p.event_format,
        "snapshot_event_format": p.snapshot_events,
        "clock_offset": p.clock_offset,
        "node_key": p.node_key,
        "rotation": p.rotation,
        "features": sorted(p.features),
        "site": p.block,
        "dhcp_subnet": f"{plan.subnet}.0/24" if plan and p.dhcp else None,
        "dhcp_lease": plan.lease if plan and p.dhcp else None,
        "sessions": [[s.start, s.end] for s in p.sessions],
        "offline": [list(w) for w in p.offline],
        "epochs": [{"since": t, "epoch": e} for t, e in p.epochs],
        "results_resets": [s.start for s in p.sessions if s.dbwipe],
    }


def queries_entry() -> list[dict[str, Any]]:
    return [
        {
            "name": q.name,
            "table": q.table,
            "interval": q.interval,
            "snapshot": q.snapshot,
            "event": q.event,
            "platforms": list(q.platforms),
            "sql": {pl: q.sql(pl) for pl in ALL if pl in q.platforms},
            "columns": {pl: list(columns(q.table, pl)) for pl in ALL if pl in q.platforms},
        }
        for q in QUERIES
    ]


class ManifestWriter:
    def __init__(self, path: Path, cfg: SimConfig) -> None:
        self.fh: BinaryIO = path.open("wb")
        self.cap = cfg.max_moments_per_kind
        self.moments: dict[str, list[dict[str, Any]]] = {k: [] for k in MOMENT_KINDS}
        self.counts = dict.fromkeys(MOMENT_KINDS, 0)
        head = {
            "format": "hindsight-sim/1",
            "seed": cfg.seed,
            "start": cfg.start,
            "end": cfg.end,
            "days": cfg.days,
            "hosts_count": cfg.hosts,
            "time_note": "manifest times are true (server) time; a host logs "
            "true time + clock_offset",
        }
        self.fh.write(orjson.dumps(head)[:-1] + b',"hosts":[')
        self.first = True

    def add_host(self, entry: dict[str, Any], moments: list[dict[str, Any]]) -> None:
        self.fh.write((b"" if self.first else b",") + orjson.dumps(entry))
        self.first = False
        for m in moments:
            kind = m["kind"]
            self.counts[kind] += 1
            if len(self.moments[kind]) < self.cap:
                self.moments[kind].append(m)

    def close(self) -> None:
        tail = {
            "queries": queries_entry(),
            "moment_counts": self.counts,
            "moments": [m for k in MOMENT_KINDS for m in self.moments[k]],
        }
        self.fh.write(b"]," + orjson.dumps(tail)[1:])
        self.fh.close()
