"""One device against tf.distribute replicas on this machine: `mnist train` on one
device, with `--distribute mirrored --cpu-replicas 2`, and as two workers on 127.0.0.1
(`--distribute multi-worker`), on real Fashion-MNIST.

    python benchmarks/replicas.py --from DIR [--model cnn] [--epochs 2]

Every training runs as `nice -n 19 mnist train --dataset fashion-mnist ...` in a scratch
MNIST_HOME (the data copied there with `mnist download --from DIR`). Prints a Markdown
table: replicas, global batch, learning rate, seconds per epoch, test accuracy. On a CPU
the replicas share the same cores, so the figures show the cost of the distribution
machinery (and that results match), not a speed-up; see docs/scaling.md for GPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def command(*args: str) -> list[str]:
    return ["nice", "-n", "19", sys.executable, "-m", "mnistcli", *args]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def row(label: str, summary: dict, record: dict, wall: float) -> str:
    distribution = record.get("distribution") or {}
    batch = distribution.get("global_batch", record["hyperparameters"]["batch_size"])
    rate = distribution.get("scaled_learning_rate",
                            record["hyperparameters"]["learning_rate"])
    per_epoch = summary["training_seconds"] / max(1, summary["epochs_completed"])
    return (f"| {label} | {distribution.get('replicas', 1)} | {batch} | {rate:g} | "
            f"{per_epoch:.1f} | {wall:.0f} | {summary['metrics']['test_accuracy']:.2%} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, required=True)
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--epochs", default="2")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mnist-replicas-") as home:
        env = {**os.environ, "MNIST_HOME": home, "TF_CPP_MIN_LOG_LEVEL": "3"}
        subprocess.run(command("download", "--dataset", "fashion-mnist", "--from",
                               str(args.source), "--quiet"), env=env, check=True,
                       stdout=subprocess.DEVNULL)
        # the same files for every worker (the other worker's MNIST_HOME is its own)
        data = str(Path(home) / "datasets" / "fashion-mnist")
        train = ["train", "--dataset", "fashion-mnist", "--data", data, "--model", args.model,
                 "--epochs", args.epochs, "--json", "--quiet"]
        for label, extra in (("one device", []),
                             ("mirrored, 2 CPU replicas",
                              ["--distribute", "mirrored", "--cpu-replicas", "2"])):
            print(f"== {label}", file=sys.stderr, flush=True)
            started = time.perf_counter()
            out = subprocess.run(command(*train, *extra), env=env, check=True,
                                 stdout=subprocess.PIPE, text=True).stdout
            wall = time.perf_counter() - started
            summary = json.loads(out)
            record = json.loads((Path(summary["run"]) / "run.json").read_text())
            rows.append(row(label, summary, record, wall))
        print("== multi-worker, 2 workers on 127.0.0.1", file=sys.stderr, flush=True)
        workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
        processes = []
        started = time.perf_counter()
        for index in (1, 0):
            config = {"cluster": {"worker": workers}, "task": {"type": "worker",
                                                               "index": index}}
            worker_env = {**env, "TF_CONFIG": json.dumps(config)}
            if index:  # the other worker's own home, which it must leave empty
                worker_env["MNIST_HOME"] = str(Path(home) / "worker-home")
            processes.append(subprocess.Popen(
                command(*train, "--distribute", "multi-worker"), env=worker_env,
                stdout=subprocess.PIPE, text=True))
        outputs = [process.communicate()[0] for process in processes]
        wall = time.perf_counter() - started
        summary = json.loads(outputs[1])
        record = json.loads((Path(summary["run"]) / "run.json").read_text())
        rows.append(row("multi-worker, 2 workers on 127.0.0.1", summary, record, wall))
    print(f"Model {args.model}, {args.epochs} epochs, Fashion-MNIST; {os.cpu_count()} CPUs, "
          "no GPU, shared with other work (`nice -n 19`).\n")
    print("| setup | replicas | global batch | learning rate | s/epoch | wall s "
          "| test accuracy |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
