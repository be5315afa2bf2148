"""Timed operations that make a host's state change: background life and scenarios."""

from __future__ import annotations

import random

from .catalog import (
    BURSTS,
    COMMANDS,
    CRON_COMMANDS,
    MONITORING,
    USB_DRIVES,
    USB_FILES,
    USER_APPS,
)
from .fleet import FIRST_NAMES, HOUR, HostProfile, Session
from .network import SitePlan
from .rand import hex_id
from .state import UsbDrive
from .world import World

MINUTE = 60


def on_time(p: HostProfile, t: int, margin: int = 2 * HOUR) -> int | None:
    """t if the host is up then (with margin left), else a bit after the next boot."""
    for s in p.sessions:
        if s.start <= t and t + margin < s.end:
            return t
        if t < s.start and s.start + 600 + margin < s.end:
            return s.start + 600
    return None


def _exp(rng: random.Random, mean: float) -> int:
    return int(rng.expovariate(1.0 / mean)) + 1


def plan_host(w: World, rng: random.Random, plan: SitePlan | None) -> None:
    p = w.p
    w.boot(p.sessions[0].boot_time if p.sessions else p.start)
    for s in p.sessions:
        if s.boot:
            w.push(s.start, "boot", s)
        _background(w, rng, s)
    if plan is not None and p.index in plan.periods:
        for per in plan.periods[p.index]:
            w.push(per.start, "net", per, True)
            w.push(per.end, "net", per, False)
    for since, name in p.hostnames[1:]:
        w.push(since, "rename", name)
    _groups(w, rng)
    if p.has("uidreuse") and p.platform != "windows":
        _uid_reuse(w, rng, plan)
    if p.has("usb"):
        _usb(w, rng)
    if p.kind == "server" and not p.has("uidreuse"):
        admin = _admin(p)
        t = on_time(p, p.at(0.5) + rng.randint(0, HOUR))
        if t is not None:
            w.push(t, "useradd", "svc-backup", "Backup service,,,", admin, "svc")
            w.push(t + rng.randint(HOUR, 3 * HOUR), "userdel", "svc-backup", admin, "svc_del")
    w.seal()


def _admin(p: HostProfile) -> str:
    if p.platform == "windows":
        return "Administrator" if p.kind == "server" else p.user
    return "ops" if p.kind == "server" and p.platform == "linux" else p.user


def _background(w: World, rng: random.Random, s: Session) -> None:
    p = w.p
    if p.platform == "windows":
        _apps(w, rng, s)
        if p.kind == "server":
            _logins(w, rng, s, "Administrator", "rdp-tcp#{n}", 5 * HOUR, 0.0)
        return
    if p.kind == "server":
        _cron(w, rng, s)
        _monitoring(w, rng, s)
        if p.platform == "linux":
            _logins(w, rng, s, "ops", "pts/{n}", 4 * HOUR, 0.2)
        return
    _commands(w, rng, s, p.user, s.start + 120, s.end, 90.0, 0.03)
    _apps(w, rng, s)
    t = s.start
    while (t := t + _exp(rng, 6 * HOUR)) < s.end - HOUR:
        w.push(
            t,
            "exec",
            p.user,
            "/usr/bin/python3",
            "python3 -m http.server 8000",
            False,
            rng.randint(30 * MINUTE, 90 * MINUTE),
            8000,
            "",
        )
    if p.platform == "darwin":
        _logins(w, rng, s, p.user, "ttys00{n}", 2 * HOUR, 0.0)


def _commands(
    w: World, rng: random.Random, s: Session, user: str, a: int, b: int, mean: float, sudo: float
) -> None:
    cmds = COMMANDS[w.p.platform]
    burst = BURSTS[w.p.platform]
    t, rnd, nc, nb = a, rng.random, len(cmds), len(burst)
    while (t := t + _exp(rng, mean)) < b - 30:
        path, cmd = cmds[int(rnd() * nc)]
        w.push_cmd(t, user, path, cmd, rnd() < sudo)
        if cmd.startswith(("make", "python3 -m pytest", "python3 manage.py")):
            for k in range(3 + int(rnd() * 12)):  # a build or test run forks children
                cpath, ccmd = burst[int(rnd() * nb)]
                w.push_cmd(t + 1 + k // 3, user, cpath, ccmd, False)


def _monitoring(w: World, rng: random.Random, s: Session) -> None:
    """A health-check agent forks a small pipeline every two minutes."""
    t = s.start + rng.randint(30, 150)
    while t < s.end - 5:
        for k, (path, cmd) in enumerate(MONITORING):
            w.push_cmd(t + k // 2, "root", path, cmd, False)
        t += 120


def _apps(w: World, rng: random.Random, s: Session) -> None:
    p = w.p
    apps = USER_APPS[p.platform]
    user = "Administrator" if p.kind == "server" and p.platform == "windows" else p.user
    t = s.start + 300
    while (t := t + _exp(rng, 45 * MINUTE)) < s.end - 60:
        _, path, cmd = apps[rng.randrange(len(apps))]
        w.push(t, "exec", user, path, cmd, False, rng.randint(10 * MINUTE, 3 * HOUR), 0, "")


def _cron(w: World, rng: random.Random, s: Session) -> None:
    t = s.start - s.start % 900 + 900
    while t < s.end - 5:
        for k in range(rng.randint(1, 2)):
            path, cmd = CRON_COMMANDS[rng.randrange(len(CRON_COMMANDS))]
            w.push_cmd(t + 1 + k, "root", path, cmd, False)
        t += 900


def _logins(
    w: World, rng: random.Random, s: Session, user: str, tty: str, mean: int, sudo: float
) -> None:
    t, n = s.start + 600, 0
    sub = f"10.{20 + w.p.block // 256}.{w.p.block % 256}"
    while (t := t + _exp(rng, mean)) < s.end - 2 * HOUR:
        dur = rng.randint(10 * MINUTE, 60 * MINUTE)
        w.push(t, "login", user, tty.format(n=n), f"{sub}.{rng.randint(100, 140)}", dur)
        if w.posix:
            _commands(w, rng, s, user, t + 5, t + dur - 5, 90.0, sudo)
        n, t = n + 1, t + dur


def _groups(w: World, rng: random.Random) -> None:
    p = w.p
    admin = _admin(p)
    gid = {"linux": 1500, "darwin": 700, "windows": 1010}[p.platform]
    member = (
        "Administrator"
        if p.platform == "windows" and p.kind == "server"
        else ("ops" if p.kind == "server" and p.platform == "linux" else p.user)
    )
    times = [on_time(p, p.at(f) + rng.randint(0, 900)) for f in (0.15, 0.18, 0.65, 0.8)]
    if any(t is None for t in times):
        return
    t0, t1, t2, t3 = (t for t in times if t is not None)
    w.push(t0, "groupadd", "contractors", gid, admin)
    w.push(t1, "member", member, "contractors", True, admin)
    w.push(t2, "member", member, "contractors", False, admin)
    w.push(t3, "groupdel", "contractors", admin)
    if p.platform == "linux" and p.kind != "server":
        t = on_time(p, p.at(0.25))
        if t is not None:
            w.push(t, "member", p.user, "docker", True, admin)


def _uid_reuse(w: World, rng: random.Random, plan: SitePlan | None) -> None:
    """A user is created, works, is deleted; a different user later gets the same uid."""
    p = w.p
    names = [n for n in FIRST_NAMES if n != p.user]
    old, new = rng.sample(names, 2)
    admin = _admin(p)
    src = f"{plan.subnet if plan else '10.20.0'}.{rng.randint(100, 140)}"
    for tag, name, frac in (("uid_old", old, 0.08), ("uid_new", new, 0.42)):
        t = on_time(p, p.at(frac), 3 * HOUR)
        if t is None:
            return
        w.push(t, "useradd", name, f"{name.title()} (contractor),,,", admin, f"{tag}_created")
        login = t + 300
        w.push(login, "login", name, "pts/3", src, 50 * MINUTE)
        for k in range(1, 25):
            path, cmd = COMMANDS[p.platform][k % len(COMMANDS[p.platform])]
            w.push(
                login + 30 + k * 90,
                "exec",
                name,
                path,
                cmd,
                k % 7 == 0,
                0,
                0,
                f"{tag}_exec" if k == 3 else "",
            )
        if tag == "uid_old":
            d = on_time(p, p.at(0.30), HOUR)
            if d is None or d < login + 3600:
                return
            w.push(d, "userdel", name, admin, "uid_old_deleted")


def _usb(w: World, rng: random.Random) -> None:
    p = w.p
    picks = rng.sample(range(len(USB_DRIVES)), 2)
    for k, (frac, dur) in enumerate(((0.2, 40 * MINUTE), (0.55, HOUR))):
        base = USB_DRIVES[picks[k]]
        drive = UsbDrive(
            base.vendor,
            base.vendor_id,
            base.model,
            base.model_id,
            hex_id(rng, 10).upper(),
            base.revision,
            base.blocks,
            base.label,
        )
        tag = f"usb{k + 1}"
        t = on_time(p, p.at(frac), 2 * HOUR)
        if t is None:
            return
        w.push(t, "usb_insert", drive, tag)
        if p.platform == "windows":
            w.push(t + dur, "usb_remove", drive, tag)
            continue
        w.push(t + 4, "usb_mount", drive, tag)
        files = rng.sample(USB_FILES, 3)
        steps = (
            (60, files[0], "CREATED"),
            (95, files[1], "CREATED"),
            (180, files[0], "UPDATED"),
            (420, files[2], "CREATED"),
            (900, files[2], "DELETED"),
        )
        for off, name, action in steps:
            w.push(t + off, "usb_file", name, action, rng.randint(10_000, 9_000_000), tag)
        w.push(t + dur - 30, "usb_unmount", tag)
        w.push(t + dur, "usb_remove", drive, tag)
