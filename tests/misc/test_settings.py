"""Settings from the environment: every value read as its type, a bad one refused by name."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hindsight
from hindsight.api import BOUNDS
from hindsight.errors import InputError
from hindsight.settings import Settings

NUMERIC = [(f.name, f.metadata["env"], type(f.default)) for f in fields(Settings)
           if type(f.default) in (int, float)]


@pytest.mark.parametrize(("name", "env", "kind"), NUMERIC)
@pytest.mark.parametrize("raw", ["abc", "10k", "30s", "", "1,5"])
def test_a_bad_number_names_the_variable_the_value_and_the_type(
    monkeypatch: pytest.MonkeyPatch, name: str, env: str, kind: type, raw: str
) -> None:
    monkeypatch.setenv(env, raw)
    rule = "an integer" if kind is int else "a number"
    with pytest.raises(InputError) as info:
        Settings.from_env()
    assert str(info.value) == f"setting {env} must be {rule}, not {raw!r}"


@pytest.mark.parametrize("raw", ["inf", "nan", "-inf"])
def test_a_float_without_bound_is_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("HINDSIGHT_QUERY_TIMEOUT", raw)
    with pytest.raises(InputError, match="HINDSIGHT_QUERY_TIMEOUT must be a number"):
        Settings.from_env()


@given(rows=st.integers(1, 10**9), timeout=st.floats(0.001, 1e6))
def test_good_numbers_are_read(rows: int, timeout: float) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HINDSIGHT_MAX_ROWS", f" {rows} ")
        patch.setenv("HINDSIGHT_QUERY_TIMEOUT", repr(timeout))
        settings = Settings.from_env()
    assert (settings.max_rows, settings.query_timeout_s) == (rows, timeout)


@pytest.mark.parametrize("raw", ["2GB", "2 GB", "1.5gb", "512MiB", "80%", "2G", "500kb"])
def test_memory_limits_duckdb_reads_are_kept(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("HINDSIGHT_MEMORY_LIMIT", raw)
    assert Settings.from_env().memory_limit == raw


@pytest.mark.parametrize("raw", ["2G8", "lots", "", "GB", "100"])
def test_a_bad_memory_limit_is_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("HINDSIGHT_MEMORY_LIMIT", raw)
    with pytest.raises(InputError) as info:
        Settings.from_env()
    assert str(info.value) == (
        f"setting HINDSIGHT_MEMORY_LIMIT must be a size like 2GB, 512MiB or 80%, not {raw!r}"
    )


@pytest.mark.parametrize("name", BOUNDS)
@pytest.mark.parametrize("raw", ["0", "-1"])
def test_a_bound_of_zero_or_less_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, raw: str
) -> None:
    """0 would lift the bound it sets (a query with no time limit), silently."""
    env = {f.name: f.metadata["env"] for f in fields(Settings)}[name]
    monkeypatch.setenv(env, raw)
    with pytest.raises(InputError, match=f"setting {env} must be above 0"):
        hindsight.open(tmp_path / "data")


@pytest.mark.parametrize(
    ("raw", "size"),
    [("2GB", 2 * 10**9), ("2 GB", 2 * 10**9), ("512MiB", 512 * 2**20), ("1.5gib", 3 * 2**29),
     ("500kb", 500_000), ("100b", 100)],
)
def test_the_store_process_memory_cap_reads_sizes_as_duckdb_does(
    monkeypatch: pytest.MonkeyPatch, raw: str, size: int
) -> None:
    from hindsight.settings import size_bytes

    monkeypatch.setenv("HINDSIGHT_SERVE_MAX_MEMORY", raw)
    assert size_bytes(Settings.from_env().serve_max_memory) == size


def test_the_store_process_memory_cap_as_a_share_of_the_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from hindsight.settings import size_bytes

    machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert abs(size_bytes(Settings().serve_max_memory) - machine * 3 // 4) <= 1
    monkeypatch.setenv("HINDSIGHT_SERVE_MAX_MEMORY", "lots")
    with pytest.raises(InputError, match="HINDSIGHT_SERVE_MAX_MEMORY must be a size like 16GB"):
        Settings.from_env()
