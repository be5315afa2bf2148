"""How values look in the console: times as UTC ISO 8601, and the JSON the timelines draw."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
import orjson
from markupsafe import Markup

from hindsight.timeparse import format_instant, format_time, in_utc

#: columns holding unix seconds (shown as times)
TIME_COLUMNS = frozenset(
    {
        "valid_from",
        "valid_to",
        "from_after",
        "to_after",
        "confirmed_at",
        "checked_in",
        "first_seen",
        "last_seen",
        "time",
        "last_execution",
        "latest",
        "attached_from",
        "attached_to",
        "confirmed_from",
        "confirmed_to",
        "last_checkin",
        "last_config",
        "last_logger",
        "last_distributed",
        "start",
        "end",
    }
)
PREFIX = "/console"


def cell(value: Any, column: str = "") -> str:
    """One value as text: datetimes and unix seconds of time columns as UTC ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_instant(value)
    is_time = column in TIME_COLUMNS or column.endswith("_since")  # enrichments' "since"
    if is_time and isinstance(value, int) and not isinstance(value, bool):
        return format_time(value) if 0 < value < 1 << 40 else ""
    return str(value)


def unix(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int(in_utc(value).timestamp())
    return None if value is None else int(value)


def host_url(key: Any, part: str = "", **params: Any) -> str:
    """A host page's URL (PART: "state" or "diff"): the key as one percent-encoded path segment
    (any text a host reported: '/', '?', '#', '..' stay inside it); keys a browser would take as
    a dot segment ('.', '..') go in the query string instead."""
    key = "" if key is None else str(key)
    if key in (".", ".."):
        path, params = f"{PREFIX}/host/-{'/' + part if part else ''}", {"key": key, **params}
    else:
        path = f"{PREFIX}/host/{quote(key, safe='')}{'/' + part if part else ''}"
    given = {k: v for k, v in params.items() if v is not None and v != ""}
    return f"{path}?{urlencode(given)}" if given else path


def text(value: Any) -> str:
    """A value from the logs as HTML text (vis-timeline sets content, titles and group labels
    with innerHTML: markup in a host or user name must show as itself, never as markup)."""
    return escape("" if value is None else str(value), quote=True)


def script_json(value: Any) -> Markup:
    """JSON safe inside <script type="application/json">."""
    text = orjson.dumps(value, default=str).decode()
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def timeline_json(answer: dict[str, Any]) -> Markup:
    items = []
    for n, item in enumerate(answer.get("items") or []):
        out = {**item, "id": n, "start": item["start"] * 1000}
        out["content"], out["title"] = text(item.get("content")), text(item.get("title"))
        if item.get("end") is not None:
            out["end"] = item["end"] * 1000
        else:
            out.pop("end", None)
        if item.get("className") == "unknown":
            out["type"] = "background"
        if not out.get("group"):
            out.pop("group", None)
        if item.get("host"):
            out["href"] = host_url(item["host"], at=item["at"], query=item.get("query"))
        items.append(out)
    window = answer.get("window") or (answer["at"] - 3600, answer["at"] + 3600)
    groups = [{**g, "content": text(g.get("content"))} for g in answer.get("groups") or []]
    return script_json(
        {
            "items": items,
            "groups": groups,
            "at": answer["at"] * 1000,
            "start": window[0] * 1000,
            "end": window[1] * 1000,
        }
    )


def strip_json(overview: dict[str, Any]) -> Markup:
    """Changes per query over time: one group per query, one bar per busy span."""
    items: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    for g, strip in enumerate(overview["strip"]):
        groups.append({"id": g, "content": text(strip["query"])})
        top = max(n for _, n in strip["buckets"])
        for start, n in strip["buckets"]:
            level = 1 + min(3, (3 * n) // max(top, 1))
            items.append(
                {
                    "id": len(items),
                    "group": g,
                    "start": start * 1000,
                    "end": (start + strip["width"]) * 1000,
                    "content": "",
                    "className": f"strip level{level}",
                    "title": f"{n} changes",
                    "query": strip["query"],
                    "at": start + strip["width"] - 1,
                }
            )
    return script_json(
        {
            "items": items,
            "groups": groups,
            "start": overview["first_seen"] * 1000,
            "end": overview["last_seen"] * 1000,
        }
    )


def rate_json(rate: list[tuple[int, int]]) -> Markup:
    return script_json([{"x": t * 1000, "y": n} for t, n in rate])


def install(env: jinja2.Environment) -> None:
    env.filters["cell"] = cell
    env.filters["iso"] = lambda v: format_time(unix(v)) if v is not None else ""
    env.filters["tojson_script"] = script_json
    env.globals["PREFIX"] = PREFIX
    env.globals["zip"] = zip
    env.globals["host_url"] = host_url
    env.finalize = lambda value: "" if value is None else value  # a missing value shows as nothing
