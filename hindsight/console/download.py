"""The SQL page's answers, bounded as the query API's are, and its CSV and JSON downloads.

The rows kept are those the query API would answer for the same statement: `answer_bytes`
(server/answer.py) cuts them at HINDSIGHT_MAX_RESPONSE_BYTES, HINDSIGHT_MAX_ROWS having cut the
statement's own rows. A download cut by either bound says so: its file name, an
`X-Hindsight-Truncated` header and, in CSV, a last line. Times are UTC (a TIMESTAMP without a
zone is UTC already, Hindsight's convention), and CSV cells a spreadsheet would take as a formula
are prefixed with `'`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from hindsight import jsonout
from hindsight.api import Result
from hindsight.console.render import cell
from hindsight.server.answer import answer_bytes
from hindsight.timeparse import utc_value

#: what starts a formula in a spreadsheet (CSV injection): such text cells get a leading '
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Bounded:
    """A statement's answer as the console shows it: rows within the query API's bounds, and
    why it was cut (None, "max_rows" or "max_bytes")."""

    result: Result
    cut: str | None
    max_bytes: int

    @property
    def truncated(self) -> bool:
        return self.cut is not None


def bounded(result: Result, max_bytes: int) -> Bounded:
    """RESULT cut where the query API's answer of it would be (a first row alone past MAX_BYTES:
    the query API's error, a RequestError)."""
    body = answer_bytes(result, max_bytes)
    tail = orjson.loads(b"{" + body[body.rindex(b'"truncated":') :])
    cut = tail["truncated_reason"]
    rows = result.rows
    if cut == "max_bytes":
        rows = rows[: len(orjson.loads(body)["rows"])]
    kept = Result(result.columns, list(rows), cut is not None, result.elapsed_ms, cut)
    return Bounded(kept, cut, max_bytes)


def note(answer: Bounded) -> str:
    """What a cut answer leaves out, in words ('' when whole)."""
    if answer.cut == "max_bytes":
        return (
            f"truncated: only the first {len(answer.result.rows)} rows fit in "
            f"HINDSIGHT_MAX_RESPONSE_BYTES ({answer.max_bytes} bytes)"
        )
    if answer.cut == "max_rows":
        return f"truncated at the row bound (HINDSIGHT_MAX_ROWS): the first {len(answer.result.rows)} rows"
    return ""


def as_json(answer: Bounded) -> bytes:
    rows = [
        {c: utc_value(v) for c, v in zip(answer.result.columns, r, strict=True)}
        for r in answer.result.rows
    ]
    return jsonout.dumps(rows, orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)


def csv_cell(value: Any) -> Any:
    """One CSV value: times as UTC ISO 8601, text a spreadsheet would run as a formula with a
    leading ' (numbers stay numbers)."""
    if isinstance(value, datetime):
        return cell(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def as_csv(answer: Bounded) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_cell(c) for c in answer.result.columns])
    writer.writerows([csv_cell(v) for v in r] for r in answer.result.rows)
    if answer.truncated:
        out.write(f"# {note(answer)}\r\n")
    return out.getvalue().encode()


def headers(answer: Bounded, fmt: str) -> dict[str, str]:
    """The download's headers: its file name (hindsight-truncated.* when cut) and, when cut,
    X-Hindsight-Truncated with the bound that cut it."""
    name = f"hindsight{'-truncated' if answer.truncated else ''}.{fmt}"
    out = {"Content-Disposition": f'attachment; filename="{name}"'}
    if answer.cut:
        out["X-Hindsight-Truncated"] = answer.cut
    return out
