"""File ingest into the lake: the same reader and normaliser as the embedded store."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hindsight.lake.writer import LakeWriter, WriteSummary
from hindsight.osquery.reader import expand, read_lines
from hindsight.settings import Settings


def ingest_files(
    lake: str,
    sources: Iterable[str | Path],
    settings: Settings | None = None,
    skipped: list[Path] | None = None,
) -> WriteSummary:
    """Read osquery logs (files, directories, '-') and publish their lines to the lake; files of
    directories that are not osquery output are added to SKIPPED (see expand)."""
    settings = settings or Settings.from_env()
    writer = LakeWriter(lake)
    batch = []
    for source in expand(sources, skipped):
        for line in read_lines(source, settings.max_line_bytes):
            batch.append(line)
            if len(batch) >= settings.batch_lines:
                writer.append(batch)
                batch = []
    writer.append(batch)
    writer.flush()
    return writer.summary
