"""Shell completion: the committed scripts are up to date, and completing really works."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mnistcli.completions import SCRIPT_NAMES, completion_scripts

REPO = Path(__file__).resolve().parent.parent
COMPLETIONS = REPO / "completions"
BIN = Path(sys.executable).parent
MNIST_SCRIPT = BIN / "mnist"


@pytest.mark.parametrize("name", SCRIPT_NAMES.values())
def test_committed_scripts_are_up_to_date(name):
    committed = COMPLETIONS / name
    assert committed.is_file(), f"{committed} missing: run `make completions`"
    assert committed.read_text() == completion_scripts()[name], (
        f"completions/{name} is out of date: run `make completions`"
    )


def test_generator_writes_all_three(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mnistcli.completions", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SCRIPT_NAMES.values())
    assert "_MNIST_COMPLETE=complete_bash" in (tmp_path / "mnist.bash").read_text()
    assert (tmp_path / "_mnist").read_text().startswith("#compdef mnist")
    assert "complete --command mnist" in (tmp_path / "mnist.fish").read_text()


def complete(env: dict[str, str]) -> tuple[str, set[str]]:
    """Run the completion protocol against the installed `mnist`; (stdout, modules)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(MNIST_SCRIPT)],
        capture_output=True, text=True, timeout=60, env={**os.environ, **env},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    return proc.stdout, modules


def test_bash_protocol_offers_download_without_tensorflow():
    stdout, modules = complete({"_MNIST_COMPLETE": "complete_bash",
                                "COMP_WORDS": "mnist do", "COMP_CWORD": "1"})
    assert stdout.split() == ["download"]
    assert "mnistcli.cli" in modules
    assert not [m for m in modules if m.split(".")[0] in ("tensorflow", "keras")]


def test_bash_protocol_completes_options():
    stdout, _ = complete({"_MNIST_COMPLETE": "complete_bash",
                          "COMP_WORDS": "mnist download --fo", "COMP_CWORD": "2"})
    assert stdout.split() == ["--force"]


def script_env(name: str, command_line: str) -> dict[str, str]:
    """The environment a committed zsh/fish script sets when it calls `mnist` (its first
    `env ... mnist` call), with the shell's current command line filled in."""
    call = re.search(r"env (.*?) mnist\)", (COMPLETIONS / name).read_text()).group(1)
    env = {}
    for assignment in re.findall(r'(\w+)=("[^"]*"|\([^)]*\)|\S+)', call):
        key, value = assignment
        env[key] = command_line if key == "_TYPER_COMPLETE_ARGS" else value
    return env


def test_zsh_script_protocol_offers_download():
    env = script_env("_mnist", "mnist do")
    assert env["_MNIST_COMPLETE"] == "complete_zsh"
    zsh, _ = complete(env)
    assert zsh.startswith("_arguments") and '"download"' in zsh


def test_fish_script_protocol_gives_one_line_per_candidate():
    env = script_env("mnist.fish", "mnist do")
    assert env["_MNIST_COMPLETE"] == "complete_fish"
    fish, _ = complete(env)
    assert fish.split("\t")[0] == "download"
    # every option on one line with its help, however long the help text
    options, _ = complete(script_env("mnist.fish", "mnist download --"))
    lines = options.splitlines()
    assert "--mirror" in [line.split("\t")[0] for line in lines]
    assert all(line.startswith("--") and "\t" in line for line in lines), lines


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_committed_bash_script_completes_in_bash():
    """Source completions/mnist.bash in a real bash and press <Tab> after `mnist do`."""
    script = (
        f"source {COMPLETIONS / 'mnist.bash'}\n"
        "COMP_WORDS=(mnist do); COMP_CWORD=1\n"
        "_mnist_completion mnist\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["download"]
