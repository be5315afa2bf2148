"""Compaction: many small raw files of a (query, day) become one, old builds go.

A compacted file holds exactly the rows of its sources (same batch, line and line key), sorted
by host and time, and names its sources in its footer (`hindsight.compacted_from`): a build that
consumed every source skips it, and one that did not reads it as new lines whose repeats it drops.
It is published before its sources are deleted, so a reader may briefly see a line twice (the
build drops the repeat) but never lose one.
"""

from __future__ import annotations

import json
import time

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from hindsight.lake.layout import RAW_SCHEMA, LakePaths, publish_table, unique_name

COMPACTED_FROM = b"hindsight.compacted_from"
STALE_TEMP_S = 3600  # temporary files older than this belong to dead writers


def compact_lake(uri: str, min_files: int = 4, keep: int = 2) -> dict[str, int]:
    paths = LakePaths.open(uri)
    merged = removed = 0
    for query in paths.queries():
        for day_dir in _dirs(paths, paths.raw(query)):
            files = paths.files(day_dir)
            if len(files) >= min_files:
                merge_files(paths, day_dir, files)
                merged += 1
                removed += len(files)
    return {
        "partitions_compacted": merged,
        "files_merged": removed,
        "temp_files_removed": _remove_stale_temps(paths),
        "builds_removed": _remove_old_builds(paths, keep),
    }


def _dirs(paths: LakePaths, base: str) -> list[str]:
    found = paths.fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    return sorted(i.path for i in found if i.type == pafs.FileType.Directory)


def merge_files(paths: LakePaths, directory: str, files: list[str]) -> str:
    """One file with the rows of `files`, published, then the sources deleted."""
    tables = [pq.read_table(f, filesystem=paths.fs, schema=RAW_SCHEMA) for f in files]
    table = pa.concat_tables(tables).sort_by(
        [
            ("host_key", "ascending"),
            ("unix_time", "ascending"),
            ("batch", "ascending"),
            ("line", "ascending"),
        ]
    )
    sources = json.dumps([f.rpartition("/")[2] for f in files]).encode()
    table = table.replace_schema_metadata({COMPACTED_FROM: sources})
    target = f"{directory}/{unique_name('compact')}"
    publish_table(paths.fs, target, table)
    for f in files:
        paths.fs.delete_file(f)
    return target


def compacted_from(paths: LakePaths, path: str) -> list[str]:
    """Base names of the files a compacted file replaced ([] for a writer's file)."""
    meta = pq.read_metadata(path, filesystem=paths.fs).metadata or {}
    raw = meta.get(COMPACTED_FROM)
    return list(json.loads(raw)) if raw else []


def _remove_stale_temps(paths: LakePaths) -> int:
    found = paths.fs.get_file_info(pafs.FileSelector(paths.root, recursive=True))
    cutoff = time.time() - STALE_TEMP_S
    stale = [
        i.path
        for i in found
        if i.type == pafs.FileType.File
        and i.base_name.startswith("_tmp-")
        and i.mtime is not None
        and i.mtime.timestamp() < cutoff
    ]
    for path in stale:
        paths.fs.delete_file(path)
    return len(stale)


def _remove_old_builds(paths: LakePaths, keep: int) -> int:
    from hindsight.engines.spark.catalog import current, version_dir

    build = current(paths)
    if build is None:
        return 0
    needed = {q.version for q in build.queries.values()} | set(
        range(build.version - keep + 1, build.version + 1)
    )
    removed = 0
    for directory in _dirs(paths, f"{paths.root}/built"):
        name = directory.rpartition("/")[2]
        if name.startswith("v") and name[1:].isdigit() and int(name[1:]) not in needed:
            paths.fs.delete_dir(version_dir(paths, int(name[1:])))
            removed += 1
    return removed
