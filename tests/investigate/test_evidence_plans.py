"""The two plans of the evidence query (per-edge aggregates for a few edges per host, ASOF
joins for many) give the same evidence for any set of intervals and any instant."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import hindsight
from hindsight.investigate.evidence import Edge, gather
from hindsight.investigate.source import queries_of, state_sql
from tests.investigate.conftest import Truth

TABLES = ("users", "interface_addresses", "mounts", "logged_in_users")


def all_edges(hs: hindsight.Hindsight) -> list[Edge]:
    edges = []
    for table in TABLES:
        queries = queries_of(hs.store.catalog, table)
        if queries:
            rows = hs._run(f"SELECT _host, _q, _from, _to FROM {state_sql(queries, ())} ORDER BY ALL").rows
            edges += [Edge(int(h), int(q), int(f), int(t)) for h, q, f, t in rows]
    return edges


def test_both_plans_agree_on_every_interval(store: hindsight.Hindsight, truth: Truth) -> None:
    inv = store.investigate
    edges = all_edges(store)
    assert len(edges) > 200
    for at in (truth.manifest["start"] + 3600, (truth.manifest["start"] + truth.manifest["end"]) // 2, None):
        asof = gather(inv.run, inv.catalog, inv.schedule, edges, at, asof=True)
        aggregates = gather(inv.run, inv.catalog, inv.schedule, edges, at, asof=False)
        assert asof == aggregates
        assert any(e.from_after is not None for e in asof) and any(e.to_after is not None for e in asof)


@settings(deadline=None)  # the profile's examples: ci 25, deep 400
@given(data=st.data())
def test_both_plans_agree_on_any_few_intervals(store: hindsight.Hindsight, truth: Truth, data: st.DataObject) -> None:
    inv = store.investigate
    edges = data.draw(st.lists(st.sampled_from(all_edges(store)), min_size=1, max_size=6))
    at = data.draw(st.one_of(st.none(), st.integers(truth.manifest["start"] - 3600, truth.manifest["end"] + 86_400)))
    assert gather(inv.run, inv.catalog, inv.schedule, edges, at, asof=True) == gather(
        inv.run, inv.catalog, inv.schedule, edges, at, asof=False
    )
