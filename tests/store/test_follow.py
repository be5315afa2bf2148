"""Following log files (`ingest --follow`, `Hindsight.follow`): each line read once, across
appends, half-written lines, rotations, truncations, rewrites and restarts, and the intervals
those reads give are exactly those of one ingest of everything written."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hindsight
from hindsight.errors import InputError
from hindsight.osquery.reader import read_lines
from tests.helpers import event

IA = "pack_net_interface_addresses"
CLI = "from hindsight.cli import main; main()"


def lines(start: int, n: int, uuid: str = "U-1") -> list[bytes]:
    """N executions of one host's DHCP churn, from execution START (an address each, the one
    before removed), so that the intervals tell any line lost, doubled or reordered."""
    out = []
    for k in range(start, start + n):
        t = 1000 + 60 * k
        ip = f"10.0.0.{k}"
        if k:
            out.append(
                event(IA, t, "removed", {"address": f"10.0.0.{k - 1}"}, counter=k, uuid=uuid)
            )
        out.append(event(IA, t, "added", {"address": ip}, counter=k, uuid=uuid))
    return out


def append(path: Path, chunk: list[bytes], partial: bytes = b"") -> None:
    with path.open("ab") as f:
        f.write(b"".join(line + b"\n" for line in chunk) + partial)


def intervals(hs: hindsight.Hindsight, uuid: str = "U-1") -> list[tuple[object, ...]]:
    return hs.sql(
        f"SELECT address, valid_from, valid_to FROM {IA} FOR SYSTEM_TIME ALL "
        f"WHERE host_key = '{uuid.lower()}' ORDER BY ALL"
    ).rows


def replayed(written: list[bytes]) -> list[tuple[object, ...]]:
    """The intervals the lines give, replayed here (the oracle of the property test)."""
    opened: dict[str, int] = {}
    out: list[tuple[object, ...]] = []
    for line in written:
        doc = orjson.loads(line)
        address, t = doc["columns"]["address"], doc["unixTime"]
        if doc["action"] == "added":
            opened[address] = t
        else:
            out.append((address, opened.pop(address), t))
    return sorted(out + [(a, t, None) for a, t in opened.items()], key=str)


def one_shot(tmp_path: Path, written: list[bytes]) -> list[tuple[object, ...]]:
    whole = tmp_path / "whole.log"
    whole.write_bytes(b"".join(line + b"\n" for line in written))
    with hindsight.open(tmp_path / "whole") as hs:
        hs.ingest([whole])
        return intervals(hs)


@pytest.fixture
def hs(tmp_path: Path) -> Iterator[hindsight.Hindsight]:
    """A store that reads a file's last execution however recently written (settle 0): the
    tests below count lines; holding back is tested on its own."""
    with hindsight.open(tmp_path / "data", follow_settle_s=0) as store:
        yield store


def age(*paths: Path) -> None:
    """As if nothing had written to PATHS for an hour."""
    past = time.time() - 3600
    for path in paths:
        os.utime(path, (past, past))


def test_appends_are_read_once_and_a_half_written_line_waits(
    hs: hindsight.Hindsight, tmp_path: Path
) -> None:
    log = tmp_path / "logs" / "osqueryd.results.log"
    log.parent.mkdir()
    first, second = lines(0, 5), lines(5, 5)
    append(log, first, partial=second[0][:30])
    s = hs.store.ingest([log.parent], resume=True)
    assert (s.lines, s.duplicates) == (len(first), 0)
    with log.open("ab") as f:  # the writer finishes its line, and writes more
        f.write(second[0][30:] + b"\n" + b"".join(line + b"\n" for line in second[1:]))
    s = hs.store.ingest([log.parent], resume=True)
    assert (s.lines, s.duplicates, s.rejected) == (len(second), 0, 0)
    assert hs.store.ingest([log.parent], resume=True).lines == 0  # nothing new
    assert intervals(hs) == one_shot(tmp_path, first + second)


def test_rotation_loses_nothing_and_reads_nothing_twice(
    hs: hindsight.Hindsight, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "osqueryd.results.log"
    written = lines(0, 12)
    append(log, written[:4])
    assert hs.store.ingest([logs], resume=True).lines == 4
    append(log, written[4:8])  # written before the rotation, not read yet
    log.rename(logs / "osqueryd.results.log.1")
    append(log, written[8:])  # the new file
    s = hs.store.ingest([logs], resume=True)
    assert (s.lines, s.duplicates) == (len(written) - 4, 0)
    # logrotate compresses .1 into a new file: read whole once (its lines are held), then done
    rotated = logs / "osqueryd.results.log.1"
    (logs / "osqueryd.results.log.1.gz").write_bytes(gzip.compress(rotated.read_bytes()))
    rotated.unlink()
    s = hs.store.ingest([logs], resume=True)
    assert (s.lines, s.duplicates) == (8, 8)
    assert hs.store.ingest([logs], resume=True).lines == 0
    assert intervals(hs) == one_shot(tmp_path, written)


def test_a_file_named_is_followed_across_its_rotation(
    hs: hindsight.Hindsight, tmp_path: Path
) -> None:
    """`--follow X` (the file, not its directory): the lines written between the last read and
    the rotation are read from X.1, where they went; X.1 is read no further than that, and a
    rotated file never read before is not taken."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "osqueryd.results.log"
    (logs / "osqueryd.results.log.2").write_bytes(b"".join(x + b"\n" for x in lines(100, 3)))
    written = lines(0, 12)
    append(log, written[:4])
    assert hs.store.ingest([log], resume=True).lines == 4
    append(log, written[4:8])  # written before the rotation, not read yet
    log.rename(logs / "osqueryd.results.log.1")
    append(log, written[8:])
    s = hs.store.ingest([log], resume=True)
    assert (s.lines, s.duplicates) == (len(written) - 4, 0)
    assert hs.store.ingest([log], resume=True).lines == 0
    assert intervals(hs) == one_shot(tmp_path, written)


def test_osquerys_own_rotation_loses_nothing(hs: hindsight.Hindsight, tmp_path: Path) -> None:
    """--logger_rotate (FORMATS.md 3.1): X becomes X.1, uncompressed, and the X.1 before it
    becomes X.2.zst; the follow reads between and across rotations."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log, one = logs / "osqueryd.results.log", logs / "osqueryd.results.log.1"
    written = lines(0, 15)
    read = 0
    for part in (written[:9], written[9:19], written[19:]):
        append(log, part[: len(part) // 2])
        read += hs.store.ingest([logs], resume=True).lines
        append(log, part[len(part) // 2 :])  # written just before the rotation
        if one.exists():  # the older ones shift: X.2.zst -> X.3.zst, then X.1 -> X.2.zst
            for k in range(len(list(logs.glob("*.zst"))) + 1, 1, -1):
                (logs / f"osqueryd.results.log.{k}.zst").rename(
                    logs / f"osqueryd.results.log.{k + 1}.zst"
                )
            (logs / "osqueryd.results.log.2.zst").write_bytes(
                zstandard.ZstdCompressor().compress(one.read_bytes())
            )
            one.unlink()
        log.rename(one)
        s = hs.store.ingest([logs], resume=True)
        read += s.lines - s.duplicates
    assert read == len(written)
    assert intervals(hs) == one_shot(tmp_path, written)


def test_a_truncated_or_rewritten_file_is_read_from_its_start(
    hs: hindsight.Hindsight, tmp_path: Path
) -> None:
    log = tmp_path / "osqueryd.results.log"
    written = lines(0, 10)
    append(log, written[:6])
    hs.store.ingest([log], resume=True)
    with log.open("r+b") as f:  # copytruncate: same inode, shorter
        f.truncate(0)
    append(log, written[6:8])
    s = hs.store.ingest([log], resume=True)
    assert (s.lines, s.duplicates) == (2, 0)
    ino = log.stat().st_ino
    with log.open("r+b") as f:  # the same inode rewritten longer, with other first lines
        f.write(b"".join(line + b"\n" for line in written))
    assert log.stat().st_ino == ino
    s = hs.store.ingest([log], resume=True)
    assert (s.lines, s.duplicates) == (len(written), 8)
    assert intervals(hs) == one_shot(tmp_path, written)


def test_a_restart_resumes_and_rejections_keep_their_line_numbers(tmp_path: Path) -> None:
    log = tmp_path / "osqueryd.results.log"
    written = lines(0, 6)
    append(log, written[:3])
    with hindsight.open(tmp_path / "data", follow_settle_s=0) as hs:
        assert hs.store.ingest([log], resume=True).lines == 3
    with log.open("ab") as f:
        f.write(b"{broken\n")
    append(log, written[3:])
    with hindsight.open(tmp_path / "data", follow_settle_s=0) as hs:
        s = hs.store.ingest([log], resume=True)
        assert (s.lines, s.duplicates, s.rejected) == (len(written) - 3 + 1, 0, 1)
        assert s.rejections[0][0] == f"{log}:4"
        assert intervals(hs) == one_shot(tmp_path, written)
    with pytest.raises(InputError, match="not stdin"), hindsight.open(tmp_path / "data") as hs:
        hs.store.ingest(["-"], resume=True)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[hindsight.Hindsight]:
    """One store for every example (each its own host); a file's last execution is held back
    until the file is an hour old (the examples age their files before the last read)."""
    with hindsight.open(tmp_path_factory.mktemp("shared"), follow_settle_s=3600) as hs:
        yield hs


@settings(  # each example ingests up to a dozen times: half the profile's examples
    max_examples=max(10, settings.default.max_examples // 2),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["append", "partial", "rotate", "read"]), st.integers(1, 4)),
        max_size=10,
    )
)
def test_any_sequence_of_writes_and_reads_gives_one_ingest(
    shared: hindsight.Hindsight,
    tmp_path_factory: pytest.TempPathFactory,
    steps: list[tuple[str, int]],
) -> None:
    root = tmp_path_factory.mktemp("follow")
    logs = root / "logs"
    logs.mkdir()
    log = logs / "osqueryd.results.log"
    written, pending, rotations, read = [], b"", 0, 0
    uuid = root.name  # a host of its own in the store the examples share
    source = iter(lines(0, 200, uuid))
    with contextlib.nullcontext(shared) as hs:
        for op, n in [("append", 1), *steps]:
            if op in ("append", "partial"):
                chunk = [next(source) for _ in range(n)]
                text = pending + b"".join(line + b"\n" for line in chunk)
                written += chunk
                cut = len(text) - (len(chunk[-1]) // 2 + 1) if op == "partial" else len(text)
                with log.open("ab") as f:
                    f.write(text[:cut])
                pending = text[cut:]
            elif op == "rotate" and log.exists():
                with log.open("ab") as f:  # osquery never rotates inside a line
                    f.write(pending)
                pending = b""
                for k in range(rotations, 0, -1):
                    (logs / f"osqueryd.results.log.{k}").rename(
                        logs / f"osqueryd.results.log.{k + 1}"
                    )
                log.rename(logs / "osqueryd.results.log.1")
                rotations += 1
            else:
                s = hs.store.ingest([logs], resume=True)
                assert s.duplicates == 0 and s.rejected == 0
                read += s.lines
        with log.open("ab") as f:
            f.write(pending)
        age(*logs.iterdir())  # osqueryd has moved on: the last executions are read
        read += hs.store.ingest([logs], resume=True).lines
        assert read == len(written)
        assert intervals(hs, uuid) == replayed(written)


def test_follow_reads_until_stopped(tmp_path: Path) -> None:
    log = tmp_path / "osqueryd.results.log"
    written = lines(0, 8)
    append(log, written[:4])
    stop = threading.Event()
    got: list[int] = []
    with hindsight.open(
        tmp_path / "data", follow_every_s=0.05, follow_settle_s=0, follow_gather_s=0.2
    ) as hs:

        def run() -> None:
            got.extend(s.lines for s in hs.follow([log], stop))

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 20
        while sum(got) < 4:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        append(log, written[4:])
        while sum(got) < 8:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        stop.set()
        thread.join(10)
        assert not thread.is_alive()
        assert intervals(hs) == one_shot(tmp_path, written)


def _follow_while(
    hs: hindsight.Hindsight, log: Path, write: Callable[[], None]
) -> list[tuple[float, int]]:
    """Each read of a follow of LOG (when it ended, its lines) while WRITE appends to the file
    after the first read, and after, until the follow has read everything written (or 20 s
    have passed)."""
    stop = threading.Event()
    reads: list[tuple[float, int]] = []

    def run() -> None:
        reads.extend((time.monotonic(), s.lines) for s in hs.follow([log], stop))

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not reads and time.monotonic() < deadline:
            time.sleep(0.01)
        write()
        total = sum(1 for _ in read_lines(log, 1 << 20))
        while sum(n for _, n in reads) < total and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(10)
    return reads


def test_a_trickle_of_lines_is_read_when_it_has_gathered(tmp_path: Path) -> None:
    """A read costs the store ~0.2 s of CPU however few lines it holds: new lines are read
    once the first has waited HINDSIGHT_FOLLOW_GATHER seconds (or 1 MiB have gathered), not
    at every look. A line appended every 0.1 s, looked for every 20 ms: reads at least the
    gathering time apart (read as they come, they were ~0.3 s apart)."""
    log = tmp_path / "osqueryd.results.log"
    written = lines(0, 21)
    append(log, written[:2])
    with hindsight.open(
        tmp_path / "data", follow_every_s=0.02, follow_settle_s=0, follow_gather_s=1.5
    ) as hs:

        def trickle() -> None:
            for line in written[2:]:
                append(log, [line])
                time.sleep(0.1)

        reads = _follow_while(hs, log, trickle)
        assert sum(n for _, n in reads) == len(written)
        assert reads[0][1] == 2  # what the file held: read at once
        gaps = [b - a for (a, _), (b, _) in itertools.pairwise(reads[1:])]
        assert len(reads) >= 3 and min(gaps) >= 1.3, reads
        assert intervals(hs) == one_shot(tmp_path, written)


def test_a_mebibyte_of_new_lines_is_read_at_once(tmp_path: Path) -> None:
    log = tmp_path / "osqueryd.results.log"
    written = lines(0, 2)
    append(log, written)
    burst = lines(2, 2500, uuid="U-2")  # (~250 bytes each: past 1 MiB in all)
    assert sum(map(len, burst)) > 1 << 20
    with hindsight.open(
        tmp_path / "data", follow_every_s=0.02, follow_settle_s=0, follow_gather_s=3600
    ) as hs:
        reads = _follow_while(hs, log, lambda: append(log, burst))
        assert [n for _, n in reads] == [len(written), len(burst)]  # long before the hour


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_cli_follow_prints_each_read_and_stops_on_ctrl_c(tmp_path: Path, stop: int) -> None:
    """Ctrl-C, or a service manager's SIGTERM, stops it cleanly, even when it was started with
    SIGINT ignored (a background job of a shell, as the CI machine may run the suite)."""
    log = tmp_path / "osqueryd.results.log"
    written = lines(0, 6)
    append(log, written[:3])
    env = {
        **os.environ,
        "HINDSIGHT_FOLLOW_EVERY": "0.1",
        "HINDSIGHT_FOLLOW_SETTLE": "0",
        "HINDSIGHT_FOLLOW_GATHER": "0",
        "HINDSIGHT_DATA": str(tmp_path / "d"),
    }
    with subprocess.Popen(
        [sys.executable, "-c", CLI, "ingest", "--follow", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    ) as proc:
        assert proc.stdout is not None
        assert b"  lines: 3 " in proc.stdout.readline()
        append(log, written[3:])
        assert f"  lines: {len(written) - 3} ".encode() in proc.stdout.readline()
        proc.send_signal(signal.SIGUSR1)  # every thread's stack, for an operator, and it goes on
        time.sleep(0.5)
        proc.send_signal(stop)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # where it hangs: every thread's stack (SIGUSR1)
            proc.send_signal(signal.SIGUSR1)
            time.sleep(2)
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"no exit 30 s after {stop!r}:\n{err.decode()}") from None
    assert proc.returncode == 0, err
    assert b"stopped" in err and b"most recent call first" in err


def test_a_missing_path_is_refused_and_an_unreadable_file_kept_aside(
    hs: hindsight.Hindsight, tmp_path: Path
) -> None:
    (tmp_path / "logs").mkdir()
    with pytest.raises(InputError, match=r"no such file or directory: .*did you mean"):
        hs.ingest([tmp_path / "logz"])
    (line,) = read_lines(tmp_path / "logs", 1 << 20)  # a directory read as a file
    assert line.error is not None and line.error.startswith("cannot read the file")


@pytest.mark.parametrize("compress", [False, True])
def test_a_pipe_is_read(hs: hindsight.Hindsight, tmp_path: Path, compress: bool) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    data = b"".join(line + b"\n" for line in lines(0, 5))

    def feed() -> None:
        with fifo.open("wb") as f:
            f.write(gzip.compress(data) if compress else data)

    writer = threading.Thread(target=feed)
    writer.start()
    s = hs.ingest([fifo])
    writer.join(10)
    assert (s.lines, s.rejected) == (9, 0)


def test_a_document_is_read_once_whole_and_again_if_it_grew(
    hs: hindsight.Hindsight, tmp_path: Path
) -> None:
    body = tmp_path / "body.json"  # a TLS logger body kept by a relay, pretty-printed
    data = [orjson.loads(line) for line in lines(0, 3)]
    text = orjson.dumps(
        {"node_key": "", "log_type": "result", "data": data}, option=orjson.OPT_INDENT_2
    )
    body.write_bytes(text[: len(text) // 2])  # caught half-written
    assert hs.store.ingest([body], resume=True).rejected == 1
    body.write_bytes(text)
    s = hs.store.ingest([body], resume=True)
    assert (s.lines, s.rejected, s.duplicates) == (len(data), 0, 0)
    assert hs.store.ingest([body], resume=True).lines == 0
    assert intervals(hs) == replayed(lines(0, 3))


def test_an_execution_being_written_is_read_whole_once_its_file_settles(tmp_path: Path) -> None:
    """Two identical rows of one execution (two processes alike): read in two parts, the second
    would be taken for the first sent again."""
    log = tmp_path / "osqueryd.results.log"
    row = event("pack_procs", 100, "added", {"name": "sleep", "cmdline": "sleep 1"}, counter=0)
    before = lines(0, 2)
    append(log, [*before, row])
    with hindsight.open(tmp_path / "data") as hs:  # the default settle
        s = hs.store.ingest([log], resume=True)
        assert s.lines == len(before)  # the file's last execution waits
        append(log, [row])  # osqueryd writes the execution's second row
        assert hs.store.ingest([log], resume=True).lines == 0
        age(log)
        s = hs.store.ingest([log], resume=True)
        assert (s.lines, s.duplicates) == (2, 0)
        assert hs.store.ingest([log], resume=True).lines == 0
        rows = hs.sql("SELECT name FROM pack_procs FOR SYSTEM_TIME AS OF 100").rows
        assert rows == [("sleep",), ("sleep",)]
        assert intervals(hs) == replayed(before)


def test_an_execution_read_in_two_parts_keeps_its_identical_rows(tmp_path: Path) -> None:
    """An execution settled too soon (osqueryd paused amid it) is read in two parts: the part
    read later counts its identical rows on from those read before, as one read would."""
    log = tmp_path / "osqueryd.results.log"
    row = event("pack_procs", 100, "added", {"name": "sleep", "cmdline": "sleep 1"}, counter=0)
    before = lines(0, 2)
    append(log, [*before, row])
    with hindsight.open(tmp_path / "data", follow_settle_s=0) as hs:
        assert hs.store.ingest([log], resume=True).lines == len(before) + 1
        append(log, [row, row])  # the execution's second and third rows
        s = hs.store.ingest([log], resume=True)
        assert (s.lines, s.duplicates) == (2, 0)
        names = "SELECT name FROM pack_procs FOR SYSTEM_TIME AS OF 100"
        assert hs.sql(names).rows == [("sleep",)] * 3
        again = hs.ingest([log])  # the whole file again: one read of the same lines
        assert (again.lines, again.duplicates) == (len(before) + 3, len(before) + 3)
        assert hs.sql(names).rows == [("sleep",)] * 3
        assert intervals(hs) == replayed(before)


def test_a_follow_skips_what_is_not_osquery_output_and_says_so_each_read(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    append(logs / "osqueryd.results.log", lines(0, 3))
    (logs / "osqueryd.pidfile").write_text("4242\n\n")
    stop = threading.Event()
    with hindsight.open(tmp_path / "data") as hs:
        reads = hs.follow([logs], stop)
        first = next(reads)
        assert first.rejected == 0 and first.skipped == [str(logs / "osqueryd.pidfile")]
        second = next(reads)  # the file is still skipped, not read
        assert second.rejected == 0 and second.skipped == first.skipped
        stop.set()
        reads.close()
