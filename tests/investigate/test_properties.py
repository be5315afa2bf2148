"""Contracts of the small pieces: the SQL prefilter of a CIDR range never drops an address of
the range, and a mount covers exactly the paths at or under it."""

from __future__ import annotations

import ipaddress

import duckdb
from hypothesis import given
from hypothesis import strategies as st

from hindsight.investigate.who import address_filter, contains, covers

v4 = st.integers(0, 2**32 - 1).map(lambda n: ipaddress.IPv4Address(n))


@given(v4, st.integers(0, 32), st.lists(v4, max_size=20))
def test_range_prefilter_keeps_every_address_of_the_range(
    base: ipaddress.IPv4Address, prefix: int, others: list[ipaddress.IPv4Address]
) -> None:
    net = ipaddress.ip_network(f"{base}/{prefix}", strict=False)
    inside = [net.network_address + (i % net.num_addresses) for i in (0, 7, 2**31)]
    addresses = sorted({str(a) for a in [*inside, *others]})
    con = duckdb.connect()
    con.execute("CREATE TABLE t(address VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[a] for a in addresses])
    kept = {a for (a,) in con.execute(f"SELECT address FROM t WHERE {address_filter(net)}").fetchall()}
    assert {a for a in addresses if contains(net, a)} == {a for a in kept if contains(net, a)}
    assert {str(a) for a in inside} <= kept


segment = st.text(alphabet="abcUSB-_. 0", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))


@given(st.lists(segment, max_size=4), st.lists(segment, max_size=3))
def test_a_mount_covers_the_paths_under_it(mount_parts: list[str], rest: list[str]) -> None:
    mount = "/" + "/".join(mount_parts)
    path = mount.rstrip("/") + "/" + "/".join(rest) if rest else mount
    assert covers(mount, path)
    if mount != "/":
        assert not covers(mount, mount + "x")
        assert covers("/", mount)
