"""What an ingest or a rebuild that cannot finish says and leaves: a store it cannot write (a
full disk), a Ctrl-C in the compaction after the batches or in a rebuild. Each is a clear
message and an exit status, never a traceback, and the store keeps what was committed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

import hindsight
from hindsight.cli import main
from hindsight.store.ingest import BatchWriter
from hindsight.store.space import BLOCK_SIZE
from hindsight.store.store import Store
from hindsight.store.streams import StreamWriter
from tests.helpers import event, write

IA = "pack_net_interface_addresses"


@pytest.fixture
def logs(tmp_path: Path) -> list[str]:
    """Two files: with batches of one line, two batches."""
    return [
        str(write(tmp_path / f"{n}.log", event(IA, 1000 + n, "added", {"address": f"10.0.0.{n}"}, counter=n)))
        for n in range(2)
    ]


def cli(data: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--data", str(data), *args], env={"HINDSIGHT_BATCH_LINES": "1"})


def test_a_store_it_cannot_write_keeps_the_batches_before_and_says_so(
    tmp_path: Path, logs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = BatchWriter._write
    calls = []

    def full_disk(self: BatchWriter, batch: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise duckdb.IOException('Could not write file "hindsight.duckdb.wal": No space left on device')
        real(self, batch)

    monkeypatch.setattr(BatchWriter, "_write", full_disk)
    result = cli(tmp_path / "data", "ingest", *logs)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "lines: 1 " in result.stdout
    assert "could not write the store" in result.stderr and "No space left on device" in result.stderr
    assert "ingest the same files again" in result.stderr
    monkeypatch.undo()
    with hindsight.open(tmp_path / "data") as hs:
        assert [a for (a,) in hs.sql(f"SELECT address FROM {IA}").rows] == ["10.0.0.0"]
        assert hs.ingest(logs).duplicates == 1  # and the same files again go on
        assert len(hs.sql(f"SELECT address FROM {IA}").rows) == 2


def test_ctrl_c_in_the_compaction_after_the_batches_says_every_line_is_stored(
    tmp_path: Path, logs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def stopped(self: Store, force: bool = False) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "compact", stopped)
    result = cli(tmp_path / "data", "ingest", *logs)
    assert result.exit_code == 130 and "lines: 2 " in result.stdout and "interrupted" in result.stderr


def test_ctrl_c_in_a_rebuild_rolls_it_back_and_says_so(
    tmp_path: Path, logs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(tmp_path / "data", "ingest", *logs).exit_code == 0

    def stopped(self: StreamWriter, keys: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(StreamWriter, "replay", stopped)
    result = cli(tmp_path / "data", "rebuild")
    assert result.exit_code == 130 and "Traceback" not in result.output
    assert "the rebuild was rolled back, the store is as it was" in result.stderr
    monkeypatch.undo()
    with hindsight.open(tmp_path / "data") as hs:
        assert len(hs.sql(f"SELECT address FROM {IA}", at=2000).rows) == 2


def test_a_rebuild_on_a_store_it_cannot_write_is_a_clear_error(
    tmp_path: Path, logs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(tmp_path / "data", "ingest", *logs).exit_code == 0

    def full_disk(self: StreamWriter, keys: Any) -> None:
        raise duckdb.IOException("No space left on device")

    monkeypatch.setattr(StreamWriter, "replay", full_disk)
    result = cli(tmp_path / "data", "rebuild")
    assert result.exit_code == 2 and "could not write the store: No space left on device" in result.stderr
    assert "rolled back" in result.stderr


def test_batches_stay_bounded_inside_one_execution_and_among_lines_of_none(tmp_path: Path) -> None:
    """A batch ends between executions (their identical rows count right), but past two
    batches' worth it ends all the same, and lines of no execution (no host, query or instant:
    rejected) end one anywhere: a few MB of them took tens of GB."""
    one_execution = [event("pack_files_events", 1000, "added", {"path": f"/f{n}"}) for n in range(2500)]
    nobody = [b"{}"] * 2500
    for lines in (one_execution, nobody):
        path = write(tmp_path / "in.log", *lines)
        with hindsight.open(tmp_path / "data", batch_lines=500) as hs:
            sizes = [len(batch) for batch in hs.store._batches([path], None)]
            assert sum(sizes) == 2500 and max(sizes) <= 1001, sizes
    with hindsight.open(tmp_path / "data", batch_lines=500) as hs:
        summary = hs.ingest([write(tmp_path / "in.log", *one_execution)])
        assert summary.rows == 2500 and summary.duplicates == 0


def test_a_damaged_store_file_is_named_as_such(tmp_path: Path) -> None:
    data = tmp_path / "data"
    lines = [event(IA, 1000 + n, "added", {"address": f"10.{n // 250}.{n % 250}.1"}, counter=n)
             for n in range(20000)]
    with hindsight.open(data) as hs:  # (one batch: `cli` makes a batch of each line)
        hs.ingest([write(tmp_path / "a.log", *lines)])
    store = data / "hindsight.duckdb"
    size = store.stat().st_size
    with store.open("r+b") as f:
        # every block but the first two (the file's 3 headers of 4 KiB, then its blocks)
        for offset in range(3 * 4096 + 2 * BLOCK_SIZE + 100, size - 4096, BLOCK_SIZE):
            f.seek(offset)
            f.write(b"GARBAGE" * 16)
    result = CliRunner().invoke(main, ["--data", str(data), "rebuild"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Corrupt database file" in result.stderr and ("damaged" in result.stderr or "cannot open" in result.stderr)


def test_a_stop_duckdb_reports_as_an_interrupted_query_stops_a_follow(
    tmp_path: Path, logs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def follow(self: Any, paths: Any) -> Any:
        raise RuntimeError("Query interrupted")  # (a Ctrl-C during a statement)
        yield

    monkeypatch.setattr(hindsight.Hindsight, "follow", follow)
    result = cli(tmp_path / "data", "ingest", "--follow", logs[0])
    assert result.exit_code == 0 and "stopped" in result.stderr


def test_ctrl_c_in_a_slow_sql_says_interrupted_without_a_traceback(tmp_path: Path) -> None:
    """A real SIGINT while DuckDB runs a statement (DuckDB's form of it: "Query
    interrupted"): one line and exit 130, as for an ingest."""
    lines = [event("process_events", 100, "added", {"pid": str(n), "time": "100"}) for n in range(2000)]
    with hindsight.open(tmp_path / "data") as hs:
        hs.ingest([write(tmp_path / "e.log", *lines)])
    slow = "SELECT count(*) FROM process_events a, process_events b, process_events c WHERE (a.pid * b.pid + c.pid) % 1000003 = 7"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from hindsight.cli import main; main()", "--data", str(tmp_path / "data"), "sql", slow],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # (as at a terminal: the suite may run as a shell's background job, SIGINT ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(4)  # (past the start: the statement runs for minutes)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=12)  # (at once; DuckDB alone took 15-27 s to notice)
    assert (proc.returncode, err.decode().strip(), out) == (130, "interrupted", b"")
