"""Every alert rule names a runbook section that exists, and every `ragship ...` command that section tells an
on-call engineer to run is a real command (with a real subcommand)."""

import re
from pathlib import Path

import pytest
import typer

from ragship.cli import app
from ragship.monitor.rules import DEFAULT_RULES

ROOT = Path(__file__).resolve().parents[2]


def section(path: Path, anchor: str) -> str:
    """The text under the `## ` heading whose GitHub anchor is `anchor`, up to the next `## `."""
    parts = re.split(r"^## (.+)$", path.read_text(), flags=re.M)
    for heading, body in zip(parts[1::2], parts[2::2]):
        if re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-") == anchor:
            return body
    raise AssertionError(f"{path} has no section #{anchor}")


def resolves(words: list[str]) -> bool:
    command = typer.main.get_command(app)
    for word in words:
        if not hasattr(command, "commands") or word.startswith(("-", "\"")) or word.isupper():
            break
        if word not in command.commands:
            return False
        command = command.commands[word]
    return True


@pytest.mark.parametrize("rule", DEFAULT_RULES, ids=lambda r: r.name)
def test_each_rule_has_a_runbook_naming_real_commands(rule):
    path, _, anchor = rule.runbook.partition("#")
    text = section(ROOT / path, anchor)
    assert "**Means:**" in text and "**Confirm:**" in text and "**Do:**" in text and "**Roll back:**" in text
    commands = re.findall(r"`ragship ([^`]+)`", text)
    assert commands, f"{rule.name}: the runbook names no command to run"
    for command in commands:
        assert resolves(command.split()), f"{rule.name}: `ragship {command}` is not a ragship command"


def test_a_made_up_command_would_be_caught():
    assert not resolves(["versions", "explode"]) and not resolves(["frobnicate"]) and resolves(["monitor", "alerts"])
