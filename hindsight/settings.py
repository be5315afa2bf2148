"""Every setting, declared once: name, default, environment variable, help.

The CLI, the docs and the library all read this table.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hindsight.errors import InputError, QueryTimeout


def _setting(default: Any, env: str, help: str) -> Any:
    return field(default=default, metadata={"env": env, "help": help})


#: New bytes that are read at once, without waiting to gather more (follow_gather_s and
#: serve_gather_s): past it, a read's fixed cost is small against its lines'
GATHER_BYTES = 1 << 20


@dataclass(frozen=True)
class Settings:
    """Hindsight's settings. Override with keyword arguments or the environment."""

    data: Path = _setting(Path("hindsight-data"), "HINDSIGHT_DATA", "data directory of the store")
    event_queries: tuple[str, ...] = _setting(
        ("*_events", "*_events_*"),
        "HINDSIGHT_EVENT_QUERIES",
        "glob patterns (comma separated) of query names stored as events, not as state",
    )
    # a batch has a fixed cost (~70 statements at 1-3 ms each): 50,000 -> 200,000 lines cut
    # bench_ingest's mixed file 3.31 -> 2.95 s and DHCP 3.03 -> 2.60 s, peak RSS the same
    # (~500 MB: the 32 MB of raw lines per batch bound it first)
    batch_lines: int = _setting(
        200_000, "HINDSIGHT_BATCH_LINES", "lines per ingest transaction (bounds memory)"
    )
    max_line_bytes: int = _setting(
        16 * 1024 * 1024, "HINDSIGHT_MAX_LINE_BYTES", "longest input line accepted, in bytes"
    )
    native: str = _setting(
        "auto",
        "HINDSIGHT_NATIVE",
        "ingest's native fast path (native/, built by pip install where cargo is): auto (use "
        "it where built), on (require it), off (the SQL path alone)",
    )
    query_timeout_s: float = _setting(
        30.0, "HINDSIGHT_QUERY_TIMEOUT", "time bound of one SQL query, in seconds"
    )
    max_rows: int = _setting(100_000, "HINDSIGHT_MAX_ROWS", "most rows one query returns")
    max_sql_bytes: int = _setting(
        256 * 1024,
        "HINDSIGHT_MAX_SQL_BYTES",
        "longest time-travel SQL statement, in bytes (reading it is not interruptible)",
    )
    max_response_bytes: int = _setting(
        64 * 1024 * 1024,
        "HINDSIGHT_MAX_RESPONSE_BYTES",
        "largest answer of one query, in bytes (the query API's JSON; the values of the rows "
        "the library returns): rows past it are left out (truncated)",
    )
    memory_limit: str = _setting(
        "2GB", "HINDSIGHT_MEMORY_LIMIT", "DuckDB memory limit (spills to disk beyond it)"
    )
    compact_ratio: float = _setting(
        0.25,
        "HINDSIGHT_COMPACT_RATIO",
        "re-sort an interval table (of more than one row group) once its unsorted tail "
        "exceeds this share of it",
    )

    # -- hindsight serve (hindsight/server) --------------------------------------------------
    serve_max_body_bytes: int = _setting(
        32 * 1024 * 1024,
        "HINDSIGHT_SERVE_MAX_BODY",
        "largest osquery request body accepted by `hindsight serve`, in bytes (after gunzip)",
    )
    serve_max_backlog: int = _setting(
        8 * 1024**3,
        "HINDSIGHT_SERVE_MAX_BACKLOG",
        "bytes acknowledged but not yet in the store past which `hindsight serve` refuses lines "
        "(osqueryd keeps them and resends)",
    )
    serve_max_memory: str = _setting(
        "75%",
        "HINDSIGHT_SERVE_MAX_MEMORY",
        "address space of `hindsight serve`'s store process (a size like 16GB, or a share of "
        "the machine's memory): a query that would take more fails, the server lives on",
    )
    serve_status_keep: int = _setting(
        200_000, "HINDSIGHT_SERVE_STATUS_KEEP", "status log lines `hindsight serve` keeps (newest)"
    )
    # a move costs the store ~0.2 s of CPU however few lines it holds (see follow_gather_s)
    serve_gather_s: float = _setting(
        5.0,
        "HINDSIGHT_SERVE_GATHER",
        "`hindsight serve` moves acknowledged lines into the store once 1 MiB of them have "
        "gathered in closed journal segments, or once the oldest has waited this many seconds "
        "(0: as each segment closes)",
    )
    serve_maintain_s: float = _setting(
        60.0,
        "HINDSIGHT_SERVE_MAINTAIN",
        "seconds between two compactions of the store by `hindsight serve` and "
        "`hindsight ingest --follow` (also done at exit)",
    )
    follow_every_s: float = _setting(
        1.0, "HINDSIGHT_FOLLOW_EVERY", "seconds between two reads of `hindsight ingest --follow`"
    )
    # a read costs the store ~0.2 s of CPU however few lines it holds: read every second, a
    # log that gains 5 lines a second kept `ingest --follow` at 17 % of a core
    follow_gather_s: float = _setting(
        10.0,
        "HINDSIGHT_FOLLOW_GATHER",
        "`ingest --follow` reads new lines once 1 MiB of them have gathered, or once the first "
        "of them has waited this many seconds (0: every HINDSIGHT_FOLLOW_EVERY seconds)",
    )
    follow_settle_s: float = _setting(
        2.0,
        "HINDSIGHT_FOLLOW_SETTLE",
        "`ingest --follow` reads a file's last execution once the file is this many seconds "
        "unchanged (osqueryd may still be writing its lines)",
    )
    serve_offline_after_s: float = _setting(
        600.0,
        "HINDSIGHT_SERVE_OFFLINE_AFTER",
        "a host that has not checked in for this many seconds is shown offline",
    )

    # -- the Parquet lake and Spark (hindsight/lake, hindsight/engines/spark) --------------------
    lake: str = _setting(
        "",
        "HINDSIGHT_LAKE",
        "lake directory or URI read and built by --engine spark, written by `hindsight serve --lake`",
    )
    spark_conf: str = _setting(
        "",
        "HINDSIGHT_SPARK_CONF",
        "extra Spark settings, key=value,... (the master comes from Spark's own configuration)",
    )

    # -- investigations (hindsight/investigate) ----------------------------------------------
    stale_factor: float = _setting(
        3.0,
        "HINDSIGHT_STALE_FACTOR",
        "an answer's freshness is unknown once its host was silent for this many times the "
        "query's interval (or the fleet's usual check-in spacing, whichever is longer)",
    )
    splay_slack: float = _setting(
        1.25,
        "HINDSIGHT_SPLAY_SLACK",
        "a query's interval times this is the room allowed for splay between two executions",
    )
    lookback_s: int = _setting(
        86_400,
        "HINDSIGHT_LOOKBACK",
        "how far back investigations look for a previous execution, or for the hardware event "
        "behind a mount, in seconds (bounds the scan)",
    )
    attach_slack_s: int = _setting(
        900,
        "HINDSIGHT_ATTACH_SLACK",
        "a removable USB device first seen up to this many seconds after a mount appeared is "
        "the one behind it (who mount, enrich file_events)",
    )
    next_within_s: int = _setting(
        3600,
        "HINDSIGHT_NEXT_WITHIN",
        "enrich: a state row appearing up to this many seconds after an event follows it "
        "(hardware_events -> the mount that followed)",
    )

    # -- the web console (hindsight/console) -------------------------------------------------
    console_session_hours: float = _setting(
        12.0, "HINDSIGHT_CONSOLE_SESSION_HOURS", "a console sign-in lasts this many hours"
    )

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Settings from the environment, then explicit overrides (None is ignored)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f.metadata["env"])
            if raw is not None:
                values[f.name] = _parse(f.name, raw, f.default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data" in values:
            values["data"] = Path(values["data"])
        return cls(**values)

    def timed_out(self) -> QueryTimeout:
        """The error of a query stopped at its time bound, with what to do about it."""
        env = _ENV["query_timeout_s"]
        return QueryTimeout(
            f"query stopped after {self.query_timeout_s:g} s ({env}): narrow it (a WHERE on "
            "host, address or time; FOR SYSTEM_TIME AS OF or BETWEEN rather than ALL) or raise "
            f"{env}"
        )

    def require(self, names: Iterable[str], ok: Callable[[Any], bool], rule: str) -> None:
        """An InputError naming the environment variable of the first setting of NAMES whose
        value fails OK (RULE says what it must be)."""
        for name in names:
            value = getattr(self, name)
            if not ok(value):
                raise InputError(f"setting {_ENV[name]} must be {rule}, not {value!r}")


#: Each setting's environment variable.
_ENV = {f.name: f.metadata["env"] for f in fields(Settings)}


#: What a value of a setting of a type, or of a setting of its own format, must be
_KINDS = {int: "an integer", float: "a number"}
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*(%|[kmgt]i?b?|b|bytes)", re.IGNORECASE)
_FORMATS: dict[str, tuple[Callable[[str], object], str]] = {
    "memory_limit": (_MEMORY.fullmatch, "a size like 2GB, 512MiB or 80%"),
    "serve_max_memory": (_MEMORY.fullmatch, "a size like 16GB, 512MiB or 75%"),
    "native": (re.compile("auto|on|off").fullmatch, "auto, on or off"),
}


def size_bytes(size: str) -> int:
    """Bytes of a size as the memory settings take it (`2GB`, `512MiB`, `75%` of the machine's
    memory; units of 1000 or, with `i`, of 1024, as DuckDB reads them)."""
    found = _MEMORY.fullmatch(size.strip())
    if found is None:
        raise InputError(f"not a size like 2GB, 512MiB or 80%: {size!r}")
    number, unit = float(found.group(1)), found.group(2).lower()
    if unit == "%":
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * number / 100)
    if unit in ("b", "bytes"):
        return int(number)
    base = 1024 if "i" in unit else 1000
    return int(number * base ** ("kmgt".index(unit[0]) + 1))


def _parse(name: str, raw: str, default: Any) -> Any:
    """RAW, the value of NAME's environment variable, as a value of its type; an InputError
    naming the variable, the value and what it must be when it is none."""
    check, rule = _FORMATS.get(name, (None, _KINDS.get(type(default), "")))
    try:
        value = _convert(raw, default)
    except ValueError:
        value = None
    if value is None or (check is not None and not check(raw.strip())):
        raise InputError(f"setting {_ENV[name]} must be {rule}, not {raw!r}")
    return value


def _convert(raw: str, default: Any) -> Any:
    if isinstance(default, tuple):
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        value = float(raw)
        return value if math.isfinite(value) else None  # inf or nan would lift a bound
    return raw


def describe() -> list[tuple[str, str, str, str]]:
    """(name, env, default, help) for each setting, for docs and --help."""
    return [
        (f.name, f.metadata["env"], str(f.default), f.metadata["help"]) for f in fields(Settings)
    ]
