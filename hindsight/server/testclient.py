"""A client that speaks osquery's TLS remote API as osqueryd does, to test and benchmark the server.

Per host, like osqueryd (FORMATS.md §3.2): enroll with the secret and host_details, fetch the
config, keep result lines in a buffer and send up to `max_lines` of them per logger request
(gzip'd, `Content-Encoding: gzip`), deleting them only after a success body; a failure
(`error`, non-JSON, a dropped connection) keeps them for the next period; `node_invalid` drops the
node key and enrolls again. Distributed reads are answered through distributed write.

`replay_fleet` drives a simulated fleet (`hindsight simulate`) through a running server: each
host sends its own log files and late TLS bodies.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from hindsight.osquery.lines import StatusLine
from hindsight.osquery.reader import expand, read_lines
from hindsight.osquery.scopes import Occurrences
from hindsight.server.osquery_api import (
    CONFIG,
    DISTRIBUTED_READ,
    DISTRIBUTED_WRITE,
    ENROLL,
    LOGGER,
)

Answer = Callable[[str, str], list[dict[str, str]]]  # (query id, sql) -> rows


@dataclass
class ClientStats:
    posts: int = 0
    acked_lines: int = 0
    failures: int = 0
    enrollments: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, per acknowledged post


class NodeInvalid(Exception):
    pass


class OsqueryHost:
    """One simulated osqueryd."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        secret: str,
        uuid: str,
        identifier: str,
        max_lines: int = 1024,
        compress: bool = True,
        on_ack: Callable[[list[bytes]], None] | None = None,
    ) -> None:
        self.http = http
        self.secret = secret
        self.uuid = uuid
        self.identifier = identifier
        self.max_lines = max_lines
        self.compress = compress
        self.node_key: str | None = None
        self.config: dict[str, Any] | None = None
        self.results: list[bytes] = []  # the buffer, oldest first (encoded lines)
        self.statuses: list[bytes] = []
        self.stats = ClientStats()
        self.on_ack = on_ack

    async def _post(
        self, path: str, body: dict[str, Any] | bytes, gz: bool = False
    ) -> dict[str, Any]:
        """POST and decide as osqueryd does: the body alone says success or failure."""
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "osquery/5.12.1",
        }
        if self.node_key:
            headers["Authorization"] = f"NodeKey {self.node_key}"
        if gz:
            raw = gzip.compress(raw, compresslevel=6)
            headers["Content-Encoding"] = "gzip"
        response = await self.http.post(path, content=raw, headers=headers)
        text = response.content
        doc = orjson.loads(text) if text.strip() else {}
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        if doc.get("node_invalid") is True:
            self.node_key = None
            raise NodeInvalid(path)
        if "error" in doc:
            raise ValueError(str(doc["error"]))
        return doc

    async def enroll(self) -> None:
        for attempt in range(12):
            try:
                doc = await self._post(
                    ENROLL,
                    {
                        "enroll_secret": self.secret,
                        "host_identifier": self.identifier,
                        "platform_type": "9",
                        "host_details": {
                            "system_info": {"uuid": self.uuid, "hostname": self.identifier},
                            "osquery_info": {"version": "5.12.1", "platform_mask": "9"},
                        },
                    },
                )
                key = doc.get("node_key") or doc.get("id")
                if isinstance(key, str) and key:
                    self.node_key = key
                    self.stats.enrollments += 1
                    return
            except (httpx.HTTPError, ValueError, NodeInvalid):
                pass
            await asyncio.sleep(min(0.05 * (attempt + 1) ** 2, 2.0))
        raise RuntimeError(f"{self.uuid}: could not enroll")

    async def _with_key(self, path: str, body: dict[str, Any], gz: bool = False) -> dict[str, Any]:
        if self.node_key is None:
            await self.enroll()
        assert self.node_key is not None
        try:
            return await self._post(path, {"node_key": self.node_key, **body}, gz)
        except NodeInvalid:
            await self.enroll()
            raise

    async def refresh_config(self) -> None:
        doc = await self._with_key(CONFIG, {})
        self.config = doc

    def buffer(self, line: bytes, status: bool = False) -> None:
        (self.statuses if status else self.results).append(line)

    async def flush(self) -> bool:
        """One logger period: send up to max_lines (results, then statuses). True when all
        sent lines were acknowledged."""
        ok = True
        budget = self.max_lines
        for log_type, buf in (("result", self.results), ("status", self.statuses)):
            if not buf or budget <= 0:
                continue
            batch = buf[:budget]
            body = (
                b'{"node_key":'
                + orjson.dumps(self.node_key or "")
                + b',"log_type":"'
                + log_type.encode()
                + b'","data":['
                + b",".join(batch)
                + b"]}"
            )
            start = time.perf_counter()
            try:
                if self.node_key is None:
                    await self.enroll()
                    continue
                await self._post(LOGGER, body, gz=self.compress)
            except NodeInvalid:
                ok = False
                self.stats.failures += 1
                await self.enroll()
                continue
            except (httpx.HTTPError, ValueError):
                ok = False
                self.stats.failures += 1
                continue
            self.stats.latencies.append(time.perf_counter() - start)
            self.stats.posts += 1
            del buf[: len(batch)]
            budget -= len(batch)
            if log_type == "result":
                self.stats.acked_lines += len(batch)
                if self.on_ack is not None:
                    self.on_ack(batch)
        return ok

    async def distributed(self, answer: Answer) -> int:
        """One distributed check-in: read the queries, answer them. Returns how many."""
        doc = await self._with_key(DISTRIBUTED_READ, {})
        queries = doc.get("queries") or {}
        if not queries:
            return 0
        rows = {qid: answer(qid, sql) for qid, sql in queries.items()}
        await self._with_key(
            DISTRIBUTED_WRITE,
            {
                "queries": rows,
                "statuses": {qid: 0 for qid in rows},
                "messages": {},
            },
        )
        return len(rows)


# -- a simulated fleet -------------------------------------------------------------------------
@dataclass
class FleetHost:
    uuid: str
    identifier: str
    results: list[bytes]
    statuses: list[bytes]


def fleet_hosts(sim_dir: Path, max_line_bytes: int = 16 << 20) -> list[FleetHost]:
    """Each simulated host's lines as its osqueryd buffers them, in the order it would send
    them: its log files, then its late TLS bodies by arrival. osqueryd buffers each line once:
    the copies the simulator wrote (a shipper's resent lines in the files, a body sent again
    after a lost response) are left out, by the rule Hindsight dedupes with
    (hindsight.osquery.scopes); the client's own failed requests are sent again."""
    manifest = orjson.loads((sim_dir / "manifest.json").read_bytes())
    hosts = []
    late = sorted((sim_dir / "late").glob("*.json")) if (sim_dir / "late").is_dir() else []
    for h in manifest["hosts"]:
        uuid = h["uuid"]
        results: list[bytes] = []
        statuses: list[bytes] = []
        seen: set[tuple[object, ...]] = set()
        files = [*expand([sim_dir / "hosts" / uuid]), *(p for p in late if f"_{uuid}_" in p.name)]
        for path in files:
            occurrences = Occurrences()
            for line in read_lines(path, max_line_bytes):
                p = line.parsed
                if isinstance(p, StatusLine):
                    statuses.append(line.raw)
                    occurrences.end_scope()
                elif p is not None:
                    key = (p.host_key, p.name, p.unix_time, p.key, occurrences.of(line, p))
                    if key not in seen:
                        seen.add(key)
                        results.append(line.raw)
        hosts.append(FleetHost(uuid, h["hostnames"][0]["hostname"], results, statuses))
    return hosts


@dataclass
class ReplayReport:
    hosts: int
    lines: int
    acked: int
    posts: int
    failures: int
    seconds: float
    latencies: list[float]

    def p(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def replay_fleet(
    base_url: str,
    verify: ssl.SSLContext | str,
    secret: str,
    hosts: Sequence[FleetHost],
    max_lines: int = 1024,
    period_s: float = 0.0,
    deadline_s: float = 600.0,
    answer: Answer | None = None,
) -> ReplayReport:
    """Every host enrolls, fetches its config and sends all its lines, concurrently."""
    limits = httpx.Limits(
        max_connections=len(hosts) + 10, max_keepalive_connections=len(hosts) + 10
    )
    timeout = httpx.Timeout(16.0)  # osquery's HTTP timeout
    if isinstance(verify, str):  # the server's certificate, pinned as osqueryd does
        verify = ssl.create_default_context(cafile=verify)
    start = time.perf_counter()
    async with httpx.AsyncClient(
        base_url=base_url, verify=verify, limits=limits, timeout=timeout
    ) as http:
        clients = [OsqueryHost(http, secret, h.uuid, h.identifier, max_lines) for h in hosts]

        async def run(client: OsqueryHost, host: FleetHost) -> None:
            await client.enroll()
            await client.refresh_config()
            for line in host.results:
                client.buffer(line)
            for line in host.statuses:
                client.buffer(line, status=True)
            end = time.monotonic() + deadline_s
            while (client.results or client.statuses) and time.monotonic() < end:
                ok = await client.flush()
                if answer is not None:
                    await client.distributed(answer)
                await asyncio.sleep(period_s if ok else max(period_s, 0.2))
            if answer is not None:
                await client.distributed(answer)

        await asyncio.gather(*(run(c, h) for c, h in zip(clients, hosts, strict=True)))
    return ReplayReport(
        hosts=len(hosts),
        lines=sum(len(h.results) for h in hosts),
        acked=sum(c.stats.acked_lines for c in clients),
        posts=sum(c.stats.posts for c in clients),
        failures=sum(c.stats.failures for c in clients),
        seconds=time.perf_counter() - start,
        latencies=[x for c in clients for x in c.stats.latencies],
    )
