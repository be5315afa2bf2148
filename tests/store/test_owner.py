"""One process writes a store at a time, also while a reclaim copies it into a fresh file (the
store's own lock goes with the old file: a writer let in then wrote to a replaced file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import hindsight
from hindsight.errors import StoreError
from tests.helpers import event, write


def test_a_second_writer_is_refused_while_the_first_holds_the_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with hindsight.open(data), pytest.raises(StoreError, match="by another process"):
        hindsight.open(data)
    with hindsight.open(data):  # let go at close
        pass


def test_no_writer_gets_in_while_a_reclaim_replaces_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    seen: list[str] = []
    real = os.replace

    def replace(src: str, dst: str) -> None:  # the moment the old file is closed and unlocked
        probe = subprocess.run(
            [sys.executable, "-c", f"import hindsight; hindsight.open({str(data)!r}).close()"],
            capture_output=True, text=True, cwd=Path(__file__).parents[2],
        )
        seen.append(probe.stderr)
        real(src, dst)

    with hindsight.open(data) as hs:
        hs.ingest([write(tmp_path / "a.log", event("pack_x_events", 1000, "added", {"seq": "1"}))])
        monkeypatch.setattr("hindsight.store.store.os.replace", replace)
        assert hs.store.reclaim(min_free=0.0, min_bytes=0)
        monkeypatch.undo()
        assert len(seen) == 1 and "open for writing by another process" in seen[0]
        assert hs.sql("SELECT seq FROM pack_x_events").rows == [("1",)]
