"""Simulate one host end to end: world, osqueryd, files, truth; return its summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .activity import plan_host
from .config import SimConfig
from .fleet import HostProfile, make_profile
from .manifest import host_entry
from .network import SitePlan, site_plan
from .osquery import Osqueryd
from .rand import rng_for
from .truth import TruthWriter, truth_path
from .world import World
from .writer import Router

MIN_HOLD = 30 * 60


@dataclass(frozen=True)
class HostResult:
    entry: dict[str, Any]
    moments: list[dict[str, Any]]
    lines: int
    rows: int
    files: int
    executions: int


def hostname_at(p: HostProfile, t: int) -> str:
    name = p.hostnames[0][1]
    for since, h in p.hostnames:
        if since <= t:
            name = h
    return name


def simulate_host(cfg: SimConfig, index: int) -> HostResult:
    prof = make_profile(cfg, index)
    plan = site_plan(cfg, prof.block)
    host_dir = cfg.out / "hosts" / prof.uuid
    host_dir.mkdir(parents=True, exist_ok=True)
    world = World(cfg, prof, plan)
    plan_host(world, rng_for(cfg.seed, "activity", index), plan)
    router = Router(cfg, prof, host_dir, cfg.out / "late", rng_for(cfg.seed, "router", index))
    truth = TruthWriter(truth_path(cfg.out, prof.uuid), cfg.zstd_level)
    osq = Osqueryd(cfg.seed, prof, world, router, truth)
    osq.run()
    files = router.close() + 1
    truth.close()
    return HostResult(
        entry=host_entry(prof, plan),
        moments=_moments(cfg, prof, plan, world),
        lines=router.lines,
        rows=router.rows,
        files=files,
        executions=osq.executions,
    )


def _moments(
    cfg: SimConfig, p: HostProfile, plan: SitePlan | None, w: World
) -> list[dict[str, Any]]:
    out = _handovers(cfg, p, plan) + _uid_reuse(p, w) + _usb(p, w)
    for (_, old), (t, new) in zip(p.hostnames, p.hostnames[1:], strict=False):
        out.append({"kind": "rename", "host": p.uuid, "at": t, "old": old, "new": new})
    for (_, e0), (t, e1) in zip(p.epochs, p.epochs[1:], strict=False):
        out.append({"kind": "epoch_change", "host": p.uuid, "at": t, "from": e0, "to": e1})
    out += [
        {"kind": "results_reset", "host": p.uuid, "at": s.start} for s in p.sessions if s.dbwipe
    ]
    out += [{"kind": "offline", "host": p.uuid, "from": a, "to": b} for a, b in p.offline]
    out += [
        {"kind": "power_off", "host": p.uuid, "from": a.end, "to": b.start}
        for a, b in zip(p.sessions, p.sessions[1:], strict=False)
        if b.start - a.end > 3600
    ]
    return out


def _handovers(cfg: SimConfig, p: HostProfile, plan: SitePlan | None) -> list[dict[str, Any]]:
    if plan is None:
        return []
    out = []
    for h in plan.handovers:
        if h.to_host != p.index:
            continue
        (a0, a1), (b0, b1) = h.from_held, h.to_held
        if a1 - a0 < MIN_HOLD or b1 - b0 < MIN_HOLD:
            continue
        src = make_profile(cfg, h.from_host)
        out.append(
            {
                "kind": "ip_handover",
                "ip": h.ip,
                "subnet": f"{plan.subnet}.0/24",
                "from_host": src.uuid,
                "from_hostname": hostname_at(src, a0),
                "from_held": [a0, a1],
                "to_host": p.uuid,
                "to_hostname": hostname_at(p, b0),
                "to_held": [b0, b1],
                "ask_from_at": (a0 + a1) // 2,
                "ask_to_at": (b0 + b1) // 2,
                "from_clock_offset": src.clock_offset,
                "to_clock_offset": p.clock_offset,
            }
        )
    return out


def _uid_reuse(p: HostProfile, w: World) -> list[dict[str, Any]]:
    n = w.notes
    keys = ("uid_old_created", "uid_old_deleted", "uid_new_created", "uid_old_exec", "uid_new_exec")
    if not all(k in n for k in keys) or n["uid_old_created"]["uid"] != n["uid_new_created"]["uid"]:
        return []
    return [
        {
            "kind": "uid_reuse",
            "host": p.uuid,
            "hostname": hostname_at(p, n["uid_new_created"]["at"]),
            "uid": n["uid_old_created"]["uid"],
            "old_user": n["uid_old_created"]["username"],
            "old_created_at": n["uid_old_created"]["at"],
            "old_deleted_at": n["uid_old_deleted"]["at"],
            "new_user": n["uid_new_created"]["username"],
            "new_created_at": n["uid_new_created"]["at"],
            "old_process_event": _pe(n["uid_old_exec"]),
            "new_process_event": _pe(n["uid_new_exec"]),
        }
    ]


def _pe(note: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": int(note["time"]),
        "pid": note["pid"],
        "uid": note["uid"],
        "auid": note["auid"],
        "username": note["username"],
        "path": note["path"],
        "cmdline": note["cmdline"],
    }


def _usb(p: HostProfile, w: World) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tag in ("usb1", "usb2"):
        note = w.notes.get(tag)
        if not note or "removed_at" not in note:
            continue
        m: dict[str, Any] = {
            "kind": "usb_drive",
            "host": p.uuid,
            "platform": p.platform,
            "hostname": hostname_at(p, note["inserted_at"]),
        }
        m.update({k: v for k, v in note.items() if k not in ("hardware_event", "file_event")})
        for k in ("hardware_event", "file_event"):
            if note.get(k):
                ev = note[k]
                m[k] = {
                    "time": int(ev["time"]),
                    "action": ev["action"],
                    "path": ev.get("target_path", ev.get("path", "")),
                }
        prev = out[-1] if out else None
        m["path_reused_from_serial"] = (
            prev["serial"] if prev and prev.get("mount_path") == m.get("mount_path") else None
        )
        out.append(m)
    return out
