"""The store's listings: every query counts the hosts that reported it, hosts in a total order."""

from __future__ import annotations

import json
from pathlib import Path

import hindsight


def _line(name: str, host: str, uuid: str, t: int, row: dict[str, str]) -> str:
    return json.dumps({"name": name, "hostIdentifier": host, "unixTime": t, "epoch": 1, "counter": 0,
                       "numerics": False, "decorations": {"host_uuid": uuid},
                       "diffResults": {"added": [row], "removed": []}})


def test_event_queries_count_their_hosts(hs: hindsight.Hindsight, tmp_path: Path) -> None:
    """Streams hold state queries only: an event query's hosts are counted from its raw lines."""
    lines = [
        _line("process_events", "web", "u-2", 100, {"pid": "1", "path": "/bin/sh", "time": "99"}),
        _line("process_events", "web", "u-1", 160, {"pid": "2", "path": "/bin/ls", "time": "150"}),
        _line("users", "web", "u-1", 120, {"uid": "0", "username": "root"}),
    ]
    (tmp_path / "a.log").write_text("\n".join(lines) + "\n")
    hs.ingest([tmp_path / "a.log"])
    got = {q["query"]: (q["kind"], q["hosts"], int(q["first_seen"].timestamp()), int(q["last_seen"].timestamp()))
           for q in hs.queries().dicts()}
    assert got == {"process_events": ("event", 2, 100, 160), "users": ("state", 1, 120, 120)}, got
    # two hosts reporting one name: listed by host, then host_key
    assert [(h["host"], h["host_key"]) for h in hs.hosts().dicts()] == [("web", "u-1"), ("web", "u-2")]


def test_a_host_is_named_by_its_last_identifier_ties_broken(hs: hindsight.Hindsight, tmp_path: Path) -> None:
    """Two names reported in one second: the greatest, whatever order the lines came in. (The
    lines differ: a batch line the same but for its name would be a copy of the other.)"""
    row = {"uid": "0", "username": "root"}
    for order in (("beta", "alpha"), ("alpha", "beta")):
        name = "-".join(order)
        lines = [_line("users", "old", name, 100, row)] + [
            _line("users", n, name, 200, {"uid": "0", "username": n}) for n in order]
        (tmp_path / f"{name}.log").write_text("\n".join(lines) + "\n")
        hs.ingest([tmp_path / f"{name}.log"])
    got = [(h["host"], h["host_key"], h["identifiers"]) for h in hs.hosts().dicts()]
    assert got == [("beta", "alpha-beta", "alpha, beta, old"), ("beta", "beta-alpha", "alpha, beta, old")]


def test_a_host_key_two_machines_share_is_a_signal_a_rename_is_not(
    hs: hindsight.Hindsight, tmp_path: Path
) -> None:
    """Cloned VMs keep their image's hardware uuid: one host in the store, two hostnames
    reported in spans of time that overlap. A rename ends one name before the next begins."""
    from tests.helpers import snapshot, write

    lines = [
        snapshot("pack_ir_users", t, [{"uid": "0", "username": "root"}], host=name, uuid=uuid)
        for t, name, uuid in [(100, "vm-a", "CLONE"), (160, "vm-b", "CLONE"), (220, "vm-a", "CLONE"),
                              (100, "old-name", "R"), (200, "new-name", "R"), (300, "new-name", "R")]
    ]  # fmt: skip
    hs.ingest([write(tmp_path / "a.log", *lines)])
    signals = [(d["host_key"], d["query"], d["at"].timestamp(), d["kind"]) for d in hs.quality().dicts()]
    assert signals == [("clone", None, 160, "identity_shared")]
    assert "reported as vm-a and as vm-b in overlapping spans" in hs.quality().dicts()[0]["detail"]
