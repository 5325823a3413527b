"""Training beyond one device: the TF_CONFIG parser and the scaling rule (fast), and real
runs (slow, in subprocesses, since devices are fixed once TensorFlow starts): two CPU
replicas against one device, two workers on 127.0.0.1 publishing one run, and a worker
killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mnistcli.distribute import (
    Distribution,
    DistributionError,
    global_steps,
    parse_tf_config,
    warmup_steps,
)
from mnistcli.idx import write_idx

# ---------------------------------------------------------------- fast


def tf_config(workers: list[str], index: int, task_type: str = "worker",
              chief: list[str] | None = None) -> str:
    cluster = {"worker": workers, **({"chief": chief} if chief else {})}
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


def test_worker_zero_is_the_chief_without_a_chief_task():
    first = parse_tf_config(tf_config(["a:1", "b:1"], 0))
    second = parse_tf_config(tf_config(["a:1", "b:1"], 1))
    assert (first.is_chief, first.worker_index, first.workers) == (True, 0, 2)
    assert (second.is_chief, second.worker_index) == (False, 1)


def test_an_explicit_chief_is_worker_zero_and_workers_follow():
    chief = parse_tf_config(tf_config(["b:1"], 0, "chief", chief=["a:1"]))
    worker = parse_tf_config(tf_config(["b:1"], 0, "worker", chief=["a:1"]))
    assert (chief.is_chief, chief.worker_index, chief.workers) == (True, 0, 2)
    assert (worker.is_chief, worker.worker_index) == (False, 1)


@pytest.mark.parametrize("value, message", [
    ("", "needs the TF_CONFIG environment variable"),
    ("{not json", "not a valid cluster description"),
    ('{"cluster": {}}', "not a valid cluster description"),
    (tf_config(["a:1"], 3), "task worker 3 is not in the cluster"),
    (tf_config(["a:1"], 0, "ps"), "does not train here"),
])
def test_bad_tf_config_says_what_is_wrong(value, message):
    with pytest.raises(DistributionError, match=message):
        parse_tf_config(value)


@pytest.mark.parametrize("distribution, message", [
    (Distribution(strategy="ring"), "unknown distribution 'ring'; choose one of: mirrored"),
    (Distribution(device="tpu"), "unknown device 'tpu'; choose one of: cpu, gpu"),
    (Distribution(cpu_replicas=2), "give that too"),
    (Distribution("mirrored", cpu_replicas=0), "at least 1"),
    (Distribution("mirrored", cpu_replicas=2, device="gpu"), "does not go with --device gpu"),
])
def test_bad_distribution_options(distribution, message):
    with pytest.raises(DistributionError, match=message):
        distribution.check()


def test_warm_up_rule():
    # one replica, or a schedule with its own warm-up: none
    assert warmup_steps(1, "cosine", 100, 10) == 0
    assert warmup_steps(4, "onecycle", 100, 10) == 0
    # one epoch, at most a fifth of the run
    assert warmup_steps(2, "cosine", 100, 10) == 100
    assert warmup_steps(2, "constant", 100, 2) == 40


def test_global_steps_are_whole_global_batches():
    assert global_steps(1000, 64, 2, None) == 7  # 1000 // 128
    assert global_steps(1000, 64, 2, 3) == 3
    assert global_steps(10, 64, 2, None) == 1


def test_scaled_optimizer_warms_up_to_replicas_times_the_rate():
    from mnistcli.distribute import make_optimizer
    from mnistcli.recipes import make_config

    config = make_config("logreg", epochs=4, learning_rate=0.01)
    optimizer, rate, warmup = make_optimizer(config, steps_per_epoch=50, replicas=4)
    assert rate == pytest.approx(0.04) and warmup == 40  # a fifth of 200 steps
    schedule = optimizer._learning_rate
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(40)) == pytest.approx(0.04)
    assert float(schedule(199)) < 0.001  # cosine decay to 0 after the warm-up


# ---------------------------------------------------------------- slow

def learnable_dataset(directory: Path, n_train: int = 3000, n_test: int = 1000,
                      seed: int = 0) -> Path:
    """Ten noisy prototypes: a linear model learns them to ~90%, not 100%, so a
    difference between two trainings would show."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((10, 28, 28)) < 0.25

    def draw(count):
        labels = rng.integers(0, 10, count).astype(np.uint8)
        flips = rng.random((count, 28, 28)) < 0.4
        images = (prototypes[labels] ^ flips).astype(np.uint8) * 255
        return images, labels

    directory.mkdir(parents=True, exist_ok=True)
    for part, count in (("train", n_train), ("t10k", n_test)):
        images, labels = draw(count)
        write_idx(directory / f"{part}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{part}-labels-idx1-ubyte.gz", labels)
    return directory


def mnist(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mnistcli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=600, **kwargs)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def published_runs(home: Path) -> list[Path]:
    runs = home / "runs"
    return sorted(runs.iterdir()) if runs.is_dir() else []


@pytest.mark.slow
def test_two_cpu_replicas_reach_the_accuracy_of_one_device(tmp_path, mnist_home):
    # long enough for both to converge: the rule (twice the batch, twice the rate) must
    # lead to the same place, not take the same path
    data = learnable_dataset(tmp_path / "data", n_train=6000, n_test=2000)
    common = ["train", "--model", "logreg", "--data", str(data), "--validation", "500",
              "--epochs", "12", "--seed", "0", "--json", "--quiet"]
    one = mnist(*common, "--batch-size", "64")
    two = mnist(*common, "--batch-size", "64", "--distribute", "mirrored",
                "--cpu-replicas", "2")
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    single, mirrored = json.loads(one.stdout), json.loads(two.stdout)
    record = json.loads((Path(mirrored["run"]) / "run.json").read_text())
    assert record["distribution"]["replicas"] == 2
    assert record["distribution"]["devices"] == ["CPU:0", "CPU:1"]
    assert record["distribution"]["global_batch"] == 128
    assert record["distribution"]["scaled_learning_rate"] == pytest.approx(
        2 * single["hyperparameters"]["learning_rate"])
    a = single["metrics"]["test_accuracy"]
    b = mirrored["metrics"]["test_accuracy"]
    assert 0.6 < a < 0.995  # learned, and not trivially perfect
    assert abs(a - b) <= 0.003, (a, b)


def start_cluster(tmp_path: Path, mnist_home: Path, args: list[str]
                  ) -> tuple[subprocess.Popen, subprocess.Popen, Path]:
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    worker_home = tmp_path / "worker-home"
    processes = []
    for index, home in ((1, worker_home), (0, mnist_home)):
        env = {**os.environ, "TF_CONFIG": tf_config(workers, index), "MNIST_HOME": str(home),
               "MNIST_HEALTH_CHECK_SECONDS": "2"}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "mnistcli", "train", *args, "--distribute",
             "multi-worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True))
    worker, chief = processes
    return chief, worker, worker_home


@pytest.mark.slow
def test_two_workers_on_localhost_publish_exactly_one_run(tmp_path, mnist_home):
    from conftest import TINY_DATA

    chief, worker, worker_home = start_cluster(tmp_path, mnist_home, [
        "--model", "logreg", "--data", str(TINY_DATA), "--validation", "100",
        "--epochs", "2", "--batch-size", "32", "--json"])
    chief_out, chief_err = chief.communicate(timeout=600)
    worker_out, worker_err = worker.communicate(timeout=600)
    assert chief.returncode == 0, chief_err[-3000:]
    assert worker.returncode == 0, worker_err[-3000:]
    runs = published_runs(mnist_home)
    assert len(runs) == 1
    summary = json.loads(chief_out)
    assert Path(summary["run"]) == runs[0]
    record = json.loads((runs[0] / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["distribution"]["strategy"] == "multi-worker"
    assert record["distribution"]["workers"] == 2
    assert record["distribution"]["replicas"] == 2
    assert record["distribution"]["global_batch"] == 64
    # the other worker said it trained, printed no run and wrote nothing anywhere
    assert worker_out == ""
    assert "the chief worker writes the run" in worker_err
    assert "this is worker 1" in worker_err
    assert not worker_home.exists()


@pytest.mark.slow
def test_a_worker_killed_mid_run_fails_the_chief_and_publishes_nothing(tmp_path, mnist_home):
    from conftest import TINY_DATA

    chief, worker, worker_home = start_cluster(tmp_path, mnist_home, [
        "--model", "logreg", "--data", str(TINY_DATA), "--validation", "100",
        "--epochs", "500", "--batch-size", "8"])
    # wait until training is under way (the chief reports epochs on stderr)
    lines: list[str] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = chief.stderr.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("epoch 2/"):
            break
    assert any(line.startswith("epoch 2/") for line in lines), "".join(lines)[-3000:]
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=60)  # reaps it and closes its pipes
    chief_out, chief_err = chief.communicate(timeout=300)
    assert chief.returncode == 1
    assert "Error: distributed training stopped: another worker of the cluster failed" \
        in chief_err
    assert "nothing was published" in chief_err
    assert chief_out == ""
    runs = mnist_home / "runs"
    # no run, not even a partial one left behind
    assert not runs.exists() or list(runs.iterdir()) == []
