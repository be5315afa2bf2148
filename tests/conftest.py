"""Shared fixtures. Hypothesis profiles: default (CI) and `deep` (HYPOTHESIS_PROFILE=deep)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import hindsight

settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "deep", max_examples=400, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "osquery" / "samples"


@pytest.fixture
def hs(tmp_path: Path) -> Iterator[hindsight.Hindsight]:
    with hindsight.open(tmp_path / "data") as store:
        yield store


@pytest.fixture
def samples() -> Path:
    assert SAMPLES.is_dir(), f"osquery samples expected at {SAMPLES} (../shared beside the clone)"
    return SAMPLES


#: packages whose tests share package- or session-scoped fixtures: the Spark session and its
#: fleet, the console's server and browser, the investigations' store
SHARED = {"engines", "console", "investigate"}


def scope_of(nodeid: str) -> str:
    """The unit one xdist worker runs: a SHARED package, else a module."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[1] in SHARED else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`-n 2 --dist loadgroup`: one worker runs each scope_of unit (xdist 3.8's own loadgroup
    cannot group on pytest 9.2, which ignores the group suffix it writes into item._nodeid)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByScope(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid)

    return ByScope(config, log)
