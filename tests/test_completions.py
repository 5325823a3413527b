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


def complete_words(words: str, **env: str) -> tuple[list[str], set[str]]:
    count = len(words.split()) - (0 if words.endswith(" ") else 1)
    stdout, modules = complete({"_MNIST_COMPLETE": "complete_bash", "COMP_WORDS": words,
                                "COMP_CWORD": str(count), **env})
    return stdout.split(), modules


@pytest.mark.parametrize("words,expected", [
    ("mnist train --model mlp", ["mlp", "mlp100", "mlp2"]),
    ("mnist download --dataset fash", ["fashion-mnist"]),
    ("mnist export --format s", ["savedmodel"]),
    ("mnist completion b", ["bash"]),
])
def test_values_complete_not_only_option_names(words, expected):
    found, modules = complete_words(words)
    assert found == expected
    assert not [m for m in modules if m.split(".")[0] in ("tensorflow", "keras")]


def test_run_names_complete_for_run_arguments(tmp_path):
    for name in ("20260101T000000Z-cnn", "20260102T000000Z-logreg", ".20260103-cnn.partial"):
        (tmp_path / "runs" / name).mkdir(parents=True)
    for words in ("mnist evaluate 2026", "mnist predict --model 2026",
                  "mnist plot-weights 2026", "mnist train --resume 2026"):
        found, modules = complete_words(words, MNIST_HOME=str(tmp_path))
        assert found == ["20260102T000000Z-logreg", "20260101T000000Z-cnn"], words
        assert "numpy" not in modules  # every Tab would pay for it


def test_completion_command_prints_the_committed_script():
    proc = subprocess.run([str(MNIST_SCRIPT), "completion", "bash"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (COMPLETIONS / "mnist.bash").read_text()


def test_completion_install_writes_where_the_shell_looks_and_keeps_foreign_files(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": "", "XDG_CONFIG_HOME": ""}
    proc = subprocess.run([str(MNIST_SCRIPT), "completion", "fish", "--install"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    target = tmp_path / ".config" / "fish" / "completions" / "mnist.fish"
    assert proc.stdout.strip() == str(target)
    assert target.read_text() == (COMPLETIONS / "mnist.fish").read_text()
    # installing again replaces our own file; a file of the user's is kept
    again = subprocess.run([str(MNIST_SCRIPT), "completion", "fish", "--install"],
                           capture_output=True, text=True, timeout=60, env=env)
    assert again.returncode == 0
    bash_target = tmp_path / ".local" / "share" / "bash-completion" / "completions" / "mnist"
    bash_target.parent.mkdir(parents=True)
    bash_target.write_text("# my own completion\n")
    refused = subprocess.run([str(MNIST_SCRIPT), "completion", "bash", "--install"],
                             capture_output=True, text=True, timeout=60, env=env)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert bash_target.read_text() == "# my own completion\n"
