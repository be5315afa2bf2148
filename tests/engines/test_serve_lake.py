"""Several stateless receivers, one lake: two real `hindsight serve --lake` processes take the
simulated fleet of tests/engines through osquery's protocol (half the hosts each, one host moving
from one to the other, lines sent to both and sent twice), one is SIGKILLed under load and
restarted; after the Spark build, `--engine spark` answers as the embedded engine does on the same
fleet ingested from its files."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from hindsight.engines.spark.build import SparkBuilder
from hindsight.engines.spark.engine import SparkEngine
from hindsight.server.config import DEFAULT_OSQUERY
from hindsight.server.state import State
from hindsight.server.testclient import FleetHost, OsqueryHost, fleet_hosts
from tests.engines.conftest import Fleet
from tests.engines.test_differential import HOUR, manifest, same
from tests.server.serverproc import ServerProcess

SECRET = "one-secret-for-every-receiver"
MAX_LINES = 256


def _receiver(data: Path, lake: Path) -> ServerProcess:
    """A receiver with its own data directory and the fleet's shared enroll secret."""
    (data / "serve").mkdir(parents=True)
    doc = {"enroll_secret": SECRET, "osquery": DEFAULT_OSQUERY}
    (data / "serve" / "config.json").write_bytes(orjson.dumps(doc))
    return ServerProcess(data, args=("--lake", str(lake)))


class Load:
    """The fleet's hosts posting to receivers A and B; A is killed once, mid-load."""

    def __init__(self, a: ServerProcess, b: ServerProcess, hosts: list[FleetHost]) -> None:
        self.a, self.b, self.hosts = a, b, hosts
        self.acked_at_a = 0
        self.failures = 0
        self.killed_after: int | None = None

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=32)
        timeout = httpx.Timeout(16.0)
        async with (
            httpx.AsyncClient(base_url=self.a.url, verify=self.a.verify, limits=limits, timeout=timeout) as ha,
            httpx.AsyncClient(base_url=self.b.url, verify=self.b.verify, limits=limits, timeout=timeout) as hb,
        ):
            h0, h1, h2, h3 = self.hosts
            half = len(h3.results) // 2
            await asyncio.gather(
                self._killer(),
                self._send(ha, h0, h0.results),
                self._send(ha, h1, h1.results),
                self._send(hb, h1, h1.results[:1000]),  # also through B: every line twice
                self._send(hb, h2, h2.results, again=300),  # an acknowledgement lost: re-sent
                self._move(hb, ha, h3, half),  # the balancer moves it from B to A
            )

    async def _send(self, http: httpx.AsyncClient, host: FleetHost, lines: list[bytes], again: int = 0) -> None:
        def count(batch: list[bytes]) -> None:
            if http.base_url == httpx.URL(self.a.url):
                self.acked_at_a += len(batch)

        client = OsqueryHost(http, SECRET, host.uuid, host.identifier, MAX_LINES, on_ack=count)
        for line in [*lines, *lines[:again]]:
            client.buffer(line)
        deadline = time.monotonic() + 120
        while client.results:
            assert time.monotonic() < deadline, f"{host.uuid}: lines never acknowledged"
            ok = await client.flush()
            await asyncio.sleep(0.01 if ok else 0.3)
        self.failures += client.stats.failures

    async def _move(self, first: httpx.AsyncClient, then: httpx.AsyncClient, host: FleetHost, half: int) -> None:
        await self._send(first, host, host.results[:half])
        await self._send(then, host, host.results[half:])

    async def _killer(self) -> None:
        """SIGKILL A once it has acknowledged a third of its lines, and start it again."""
        share = len(self.hosts[0].results) + len(self.hosts[1].results)
        deadline = time.monotonic() + 60
        while self.acked_at_a < share // 3:
            assert time.monotonic() < deadline, "A never took a third of its lines"
            await asyncio.sleep(0.01)
        self.killed_after = self.acked_at_a
        await asyncio.to_thread(self.a.kill)
        await asyncio.sleep(0.3)
        await asyncio.to_thread(self.a.start)


def _lake_mode_api(srv: ServerProcess, uuids: set[str]) -> dict[str, Any]:
    """A receiver answers hosts and ingest progress; questions get a clear 501."""
    state = State(srv.data / "serve" / "state.sqlite")
    token = state.create_token("test")
    state.close()
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=srv.url, verify=srv.verify, timeout=30, headers=auth) as http:
        hosts = http.get("/api/v1/hosts").json()
        assert {r[hosts["columns"].index("host_key")] for r in hosts["rows"]} >= uuids
        sql = http.get("/api/v1/sql", params={"sql": "SELECT * FROM users"})
        assert sql.status_code == 501 and sql.json()["code"] == "lake_mode"
        assert "--engine spark --lake" in sql.json()["error"]
        stats: dict[str, Any] = http.get("/api/v1/server").json()
    return stats


def test_two_receivers_one_lake_answer_as_the_embedded_engine(
    fleet: Fleet, spark: Any, tmp_path: Path
) -> None:
    hosts = fleet_hosts(fleet.out)
    assert len(hosts) == 4
    lake = tmp_path / "lake"
    a = _receiver(tmp_path / "a", lake).start()
    b = _receiver(tmp_path / "b", lake).start()
    try:
        load = Load(a, b, hosts)
        asyncio.run(load.run())
        assert load.killed_after is not None and load.failures > 0, "the kill did not land under load"
        stats = _lake_mode_api(a, {hosts[0].uuid.lower(), hosts[3].uuid.lower()})
        assert stats["store_process"]["restarts"] == 0 and stats["ingest"]["last_error"] is None
        assert a.stop() in (0, -15) and b.stop() in (0, -15)  # drain the journals into the lake
    finally:
        a.kill()
        b.kill()
    for srv in (a, b):
        journal = srv.data / "serve" / "journal"
        assert not [p for p in journal.iterdir() if p.name[0].isdigit()], "journal not drained"
    report = SparkBuilder(spark, str(lake)).build()
    assert report.version == 1 and report.intervals > 0
    served = dataclasses.replace(fleet, spark=SparkEngine(str(lake), spark))
    start = manifest(fleet)["start"]
    state_queries = [q["name"] for q in manifest(fleet)["queries"] if not q["event"]]
    assert sum(same(served, "sql", f"SELECT * FROM {q} FOR SYSTEM_TIME ALL") for q in state_queries) > 500
    instants = [start, start + 7 * HOUR + 17, start + 26 * HOUR, start + 47 * HOUR]
    assert sum(same(served, "state", q, at) for q in ("users", "processes", "interface_addresses")
               for at in instants) > 100
    join = ("SELECT e.host, e.time, e.pid, e.path, u.username FROM process_events e "
            "JOIN users FOR SYSTEM_TIME AS OF e.time u ON u.host_key = e.host_key AND u.uid = e.uid")
    assert same(served, "sql", join) > 100
