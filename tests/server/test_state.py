"""The server's state file keeps no secret: node keys as their hash, and a state file written
before (keys as issued) is upgraded in place, its hosts' keys still accepted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hindsight.server.state import STATE_VERSION, State

OLD_NODES = """
CREATE TABLE nodes (
    node_key TEXT PRIMARY KEY, host_uuid TEXT NOT NULL, host_identifier TEXT NOT NULL,
    platform_type TEXT, enrolled_at REAL NOT NULL, address TEXT, details TEXT,
    active INTEGER NOT NULL DEFAULT 1);
"""


def _file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_a_node_key_is_accepted_and_never_stored(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    state = State(path)
    node = state.enroll("uuid-1", "web-1", "9", {}, None)
    assert len(node.node_key) == 48
    found = state.node(node.node_key)
    assert found is not None and (found.host_uuid, found.host_identifier) == ("uuid-1", "web-1")
    assert found.node_key == ""  # a node found by its key does not carry it
    assert state.node("0" * 48) is None
    again = state.enroll("uuid-1", "web-1", "9", {}, None)  # the earlier key stops working
    assert state.node(node.node_key) is None and state.node(again.node_key) is not None
    state.close()
    reopened = State(path)
    assert reopened.node(again.node_key) is not None
    reopened.close()
    stored = _file_bytes(path)
    assert node.node_key.encode() not in stored and again.node_key.encode() not in stored


def test_an_old_state_file_is_upgraded_and_its_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    con = sqlite3.connect(path)
    con.executescript(OLD_NODES)
    keys = {"a" * 48: ("uuid-a", 1), "b" * 48: ("uuid-b", 1), "c" * 48: ("uuid-a", 0)}
    con.executemany(
        "INSERT INTO nodes VALUES (?, ?, 'h', NULL, 0, NULL, '{}', ?)",
        [(k, u, active) for k, (u, active) in keys.items()],
    )
    con.commit()
    con.close()
    state = State(path)
    for key, (uuid, active) in keys.items():
        node = state.node(key)
        assert (node.host_uuid if node else None) == (uuid if active else None)
    state.close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == STATE_VERSION
    assert con.execute("SELECT count(*) FROM nodes").fetchone()[0] == 3
    con.close()
    assert not any(key.encode() in _file_bytes(path) for key in keys)
    State(path).close()  # opening an upgraded file again changes nothing
