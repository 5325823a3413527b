"""Whole commands through real processes and pipes, as a user's shell runs them."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY_DATA

pytestmark = pytest.mark.slow

MNIST = f"{shlex.quote(sys.executable)} -m mnistcli"
TINY = f"--data {shlex.quote(str(TINY_DATA))} --validation 100"


def shell(command: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def history_epochs(run_dir: Path) -> list[int]:
    with open(run_dir / "history.csv", newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def test_train_path_piped_into_evaluate(mnist_home):
    done = shell(f"{MNIST} train --model logreg {TINY} --epochs 2 --batch-size 32 "
                 f"| {MNIST} evaluate --json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    run_dir = Path(report["run"])
    assert run_dir.parent == mnist_home / "runs"
    record = json.loads((run_dir / "run.json").read_text())
    # evaluate used the run's own data (the fixture) and agrees with what train measured
    assert report["data"] == str(TINY_DATA.resolve()) and report["images"] == 200
    assert report["backend"] == "litert"
    assert report["accuracy"] == pytest.approx(record["metrics"]["test_accuracy"], abs=1e-6)
    assert report["loss"] == pytest.approx(record["metrics"]["test_loss"], abs=1e-4)
    assert "epoch 2/2" in done.stderr  # training progress went to stderr, not into the pipe


def test_train_json_piped_into_evaluate(mnist_home):
    done = shell(f"{MNIST} train --json --quiet --model logreg {TINY} --epochs 1 "
                 f"--batch-size 32 | {MNIST} evaluate --json --quiet")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["model"] == "logreg" and report["split"] == "test"
    (run_dir,) = (mnist_home / "runs").iterdir()
    assert report["run"] == str(run_dir)
    assert 0.0 <= report["accuracy"] <= 1.0 and len(report["confusion"]) == 10


def test_ctrl_c_leaves_an_interrupted_run_that_resume_completes(mnist_home):
    epochs = 20
    # batch size 4: 125 batches per epoch, slow enough to interrupt in the middle
    command = [sys.executable, "-m", "mnistcli", "train", "--model", "logreg",
               "--data", str(TINY_DATA), "--validation", "100", "--epochs", str(epochs),
               "--batch-size", "4"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True)
    seen = []
    deadline = time.monotonic() + 120
    try:
        for line in process.stderr:
            seen.append(line)
            if line.startswith(f"epoch 2/{epochs}"):
                process.send_signal(signal.SIGINT)  # what Ctrl-C sends
                break
            assert time.monotonic() < deadline, "training never reached epoch 2"
        stdout, rest = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = "".join(seen) + rest
    assert process.returncode == 130, stderr
    assert "Interrupted" in stderr
    run_dir = Path(stdout.strip())
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "interrupted"
    completed = record["epochs_completed"]
    assert 2 <= completed < epochs
    assert history_epochs(run_dir) == list(range(1, completed + 1))
    assert sorted(os.listdir(mnist_home / "runs")) == [run_dir.name]  # no partial dir

    listed = shell(f"{MNIST} runs")
    assert listed.stdout.split("\t")[2] == "interrupted"

    resumed = shell(f"{MNIST} train --resume {shlex.quote(str(run_dir))}")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == str(run_dir)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "completed" and record["epochs_completed"] == epochs
    assert history_epochs(run_dir) == list(range(1, epochs + 1))
    assert f"from epoch {completed + 1}" in resumed.stderr
    assert sorted(os.listdir(mnist_home / "runs")) == [run_dir.name]


@pytest.mark.realdata
def test_logreg_on_real_mnist_beats_90_percent(real_mnist_mirror, mnist_home):
    done = shell(f"{MNIST} train --model logreg --epochs 1 "
                 f"--data {shlex.quote(str(real_mnist_mirror))} "
                 f"| {MNIST} evaluate --json --quiet", timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["images"] == 10_000
    assert report["accuracy"] > 0.90
