"""who ip / uid / mount and usb against the simulator's truth."""

from __future__ import annotations

import random
from typing import Any

import pytest

import hindsight
from hindsight.errors import InputError, UnknownHost
from tests.investigate.conftest import Truth


def unix(value: Any) -> int:
    return int(value.timestamp())


def test_who_ip_agrees_with_truth_at_random_instants(
    store: hindsight.Hindsight, truth: Truth
) -> None:
    rnd = random.Random(5)
    start, end = truth.manifest["start"], truth.manifest["end"]
    pairs = [h for (h, table) in truth.runs if table == "interface_addresses"]
    checked = 0
    for _ in range(60):
        host = rnd.choice(pairs)
        at = rnd.randrange(start, end)
        rows = truth.state(host, "interface_addresses", at) or []
        addresses = [r["address"] for r in rows if r["address"] not in ("127.0.0.1", "::1")]
        if not addresses:
            continue
        address = rnd.choice(addresses)
        expected = {
            h
            for (h, table) in truth.runs
            if table == "interface_addresses"
            if any(r["address"] == address for r in truth.state(h, table, at) or [])
        }
        got = {r["host_key"] for r in store.investigate.who_ip(address, at).dicts()}
        assert got == expected, (address, at)
        checked += 1
    assert checked > 30


def test_who_ip_across_a_dhcp_handover(store: hindsight.Hindsight, truth: Truth) -> None:
    handovers = truth.moments("ip_handover")
    assert handovers
    for m in handovers[:10]:
        before = store.investigate.who_ip(
            m["ip"], m["ask_from_at"] + m["from_clock_offset"]
        ).dicts()
        after = store.investigate.who_ip(m["ip"], m["ask_to_at"] + m["to_clock_offset"]).dicts()
        assert m["from_host"].lower() in {r["host_key"] for r in before}
        assert [r["host_key"] for r in after] == [m["to_host"].lower()]
        row = after[0]
        assert row["hostname"] and row["uuid"].lower() == row["host_key"] and row["mac"]
        assert row["platform"] and row["freshness"] == "fresh"
        assert row["first_seen"] <= row["last_seen"] and row["confirmed_at"] <= row["checked_in"]


def test_who_ip_takes_a_cidr_range(store: hindsight.Hindsight, truth: Truth) -> None:
    m = truth.moments("ip_handover")[0]
    at = m["ask_to_at"] + m["to_clock_offset"]
    subnet = store.investigate.who_ip(m["subnet"], at).dicts()
    assert m["to_host"].lower() in {r["host_key"] for r in subnet}
    assert all(r["address"].startswith(m["subnet"].rsplit(".", 1)[0] + ".") for r in subnet)
    assert len(subnet) > 1


def test_who_ip_names_the_host_as_it_was_called_then(
    store: hindsight.Hindsight, truth: Truth
) -> None:
    checked = 0
    for m in truth.moments("rename"):
        host = m["host"].lower()
        offset = truth.offset(host)
        for at, name in ((m["at"] - 600, m["old"]), (m["at"] + 3600, m["new"])):
            rows = truth.state(host, "interface_addresses", at + offset) or []
            addresses = [
                r["address"] for r in rows if r["address"].startswith(("10.", "172.", "192."))
            ]
            if not addresses:
                continue  # the host was off then
            found = [
                r
                for r in store.investigate.who_ip(addresses[0], at + offset).dicts()
                if r["host_key"] == host
            ]
            assert found and found[0]["hostname"] == name
            checked += 1
    assert checked >= 2


def test_a_silent_host_answers_unknown(store: hindsight.Hindsight, truth: Truth) -> None:
    for m in truth.moments("power_off"):
        host = m["host"].lower()
        at = m["to"] - 600 + truth.offset(host)
        rows = truth.state(host, "interface_addresses", at) or []
        address = next(r["address"] for r in rows if r["address"] not in ("127.0.0.1", "::1"))
        found = [r for r in store.investigate.who_ip(address, at).dicts() if r["host_key"] == host]
        assert found and found[0]["freshness"] == "unknown"
        assert at - unix(found[0]["checked_in"]) > 3 * 60


def test_edge_windows_contain_the_real_change(store: hindsight.Hindsight, truth: Truth) -> None:
    """For every interval of these tables, the execution before it (which did not show the row)
    is no earlier than `from_after`, and the last one showing it no earlier than `to_after`."""
    inv = store.investigate
    keys = {hid: key for key, hid in store.store.catalog.hosts.items()}
    checked = 0
    for table, cols in (
        ("interface_addresses", ("address",)),
        ("users", ("uid",)),
        ("mounts", ("path",)),
    ):
        rows = inv.state(table, cols)
        for r, ev in zip(rows, inv.evidence(rows, None), strict=True):
            times = truth.times(keys[r["_host"]], table)
            previous = [t for t in times if t < r["_from"]]
            if ev.from_after is not None and previous:
                assert ev.from_after <= previous[-1], (table, r)
                checked += 1
            showing = [t for t in times if r["_from"] <= t < r["_to"]]
            if ev.to_after is not None:
                assert showing and ev.to_after <= showing[-1], (table, r)
    assert checked > 100


def test_who_uid_across_uid_reuse(store: hindsight.Hindsight, truth: Truth) -> None:
    moments = truth.moments("uid_reuse")
    assert moments
    for m in moments:
        old, new = m["old_process_event"], m["new_process_event"]
        then = store.investigate.who_uid(m["uid"], m["host"], old["time"]).dicts()
        assert [r["username"] for r in then if r["relation"] == "at"] == [m["old_user"]]
        assert m["new_user"] in {r["username"] for r in then if r["relation"] == "after"}
        later = store.investigate.who_uid(m["uid"], m["hostname"], new["time"]).dicts()
        assert [r["username"] for r in later if r["relation"] == "at"] == [m["new_user"]]
        assert m["old_user"] in {r["username"] for r in later if r["relation"] == "before"}
        assert all(r["directory"] and r["shell"] for r in later)
        for rows, at in ((then, old["time"]), (later, new["time"])):
            assert [r["groups"] for r in rows if r["relation"] == "at"] == [
                expected_groups(truth, m["host"].lower(), m["uid"], at)
            ]


def expected_groups(truth: Truth, host: str, uid: int, at: int) -> str | None:
    users = [u for u in truth.state(host, "users", at) or [] if u["uid"] == str(uid)]
    gids = {u["gid"] for u in users} | {
        g["gid"] for g in truth.state(host, "user_groups", at) or [] if g["uid"] == str(uid)
    }
    names = {g["groupname"] for g in truth.state(host, "groups", at) or [] if g["gid"] in gids}
    return ", ".join(sorted(names)) or None


def usb_moments(truth: Truth) -> list[dict[str, Any]]:
    found = [
        m
        for m in truth.moments("usb_drive")
        if m["platform"] != "windows" and m.get("unmounted_at")
    ]
    assert found
    return found


def test_who_mount_finds_the_drive_behind_a_path(store: hindsight.Hindsight, truth: Truth) -> None:
    for m in usb_moments(truth):
        at = (m["mounted_at"] + m["unmounted_at"]) // 2 + truth.offset(m["host"].lower())
        rows = store.investigate.who_mount(m["mount_path"] + "/x/report.pdf", m["host"], at).dicts()
        assert len(rows) == 1
        assert rows[0]["mount_path"] == m["mount_path"] and rows[0]["device"] == m["device"]
        assert rows[0]["usb_serial"] == m["serial"], m
        root = store.investigate.who_mount("/etc/passwd", m["host"], at).dicts()
        assert root[0]["mount_path"] == "/" and root[0]["usb_serial"] is None


def test_a_drive_mounted_since_the_last_run_of_mounts_is_named_though_not_yet_seen(
    store: hindsight.Hindsight, truth: Truth
) -> None:
    """A file written to a drive a minute after it was mounted, before `mounts` ran again: as of
    then only `/` covers the file; the drive's mount, first seen by the next run and not by the
    one before the write, follows with its USB device, and neither row is settled."""
    moments = [m for m in usb_moments(truth) if m.get("file_event")]
    assert moments
    unseen = 0
    for m in moments:
        event = m["file_event"]
        at = event["time"] + truth.offset(m["host"].lower())
        rows = store.investigate.who_mount(event["path"], m["host"], at).dicts()
        if rows[0]["mount_path"] == m["mount_path"]:  # seen by then: as the mid-mount test
            assert [r["settled"] for r in rows] == [True]
            continue
        unseen += 1
        assert [(r["mount_path"], r["settled"]) for r in rows] == [
            (rows[0]["mount_path"], False),
            (m["mount_path"], False),
        ]
        assert unix(rows[1]["from_after"]) < at < unix(rows[1]["valid_from"])
        assert rows[1]["usb_serial"] == m["serial"]
    assert unseen
    first = moments[0]
    mid = (first["mounted_at"] + first["unmounted_at"]) // 2 + truth.offset(first["host"].lower())
    one = store.investigate.who_mount(first["file_event"]["path"], first["host"], mid)
    assert [r["settled"] for r in one.dicts()] == [True]


def test_mount_path_reused_by_another_drive(store: hindsight.Hindsight, truth: Truth) -> None:
    reused = [m for m in usb_moments(truth) if m.get("path_reused_from_serial")]
    assert reused
    for m in reused:
        at = (m["mounted_at"] + m["unmounted_at"]) // 2 + truth.offset(m["host"].lower())
        rows = store.investigate.who_mount(m["mount_path"], m["host"], at).dicts()
        assert rows[0]["usb_serial"] == m["serial"] != m["path_reused_from_serial"]
        earlier = store.investigate.usb(m["path_reused_from_serial"]).dicts()
        late_files = [r for r in earlier if r["what"] == "file" and unix(r["time"]) >= at]
        assert not late_files


def test_usb_lists_attachments_mounts_and_files(store: hindsight.Hindsight, truth: Truth) -> None:
    for m in usb_moments(truth):
        rows = store.investigate.usb(m["serial"]).dicts()
        host = m["host"].lower()
        assert {r["host_key"] for r in rows if r["what"] == "attached"} >= {host}
        assert m["mount_path"] in {
            r["path"] for r in rows if r["what"] == "mounted" and r["host_key"] == host
        }
        files = [r for r in rows if r["what"] == "file"]
        assert all(
            r["path"].startswith(m["mount_path"] + "/") for r in files if r["host_key"] == host
        )
        assert all(r["serial"] == m["serial"] for r in rows)
        if m.get("file_event"):
            assert m["file_event"]["path"] in {r["path"] for r in files}


def test_bad_input_is_named(store: hindsight.Hindsight) -> None:
    with pytest.raises(InputError, match="not an IP address"):
        store.investigate.who_ip("10.0.0.300")
    with pytest.raises(UnknownHost, match="did you mean"):
        store.investigate.who_uid(0, "db-00004")
    with pytest.raises(InputError, match="event query"):
        store.investigate.diff("process_events", "db-0004", 0, 1)
    with pytest.raises(InputError, match="state query"):
        store.investigate.enrich("users")
    with pytest.raises(InputError, match="serial given is empty"):
        store.investigate.usb("  ")


def test_an_unknown_usb_serial_is_told_with_the_closest(
    store: hindsight.Hindsight, truth: Truth
) -> None:
    serial = usb_moments(truth)[0]["serial"]
    with pytest.raises(
        InputError,
        match=f"no USB device with serial '{serial[:-1]}' was recorded \\(did you mean '{serial}'",
    ):
        store.investigate.usb(serial[:-1])


def test_a_link_local_address_is_found_without_its_zone(tmp_path: Any) -> None:
    """osquery writes a link-local IPv6 address with its zone (`fe80::1%eth0`); asked without
    it, the address is found; asked with it, only that zone's."""
    from tests.helpers import snapshot, write

    rows = [
        {"interface": "eth0", "address": "fe80::1%eth0"},
        {"interface": "eth1", "address": "fe80::1%eth1"},
    ]
    path = write(tmp_path / "a.log", snapshot("interface_addresses", 100, rows))
    with hindsight.open(tmp_path / "data") as hs:
        hs.ingest([path])
        found = hs.investigate.who_ip("fe80::1", 150).dicts()
        assert sorted(r["interface"] for r in found) == ["eth0", "eth1"]
        assert [r["interface"] for r in hs.investigate.who_ip("fe80::1%eth1", 150).dicts()] == [
            "eth1"
        ]


def test_a_read_the_row_bound_cut_makes_the_answer_truncated(tmp_path: Any) -> None:
    """A CIDR range is read by a text prefix and refined after: the read may hold more rows
    than HINDSIGHT_MAX_ROWS though the answer holds few. Cut, the answer may miss a host, and
    says so (`truncated`), as a cut answer does, rather than looking whole."""
    from tests.helpers import snapshot, write

    lines = [  # ten hosts in 10.200/16, read first (earlier), then one in 10.1/16
        snapshot(
            "interface_addresses",
            100 + n,
            [{"interface": "eth0", "address": f"10.200.0.{n}"}],
            host=f"h{n}",
            uuid=f"U-{n}",
        )
        for n in range(10)
    ]
    lines.append(
        snapshot(
            "interface_addresses",
            200,
            [{"interface": "eth0", "address": "10.1.0.1"}],
            host="target",
            uuid="U-T",
        )
    )
    path = write(tmp_path / "a.log", *lines)
    with hindsight.open(tmp_path / "data") as hs:
        hs.ingest([path])
    for bound, complete in ((100, True), (5, False)):
        with hindsight.open(tmp_path / "data", read_only=True, max_rows=bound) as hs:
            found = hs.investigate.who_ip("10.0.0.0/12", 300)
            assert found.truncated is not complete
            assert [r["host"] for r in found.dicts()] == (["target"] if complete else [])
            if not complete:
                assert found.truncated_reason == "max_rows"
            # the next investigation starts whole again
            assert not hs.investigate.who_ip("10.200.0.3", 300).truncated
