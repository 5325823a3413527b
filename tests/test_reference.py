"""The generated command reference and the command registry."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import typer

from mnistcli.cli import COMMANDS, app, command_module
from mnistcli.cli.reference import render_reference

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def test_docs_cli_md_matches_the_code():
    assert REFERENCE.read_text(encoding="utf-8") == render_reference(), (
        "docs/cli.md is out of date: run `make docs`")


def test_every_command_is_registered_from_its_module():
    group = typer.main.get_command(app)
    assert list(group.commands) == list(COMMANDS)
    for name in COMMANDS:
        module = importlib.import_module(command_module(name))
        assert group.commands[name].callback.__wrapped__ is module.command


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_help_has_an_example(name):
    section = render_reference().split(f"## mnist {name}\n", 1)[1].split("\n## ", 1)[0]
    examples = re.split(r"Examples?:", section, maxsplit=1)
    assert len(examples) == 2 and f"mnist {name}" in examples[1].split("Options:")[0], section


def test_a_command_module_that_fails_to_import_is_not_dropped_silently(monkeypatch):
    # a typo in a command's name must be an import error, not a missing command
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(command_module("no-such-command"))
