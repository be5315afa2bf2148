"""The server's own records, in SQLite (DATA/serve/state.sqlite, WAL): enrolled nodes, check-ins,
status logs (bounded), API tokens and live (distributed) queries.

Secrets are kept as their SHA-256 only: a node key (a host's credential, with which anyone could
send results in its name) and an API token are shown once, when issued, and never stored, so a
copy of this file lets no one speak for a host or call the API.

SQLite rather than the DuckDB store: the CLI can read and write it while `hindsight serve` owns
the store (e.g. `hindsight token create`), and every change here is small.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from hindsight.errors import HindsightError, UnknownHost

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    key_hash TEXT PRIMARY KEY, host_uuid TEXT NOT NULL, host_identifier TEXT NOT NULL,
    platform_type TEXT, enrolled_at REAL NOT NULL, address TEXT, details TEXT,
    active INTEGER NOT NULL DEFAULT 1);
CREATE INDEX IF NOT EXISTS nodes_host ON nodes (host_uuid);
CREATE TABLE IF NOT EXISTS checkins (
    host_uuid TEXT NOT NULL, kind TEXT NOT NULL, last REAL NOT NULL, count INTEGER NOT NULL,
    address TEXT, PRIMARY KEY (host_uuid, kind));
CREATE TABLE IF NOT EXISTS status_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, host_uuid TEXT NOT NULL, received REAL NOT NULL,
    unix_time INTEGER, severity INTEGER, filename TEXT, line INTEGER, message TEXT,
    version TEXT, host_identifier TEXT);
CREATE INDEX IF NOT EXISTS status_host ON status_logs (host_uuid, id);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL,
    can_live INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS live_queries (
    id TEXT PRIMARY KEY, sql TEXT NOT NULL, created REAL NOT NULL, created_by TEXT);
CREATE TABLE IF NOT EXISTS live_targets (
    query_id TEXT NOT NULL, host_uuid TEXT NOT NULL, sent_at REAL, done_at REAL,
    status INTEGER, message TEXT, row_count INTEGER, rows TEXT,
    PRIMARY KEY (query_id, host_uuid));
CREATE INDEX IF NOT EXISTS live_pending ON live_targets (host_uuid, done_at);
"""

#: rows of one host's answer to a live query kept for the API (the store keeps them all)
LIVE_ROWS_KEPT = 10_000


class StateError(HindsightError):
    """The server's state file cannot be used."""


#: PRAGMA user_version of the state file: 1, node keys kept as their hash (0: as they were).
STATE_VERSION = 1


@dataclass(frozen=True)
class Node:
    """An enrolled host. `node_key` is the key itself right after enrollment (to send to the
    host once), and empty for a node found by its key."""

    host_uuid: str
    host_identifier: str
    node_key: str = ""


@dataclass(frozen=True)
class Token:
    name: str
    can_live: bool


TOKEN_ID_CHARS = 8  # a token's id: the start of its hash (never the token itself)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _upgrade(con: sqlite3.Connection) -> None:
    """A state file of version 0 keeps its nodes' keys as they were issued: hash them (the
    hosts keep their keys and go on sending with them)."""
    (version,) = con.execute("PRAGMA user_version").fetchone()
    columns = {row[1] for row in con.execute("PRAGMA table_info(nodes)")}
    if version >= 1 or "node_key" not in columns:
        return
    con.execute("PRAGMA secure_delete = ON")  # the keys' old text is overwritten, not freed
    with con:
        keys = [k for (k,) in con.execute("SELECT node_key FROM nodes")]
        con.execute("ALTER TABLE nodes RENAME COLUMN node_key TO key_hash")
        con.executemany(  # once per state file, a row per enrollment
            "UPDATE nodes SET key_hash = ? WHERE key_hash = ?", [(token_hash(k), k) for k in keys]
        )
    con.execute("VACUUM")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class State:
    """Thread-safe access to state.sqlite (one connection, one lock: every call is short)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = sqlite3.connect(path, check_same_thread=False, timeout=10)
            self.con.execute("PRAGMA journal_mode=WAL")
            self.con.execute("PRAGMA synchronous=FULL")
            _upgrade(self.con)
            self.con.executescript(SCHEMA)
            self.con.execute(f"PRAGMA user_version = {STATE_VERSION}")
        except sqlite3.Error as exc:
            raise StateError(f"cannot open the server state {path}: {exc}") from exc
        self._lock = threading.Lock()
        self._nodes: dict[str, Node] = {}
        self._pending: dict[tuple[str, str], tuple[float, int, str | None]] = {}
        self._load_nodes()

    def close(self) -> None:
        self.flush_checkins()
        with self._lock:
            self.con.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self.con:
            yield self.con

    # -- nodes -------------------------------------------------------------------------------
    def _load_nodes(self) -> None:
        rows = self.con.execute(
            "SELECT key_hash, host_uuid, host_identifier FROM nodes WHERE active = 1"
        ).fetchall()
        self._nodes = {r[0]: Node(r[1], r[2]) for r in rows}
        self._by_host = {n.host_uuid: k for k, n in self._nodes.items()}

    def node(self, node_key: str) -> Node | None:
        return self._nodes.get(token_hash(node_key))

    def enroll(
        self,
        host_uuid: str,
        host_identifier: str,
        platform_type: str | None,
        details: Any,
        address: str | None,
    ) -> Node:
        """A new node key for HOST_UUID; the host's earlier keys stop working."""
        node = Node(host_uuid, host_identifier, secrets.token_hex(24))
        key_hash = token_hash(node.node_key)
        with self._tx() as con:
            con.execute("UPDATE nodes SET active = 0 WHERE host_uuid = ?", [host_uuid])
            con.execute(
                "INSERT INTO nodes VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
                [
                    key_hash,
                    host_uuid,
                    host_identifier,
                    platform_type,
                    time.time(),
                    address,
                    orjson.dumps(details).decode(),
                ],
            )
        with self._lock:
            old = self._by_host.pop(host_uuid, None)
            if old is not None:
                self._nodes.pop(old, None)
            self._nodes[key_hash] = Node(host_uuid, host_identifier)
            self._by_host[host_uuid] = key_hash
        return node

    def enrolled_hosts(self) -> list[dict[str, Any]]:
        rows = self.con.execute(
            "SELECT host_uuid, arg_identifier, first_enrolled, last_enrolled, enrollments FROM ("
            " SELECT host_uuid, max(enrolled_at) AS last_enrolled, min(enrolled_at) AS first_enrolled,"
            " count(*) AS enrollments, (SELECT host_identifier FROM nodes m WHERE m.host_uuid = n.host_uuid"
            " ORDER BY enrolled_at DESC LIMIT 1) AS arg_identifier FROM nodes n GROUP BY host_uuid)"
        ).fetchall()
        return [
            {
                "host_uuid": r[0],
                "identifier": r[1],
                "first_enrolled": r[2],
                "last_enrolled": r[3],
                "enrollments": r[4],
            }
            for r in rows
        ]

    def host_uuids(self, names: Sequence[str], with_status: bool = False) -> list[str]:
        """The uuids of the hosts NAMES designate: each a host uuid (any case) or an identifier a
        host enrolled with (or, WITH_STATUS, logged status lines under). A name no host has is
        UnknownHost, with the closest known name."""
        sql = "SELECT DISTINCT host_uuid, host_identifier FROM nodes"
        if with_status:
            sql += " UNION SELECT DISTINCT host_uuid, host_identifier FROM status_logs"
        with self._lock:
            known = self.con.execute(sql).fetchall()
        found: list[str] = []
        for name in names:
            hits = {u for u, ident in known if u == name.lower() or ident == name}
            if not hits:
                raise UnknownHost(name, {u for u, _ in known} | {i for _, i in known if i})
            found.extend(sorted(hits - set(found)))
        return found

    # -- check-ins (kept in memory, written every second: a check-in is not an acknowledgement)
    def checkin(self, host_uuid: str, kind: str, address: str | None) -> None:
        key = (host_uuid, kind)
        with self._lock:
            _, count, _ = self._pending.get(key, (0.0, 0, None))
            self._pending[key] = (time.time(), count + 1, address)

    def flush_checkins(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            if not pending:
                return
            with self.con:
                self.con.executemany(
                    "INSERT INTO checkins VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                    "last = max(last, excluded.last), count = count + excluded.count, "
                    "address = coalesce(excluded.address, address)",
                    [(h, k, t, c, a) for (h, k), (t, c, a) in pending.items()],
                )

    def checkins(self) -> dict[str, dict[str, Any]]:
        """Per host: last check-in of each kind, and the latest of all."""
        self.flush_checkins()
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            rows = self.con.execute("SELECT host_uuid, kind, last, count, address FROM checkins")
            for host, kind, last, count, address in rows:
                entry = out.setdefault(host, {"last_seen": 0.0, "requests": 0, "address": None})
                entry[f"last_{kind}"] = last
                entry["requests"] += count
                if last >= entry["last_seen"]:
                    entry["last_seen"] = last
                    entry["address"] = address
        return out

    # -- status logs (bounded) ---------------------------------------------------------------
    def add_status(self, host_uuid: str, lines: Sequence[dict[str, Any]], keep: int) -> None:
        now = time.time()
        rows = [
            (
                host_uuid,
                now,
                _int_or_none(s.get("unixTime")),
                _int_or_none(s.get("severity")),
                _text(s.get("filename")),
                _int_or_none(s.get("line")),
                _text(s.get("message")),
                _text(s.get("version")),
                _text(s.get("hostIdentifier")),
            )
            for s in lines
        ]
        with self._tx() as con:
            con.executemany(
                "INSERT INTO status_logs (host_uuid, received, unix_time, severity, filename, "
                "line, message, version, host_identifier) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            last = con.execute("SELECT max(id) FROM status_logs").fetchone()[0] or 0
            if last > keep:
                con.execute("DELETE FROM status_logs WHERE id <= ?", [last - keep])

    def status_logs(
        self,
        host_uuids: Sequence[str] | None,
        contains: str | None,
        min_severity: int | None,
        limit: int,
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        where: list[str] = ["1=1"]
        args: list[Any] = []
        if host_uuids:
            where.append(f"host_uuid IN ({','.join('?' * len(host_uuids))})")
            args.extend(host_uuids)
        if contains:
            where.append("instr(lower(message), lower(?)) > 0")
            args.append(contains)
        if min_severity is not None:
            where.append("severity >= ?")
            args.append(min_severity)
        sql = (
            "SELECT host_uuid, host_identifier, unix_time, severity, filename, line, message, "
            f"version, received FROM status_logs WHERE {' AND '.join(where)} "
            "ORDER BY id DESC LIMIT ?"
        )
        with self._lock:
            cur = self.con.execute(sql, [*args, limit])
            columns = [d[0] for d in cur.description]
            return columns, cur.fetchall()

    # -- tokens ------------------------------------------------------------------------------
    def create_token(self, name: str, can_live: bool = False) -> str:
        token = "hs_" + secrets.token_urlsafe(32)
        with self._tx() as con:
            con.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?)",
                [token_hash(token), name, time.time(), int(can_live)],
            )
        return token

    def token(self, token: str) -> Token | None:
        with self._lock:
            row = self.con.execute(
                "SELECT name, can_live FROM tokens WHERE hash = ?", [token_hash(token)]
            ).fetchone()
        return Token(row[0], bool(row[1])) if row else None

    def tokens(self) -> list[dict[str, object]]:
        """Every token: `id` (the start of its hash, to revoke it by), name, created, can_live."""
        with self._lock:
            rows = self.con.execute(
                "SELECT hash, name, created, can_live FROM tokens ORDER BY created"
            ).fetchall()
        return [
            {"id": h[:TOKEN_ID_CHARS], "name": name, "created": created, "can_live": bool(live)}
            for h, name, created, live in rows
        ]

    def revoke_tokens(self, which: str) -> int:
        """Delete the tokens whose id (a prefix of the hash, >= 8 chars) or name is `which`;
        the server refuses them from its next request. Returns how many were revoked."""
        by_id = len(which) >= TOKEN_ID_CHARS and all(c in "0123456789abcdef" for c in which)
        with self._tx() as con:
            cur = con.execute(
                "DELETE FROM tokens WHERE name = ? OR (? AND substr(hash, 1, ?) = ?)",
                [which, by_id, len(which), which],
            )
            return int(cur.rowcount)

    # -- live queries ------------------------------------------------------------------------
    def create_live(self, sql: str, hosts: Sequence[str], created_by: str) -> str:
        query_id = secrets.token_hex(8)
        with self._tx() as con:
            con.execute(
                "INSERT INTO live_queries VALUES (?, ?, ?, ?)",
                [query_id, sql, time.time(), created_by],
            )
            con.executemany(
                "INSERT INTO live_targets (query_id, host_uuid) VALUES (?, ?)",
                [(query_id, h) for h in hosts],
            )
        return query_id

    def live_for(self, host_uuid: str, resend_after_s: float = 300.0) -> dict[str, str]:
        """Live queries for a host to run now (never sent, or sent long ago without answer)."""
        now = time.time()
        with self._tx() as con:
            rows = con.execute(
                "SELECT t.query_id, q.sql FROM live_targets t JOIN live_queries q "
                "ON q.id = t.query_id WHERE t.host_uuid = ? AND t.done_at IS NULL "
                "AND (t.sent_at IS NULL OR t.sent_at < ?)",
                [host_uuid, now - resend_after_s],
            ).fetchall()
            con.executemany(
                "UPDATE live_targets SET sent_at = ? WHERE query_id = ? AND host_uuid = ?",
                [(now, q, host_uuid) for q, _ in rows],
            )
        return dict(rows)

    def live_answer(
        self,
        host_uuid: str,
        query_id: str,
        rows: list[dict[str, str]],
        status: int,
        message: str | None,
    ) -> int | None:
        """Record a host's answer; the second it is recorded at (the store's snapshot of it),
        None when the query was not asked of this host, or when the host already answered it
        within this second.

        A host's latest answer replaces its earlier one, here and in the store (the answer is
        recorded there as a snapshot of `live_<id>` at the second it arrived). Two answers
        within one second would be one snapshot execution to the store, their rows added
        together, so the second is not taken: the first stays, in both places."""
        now = time.time()
        with self._tx() as con:
            cur = con.execute(
                "UPDATE live_targets SET done_at = ?, status = ?, message = ?, row_count = ?, "
                "rows = ? WHERE query_id = ? AND host_uuid = ? "
                "AND (done_at IS NULL OR CAST(done_at AS INTEGER) < ?)",
                [
                    now,
                    status,
                    message,
                    len(rows),
                    orjson.dumps(rows[:LIVE_ROWS_KEPT]).decode(),
                    query_id,
                    host_uuid,
                    int(now),
                ],
            )
            return int(now) if cur.rowcount > 0 else None

    def live(self, query_id: str) -> dict[str, Any] | None:
        with self._lock:
            q = self.con.execute(
                "SELECT id, sql, created FROM live_queries WHERE id = ?", [query_id]
            ).fetchone()
            if q is None:
                return None
            targets = self.con.execute(
                "SELECT host_uuid, sent_at, done_at, status, message, row_count, rows "
                "FROM live_targets WHERE query_id = ? ORDER BY host_uuid",
                [query_id],
            ).fetchall()
        return {
            "id": q[0],
            "sql": q[1],
            "created": q[2],
            "hosts": [
                {
                    "host_uuid": t[0],
                    "sent_at": t[1],
                    "done_at": t[2],
                    "status": t[3],
                    "message": t[4],
                    "row_count": t[5],
                    "rows": orjson.loads(t[6]) if t[6] else None,
                }
                for t in targets
            ],
        }


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
