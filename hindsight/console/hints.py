"""What `hindsight demo` prints to send a newcomer to the console: how to start it on the demo's
store, and the three questions to type into its Ask box."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from hindsight.timeparse import format_time


def ask_inputs(manifest: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what to type, the instant, what the answer should be) for the three seed questions."""
    first: dict[str, dict[str, Any]] = {}
    for m in manifest["moments"]:
        if m["kind"] != "usb_drive" or "mounted_at" in m:
            first.setdefault(m["kind"], m)
    offsets = {h["uuid"]: h["clock_offset"] for h in manifest["hosts"]}
    out = []
    if (ip := first.get("ip_handover")) is not None:
        out.append(
            (ip["ip"], format_time(ip["ask_to_at"] + ip["to_clock_offset"]), ip["to_hostname"])
        )
    if (uid := first.get("uid_reuse")) is not None:
        out.append(
            (
                f"{uid['uid']}@{uid['hostname']}",
                format_time(uid["new_process_event"]["time"]),
                f"account {uid['new_user']} (before: {uid['old_user']})",
            )
        )
    if (usb := first.get("usb_drive")) is not None:
        at = (usb["mounted_at"] + usb["unmounted_at"]) // 2 + offsets.get(usb["host"], 0)
        out.append(
            (
                f"{usb['mount_path']}@{usb['hostname']}",
                format_time(at),
                f"USB drive {usb['serial']}",
            )
        )
    return out


def console_hints(data: Path, manifest: dict[str, Any]) -> list[str]:
    d = shlex.quote(str(data))
    lines = [
        f"hindsight user add you --role admin --data {d}     # prompts for a password",
        f"hindsight serve --data {d} --listen 127.0.0.1 --port 8443",
        "then open https://localhost:8443/console/ (its certificate is self-made: accept it) and ask:",
    ]
    lines += [f"  {typed:45s} at {at}   -> {expect}" for typed, at, expect in ask_inputs(manifest)]
    return lines
