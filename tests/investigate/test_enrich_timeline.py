"""enrich, timelines and diff against the simulator's truth; the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

import hindsight
from hindsight.cli import main
from hindsight.errors import InputError
from hindsight.investigate import Enrichment
from hindsight.investigate.enrich import parse_enrichments
from tests.investigate.conftest import Truth


def test_enrich_names_each_process_user_as_of_its_time(store: hindsight.Hindsight, truth: Truth) -> None:
    rows = store.investigate.enrich("process_events").dicts()
    assert len(rows) > 1000
    named = agreed = 0
    for r in rows:
        if r["user_username"] is None:
            continue
        named += 1
        users = truth.state(r["host_key"], "users", r["time"]) or []
        names = {u["username"] for u in users if u["uid"] == str(r["uid"])}
        agreed += r["user_username"] in names
    assert named > 0.8 * len(rows) and agreed == named


def test_enrich_across_uid_reuse(store: hindsight.Hindsight, truth: Truth) -> None:
    for m in truth.moments("uid_reuse"):
        rows = store.investigate.enrich("process_events", host=m["host"]).dicts()
        for ev, user in ((m["old_process_event"], m["old_user"]), (m["new_process_event"], m["new_user"])):
            found = [r for r in rows if r["time"] == ev["time"] and r["pid"] == ev["pid"]]
            assert found and found[0]["user_username"] == user and found[0]["auid_user_username"] == user


def test_an_enrichment_declared_as_data(store: hindsight.Hindsight, truth: Truth) -> None:
    parent = Enrichment("parent", "process_events", "parent", "processes", "pid", ("name", "cmdline"))
    rows = store.investigate.enrich("process_events", enrichments=[parent]).dicts()
    named = [r for r in rows if r["parent_name"] is not None]
    assert len(named) > 0.3 * len(rows) and "user_username" not in rows[0]
    for r in named[:200]:
        procs = truth.state(r["host_key"], "processes", r["time"]) or []
        assert (r["parent_name"], r["parent_cmdline"]) in {
            (p["name"], p["cmdline"]) for p in procs if p["pid"] == str(r["parent"])
        }


def test_enrich_file_events_with_mount_and_usb_drive(store: hindsight.Hindsight, truth: Truth) -> None:
    rows = store.investigate.enrich("file_events", since=truth.manifest["start"]).dicts()
    on_usb = [r for r in rows if r["usb_serial"]]
    assert on_usb
    drives = {(m["host"].lower(), m["mount_path"]): m for m in truth.moments("usb_drive")}
    for r in on_usb:
        assert r["target_path"].startswith(r["mount_path"] + "/")
        m = drives.get((r["host_key"], r["mount_path"]))
        if m and m["mounted_at"] <= r["time"] - truth.offset(r["host_key"]) <= m["unmounted_at"]:
            assert r["usb_serial"] == m["serial"]
    system = [r for r in rows if r["mount_path"] == "/"]
    assert system and all(r["usb_serial"] is None for r in system)
    wrong = 0
    for r in rows:  # a file written on the drive before its mount was observed is flagged
        m = drives.get((r["host_key"], r["target_path"].rsplit("/", 1)[0]))
        if m and m["mounted_at"] <= r["time"] - truth.offset(r["host_key"]) < m["unmounted_at"] and r["mount_path"] != m["mount_path"]:
            assert r["mount_settled"] is False, r
            wrong += 1
    assert wrong and sum(r["mount_settled"] is True for r in rows) > len(rows) / 2


def test_enrich_hardware_events_with_the_mount_that_followed(store: hindsight.Hindsight, truth: Truth) -> None:
    rows = store.investigate.enrich("hardware_events").dicts()
    disks = [r for r in rows if r["type"] == "disk" and r["action"] == "add"]
    assert disks and any(r["mount_path"] for r in disks)
    paths = {m["mount_path"] for m in truth.moments("usb_drive")}
    assert all(r["mount_path"] in paths for r in disks if r["mount_path"])


def test_enrich_user_events_names_uid_and_auid_as_of_their_time(store: hindsight.Hindsight, truth: Truth) -> None:
    rows = store.investigate.enrich("user_events").dicts()
    logged = [e for (_, table), events in truth.events.items() if table == "user_events" for e in events]
    assert len(rows) == len(logged) > 50
    assert {r["type"] for r in rows} == {1112, 1123}  # sshd logins and sudo commands
    for r in rows:
        users = truth.state(r["host_key"], "users", r["time"]) or []
        for column, name in (("uid", "user_username"), ("auid", "auid_user_username")):
            holders = [u["username"] for u in users if u["uid"] == str(r[column])]
            assert r[name] == (holders[0] if holders else None), (column, r)


def test_enrich_user_events_across_uid_reuse(store: hindsight.Hindsight, truth: Truth) -> None:
    linux = {h["uuid"].lower() for h in truth.manifest["hosts"] if h["platform"] == "linux"}
    moments = [m for m in truth.moments("uid_reuse") if m["host"].lower() in linux]
    assert moments
    for m in moments:
        rows = store.investigate.enrich("user_events", host=m["host"]).dicts()
        logins = [r for r in rows if r["type"] == 1112 and r["auid"] == m["uid"]]
        assert [r["auid_user_username"] for r in logins] == [m["old_user"], m["new_user"]]


def test_enrich_socket_events_finds_the_fleet_host_behind_the_peer(store: hindsight.Hindsight, truth: Truth) -> None:
    rows = store.investigate.enrich("socket_events").dicts()
    logged = [e for (_, table), events in truth.events.items() if table == "socket_events" for e in events]
    assert len(rows) == len(logged) > 5
    names = {  # a host identifies itself by hostname or by uuid (osquery's --host_identifier)
        h["uuid"].lower(): {n["hostname"] for n in h["hostnames"]} | {h["uuid"].lower()}
        for h in truth.manifest["hosts"]
    }
    hosts = [h for (h, table) in truth.runs if table == "interface_addresses"]
    found = 0
    for r in rows:
        owners = [h for h in hosts if any(a["address"] == r["remote_address"]
                                          for a in truth.state(h, "interface_addresses", r["time"]) or [])]
        if not owners:
            assert r["remote_host"] is None, r
        elif len(owners) == 1:
            assert r["remote_host"].lower() in names[owners[0]], r
            found += 1
    assert found > 0  # some sshd clients were laptops of the fleet, on the office DHCP network


def test_socket_events_find_the_fleet_host_behind_a_remote_address(tmp_path: Path) -> None:
    def line(name: str, host: str, t: int, columns: dict[str, str], action: str = "added") -> bytes:
        return orjson.dumps({"name": name, "hostIdentifier": host, "unixTime": t, "epoch": 0,
                             "counter": 0 if t < 400 else 1, "action": action, "columns": columns})

    log = tmp_path / "osqueryd.results.log"
    log.write_bytes(b"\n".join([
        line("interface_addresses", "web-1", 100, {"interface": "eth0", "address": "10.0.0.5"}),
        line("interface_addresses", "web-1", 400, {"interface": "eth0", "address": "10.0.0.5"}, "removed"),
        line("interface_addresses", "web-2", 500, {"interface": "eth0", "address": "10.0.0.5"}),
        line("socket_events", "db-1", 300, {"remote_address": "10.0.0.5", "time": "300", "pid": "7"}),
        line("socket_events", "db-1", 700, {"remote_address": "10.0.0.5", "time": "700", "pid": "8"}),
        line("socket_events", "db-1", 710, {"remote_address": "8.8.8.8", "time": "710", "pid": "9"}),
    ]) + b"\n")
    custom = Enrichment("peer", "socket_events", "remote_address", "interface_addresses", "address",
                        ("host", "interface"), fleet=True)
    with hindsight.open(tmp_path / "data") as hs:
        hs.ingest([log])
        rows = hs.investigate.enrich("socket_events").dicts()
        assert [r["remote_host"] for r in rows] == ["web-1", "web-2", None]
        peers = hs.investigate.enrich("socket_events", enrichments=[custom]).dicts()
        assert [r["peer_interface"] for r in peers] == ["eth0", "eth0", None]


def test_user_events_name_uid_and_auid(tmp_path: Path) -> None:
    def line(name: str, t: int, counter: int, columns: dict[str, str], action: str) -> bytes:
        return orjson.dumps({"name": name, "hostIdentifier": "bastion", "unixTime": t, "epoch": 0,
                             "counter": counter, "action": action, "columns": columns})

    alice = {"uid": "1001", "username": "alice", "gid": "1001", "directory": "/home/alice"}
    bob = {"uid": "1001", "username": "bob", "gid": "1001", "directory": "/home/bob"}
    root = {"uid": "0", "username": "root", "gid": "0", "directory": "/root"}
    log = tmp_path / "osqueryd.results.log"
    log.write_bytes(b"\n".join([
        line("users", 100, 0, root, "added"),
        line("users", 100, 0, alice, "added"),
        line("users", 400, 1, alice, "removed"),
        line("users", 500, 2, bob, "added"),
        line("user_events", 300, 0, {"uid": "1001", "auid": "0", "time": "300", "message": "login"}, "added"),
        line("user_events", 600, 1, {"uid": "1001", "auid": "1001", "time": "600", "message": "sudo"}, "added"),
    ]) + b"\n")
    with hindsight.open(tmp_path / "data") as hs:
        hs.ingest([log])
        rows = hs.investigate.enrich("user_events").dicts()
    assert [(r["user_username"], r["auid_user_username"]) for r in rows] == [("alice", "root"), ("bob", "bob")]
    assert [r["user_since"] for r in rows] == [100, 500]


def test_timeline_ip_shows_the_handover_and_the_gaps(store: hindsight.Hindsight, truth: Truth) -> None:
    m = truth.moments("ip_handover")[0]
    start, end = truth.manifest["start"], truth.manifest["end"]
    rows = store.investigate.timeline_ip(m["ip"], start - 3600, end + 3600).dicts()
    owners = [r["host_key"] for r in rows if r["what"] == "address"]
    assert owners.index(m["from_host"].lower()) < len(owners) - 1 - owners[::-1].index(m["to_host"].lower())
    assert rows[0]["what"] == "gap" and any(r["what"] == "gap" for r in rows[1:])
    starts = [r["valid_from"] for r in rows]
    assert starts == sorted(starts)


def test_timeline_user_and_host(store: hindsight.Hindsight, truth: Truth) -> None:
    m = truth.moments("uid_reuse")[0]
    rows = store.investigate.timeline_user(m["old_user"]).dicts()
    assert m["host"] in {r["host_key"] for r in rows if r["what"] == "account"}
    power = truth.moments("power_off")[0]
    host = store.investigate.timeline_host(power["host"], "users").dicts()
    silent = [r for r in host if r["what"] == "silent"]
    off = (power["from"] + truth.offset(power["host"].lower()), power["to"] + truth.offset(power["host"].lower()))
    assert any(s["valid_from"].timestamp() <= off[0] + 900 and s["valid_to"].timestamp() >= off[1] - 900 for s in silent)
    assert any(r["what"] == "row" for r in host)
    # differential queries log nothing when nothing changed: a quiet span is not a silence
    assert all(s["valid_to"].timestamp() > off[0] and s["valid_from"].timestamp() < off[1] for s in silent)
    assert "logs every run" in silent[0]["detail"]
    others = {m["host"] for m in truth.moments("uid_reuse")} - {power["host"]}
    assert others
    for name in others:
        assert not [r for r in store.investigate.timeline_host(name).dicts() if r["what"] == "silent"]


def test_diff_across_uid_reuse_agrees_with_truth(store: hindsight.Hindsight, truth: Truth) -> None:
    m = truth.moments("uid_reuse")[0]
    t1, t2 = m["old_process_event"]["time"], m["new_process_event"]["time"]
    rows = store.investigate.diff("users", m["host"], t1, t2).dicts()
    before = {u["username"] for u in truth.state(m["host"], "users", t1) or []}
    after = {u["username"] for u in truth.state(m["host"], "users", t2) or []}
    assert {r["username"] for r in rows if r["change"] == "+"} == after - before
    assert {r["username"] for r in rows if r["change"] == "-"} == before - after
    assert m["new_user"] in after - before and m["old_user"] in before - after
    assert all(r["freshness_from"] == r["freshness_to"] == "fresh" for r in rows)
    assert all(r["confirmed_from"].timestamp() <= t1 and r["confirmed_to"].timestamp() <= t2 for r in rows)


def test_cli_commands(store: hindsight.Hindsight, truth: Truth) -> None:
    data = str(store.settings.data)
    m = truth.moments("uid_reuse")[0]
    runner = CliRunner()
    result = runner.invoke(main, ["who", "uid", str(m["uid"]), "--host", m["host"], "--at",
                                  str(m["old_process_event"]["time"]), "--data", data, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert [r["username"] for r in json.loads(result.output) if r["relation"] == "at"] == [m["old_user"]]
    ip = truth.moments("ip_handover")[0]
    serial = truth.moments("usb_drive")[0]["serial"]
    for args in (["who", "ip", ip["ip"]], ["timeline", "ip", ip["ip"]], ["timeline", "user", m["old_user"]],
                 ["enrich", "process_events", "--host", m["host"]], ["usb", serial],
                 ["diff", "users", "--host", m["host"], "--from", "0", "--to", "2000000000"],
                 ["who", "mount", "/", "--host", m["host"]], ["timeline", "host", m["host"], "--query", "users"]):
        result = runner.invoke(main, [*args, "--data", data, "--format", "csv"])
        assert result.exit_code == 0, (args, result.output)
        assert result.output.count("\n") >= 1
    bad = runner.invoke(main, ["who", "ip", "not-an-ip", "--data", data])
    assert bad.exit_code == 2 and "not an IP address" in bad.output
    for args, words in ((["usb", "nope"], "no USB device with serial 'nope'"), (["usb", ""], "empty")):
        bad = runner.invoke(main, [*args, "--data", data])
        assert bad.exit_code == 2 and words in bad.output, bad.output


def test_cli_enrichments_declared_in_a_json_file(store: hindsight.Hindsight, truth: Truth, tmp_path: Path) -> None:
    m = truth.moments("uid_reuse")[0]
    spec = tmp_path / "parent.json"
    spec.write_text(json.dumps([{"name": "parent", "event_table": "process_events", "event_column": "parent",
                                 "state_table": "processes", "key": "pid", "values": ["name"]}]))
    args = ["enrich", "process_events", "--host", m["host"], "--with", str(spec),
            "--data", str(store.settings.data), "--format", "json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert any(r["parent_name"] for r in rows) and any(r["user_username"] for r in rows)


def test_an_enrichment_naming_what_is_not_there_is_refused(store: hindsight.Hindsight) -> None:
    """One's own enrichment never silently adds nothing: a state table no query records, or an
    event column the event query lacks, is named with the closest."""
    typo = Enrichment("parent", "process_events", "parent", "procesess", "pid", ("name",))
    with pytest.raises(InputError, match=r"parent: no state query records table 'procesess' \(did you mean 'processes'\?\)"):
        store.investigate.enrich("process_events", enrichments=[typo])
    column = Enrichment("parent", "process_events", "parnet", "processes", "pid", ("name",))
    with pytest.raises(InputError, match=r"process_events has no column 'parnet' \(did you mean 'parent'\?\)"):
        store.investigate.enrich("process_events", enrichments=[column])


def test_cli_enrich_with_a_missing_file_is_a_clear_error(store: hindsight.Hindsight, tmp_path: Path) -> None:
    args = ["enrich", "process_events", "--with", str(tmp_path / "nope.json"), "--data", str(store.settings.data)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "nope.json" in result.output and "does not exist" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


GOOD = {"name": "p", "event_table": "process_events", "event_column": "parent",
        "state_table": "processes", "key": "pid", "values": ["name"]}


@pytest.mark.parametrize(("text", "message"), [
    ("{", "spec.json: not JSON"),
    ("{}", "expected a JSON list"),
    ("[1]", r"spec.json\[0\]: expected an object"),
    (json.dumps([{**GOOD, "colour": "red"}]), r"spec.json\[0\]: unknown field colour$"),
    (json.dumps([{**GOOD, "vals": ["x"]}]), r"unknown field vals \(did you mean 'values'\?\)$"),
    (json.dumps([{k: v for k, v in GOOD.items() if k != "key"}]), r"spec.json\[0\]: missing field key$"),
    (json.dumps([{"name": "x"}]), r"\]: missing fields event_column, event_table, key, state_table, values$"),
    (json.dumps([{**GOOD, "values": []}]), r"spec.json\[0\].values"),
    (json.dumps([{**GOOD, "match": "fuzzy"}]), r"spec.json\[0\].match"),
    (json.dumps([{**GOOD, "key": 3}]), r"spec.json\[0\].key: expected a string"),
])
def test_bad_enrichment_files_are_named(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_enrichments(text, "spec.json")


def test_a_good_enrichment_file() -> None:
    assert parse_enrichments(json.dumps([GOOD]))[0] == Enrichment(
        "p", "process_events", "parent", "processes", "pid", ("name",)
    )
