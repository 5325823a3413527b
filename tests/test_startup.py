"""Fast start: `mnist --help`, command help and completion never import TensorFlow/Keras.

Each check runs the real entry point in a fresh interpreter with ``-X importtime`` and
reads the list of modules it imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("tensorflow", "keras", "tf_keras")
# the installed console script, beside this interpreter (`make install` puts it there)
MNIST_SCRIPT = Path(sys.executable).parent / "mnist"


def imported_modules(*args: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """Run ``mnist ARGS`` under ``python -X importtime``; the modules imported and stdout."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(MNIST_SCRIPT), *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )
    modules = set()
    for line in proc.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                modules.add(name)
    assert modules, "no -X importtime output: the check would prove nothing"
    return modules, proc.stdout


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_importtime_parsing_sees_imports():
    # guard against a parser that finds nothing: the CLI itself must show up
    modules, _ = imported_modules("--version")
    assert {"typer", "mnistcli", "mnistcli.cli"} <= modules


def test_help_does_not_import_tensorflow():
    modules, stdout = imported_modules("--help")
    assert "download" in stdout
    assert heavy(modules) == []


def registered_commands() -> list[str]:
    from typer.main import get_command

    from mnistcli.cli import app

    return list(get_command(app).commands)


@pytest.mark.parametrize("command", ["download", "inspect"])
def test_command_help_does_not_import_tensorflow(command):
    if command not in registered_commands():
        pytest.skip(f"`mnist {command}` is not registered yet")
    modules, stdout = imported_modules(command, "--help")
    assert "Usage:" in stdout
    assert heavy(modules) == []


def test_completion_does_not_import_tensorflow():
    modules, stdout = imported_modules(env={"_MNIST_COMPLETE": "complete_bash",
                                            "COMP_WORDS": "mnist ", "COMP_CWORD": "1"})
    assert "download" in stdout.split()
    assert heavy(modules) == []


# What `mnist --help` and completion must not load either: they would cost most of the
# 0.2 s a start may take (numpy alone is ~0.1 s), and no help text needs them.
NOT_FOR_HELP = ("numpy", "PIL", "http", "filelock", "matplotlib", "starlette", "uvicorn",
                "ai_edge_litert")


def test_help_and_completion_load_only_the_cli():
    for args, env in ((("--help",), None),
                      ((), {"_MNIST_COMPLETE": "complete_bash", "COMP_WORDS": "mnist ev",
                            "COMP_CWORD": "1"})):
        modules, _ = imported_modules(*args, env=env)
        loaded = sorted(m for m in modules if m.split(".")[0] in NOT_FOR_HELP)
        assert loaded == [], (args, loaded)
        # typer's shell detection (completion only) needs subprocess and socket
        assert ("socket" in modules) == bool(env), args
    for command in registered_commands():
        modules, _ = imported_modules(command, "--help")
        loaded = sorted(m for m in modules if m.split(".")[0] in NOT_FOR_HELP)
        assert loaded == [], (command, loaded)
