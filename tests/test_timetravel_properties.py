"""The contract, as properties: any history written by osquery in any shape, ingested with
duplicates, in pieces, out of order and twice, is reconstructed exactly at every execution
instant and between them."""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import hindsight
from tests.oracle import Host, Row, Run, canon, emit, truth_at

QUERY = "pack_ir_users"  # typed from osquery's users table: uid is BIGINT
NUMERIC = {"uid", "gid"}
USERS = [("root", "0"), ("alice", "1001"), ("bob", "1001"), ("carol", "1002"), ("dave", "")]

row_st = st.sampled_from(USERS).map(
    lambda u: (("gid", u[1]), ("shell", "/bin/sh"), ("uid", u[1]), ("username", u[0]))
)


@st.composite
def hosts(draw: st.DrawFn) -> list[Host]:
    out = []
    for i in range(draw(st.integers(1, 3))):
        shape = draw(st.sampled_from(["event", "batch", "snapshot", "snapshot_event"]))
        numerics = draw(st.booleans())
        n = draw(st.integers(1, 9))
        t = 1_700_000_000 + draw(st.integers(0, 1000))
        runs = []
        for j in range(n):
            t += draw(st.integers(1, 900))
            min_rows = 1 if shape == "snapshot_event" or j == 0 else 0
            rows: tuple[Row, ...] = tuple(draw(st.lists(row_st, min_size=min_rows, max_size=4)))
            reset = j > 0 and draw(st.integers(0, 5)) == 0
            new_epoch = j > 0 and not reset and draw(st.integers(0, 6)) == 0
            if shape == "event" and (reset or new_epoch) and not rows:
                rows = (draw(row_st),)  # osquery writes nothing for an empty reset in event format
            runs.append(Run(t, rows, reset, new_epoch))
        # renamed once half-way, or renamed (back) at random
        once = [f"host-{i}" if j < n // 2 else f"renamed-{i}" for j in range(n)]
        anyhow = st.lists(st.sampled_from([f"host-{i}", f"renamed-{i}"]), min_size=n, max_size=n)
        names = draw(st.one_of(st.just(once), anyhow))
        out.append(Host(f"UUID-{i}", names, shape, numerics, runs))
    return out


def _pieces(fleet: list[Host], rnd: random.Random) -> list[list[bytes]]:
    """Lines cut into files at execution boundaries, in a random order, some twice."""
    execs = [lines for host in fleet for lines in emit(host, QUERY, NUMERIC) if lines]
    files: list[list[list[bytes]]] = []
    for lines in execs:
        if not files or rnd.random() < 0.4:
            files.append([])
        files[-1].append(lines)
    for f in files:  # a retried request comes again later in the stream, after other lines
        if len(f) > 1 and rnd.random() < 0.3:
            again = rnd.choice(f[:-1])
            f.append(again[rnd.randrange(len(again)) :])  # all of it, or its end
    out = [[line for lines in f for line in lines] for f in files]
    rnd.shuffle(out)
    return out + rnd.sample(out, k=min(2, len(out)))


def _check(hs: hindsight.Hindsight, fleet: list[Host]) -> None:
    for host in fleet:
        instants = sorted(
            {r.time for r in host.runs} | {r.time + 1 for r in host.runs} | {host.runs[0].time - 1}
        )
        # the name of each execution osquery wrote lines for (one where nothing changed, in
        # event or batch format, reports no name)
        named = [
            (run.time, host.names[j])
            for j, (run, lines) in enumerate(
                zip(host.runs, emit(host, QUERY, NUMERIC), strict=True)
            )
            if lines
        ]
        for t in instants:
            want = truth_at(host, t) or Counter()
            rows = hs.state(QUERY, at=t, hosts=[host.uuid]).dicts()
            got = Counter(canon(r) for r in rows)
            assert got == want, (
                f"{host.uuid} ({host.shape}) at {t}: missing {want - got}, extra {got - want}"
            )
            # `host` is the name the host reported as of T, however its lines arrived
            reported = [name for when, name in named if when <= t]
            assert {r["host"] for r in rows} <= set(reported[-1:]), (host.uuid, t, reported)


@given(fleet=hosts(), seed=st.integers(0, 2**16), batch=st.sampled_from([3, 50_000]))
def test_reconstructs_every_instant(fleet: list[Host], seed: int, batch: int) -> None:
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, lines in enumerate(_pieces(fleet, rnd)):
            path = Path(tmp) / f"piece-{i}.log"
            path.write_bytes(b"\n".join(lines) + b"\n")
            paths.append(path)
        with hindsight.open(Path(tmp) / "data", batch_lines=batch) as hs:
            for path in paths:
                hs.ingest([path])
            _check(hs, fleet)
            hs.rebuild()
            _check(hs, fleet)


@given(fleet=hosts())
def test_typed_uid_matches_whatever_numerics(fleet: list[Host]) -> None:
    """uid = 1001 finds the row whether the host logged numbers or strings."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "all.log"
        path.write_bytes(
            b"\n".join(ln for h in fleet for e in emit(h, QUERY, NUMERIC) for ln in e) + b"\n"
        )
        with hindsight.open(Path(tmp) / "data") as hs:
            hs.ingest([path])
            for host in fleet:
                t = host.runs[-1].time
                want = sum(
                    1
                    for r in (truth_at(host, t) or Counter()).elements()
                    if dict(r)["uid"] == "1001"
                )
                got = hs.sql(
                    f"SELECT count(*) FROM users WHERE uid = 1001 AND host_key = '{host.uuid.lower()}'",
                    at=t,
                ).rows
                assert got == [(want,)]
