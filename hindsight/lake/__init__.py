"""The lake: Hindsight's history as Parquet files in an open, documented layout (docs/lake.md).

Many stateless writers append raw observations (`LakeWriter`); a scale-out engine (Spark) builds
the validity intervals from them; any Parquet reader can query both.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hindsight.lake.layout import LAKE_VERSION, LakePaths
    from hindsight.lake.writer import LakeWriter, WriteSummary

__all__ = ["LAKE_VERSION", "LakePaths", "LakeWriter", "WriteSummary"]

#: Where each name lives: imported when first used, so that the command line (which registers
#: the lake's commands) does not import pyarrow.fs and the writer for every command.
_HOMES = {
    "LAKE_VERSION": "hindsight.lake.layout",
    "LakePaths": "hindsight.lake.layout",
    "LakeWriter": "hindsight.lake.writer",
    "WriteSummary": "hindsight.lake.writer",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'hindsight.lake' has no attribute {name!r}")
