"""The README's investigation examples run as written on the fleet they name (the package's
fleet: the README's `hindsight simulate` line must be its configuration), each answering rows,
so they cannot name hosts, accounts or drives that do not exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

import hindsight
from hindsight.cli import main

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _examples() -> list[list[str]]:
    section = README.split("## Investigations", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "no sh block in the README's Investigations section"
    lines = [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("hindsight ")]


EXAMPLES = _examples()


def test_the_readme_fleet_is_the_one_the_examples_run_on() -> None:
    assert EXAMPLES[0] == [
        "simulate",
        "--hosts",
        "20",
        "--days",
        "1",
        "--seed",
        "3",
        "--out",
        "fleet",
    ]  # tests/investigate/conftest.py: SimConfig(hosts=20, days=1, seed=3)
    assert EXAMPLES[1] == ["ingest", "fleet/hosts", "fleet/late"]
    assert len(EXAMPLES) > 8


@pytest.mark.parametrize("args", EXAMPLES[2:], ids=lambda a: " ".join(a[:2]))
def test_a_readme_example_answers_rows(store: hindsight.Hindsight, args: list[str]) -> None:
    data = str(store.settings.data)
    result = CliRunner().invoke(main, [*args, "--data", data, "--format", "csv"])
    assert result.exit_code == 0, (args, result.output)
    assert result.output.count("\n") >= 2, (args, result.output)  # a header and rows
