"""The query API's answer within its byte bound: valid JSON, never past the bound, the rows a
prefix of the result's, and `truncated` (with its reason) exactly when rows were left out."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hindsight.api import Result
from hindsight.server import answer
from hindsight.server.answer import answer_bytes, live_bytes
from hindsight.server.body import RequestError

cell = st.one_of(st.none(), st.integers(-(2**53), 2**53), st.text(max_size=40), st.booleans())
rows_st = st.lists(st.tuples(cell, cell), max_size=60)


@settings(max_examples=150, deadline=None)
@given(
    rows=rows_st, bound=st.integers(200, 4000), cut_by_rows=st.booleans(), chunk=st.integers(1, 7)
)
def test_an_answer_fits_its_bound_and_says_what_it_left_out(
    rows: list[tuple[object, object]], bound: int, cut_by_rows: bool, chunk: int
) -> None:
    answer.CHUNK_ROWS = chunk  # chunks of every size: the cut may fall inside one
    try:
        body = answer_bytes(Result(["a", "b"], rows, cut_by_rows, 1.0), bound)
    except RequestError as exc:  # only when the first row alone is past the bound
        assert exc.status == 413 and "first row" in exc.message
        assert len(orjson.dumps([list(rows[0])])) + 150 > bound
        return
    finally:
        answer.CHUNK_ROWS = 1024
    doc = orjson.loads(body)
    assert len(body) <= bound
    assert doc["columns"] == ["a", "b"]
    assert doc["rows"] == [list(r) for r in rows[: len(doc["rows"])]]
    left_out = len(doc["rows"]) < len(rows)
    assert doc["truncated"] == (left_out or cut_by_rows)
    expected = "max_bytes" if left_out else ("max_rows" if cut_by_rows else None)
    assert doc["truncated_reason"] == expected
    if left_out:  # the next row would not have fitted
        assert len(body) + len(orjson.dumps(list(rows[len(doc["rows"])]))) + 1 > bound - 150


def test_an_answer_within_its_bound_is_the_plain_serialisation() -> None:
    rows = [(i, f"row {i}", None) for i in range(3000)]
    doc = orjson.loads(answer_bytes(Result(["n", "s", "z"], rows, False, 2.5), 1 << 20))
    assert doc == {
        "columns": ["n", "s", "z"],
        "rows": [list(r) for r in rows],
        "truncated": False,
        "truncated_reason": None,
        "elapsed_ms": 2.5,
    }


@pytest.mark.parametrize("bound", [100, 1000])
def test_no_rows_is_an_answer_under_any_bound(bound: int) -> None:
    assert orjson.loads(answer_bytes(Result(["a"], [], False, 0.0), bound))["rows"] == []


host_st = st.fixed_dictionaries(
    {
        "host_uuid": st.uuids().map(str),
        "status": st.sampled_from([0, 1, None]),
        "rows": st.one_of(
            st.none(),
            st.lists(
                st.dictionaries(st.text(max_size=5), st.text(max_size=30), max_size=3), max_size=20
            ),
        ),
    }
)


def test_a_host_left_out_after_one_that_just_fit_stays_within_the_bound() -> None:
    """The room of every host's own fields is kept before any rows: the first host's rows took
    what the bound left, and the second's, left out, still took its room (up to 60 bytes past
    the bound)."""

    def host(n: int, size: int) -> dict[str, object]:
        uuid = f"{n:08d}-0000-0000-0000-000000000000"
        return {"host_uuid": uuid, "status": 0, "rows": [{"a": "x" * size}]}

    for bound in range(2500, 2600, 3):
        for first in range(1500, 2500, 11):
            found = {"id": "q1", "sql": "SELECT 1", "hosts": [host(1, first), host(2, 3000)]}
            assert len(live_bytes(found, bound)) <= bound, (bound, first)


@settings(max_examples=80, deadline=None)
@given(hosts=st.lists(host_st, max_size=8), bound=st.integers(2500, 6000))
def test_live_answers_fit_their_bound_host_by_host(
    hosts: list[dict[str, object]], bound: int
) -> None:
    found = {"id": "q1", "sql": "SELECT 1", "created": 1.5, "hosts": hosts}
    body = live_bytes(found, bound)
    doc = orjson.loads(body)
    assert len(body) <= bound and doc["id"] == "q1" and len(doc["hosts"]) == len(hosts)
    for got, host in zip(doc["hosts"], hosts, strict=True):
        if got.get("rows_left_out"):
            assert got["rows"] is None and got["host_uuid"] == host["host_uuid"]
        else:
            assert got == host
    assert doc["truncated"] == any(h.get("rows_left_out") for h in doc["hosts"])
