"""The investigations' settings (hindsight/settings.py) change what they answer: each group on
the simulated fleet, with the store opened again under other settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import hindsight
from hindsight.errors import InputError
from hindsight.investigate.evidence import Evidence
from tests.investigate.conftest import Truth
from tests.investigate.test_who import usb_moments


@contextmanager
def reopened(store: hindsight.Hindsight, **settings: Any) -> Iterator[hindsight.Hindsight]:
    with hindsight.open(store.settings.data, read_only=True, **settings) as hs:
        yield hs


def edges(hs: hindsight.Hindsight, table: str, column: str) -> list[Evidence]:
    inv = hs.investigate
    rows = inv.state(table, (column,))
    return inv.evidence(rows, None)


def test_stale_factor_decides_when_a_silent_host_is_unknown(store: hindsight.Hindsight, truth: Truth) -> None:
    moments = truth.moments("power_off")
    assert moments
    with reopened(store, stale_factor=1000.0) as patient:
        for m in moments:
            host = m["host"].lower()
            at = m["to"] - 600 + truth.offset(host)
            rows = truth.state(host, "interface_addresses", at) or []
            address = next(r["address"] for r in rows if r["address"] not in ("127.0.0.1", "::1"))
            for hs, freshness in ((store, "unknown"), (patient, "fresh")):
                found = [r for r in hs.investigate.who_ip(address, at).dicts() if r["host_key"] == host]
                assert [r["freshness"] for r in found] == [freshness]


def test_splay_slack_moves_the_edge_windows_and_unsettles_more_events(store: hindsight.Hindsight) -> None:
    """More room for splay: the edge windows move, and an event near a state change is less
    often settled (each event settled then was settled before)."""

    def settled(hs: hindsight.Hindsight) -> dict[tuple[str, int, str], bool]:
        rows = hs.investigate.enrich("file_events").dicts()
        return {(r["host_key"], r["time"], r["target_path"]): r["mount_settled"] for r in rows}

    default = edges(store, "interface_addresses", "address")
    before = settled(store)
    with reopened(store, splay_slack=3.0) as wide:
        found = edges(wide, "interface_addresses", "address")
        after = settled(wide)
    assert sum(a != b for a, b in zip(default, found, strict=True)) > len(found) / 4
    assert after.keys() == before.keys()
    assert all(before[k] for k, ok in after.items() if ok)
    assert sum(ok is True for ok in after.values()) < sum(ok is True for ok in before.values())


def test_lookback_bounds_how_far_back_a_previous_execution_is_found(store: hindsight.Hindsight) -> None:
    default = edges(store, "interface_addresses", "address")
    assert sum(e.from_after is not None for e in default) > len(default) / 2
    with reopened(store, lookback_s=1) as short:
        assert all(e.from_after is None for e in edges(short, "interface_addresses", "address"))


def test_attach_slack_decides_which_drive_is_behind_a_mount(store: hindsight.Hindsight, truth: Truth) -> None:
    """The removable devices first seen after their mount appeared (within 900 s by default)
    are no longer behind it with no slack, in who mount and in enrich file_events."""
    lost = 0
    with reopened(store, attach_slack_s=0) as strict:
        for m in usb_moments(truth):
            at = (m["mounted_at"] + m["unmounted_at"]) // 2 + truth.offset(m["host"].lower())
            path = m["mount_path"] + "/x/report.pdf"
            before = store.investigate.who_mount(path, m["host"], at).dicts()[0]
            now = strict.investigate.who_mount(path, m["host"], at).dicts()[0]
            assert before["usb_serial"] == m["serial"]
            late = before["link"].startswith("removable") and before["attached_from"] > before["valid_from"]
            assert now["usb_serial"] == (None if late else m["serial"]), m
            lost += late
        on_usb = [r for r in strict.investigate.enrich("file_events").dicts() if r["usb_serial"]]
    assert lost >= 1
    assert 0 < len(on_usb) < len([r for r in store.investigate.enrich("file_events").dicts() if r["usb_serial"]])


def test_next_within_decides_the_mount_that_followed_a_device(store: hindsight.Hindsight) -> None:
    def mounts(hs: hindsight.Hindsight) -> list[Any]:
        rows = hs.investigate.enrich("hardware_events").dicts()
        return [r["mount_path"] for r in rows if r["type"] == "disk" and r["action"] == "add"]

    assert any(mounts(store))
    with reopened(store, next_within_s=0) as now_only:
        assert not any(mounts(now_only))


@pytest.mark.parametrize(
    ("setting", "value", "env"),
    [
        ("stale_factor", 0.0, "HINDSIGHT_STALE_FACTOR"),
        ("splay_slack", -1.0, "HINDSIGHT_SPLAY_SLACK"),
        ("lookback_s", 0, "HINDSIGHT_LOOKBACK"),
        ("attach_slack_s", -1, "HINDSIGHT_ATTACH_SLACK"),
        ("next_within_s", -5, "HINDSIGHT_NEXT_WITHIN"),
    ],
)
def test_a_senseless_setting_is_named(store: hindsight.Hindsight, setting: str, value: float, env: str) -> None:
    with reopened(store, **{setting: value}) as hs, pytest.raises(InputError, match=env):
        hs.investigate.enrich("file_events")


def test_settings_come_from_the_environment(store: hindsight.Hindsight, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HINDSIGHT_STALE_FACTOR", "2.5")
    monkeypatch.setenv("HINDSIGHT_ATTACH_SLACK", "60")
    with reopened(store) as hs:
        assert hs.investigate.schedule.tolerance.stale_factor == 2.5
        assert hs.settings.attach_slack_s == 60
