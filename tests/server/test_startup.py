"""A server started again at once after a crash: the store process of the killed server can
still hold the store for a moment (on busy cores, seconds); the start-up waits for it instead of
failing with DuckDB's lock error (test_crash.py met it when the machine was loaded)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import hindsight
from tests.server.serverproc import ServerProcess

BUSY = "the store is busy, waiting up to"
# holds the store until the server's log says it waits for it (at most 60 s)
HOLD = f"""
import sys, time
from pathlib import Path
import hindsight
with hindsight.open(sys.argv[1]):
    print("held", flush=True)
    log, deadline = Path(sys.argv[2]), time.monotonic() + 60
    while time.monotonic() < deadline and {BUSY!r} not in (log.read_text() if log.exists() else ""):
        time.sleep(0.05)
"""


def test_start_waits_for_a_store_another_process_still_holds(tmp_path: Path) -> None:
    data = tmp_path / "data"
    hindsight.open(data).close()
    srv = ServerProcess(data)
    with subprocess.Popen([sys.executable, "-c", HOLD, str(data), str(srv.log)],
                          stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            srv.start()  # fails at once with DuckDB's lock error if it does not wait
            assert BUSY in srv.output()
        finally:
            srv.kill()
            holder.kill()
