"""Fleet simulator: determinism, line format conformance, logs-vs-truth replay, behaviours."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest

from hindsight.sim import SimConfig, iter_truth, read_truth_file, simulate
from hindsight.sim.fleet import make_profile
from hindsight.sim.network import site_plan
from hindsight.sim.osquery import multiset_diff
from hindsight.sim.readback import LogLine, iter_all_lines, iter_host_lines, iter_late
from hindsight.sim.schema import INT_TYPES, column_type
from hindsight.sim.serialize import calendar_time
from hindsight.sim.tables import QUERIES, columns
from hindsight.sim.world import World

META = ["name", "hostIdentifier", "calendarTime", "unixTime", "epoch", "counter", "numerics",
        "decorations"]
EVENT_KEYS = [*META, "columns", "action"]
BATCH_KEYS = ["diffResults", *META]
SNAP_KEYS = ["snapshot", "action", *META]
CAL_RE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|"
                    r"Nov|Dec) [ 123]\d \d\d:\d\d:\d\d \d{4} UTC$")
SPECS = {q.name: q for q in QUERIES}
Rows = list[dict[str, str]]


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The acceptance fleet: 20 hosts, 1 day, default seed."""
    out = tmp_path_factory.mktemp("fleet20")
    summary = simulate(SimConfig(hosts=20, days=1, out=out))
    assert summary.hosts == 20 and summary.rows > 0 and summary.lines > 0
    return out, json.loads((out / "manifest.json").read_bytes())


@pytest.fixture(scope="session")
def lines(fleet: tuple[Path, dict[str, Any]]) -> dict[str, list[LogLine]]:
    out, man = fleet
    return {h["uuid"]: list(iter_all_lines(out, h["uuid"])) for h in man["hosts"]}


@pytest.fixture(scope="session")
def truth(fleet: tuple[Path, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out, man = fleet
    return {h["uuid"]: list(read_truth_file(out / "truth" / f"{h['uuid']}.jsonl.zst"))
            for h in man["hosts"]}


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _norm(row: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else str(v) for k, v in row.items()}


def _key(row: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(row.items()))


# ----------------------------------------------------------------------------- unit level

def test_calendar_time_layout() -> None:
    assert calendar_time(1515423115) == "Mon Jan  8 14:51:55 2018 UTC"
    assert calendar_time(1718291483) == "Thu Jun 13 15:11:23 2024 UTC"
    for t in range(1_700_000_000, 1_700_000_000 + 40 * 86400, 86400 + 3601):
        g = time.gmtime(t)
        exp = (time.strftime("%a %b ", g) + f"{g.tm_mday:2d}" + time.strftime(" %H:%M:%S %Y", g)
               + " UTC")
        assert calendar_time(t) == exp


def test_multiset_diff_is_osquery_diff() -> None:
    mask = (True, False)
    old: list[tuple[str, ...]] = [("2", "b"), ("10", "a"), ("2", "b"), ("", "z")]
    new: list[tuple[str, ...]] = [("2", "b"), ("3", "c"), ("3", "c")]
    added, removed = multiset_diff(old, new, mask)
    assert added == [("3", "c"), ("3", "c")]  # duplicates count separately
    # leftovers in std::multiset<RowTyped> order: ints (by value) before strings ("" is a string)
    assert removed == [("2", "b"), ("10", "a"), ("", "z")]
    assert multiset_diff(new, list(reversed(new)), mask) == ([], [])


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_templated_process_event_rows_equal_reference(platform: str) -> None:
    cfg = SimConfig(hosts=20, days=1)
    prof = next(p for i in range(20) if (p := make_profile(cfg, i)).platform == platform
                and p.numerics)
    w = World(cfg, prof, site_plan(cfg, prof.block))
    w.boot(cfg.start - 3600)
    for cmd, cwd in (('sh -c "echo 50%" \\ x', "/home/zoë"), ("ls", "/"), ("%d %s", "/tmp")):
        args = (cfg.start + 5, 4242, 1, "/usr/bin/weird%path", cmd, cwd, 1000, 1000, 1001)
        w.exec_row(*args)
        strs, typed = w.take_events("process_events")[0]
        ref = w.exec_dict(*args)
        assert strs == orjson.dumps(ref, option=orjson.OPT_SORT_KEYS)
        mask = {c: column_type("process_events", c) in INT_TYPES for c in ref}
        assert typed == orjson.dumps({k: int(v) if v and mask[k] else v for k, v in ref.items()},
                                     option=orjson.OPT_SORT_KEYS)
        assert set(ref) == set(columns("process_events", platform))


def test_determinism(tmp_path: Path) -> None:
    cfg = dict(hosts=6, days=0.4, seed=42, rotate_size=64 << 10)
    a = simulate(SimConfig(out=tmp_path / "a", **cfg))  # type: ignore[arg-type]
    b = simulate(SimConfig(out=tmp_path / "b", workers=2, **cfg))  # type: ignore[arg-type]
    assert (a.lines, a.rows, a.files) == (b.lines, b.rows, b.files)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    c = simulate(SimConfig(out=tmp_path / "c", **{**cfg, "seed": 43}))  # type: ignore[arg-type]
    assert _digest(tmp_path / "c") != _digest(tmp_path / "a")
    assert c.hosts == 6


def test_progress_callback_and_summary(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    s = simulate(SimConfig(hosts=3, days=0.1, out=tmp_path), on_host_done=lambda i, n: seen.append(
        (i, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert s.files >= 3 * 3 + 1 and s.seconds > 0


def test_rotation_names_and_order(tmp_path: Path) -> None:
    simulate(SimConfig(hosts=2, days=0.5, out=tmp_path, rotate_size=32 << 10))
    for host in (tmp_path / "hosts").iterdir():
        names = {p.name for p in host.iterdir()}
        res = sorted(n for n in names if n.startswith("osqueryd.results.log"))
        if "osqueryd.results.log.1.gz" in names:
            continue  # logrotate host
        assert "osqueryd.results.log.1" in res and "osqueryd.results.log.2.zst" in res
        assert not any(".seg" in n for n in names)
        times = [ln.obj["unixTime"] for ln in iter_host_lines(host)
                 if ln.source.startswith("osqueryd.results")]
        assert times == sorted(times)  # oldest generation first, no line split or lost
        for p in host.iterdir():
            if p.name.startswith("osqueryd.results.log") and not p.name.endswith("log"):
                assert p.stat().st_size > 0


# ----------------------------------------------------------------------------- format

def _check_row(table: str, row: dict[str, Any], numerics: bool, where: str) -> None:
    assert list(row) == sorted(row), where
    for k, v in row.items():
        if numerics and column_type(table, k) in INT_TYPES:
            assert isinstance(v, int) or v == "", (where, k, v)
        else:
            assert isinstance(v, str), (where, k, v)


def test_every_line_conforms(fleet: tuple[Path, dict[str, Any]],
                             lines: dict[str, list[LogLine]]) -> None:
    _, man = fleet
    kinds: Counter[str] = Counter()
    for h in man["hosts"]:
        for ln in lines[h["uuid"]]:
            o, where = ln.obj, f"{h['uuid']} {ln.source} {ln.raw[:120]!r}"
            spec = SPECS[o["name"]]
            assert isinstance(o["unixTime"], int) and isinstance(o["epoch"], int)
            assert isinstance(o["counter"], int) and o["numerics"] is h["numerics"]
            assert CAL_RE.match(o["calendarTime"]) and o["calendarTime"] == calendar_time(
                o["unixTime"]), where
            assert list(o["decorations"]) == ["host_uuid", "hostname"]
            assert o["decorations"]["host_uuid"] == h["uuid"]
            assert o["decorations"]["hostname"] == o["hostIdentifier"]
            if "diffResults" in o:
                kinds["batch"] += 1
                assert list(o) == BATCH_KEYS and list(o["diffResults"]) == ["removed", "added"]
                assert not spec.snapshot and not h["event_format"]
                rows = o["diffResults"]["removed"] + o["diffResults"]["added"]
            elif "snapshot" in o:
                kinds["snapshot"] += 1
                assert list(o) == SNAP_KEYS and o["action"] == "snapshot" and o["counter"] == 0
                assert spec.snapshot and not h["snapshot_event_format"]
                assert ln.source.startswith(("osqueryd.snapshots", "1"))
                rows = o["snapshot"]
            else:
                assert list(o) == EVENT_KEYS, where
                kinds["event-" + o["action"]] += 1
                if o["action"] == "snapshot":
                    assert spec.snapshot and h["snapshot_event_format"] and o["counter"] == 0
                else:
                    assert o["action"] in ("added", "removed") and h["event_format"]
                rows = [o["columns"]]
            if spec.event:
                assert o["counter"] >= 1 and not o.get("diffResults", {}).get("removed")
            for r in rows:
                _check_row(spec.table, r, h["numerics"], where)
                assert set(r) == set(columns(spec.table, h["platform"])), where
    assert set(kinds) == {"batch", "snapshot", "event-added", "event-removed", "event-snapshot"}


def test_numerics_off_all_strings_on_typed(lines: dict[str, list[LogLine]],
                                           fleet: tuple[Path, dict[str, Any]]) -> None:
    _, man = fleet
    saw_int = saw_empty_numeric = False
    for h in man["hosts"]:
        for ln in lines[h["uuid"]]:
            cols = ln.obj.get("columns", {})
            vals = list(cols.values())
            if not h["numerics"]:
                assert all(isinstance(v, str) for v in vals)
            else:
                saw_int |= any(isinstance(v, int) for v in vals)
                spec = SPECS[ln.obj["name"]]
                saw_empty_numeric |= any(v == "" and column_type(spec.table, k) in INT_TYPES
                                         for k, v in cols.items())
    assert saw_int and saw_empty_numeric


# ----------------------------------------------------------------------------- replay

def _group(host_lines: list[LogLine]) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """name -> unixTime -> lines (deduplicated by content, as an ingester would)."""
    seen: set[bytes] = set()
    out: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for ln in host_lines:
        if ln.raw in seen:
            continue
        seen.add(ln.raw)
        out[ln.obj["name"]][ln.obj["unixTime"]].append(ln.obj)
    return out


def _diff_of(objs: list[dict[str, Any]]) -> tuple[int, int, Rows, Rows]:
    epochs = {o["epoch"] for o in objs}
    counters = {o["counter"] for o in objs}
    assert len(epochs) == 1 and len(counters) == 1
    removed: Rows = []
    added: Rows = []
    for o in objs:
        if "diffResults" in o:
            removed += [_norm(r) for r in o["diffResults"]["removed"]]
            added += [_norm(r) for r in o["diffResults"]["added"]]
        elif "snapshot" in o:
            added += [_norm(r) for r in o["snapshot"]]
        elif o["action"] == "removed":
            removed.append(_norm(o["columns"]))
        else:
            added.append(_norm(o["columns"]))
    return epochs.pop(), counters.pop(), removed, added


def _replay_differential(name: str, recs: list[dict[str, Any]],
                         logged: dict[int, list[dict[str, Any]]]) -> None:
    state: Counter[tuple[tuple[str, str], ...]] = Counter()
    used = set()
    prev_counter: int | None = None
    prev_epoch: int | None = None
    for rec in recs:
        t = rec["unixTime"]
        if t in logged:
            used.add(t)
            epoch, counter, removed, added = _diff_of(logged[t])
            assert (epoch, counter) == (rec["epoch"], rec["counter"]), (name, t)
            if counter == 0:
                assert not removed, (name, t)  # a reset never reports removed rows
                state = Counter(_key(r) for r in added)
            else:
                assert epoch == prev_epoch and counter == (prev_counter or 0) + 1, (name, t)
                for r in removed:
                    assert state[_key(r)] > 0, (name, t, r)
                    state[_key(r)] -= 1
                state += Counter(_key(r) for r in added)
                assert removed or added
            prev_counter, prev_epoch = counter, epoch
        else:
            assert rec["counter"] == prev_counter and rec["epoch"] == prev_epoch, (name, t)
        assert +state == Counter(_key(r) for r in rec["rows"]), (name, t)
    assert used == set(logged), name  # every logged execution is in the truth


def test_logs_replay_to_truth(fleet: tuple[Path, dict[str, Any]],
                              lines: dict[str, list[LogLine]],
                              truth: dict[str, list[dict[str, Any]]]) -> None:
    _, man = fleet
    checked: Counter[str] = Counter()
    for h in man["hosts"]:
        grouped = _group(lines[h["uuid"]])
        by_query: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for rec in truth[h["uuid"]]:
            by_query[rec["query"]].append(rec)
        assert set(grouped) <= set(by_query)
        for name, recs in by_query.items():
            spec, logged = SPECS[name], grouped.get(name, {})
            times = [r["unixTime"] for r in recs]
            assert times == sorted(set(times)), name
            if spec.event:
                assert [r["unixTime"] for r in recs] == sorted(logged)
                for rec in recs:
                    epoch, counter, removed, added = _diff_of(logged[rec["unixTime"]])
                    assert not removed and (epoch, counter) == (rec["epoch"], rec["counter"])
                    assert Counter(map(_key, added)) == Counter(map(_key, rec["rows"]))
                checked["event"] += len(recs)
            elif spec.snapshot:
                for rec in recs:
                    assert rec["counter"] == 0 and rec["rows"], name
                    _, _, _, added = _diff_of(logged[rec["unixTime"]])
                    assert Counter(map(_key, added)) == Counter(map(_key, rec["rows"]))
                assert len(recs) == len(logged)
                checked["snapshot"] += len(recs)
            else:
                _replay_differential(name, recs, logged)
                checked["differential"] += len(recs)
    assert min(checked.values()) > 100


def test_truth_records_every_execution(fleet: tuple[Path, dict[str, Any]],
                                       truth: dict[str, list[dict[str, Any]]]) -> None:
    out, man = fleet
    host = man["hosts"][0]
    recs = [r for r in truth[host["uuid"]] if r["query"] == "pack_net_interface_addresses"]
    gaps = [b["unixTime"] - a["unixTime"] for a, b in itertools.pairwise(recs)]
    assert recs and all(162 <= g <= 198 for g in gaps if g < 3600)  # 180 s +/- 10 % splay
    it = list(iter_truth(out))
    assert len(it) == sum(len(v) for v in truth.values())
    uuid, query, t, rows = it[0]
    assert isinstance(uuid, str) and isinstance(query, str) and isinstance(t, int)
    assert all(isinstance(v, str) for r in rows for v in r.values())


# ----------------------------------------------------------------------------- behaviours

def _host(man: dict[str, Any], uuid: str) -> dict[str, Any]:
    return next(h for h in man["hosts"] if h["uuid"] == uuid)


def _rows_at(recs: list[dict[str, Any]], query: str, t: int) -> Rows:
    last: Rows = []
    for r in recs:
        if r["query"] == query and r["unixTime"] <= t:
            last = r["rows"]
    return last


def test_fleet_mix(fleet: tuple[Path, dict[str, Any]]) -> None:
    _, man = fleet
    hosts = man["hosts"]
    assert {h["platform"] for h in hosts} == {"linux", "darwin", "windows"}
    assert {h["numerics"] for h in hosts} == {True, False}
    assert {h["event_format"] for h in hosts} == {True, False}
    assert any(h["snapshot_event_format"] for h in hosts)
    assert {h["rotation"] for h in hosts} == {"osquery-zstd", "logrotate-gz"}
    assert sum(1 for h in hosts if h["clock_offset"]) >= 2
    assert all(abs(h["clock_offset"]) <= 900 for h in hosts)
    names = {q["name"] for q in man["queries"]}
    assert any(n.startswith("pack_") for n in names) and "processes" in names
    assert {"ip_handover", "uid_reuse", "usb_drive", "rename", "epoch_change",
            "results_reset", "offline", "power_off"} <= {m["kind"] for m in man["moments"]}


def test_dhcp_ip_changes_hands(fleet: tuple[Path, dict[str, Any]],
                               truth: dict[str, list[dict[str, Any]]]) -> None:
    _, man = fleet
    moves = [m for m in man["moments"] if m["kind"] == "ip_handover"]
    assert moves
    m = moves[0]
    a_off = _host(man, m["from_host"])["clock_offset"]
    b_off = _host(man, m["to_host"])["clock_offset"]
    q = "pack_net_interface_addresses"
    assert m["ip"] in {r["address"] for r in _rows_at(truth[m["from_host"]], q,
                                                      m["ask_from_at"] + a_off)}
    assert m["ip"] in {r["address"] for r in _rows_at(truth[m["to_host"]], q,
                                                      m["ask_to_at"] + b_off)}
    ifaces = {r["interface"] for recs in truth.values() for r in _rows_at(recs, q, 1 << 40)}
    assert {"lo", "lo0", "docker0", "1"} <= ifaces
    vpn = {r["interface"] for recs in truth.values() for rec in recs if rec["query"] == q
           for r in rec["rows"]}
    assert {"tun0", "utun4"} & vpn
    details = [r for recs in truth.values() for rec in recs
               if rec["query"] == "pack_net_interface_details" for r in rec["rows"]]
    assert any(r.get("dhcp_lease_obtained") for r in details)  # windows DHCP columns


def test_uid_reused_and_process_events(fleet: tuple[Path, dict[str, Any]],
                                       truth: dict[str, list[dict[str, Any]]]) -> None:
    _, man = fleet
    m = next(m for m in man["moments"] if m["kind"] == "uid_reuse")
    off = _host(man, m["host"])["clock_offset"]
    recs = truth[m["host"]]
    uid = str(m["uid"])
    old = _rows_at(recs, "pack_ir_users", m["old_deleted_at"] - 600 + off)
    new = _rows_at(recs, "pack_ir_users", m["new_created_at"] + 900 + off)
    assert {"uid": uid, "username": m["old_user"]}.items() <= next(
        r for r in old if r["uid"] == uid).items()
    assert next(r for r in new if r["uid"] == uid)["username"] == m["new_user"]
    events = [r for rec in recs if rec["query"] == "process_events" for r in rec["rows"]]
    for key in ("old_process_event", "new_process_event"):
        pe = m[key]
        assert any(r["pid"] == str(pe["pid"]) and r["time"] == str(pe["time"])
                   and r["auid"] == uid for r in events)
    assert any(r["auid"] == uid and r["uid"] == "0" for r in events)  # sudo by that user


def test_usb_drives_mounts_and_file_events(fleet: tuple[Path, dict[str, Any]],
                                           truth: dict[str, list[dict[str, Any]]]) -> None:
    _, man = fleet
    drives = [m for m in man["moments"] if m["kind"] == "usb_drive"]
    assert {d["platform"] for d in drives} == {"linux", "darwin", "windows"}
    reused = [d for d in drives if d["path_reused_from_serial"]]
    assert any(d["platform"] != "windows" for d in reused)
    d = next(d for d in reused if d["platform"] == "linux")
    assert d["mount_path"].startswith("/media/") and d["path_reused_from_serial"] != d["serial"]
    recs = truth[d["host"]]
    off = _host(man, d["host"])["clock_offset"]
    assert d["mount_path"] in {r["path"] for r in _rows_at(recs, "pack_hw_mounts",
                                                           d["mounted_at"] + 600 + off)}
    assert d["mount_path"] not in {r["path"] for r in _rows_at(recs, "pack_hw_mounts",
                                                               d["removed_at"] + 600 + off)}
    assert d["serial"] in {r["serial"] for r in _rows_at(recs, "pack_hw_usb_devices",
                                                         d["mounted_at"] + 600 + off)}
    hw = [r for rec in recs if rec["query"] == "pack_hw_hardware_events" for r in rec["rows"]]
    assert {r["action"] for r in hw if r["serial"] == d["serial"]} == {"add", "remove"}
    fe = [r for rec in recs if rec["query"] == "pack_fim_file_events" for r in rec["rows"]]
    under = [r for r in fe if r["target_path"].startswith(d["mount_path"] + "/")]
    assert under and all(d["mounted_at"] + off <= int(r["time"]) <= d["unmounted_at"] + off
                         for r in under if r["time"] >= str(d["mounted_at"] + off))
    mac = next(x for x in drives if x["platform"] == "darwin")
    hw_mac = [r for rec in truth[mac["host"]] if rec["query"] == "pack_hw_hardware_events"
              for r in rec["rows"]]
    assert {r["action"] for r in hw_mac if r["serial"] == mac["serial"]} == {"attach", "detach"}
    win = next(x for x in drives if x["platform"] == "windows")
    win_recs = truth[win["host"]]
    assert not any(r["query"] in ("process_events", "pack_fim_file_events") for r in win_recs)
    assert any(r["device_id"] == "E:" for rec in win_recs
               if rec["query"] == "pack_hw_logical_drives" for r in rec["rows"])


def test_resets_epochs_renames(fleet: tuple[Path, dict[str, Any]],
                               lines: dict[str, list[LogLine]]) -> None:
    _, man = fleet
    reset = next(m for m in man["moments"] if m["kind"] == "results_reset")
    h = _host(man, reset["host"])
    after = [ln.obj for ln in lines[h["uuid"]]
             if ln.obj["unixTime"] >= reset["at"] + h["clock_offset"]
             and not SPECS[ln.obj["name"]].event and not SPECS[ln.obj["name"]].snapshot]
    assert after and min(o["counter"] for o in after) == 0  # everything starts over
    ep = next(m for m in man["moments"] if m["kind"] == "epoch_change")
    objs = [ln.obj for ln in lines[ep["host"]]]
    assert {o["epoch"] for o in objs} == {0, 1}
    first_new = {}
    for o in sorted(objs, key=lambda o: o["unixTime"]):
        if o["epoch"] == 1 and o["name"] not in first_new:
            first_new[o["name"]] = o
    assert all(o["counter"] == (1 if SPECS[n].event else 0) for n, o in first_new.items())
    rn = next(m for m in man["moments"] if m["kind"] == "rename")
    idents = {ln.obj["hostIdentifier"] for ln in lines[rn["host"]]}
    assert {rn["old"], rn["new"]} <= idents
    assert {ln.obj["decorations"]["host_uuid"] for ln in lines[rn["host"]]} == {rn["host"]}


def test_power_off_and_offline(fleet: tuple[Path, dict[str, Any]],
                               truth: dict[str, list[dict[str, Any]]]) -> None:
    out, man = fleet
    off = next(m for m in man["moments"] if m["kind"] == "power_off")
    ts = [r["unixTime"] for r in truth[off["host"]]]
    assert not [t for t in ts if off["from"] <= t < off["to"]]
    late = next(m for m in man["moments"] if m["kind"] == "offline")
    host = late["host"]
    bodies = list(iter_late(out, host))
    assert bodies
    file_raw = {ln.raw for ln in iter_host_lines(out / "hosts" / host)}
    late_raw = Counter(orjson.dumps(o) for _, b in bodies for o in b["data"])
    assert not file_raw & set(late_raw)  # delivered late only, never also in the files
    assert max(late_raw.values()) >= 2  # a retried batch: duplicates
    h = _host(man, host)
    for _, body in bodies:
        assert list(body) == ["node_key", "log_type", "data"]
        assert body["node_key"] == h["node_key"] and body["log_type"] == "result"
        assert 0 < len(body["data"]) <= 1024
        assert all(late["from"] + h["clock_offset"] <= o["unixTime"]
                   < late["to"] + h["clock_offset"] for o in body["data"])
    times = [o["unixTime"] for _, b in bodies for o in b["data"]]
    assert times != sorted(times) or len(bodies) > 1


def test_duplicates_in_files(fleet: tuple[Path, dict[str, Any]],
                             lines: dict[str, list[LogLine]]) -> None:
    _, man = fleet
    dups = 0
    for h in man["hosts"]:
        c = Counter(ln.raw for ln in lines[h["uuid"]] if not ln.source.endswith(".json"))
        dups += sum(n - 1 for n in c.values())
    assert dups > 0


def test_event_format_resets_never_empty(fleet: tuple[Path, dict[str, Any]],
                                         truth: dict[str, list[dict[str, Any]]]) -> None:
    _, man = fleet
    for h in man["hosts"]:
        for rec in truth[h["uuid"]]:
            spec = SPECS[rec["query"]]
            if not spec.event and (rec["counter"] == 0 or spec.snapshot):
                assert rec["rows"], (h["uuid"], rec["query"])
            if not spec.event and h["event_format"]:
                keys = [_key(r) for r in rec["rows"]]
                assert len(keys) == len(set(keys)), rec["query"]
