"""The file the user edits (DATA/serve/config.json): the enroll secret and the osquery config.

    {"enroll_secret": "...", "osquery": {"options": {}, "decorators": {}, "schedule": {},
     "packs": {}, "file_paths": {}}}

`osquery` is sent to every host as its whole config (osquery does not merge). The file is read
again when it changes, so an edit reaches hosts at their next config refresh; an edit that is not
valid is reported and the last valid config stays in force.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from hindsight.errors import HindsightError

log = logging.getLogger("hindsight.serve")


class ConfigError(HindsightError):
    """The server's config file is not usable."""


def _q(query: str, interval: int, snapshot: bool = False, removed: bool = True) -> dict[str, Any]:
    entry: dict[str, Any] = {"query": query, "interval": interval}
    if snapshot:
        entry["snapshot"] = True
    elif not removed:
        entry["removed"] = False
    return entry


#: The default incident-response schedule. State tables are differential (each change is
#: reported once, and Hindsight rebuilds the state at any instant from the changes); a table
#: whose whole content is wanted at each run and that changes rarely (system_info) is a
#: snapshot. Event tables are differential with only `added` rows (each event once).
DEFAULT_SCHEDULE: dict[str, dict[str, Any]] = {
    "interface_addresses": _q("SELECT * FROM interface_addresses", 60),
    "interface_details": _q(
        "SELECT interface, mac, type, mtu, flags, link_speed, dhcp_lease_obtained, "
        "dhcp_lease_expires, dhcp_server FROM interface_details",
        300,
    ),
    "users": _q("SELECT * FROM users", 300),
    "groups": _q("SELECT * FROM groups", 600),
    "user_groups": _q("SELECT * FROM user_groups", 600),
    "logged_in_users": _q("SELECT * FROM logged_in_users", 60),
    "mounts": _q("SELECT * FROM mounts", 300),
    "usb_devices": _q("SELECT * FROM usb_devices", 60),
    "block_devices": _q("SELECT * FROM block_devices", 300),
    "system_info": _q("SELECT * FROM system_info", 3600, snapshot=True),
    "process_events": _q("SELECT * FROM process_events", 60),
    "file_events": _q("SELECT * FROM file_events", 60),
    "hardware_events": _q("SELECT * FROM hardware_events", 60),
    "socket_events": _q("SELECT * FROM socket_events", 60),
    "user_events": _q("SELECT * FROM user_events", 60),
}

DEFAULT_OSQUERY: dict[str, Any] = {
    "options": {
        "host_identifier": "uuid",
        "schedule_splay_percent": 10,
        "logger_tls_period": 10,
        "logger_tls_compress": True,
        "logger_tls_max_lines": 1024,
        "distributed_interval": 60,
        "disable_events": False,
        "events_expiry": 3600,
    },
    "decorators": {
        "load": [
            "SELECT uuid AS host_uuid FROM system_info",
            "SELECT hostname FROM system_info",
        ]
    },
    "schedule": DEFAULT_SCHEDULE,
    "file_paths": {
        "etc": ["/etc/%%"],
        "binaries": ["/usr/bin/%%", "/usr/sbin/%%", "/bin/%%", "/sbin/%%", "/usr/local/bin/%%"],
        "tmp": ["/tmp/%%"],
    },
    "packs": {},
}


@dataclass(frozen=True)
class ServerConfig:
    enroll_secret: str
    osquery: dict[str, Any]
    osquery_bytes: bytes  # the config answer, encoded once


def default_document() -> dict[str, Any]:
    return {"enroll_secret": secrets.token_urlsafe(24), "osquery": DEFAULT_OSQUERY}


def parse(raw: bytes, where: str) -> ServerConfig:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{where}: invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    unknown = set(doc) - {"enroll_secret", "osquery"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)} (enroll_secret, osquery)")
    secret = doc.get("enroll_secret")
    if not isinstance(secret, str) or not secret.strip():
        raise ConfigError(f"{where}: enroll_secret must be a non-empty string")
    osq = doc.get("osquery", {})
    if not isinstance(osq, dict):
        raise ConfigError(f"{where}: osquery must be an object (osquery's config document)")
    _check_schedule(osq.get("schedule", {}), f"{where}: osquery.schedule")
    packs = osq.get("packs", {})
    if not isinstance(packs, dict):
        raise ConfigError(f"{where}: osquery.packs must be an object")
    for name, pack in packs.items():
        if isinstance(pack, dict):
            _check_schedule(pack.get("queries", {}), f"{where}: osquery.packs.{name}.queries")
        elif not isinstance(pack, str):
            raise ConfigError(f"{where}: osquery.packs.{name} must be an object or a path")
    return ServerConfig(secret.strip(), osq, orjson.dumps({**osq, "node_invalid": False}))


def _check_schedule(schedule: Any, where: str) -> None:
    if not isinstance(schedule, dict):
        raise ConfigError(f"{where} must be an object")
    for name, entry in schedule.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("query"), str):
            raise ConfigError(f"{where}.{name}: needs a string `query`")
        interval = entry.get("interval")
        if not isinstance(interval, int) or isinstance(interval, bool) or interval <= 0:
            raise ConfigError(f"{where}.{name}: `interval` must be a positive integer (seconds)")


class ConfigFile:
    """The config file, made with the defaults on first start and re-read when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(orjson.dumps(default_document(), option=orjson.OPT_INDENT_2))
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        self._lock = threading.Lock()
        self._mtime = path.stat().st_mtime_ns
        self.current = parse(path.read_bytes(), str(path))
        self.last_error: str | None = None
        self._checked = time.monotonic()

    def get(self) -> ServerConfig:
        """The config in force (checks the file for changes at most once a second)."""
        now = time.monotonic()
        if now - self._checked < 1.0:
            return self.current
        with self._lock:
            self._checked = now
            try:
                mtime = self.path.stat().st_mtime_ns
            except OSError as exc:
                self.last_error = f"{self.path}: {exc}"
                return self.current
            if mtime != self._mtime:
                self._mtime = mtime
                try:
                    self.current = parse(self.path.read_bytes(), str(self.path))
                    self.last_error = None
                    log.info("config reloaded from %s", self.path)
                except (ConfigError, OSError) as exc:
                    self.last_error = str(exc)
                    log.error("config not reloaded, the last valid one stays: %s", exc)
        return self.current
