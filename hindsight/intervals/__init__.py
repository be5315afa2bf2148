"""Pure functions: ordered executions of one (host, query) -> validity intervals. No I/O."""

from hindsight.intervals.apply import (
    Close,
    Execution,
    Open,
    Signal,
    StreamState,
    apply,
    classify,
    group_executions,
)

__all__ = [
    "Close",
    "Execution",
    "Open",
    "Signal",
    "StreamState",
    "apply",
    "classify",
    "group_executions",
]
