"""Hosts as the server knows them: enrolled, recorded in the store, and when each last checked in
(every config, logger or distributed request is a check-in)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from hindsight.api import Result
from hindsight.server.core import Core
from hindsight.server.state import State

COLUMNS = [
    "host",
    "host_key",
    "status",
    "last_checkin",
    "last_config",
    "last_logger",
    "last_distributed",
    "address",
    "enrollments",
    "first_seen",
    "last_seen",
    "identifiers",
]


def _ts(value: float | None) -> dt.datetime | None:
    return None if not value else dt.datetime.fromtimestamp(value, dt.UTC)


def hosts_with_checkins(core: Core) -> Result:
    # a receiver writing to a lake records no history: its enrolled hosts and check-ins only
    recorded = None if core.settings.lake else core.store.call("hosts").dicts()
    return merge(recorded, core.state, core.settings.serve_offline_after_s, core.settings.max_rows)


def merge(
    recorded: list[dict[str, Any]] | None, state: State, offline_after_s: float, limit: int
) -> Result:
    """Hosts recorded in the store (None: the store could not be read) and hosts enrolled, with
    their check-ins: online when the last one is within OFFLINE_AFTER_S."""
    start = time.perf_counter()
    by_key = {r["host_key"]: r for r in recorded or []}
    enrolled = {h["host_uuid"]: h for h in state.enrolled_hosts()}
    checkins = state.checkins()
    now = time.time()
    rows: list[tuple[Any, ...]] = []
    for key in sorted(set(by_key) | set(enrolled)):
        rec, enr, chk = by_key.get(key, {}), enrolled.get(key, {}), checkins.get(key, {})
        last = chk.get("last_seen") or None
        if last is None:
            status = "never" if enr else "not enrolled"
        else:
            status = "online" if now - last <= offline_after_s else "offline"
        rows.append(
            (
                rec.get("host") or enr.get("identifier") or key,
                key,
                status,
                _ts(last),
                _ts(chk.get("last_config")),
                _ts(chk.get("last_logger")),
                _ts(chk.get("last_distributed")),
                chk.get("address"),
                enr.get("enrollments", 0),
                rec.get("first_seen"),
                rec.get("last_seen"),
                rec.get("identifiers") or enr.get("identifier"),
            )
        )
    elapsed = (time.perf_counter() - start) * 1000
    return Result(COLUMNS, rows[:limit], len(rows) > limit, elapsed)
