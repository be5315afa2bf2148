"""Hindsight: the state of every osquery table on every host, at any instant of recorded history.

import hindsight
with hindsight.open("hindsight-data") as hs:
    hs.ingest(["/var/log/osquery"])
    hs.sql("SELECT host FROM interface_addresses WHERE address = '10.1.2.3'",
           at="2026-11-01T14:03:00Z")
"""

from hindsight.api import Hindsight, Result, open
from hindsight.errors import HindsightError
from hindsight.store.ingest import IngestSummary

__all__ = ["Hindsight", "HindsightError", "IngestSummary", "Result", "open"]
__version__ = "0.1.0"
