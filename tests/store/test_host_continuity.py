"""One machine under two host keys: it began (or stopped) sending a host_uuid decoration, or its
uuid identifier is spelled in upper case without one. The old key's state ends where the new
key's begins (`relations.superseded`), whatever the order of ingest, with a signal saying so;
two machines that share a name are left alone."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hindsight
from hindsight.query import relations
from hindsight.store.store import DB_FILE

QUERY = "pack_net_interface_addresses"


def line(t: int, counter: int, added: list[str], removed: tuple[str, ...] | list[str] = (), *,
         host: str = "web-07", uuid: str | None = None) -> bytes:
    doc: dict[str, Any] = {
        "name": QUERY, "hostIdentifier": host, "unixTime": t, "epoch": 0, "counter": counter,
        "numerics": False,
        "diffResults": {"added": [{"address": a, "interface": "eth0"} for a in added],
                        "removed": [{"address": a, "interface": "eth0"} for a in removed]},
    }
    if uuid is not None:
        doc["decorations"] = {"host_uuid": uuid, "hostname": host}
    return orjson.dumps(doc)


def files(folder: Path, *groups: list[bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, lines in enumerate(groups):
        path = folder / f"part{n}.log"
        path.write_bytes(b"\n".join(lines) + b"\n")
        paths.append(path)
    return paths


def held(hs: hindsight.Hindsight, at: int) -> list[tuple[str, str]]:
    return sorted((d["host_key"], d["address"]) for d in hs.state(QUERY, at).dicts())


UUID = "8F3C1A2E-5B7D-4E1F-9A0B-2C4D6E8F0A1B"
BEFORE = [line(1000, 0, ["10.1.2.3"]), line(1300, 1, ["10.1.2.4"], ["10.1.2.3"])]
AFTER = [line(2000, 0, ["10.1.2.4"], uuid=UUID), line(2300, 1, ["10.1.2.9"], ["10.1.2.4"], uuid=UUID)]
KEY = UUID.lower()


def test_the_old_key_ends_where_the_decorated_one_begins_in_any_order(tmp_path: Path) -> None:
    parts = [BEFORE[:1], BEFORE[1:], AFTER]
    answers = set()
    for n, order in enumerate(itertools.permutations(parts)):
        with hindsight.open(tmp_path / f"data{n}") as hs:
            hs.ingest(files(tmp_path / f"in{n}", *order))
            answers.add(tuple(tuple(held(hs, at)) for at in (1100, 1500, 1999, 2000, 2100, 2400)))
    assert answers == {(
        (("web-07", "10.1.2.3"),),
        (("web-07", "10.1.2.4"),),
        (("web-07", "10.1.2.4"),),
        ((KEY, "10.1.2.4"),),
        ((KEY, "10.1.2.4"),),
        ((KEY, "10.1.2.9"),),
    )}


@pytest.fixture
def continued(tmp_path: Path) -> Any:
    with hindsight.open(tmp_path / "data") as hs:
        hs.ingest(files(tmp_path, AFTER, BEFORE))
        yield hs


def test_intervals_end_at_the_new_key_and_a_signal_says_why(continued: hindsight.Hindsight) -> None:
    sql = f"SELECT host, host_key, address, valid_from, valid_to FROM {QUERY} FOR SYSTEM_TIME ALL"
    assert sorted(continued.sql(sql).rows) == [
        ("web-07", KEY, "10.1.2.4", 2000, 2300),
        ("web-07", KEY, "10.1.2.9", 2300, None),
        ("web-07", "web-07", "10.1.2.3", 1000, 1300),
        ("web-07", "web-07", "10.1.2.4", 1300, 2000),
    ]
    between = continued.sql(f"SELECT host_key FROM {QUERY} FOR SYSTEM_TIME BETWEEN 2100 AND 2200")
    assert sorted(between.rows) == [(KEY,)]
    signals = [d for d in continued.quality().dicts() if d["kind"] == "identity_continued"]
    assert [(d["host_key"], int(d["at"].timestamp())) for d in signals] == [("web-07", 2000)]
    assert KEY in signals[0]["detail"] and "web-07" in signals[0]["detail"]


def test_events_join_the_state_of_the_key_in_force(continued: hindsight.Hindsight, tmp_path: Path) -> None:
    def socket(t: int, decorated: bool) -> bytes:
        doc = {"name": "socket_events", "hostIdentifier": "web-07", "unixTime": t, "epoch": 0,
               "counter": 1, "numerics": False, "action": "added",
               "columns": {"local_address": "10.1.2.4", "time": str(t)}}
        return orjson.dumps({**doc, "decorations": {"host_uuid": UUID}} if decorated else doc)

    continued.ingest(files(tmp_path / "ev", [socket(1800, False), socket(2100, True), socket(2400, True)]))
    found = continued.sql(
        "SELECT e.time, a.host_key FROM socket_events e JOIN "
        f"{QUERY} FOR SYSTEM_TIME AS OF e.time a ON a.address = e.local_address ORDER BY e.time"
    ).rows
    assert found == [(1800, "web-07"), (2100, KEY)]  # at 2400 nobody holds 10.1.2.4


def test_the_old_key_ends_at_the_new_keys_first_line_of_any_query(tmp_path: Path) -> None:
    """The cut is per host: from the machine's first line under its new key, a query it has
    not run again under that key yet reads no rows (the key's state there is not known)."""
    with hindsight.open(tmp_path / "data") as hs:
        other = orjson.dumps({"name": "pack_os", "hostIdentifier": "web-07", "unixTime": 1900,
                              "epoch": 0, "counter": 0, "numerics": False, "decorations": {"host_uuid": UUID},
                              "snapshot": [{"version": "12"}], "action": "snapshot"})
        hs.ingest(files(tmp_path, BEFORE, [other], AFTER))
        assert held(hs, 1899) == [("web-07", "10.1.2.4")]
        assert held(hs, 1900) == []
        assert held(hs, 2000) == [(KEY, "10.1.2.4")]


def test_who_had_an_address_names_only_the_key_in_force(continued: hindsight.Hindsight) -> None:
    assert [d["host_key"] for d in continued.investigate.who_ip("10.1.2.4", at=2100).dicts()] == [KEY]
    assert continued.investigate.who_ip("10.1.2.4", at=2400).rows == []


def test_stopping_the_decoration_ends_the_uuid_key(tmp_path: Path) -> None:
    with hindsight.open(tmp_path / "data") as hs:
        later = [line(3000, 0, ["10.1.2.9"]), line(3300, 1, ["10.1.2.7"], ["10.1.2.9"])]
        hs.ingest(files(tmp_path, AFTER, later))
        assert held(hs, 2999) == [(KEY, "10.1.2.9")]
        assert held(hs, 3400) == [("web-07", "10.1.2.7")]


def test_an_upper_case_uuid_identifier_then_its_decoration(tmp_path: Path) -> None:
    """`--host_identifier=uuid` on macOS or Windows: the identifier is the uuid in upper case,
    which a decoration added later spells as the host key (lower case)."""
    with hindsight.open(tmp_path / "data") as hs:
        old = [line(1000, 0, ["10.1.2.3"], host=UUID)]
        new = [line(2000, 0, ["10.1.2.5"], host=UUID, uuid=UUID)]
        hs.ingest(files(tmp_path, new, old))
        assert held(hs, 1500) == [(UUID, "10.1.2.3")]
        assert held(hs, 2500) == [(KEY, "10.1.2.5")]


def test_two_machines_that_share_a_name_are_left_alone(tmp_path: Path) -> None:
    """The undecorated key reports after the decorated one began: two machines, not one. Two
    uuid keys that report one name are two machines too, one after the other or not."""
    with hindsight.open(tmp_path / "data") as hs:
        still = [line(2100, 1, ["10.9.9.9"], ["10.1.2.4"])]
        other = [line(2000, 0, ["10.7.7.7"], uuid="OTHER-UUID")]
        hs.ingest(files(tmp_path / "a", BEFORE, still, other))
        assert held(hs, 2500) == [("other-uuid", "10.7.7.7"), ("web-07", "10.9.9.9")]
        assert not [d for d in hs.quality().dicts() if d["kind"] == "identity_continued"]
        hs.ingest(files(tmp_path / "b", [line(3000, 0, ["10.6.6.6"], uuid="THIRD-UUID")]))
        assert held(hs, 3500) == [("other-uuid", "10.7.7.7"), ("third-uuid", "10.6.6.6")]
        signals = [d["host_key"] for d in hs.quality().dicts() if d["kind"] == "identity_continued"]
        assert signals == ["web-07"]  # (the undecorated key, which THIRD-UUID's name followed)


def test_a_store_written_before_it_is_upgraded_when_opened_to_be_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with hindsight.open(data) as hs:
        hs.ingest(files(tmp_path, BEFORE, AFTER))
    con = duckdb.connect(str(data / DB_FILE))
    con.execute("DROP TABLE host_ends; DROP TABLE host_runs")  # as an older Hindsight left it
    con.close()
    with hindsight.open(data, read_only=True) as hs:
        assert held(hs, 2400) == [(KEY, "10.1.2.9")]
        assert held(hs, 1500) == [("web-07", "10.1.2.4")]  # (named by its span, as before)


# (name reported, uuid decoration or None: keyed by the name) of each line's machine
IDENTITIES = [("web-07", None), ("web-07", UUID), ("web-07", "OTHER-UUID"), ("db-01", None),
              ("db-01", UUID), (UUID, None)]


@given(
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from(IDENTITIES)), min_size=1, max_size=10),
    st.integers(1, 3),
    st.integers(1, 3),
    st.randoms(use_true_random=False),
)
@settings(max_examples=30)
def test_the_ends_kept_batch_by_batch_are_those_of_all_names(
    seen: list[tuple[int, tuple[str, str | None]]], parts: int, batch_lines: int, rnd: Any
) -> None:
    """However names and keys arrive (any order, split over ingests and batches), the hosts
    another key took over and when, which each batch derives again only where its hosts share
    a name, are those derived from every host's names at once."""
    lines = [
        line(1000 + 60 * dt, n, [f"10.0.0.{n}"], host=name, uuid=uuid)
        for n, (dt, (name, uuid)) in enumerate(seen)
    ]
    rnd.shuffle(lines)
    whole = f"SELECT host_id, since FROM {relations.superseded()} ORDER BY ALL"
    with tempfile.TemporaryDirectory() as tmp, hindsight.open(
        Path(tmp) / "data", batch_lines=batch_lines
    ) as hs:
        for k in range(parts):
            if chunk := lines[k::parts]:
                hs.ingest(files(Path(tmp) / f"in{k}", chunk))
                kept = hs.store.con.execute("SELECT * FROM host_ends ORDER BY ALL").fetchall()
                assert kept == hs.store.con.execute(whole).fetchall()


def test_a_key_that_goes_on_under_another_name_is_no_longer_taken_over(tmp_path: Path) -> None:
    """The uuid key's name is reported undecorated after its last line (its state ends there);
    then the uuid key reports again, under another name, which no other host reports: the
    batch derives the ends again over every name the key reported, and the end goes."""
    with hindsight.open(tmp_path / "data") as hs:
        whole = f"SELECT host_id, since FROM {relations.superseded()} ORDER BY ALL"
        ends = []
        for n, part in enumerate([[line(1000, 0, ["10.1.2.3"], uuid=UUID)],
                                  [line(1600, 0, ["10.1.2.4"])],
                                  [line(2200, 1, ["10.1.2.5"], host="db-01", uuid=UUID)]]):
            hs.ingest(files(tmp_path / f"in{n}", part))
            ends.append(hs.store.con.execute("SELECT * FROM host_ends ORDER BY ALL").fetchall())
            assert ends[-1] == hs.store.con.execute(whole).fetchall()
        assert [len(e) for e in ends] == [0, 1, 0]
