"""One small Spark session for the whole test run, and one simulated fleet answered by both the
embedded engine and Spark over the lake (plus one host whose lines raise every data-quality
signal)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import hindsight
from hindsight.engines.spark.build import BuildReport, SparkBuilder
from hindsight.engines.spark.engine import SparkEngine
from hindsight.engines.spark.session import LOCAL_SMALL, get_session
from hindsight.lake.ingest import ingest_files
from hindsight.sim import SimConfig, simulate

#: the JVM for a short run over small data: the C1 compiler only (C2's optimising compiles cost
#: more CPU than they save here: the fleet's two builds took 59 s of JVM CPU, 105 s with C2) and
#: the serial collector; Spark plans and runs the same. C1 alone shrinks the JVM's code cache
#: from 240 to 48 MB, which the session's generated code filled on a faster machine ("Out of
#: space in CodeCache for adapters": every later task failed); it is given back its usual size.
TEST_SESSION = {
    **LOCAL_SMALL,
    "spark.driver.extraJavaOptions": (
        "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:ReservedCodeCacheSize=240m"
    ),
}


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    session = get_session(TEST_SESSION)
    yield session
    session.stop()


@dataclass
class Fleet:
    out: Path
    embedded: hindsight.Hindsight
    spark: SparkEngine
    first: BuildReport
    second: BuildReport


def _rotated(out: Path) -> tuple[list[Path], list[Path]]:
    """Each host's rotated (older) log files, and everything else."""
    files = sorted(p for p in (out / "hosts").rglob("*") if p.is_file())
    old = [p for p in files if p.name.split(".log", 1)[1][:1] == "."]
    return old, [p for p in files if p not in old]


SIGNALS_HOST = "signals-0001"


def _diff(query: str, t: int, epoch: int, counter: int, added: list[str], removed: list[str]) -> str:
    rows = {"added": [{"v": v} for v in added], "removed": [{"v": v} for v in removed]}
    return json.dumps({"name": query, "hostIdentifier": SIGNALS_HOST, "unixTime": t, "epoch": epoch,
                       "counter": counter, "numerics": False, "diffResults": rows})


def _last(t: int, counter: int, added: dict[str, str], removed: dict[str, str] | None,
          name: str = "pack_signals_last") -> str:
    """A line of a query of osquery table `last` (whose `time` is an INTEGER)."""
    rows = {"added": [added], "removed": [removed] if removed else []}
    return json.dumps({"name": name, "hostIdentifier": SIGNALS_HOST, "unixTime": t,
                       "epoch": 1, "counter": counter, "numerics": False, "diffResults": rows})


def _named(identifier: str, t: int, uuid: str = "named-0001", counter: int = 0) -> str:
    """A line of host UUID calling itself IDENTIFIER."""
    return json.dumps({"name": "pack_names", "hostIdentifier": identifier, "unixTime": t, "epoch": 1,
                       "counter": counter, "numerics": False, "decorations": {"host_uuid": uuid},
                       "diffResults": {"added": [{"v": identifier}], "removed": []}})


CONTINUED_HOST, CONTINUED_UUID = "cont-07", "cont-0001"


def _continued(t: int, counter: int, added: list[str], removed: list[str], uuid: bool) -> str:
    """A line of a machine named CONTINUED_HOST, before (`uuid` false) or after it began
    sending a host_uuid decoration."""
    doc = {"name": "pack_cont_addresses", "hostIdentifier": CONTINUED_HOST, "unixTime": t,
           "epoch": 0, "counter": counter, "numerics": False,
           "diffResults": {"added": [{"v": v} for v in added], "removed": [{"v": v} for v in removed]}}
    if uuid:
        doc["decorations"] = {"host_uuid": CONTINUED_UUID, "hostname": CONTINUED_HOST}
    return json.dumps(doc)


#: Lines both engines reject alike: not an object, a unixTime that is not a number, cut short.
REJECTED = [
    "[1, 2]",
    json.dumps({"name": "pack_signals_b", "hostIdentifier": SIGNALS_HOST, "unixTime": "soon",
                "diffResults": {"added": [], "removed": []}}),
    '{"name": "pack_signals_a", "hostIdentifier": "signals-0001", "unixTime": 17',
]


def signal_lines(out: Path, start: int) -> tuple[Path, Path]:
    """Two rounds of lines, on one host, where the stream cannot tell and Hindsight records a
    data-quality signal: a removed row never open, a counter gap, a reset (counter 0, nothing
    removed) closing rows, a counter-0 diff with removed rows, a column made text; the second round extends stream
    a (another removed row never open) and replays stream b (its reset arrives late)."""
    a, b = "pack_signals_a", "pack_signals_b"
    first = [
        _diff(a, start, 7, 0, ["a1", "a2"], []),
        _diff(a, start + 60, 7, 1, ["a3"], ["ghost"]),
        _diff(a, start + 120, 7, 3, ["a4"], []),
        _diff(a, start + 180, 7, 0, ["a1"], []),
        _diff(a, start + 240, 7, 0, ["a5"], ["a1"]),
        _diff(b, start, 1, 0, ["b1", "b2", "b3"], []),
        _diff(b, start + 120, 1, 1, ["b4"], []),
    ]
    second = [_diff(a, start + 300, 7, 1, [], ["ghost2", "ghost3"]), _diff(b, start + 60, 1, 0, ["b1"], [])]
    # a typed column that held values that fit, then an odd one: NULL for it on both engines,
    # though the lake's first build had no odd value; and one that never held one (a computed
    # column named like the table's): text
    alice, bob = {"username": "alice", "time": "1001"}, {"username": "bob", "time": "yesterday 10:00"}
    first.append(_last(start, 0, alice, None))
    first.append(_last(start, 0, {"username": "carol", "time": "Mon 10:00"}, None, "pack_when_last"))
    # columns named as osquery names computed ones (`SELECT count(*), ...`): not plain words
    odd = {"count(*)": "412", "load avg": "0.5", "user-name": "root", "a.b": "x", "q\"uote": "y"}
    first.append(json.dumps({"name": "pack_signals_odd", "hostIdentifier": SIGNALS_HOST,
                             "unixTime": start, "epoch": 1, "counter": 0, "numerics": False,
                             "snapshot": [odd], "action": "snapshot"}))
    second.append(_last(start + 60, 1, bob, alice))
    first += [_named(name, start) for name in ("beta", "alpha")]  # two names in one second
    # two cloned VMs sharing their image's hardware uuid, each with its own hostname
    first += [_named(name, start + t, "clone-0001", n) for n, (name, t) in
              enumerate([("vm-a", 0), ("vm-b", 60), ("vm-a", 120), ("vm-b", 180)])]
    # a host renamed and renamed back (its second run of alpha reaches the second round)
    first += [_named(name, start + t, "back-0001", n) for n, (name, t) in
              enumerate([("alpha", 0), ("bravo", 60), ("alpha", 120)])]
    second.append(_named("alpha", start + 180, "back-0001", 3))
    # a late line amid another batch's run: bravo at 60 comes in the second round, inside the
    # run of alpha [0, 180] of the first, whose line at 120 (no end of it) resumes alpha
    first += [_named("alpha", start + t, "split-0001", n) for n, t in ((0, 0), (2, 120), (3, 180))]
    second.append(_named("bravo", start + 60, "split-0001", 1))
    # a machine that began sending a host_uuid decoration: its state goes on under a new key
    first += [_continued(start, 0, ["10.0.0.1"], [], False),
              _continued(start + 60, 1, ["10.0.0.2"], ["10.0.0.1"], False)]
    second += [_continued(start + 120, 0, ["10.0.0.2"], [], True),
               _continued(start + 180, 1, ["10.0.0.3"], ["10.0.0.2"], True)]
    first[2:2] = REJECTED[:1]  # lines kept aside (`rejects`), in both rounds; the line cut
    first.append(REJECTED[2])  # short last (the reader would join it with the next line)
    second.insert(1, REJECTED[1])
    (out / "signals").mkdir()
    paths = out / "signals" / "first.log", out / "signals" / "second.log"
    for path, lines in zip(paths, (first, second), strict=True):
        path.write_text("\n".join(lines) + "\n")
    return paths


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> Iterator[Fleet]:
    """Two days of a few hosts, with resets, epoch changes, duplicates and late out-of-order
    backlogs. The lake is built in two rounds: the rotated files first, then the rest, the late
    backlogs and one host's files again, so the second build both extends streams and replays
    them; the embedded store ingests everything at once."""
    out = tmp_path_factory.mktemp("fleet")
    config = SimConfig(hosts=4, days=2, out=out, seed=5)
    simulate(config)
    signals = signal_lines(out, config.start)
    lake = str(tmp_path_factory.mktemp("lake") / "lake")
    old, rest = _rotated(out)
    ingest_files(lake, [*old, signals[0]])
    first = SparkBuilder(spark, lake).build()
    again = sorted((out / "hosts").iterdir())[0]
    ingest_files(lake, [*rest, out / "late", again, signals[1]])
    second = SparkBuilder(spark, lake).build()
    with hindsight.open(tmp_path_factory.mktemp("data")) as hs:
        hs.ingest([out / "hosts", out / "late", *signals])
        yield Fleet(out, hs, SparkEngine(lake, spark), first, second)
