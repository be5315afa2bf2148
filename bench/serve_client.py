"""The benchmark's load generator for `hindsight serve`: cheap enough to measure the server.

Per client process: its hosts enroll through the protocol test client (httpx, before the clock
starts), then each host opens one keep-alive TLS connection (as osqueryd does with its default
`--tls_session_reuse`) and posts pre-built logger requests (the whole HTTP request, headers and
gzip'd body, is bytes ready to write). The hot loop is: write the request, read the status line and
headers, read Content-Length bytes of body, check it is `{}`. No HTTP library, uvloop when present.
Every process reports its own CPU seconds over the measured window, so the bench can say how much
of the machine the client took.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from bench.bench_ingest import rows_in
from hindsight.server.testclient import FleetHost, OsqueryHost

LOGGER = "/osquery/log"


@dataclass
class Request:
    data: bytes  # the whole HTTP request
    rows: int


@dataclass
class Outcome:
    acked_rows: int = 0
    requests: int = 0
    failures: int = 0
    start: float = 0.0  # wall clock (time.time) of the first post
    end: float = 0.0
    cpu_s: float = 0.0  # this process's CPU over [start, end]
    offered: float = 0.0  # paced: rows per second its hosts send once all have started
    latencies: list[float] = field(default_factory=list)


def requests_for(host: FleetHost, node_key: str, max_lines: int, port: int) -> list[Request]:
    """The host's logger requests of up to MAX_LINES lines each, gzip'd, as HTTP/1.1 bytes."""
    out = []
    for i in range(0, len(host.results), max_lines):
        batch = host.results[i : i + max_lines]
        body = gzip.compress(
            b'{"node_key":' + orjson.dumps(node_key) + b',"log_type":"result","data":['
            + b",".join(batch) + b"]}",
            6,
        )
        head = (
            f"POST {LOGGER} HTTP/1.1\r\nHost: localhost:{port}\r\n"
            "User-Agent: osquery/5.12.1\r\nAccept: application/json\r\n"
            "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
            f"Authorization: NodeKey {node_key}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        out.append(Request(head + body, sum(rows_in(orjson.loads(x)) for x in batch)))
    return out


class Connection:
    """One keep-alive HTTPS connection, one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, ctx: ssl.SSLContext) -> Connection:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ctx, server_hostname="localhost", limit=1 << 20
        )
        return cls(reader, writer)

    async def post(self, data: bytes) -> tuple[int, bytes]:
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def load(
    port: int, cert: str, secret: str, hosts: list[FleetHost], max_lines: int, period_s: float,
    seconds: float, barrier: Any,
) -> Outcome:
    """One client process: enroll its hosts, build their requests and connections, wait for the
    other processes, post. period_s 0: each host posts its requests back to back, once
    (saturation). Else each host posts one request every period_s (osqueryd's logger_tls_period)
    from a random phase, for SECONDS: a steady offered load of hosts x lines / period, its
    requests taken in turn (again from the first when it has sent them all: the store finds
    those lines duplicates, the server's work per request is the same)."""
    ctx = ssl.create_default_context(cafile=cert)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=f"https://127.0.0.1:{port}", verify=ctx, limits=limits, timeout=60
    ) as http:
        clients = [OsqueryHost(http, secret, h.uuid, h.identifier, max_lines) for h in hosts]
        sem = asyncio.Semaphore(32)  # enrolments are not what is measured

        async def enroll(c: OsqueryHost) -> Connection:
            async with sem:
                await c.enroll()
                await c.refresh_config()
                return await Connection.open(port, ctx)

        conns = await asyncio.gather(*(enroll(c) for c in clients))
    work = [requests_for(h, c.node_key or "", max_lines, port) for c, h in zip(clients, hosts, strict=True)]
    out = Outcome()
    if period_s:
        posts = max(1, round(seconds / period_s))
        work = [[reqs[i % len(reqs)] for i in range(posts)] if reqs else [] for reqs in work]
        out.offered = sum(r.rows for reqs in work for r in reqs) / (posts * period_s)
    rnd = random.Random(len(hosts))
    phases = [rnd.uniform(0, period_s) for _ in hosts]

    async def run(conn: Connection, requests: list[Request], phase: float) -> None:
        if period_s:
            await asyncio.sleep(phase)
        for n, req in enumerate(requests, 1):
            began = time.perf_counter()
            while True:
                _, body = await conn.post(req.data)
                if body.strip() == b"{}":
                    out.latencies.append(time.perf_counter() - began)
                    out.acked_rows += req.rows
                    out.requests += 1
                    break
                out.failures += 1  # osqueryd keeps the lines and resends them next period
                await asyncio.sleep(period_s or 0.5)
            if period_s and n < len(requests):
                await asyncio.sleep(max(0.0, period_s - (time.perf_counter() - began)))

    await asyncio.to_thread(barrier.wait)
    cpu0, out.start = time.process_time(), time.time()
    await asyncio.gather(*(run(c, w, p) for c, w, p in zip(conns, work, phases, strict=True)))
    out.cpu_s, out.end = time.process_time() - cpu0, time.time()
    for conn in conns:
        conn.close()
    return out


def client_process(args: tuple[Any, ...]) -> Outcome:
    try:
        import uvloop

        return uvloop.run(load(*args))
    except ImportError:
        return asyncio.run(load(*args))
