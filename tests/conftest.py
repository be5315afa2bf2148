"""Shared fixtures. Hypothesis profiles: default (CI) and `deep` (HYPOTHESIS_PROFILE=deep)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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
