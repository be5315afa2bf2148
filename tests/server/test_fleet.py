"""The protocol client drives a simulated fleet through the running server (200 hosts posting
concurrently, gzip'd logger requests of up to logger_tls_max_lines lines, distributed reads and
writes), then the store is checked against the simulator's truth."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import hindsight
from hindsight.server.testclient import fleet_hosts, replay_fleet
from hindsight.sim import SimConfig, simulate
from hindsight.sim.checker import check
from tests.server.serverproc import ServerProcess


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fleet200")
    simulate(SimConfig(hosts=200, days=0.05, out=out, seed=5))
    return out


def _sample(fleet: Path, out: Path, every: int) -> Path:
    """The fleet's truth for one host in EVERY (the checker costs a query per stream)."""
    (out / "truth").mkdir(parents=True)
    (out / "manifest.json").symlink_to(fleet / "manifest.json")
    for path in sorted((fleet / "truth").iterdir())[::every]:
        (out / "truth" / path.name).symlink_to(path)
    return out


def test_200_hosts_through_the_protocol_agree_with_truth(fleet: Path, tmp_path: Path) -> None:
    hosts = fleet_hosts(fleet)
    assert len(hosts) == 200
    srv = ServerProcess(tmp_path / "data").start()
    try:
        report = asyncio.run(
            replay_fleet(
                srv.url,
                srv.verify,
                srv.secret,
                hosts,
                max_lines=512,
                answer=lambda qid, sql: [{"answer": qid}],
            )
        )
        assert report.acked == report.lines > 20_000
        assert report.posts >= report.lines / 512
        assert srv.stop() in (0, -15)
    finally:
        srv.kill()
    with hindsight.open(tmp_path / "data", read_only=True) as hs:
        assert hs.rejects().rows == []
        recorded = {r["host_key"] for r in hs.hosts().dicts()}
        assert recorded == {h.uuid.lower() for h in hosts}
        result = check(hs, _sample(fleet, tmp_path / "sample", every=4), between=1)
    assert result.streams > 500
    assert result.ok, "\n".join(map(str, result.mismatches[:10]))
