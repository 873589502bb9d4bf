"""The README's two set-up commands are the ones that work: CI runs the test one verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```(?:bash|sh)\n(.*?)```", section, re.S)]


def test_exactly_two_setup_commands() -> None:
    commands = setup_commands()
    assert len(commands) == 2, commands
    start, test = commands
    assert "pip install" in start and start.rstrip().endswith("photobird")
    assert "pytest" in test


def test_ci_runs_the_readme_test_command() -> None:
    test = setup_commands()[1]
    assert test in (ROOT / ".ci" / "run").read_text()
