"""The lake: Hindsight's history as Parquet files in an open, documented layout (docs/lake.md).

Many stateless writers append raw observations (`LakeWriter`); a scale-out engine (Spark) builds
the validity intervals from them; any Parquet reader can query both.
"""

from hindsight.lake.layout import LAKE_VERSION, LakePaths
from hindsight.lake.writer import LakeWriter, WriteSummary

__all__ = ["LAKE_VERSION", "LakePaths", "LakeWriter", "WriteSummary"]
