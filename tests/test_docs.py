"""Docs that cannot drift: every setting and every command is in the README."""

from __future__ import annotations

from pathlib import Path

from hindsight.cli import main
from hindsight.settings import describe

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    for name, env, _default, _ in describe():
        assert f"`{env}`" in README, f"setting {name} ({env}) missing from README"


def test_every_command_is_documented() -> None:
    for command in main.commands:
        assert f"hindsight {command}" in README, f"command {command} missing from README"


def test_readme_top_shows_the_two_commands() -> None:
    top = README.split("## ")[0]
    assert "hindsight demo" in top and "pytest" in top
