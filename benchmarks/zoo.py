"""Train every zoo model with its default recipe on real MNIST and print a table.

    python benchmarks/zoo.py --data DIR              # all models
    python benchmarks/zoo.py --data DIR cnn mlp      # some of them
    MNIST_MIRROR=DIR python benchmarks/zoo.py --json

Each model trains in its own subprocess (so the peak memory, ru_maxrss, is that model's
alone) through the same code path as `mnist train --model NAME` (mnistcli.training.train),
into a temporary run directory that is deleted afterwards. The Markdown table (or JSON
with --json) goes to stdout; progress goes to stderr. The data directory is --data, else
MNIST_MIRROR when it names a local directory, else the one `mnist download` fills.

Measured on a busy machine the seconds are pessimistic: run it when the machine is quiet.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))


# Trained by `make benchmarks-best` (benchmarks/cnn_best_search.py), not by default here:
# an hour or more of training would make the quick benchmarks slow.
LONG_MODELS = ("cnn-best",)


def default_data_dir() -> str | None:
    """MNIST_MIRROR when it is a local directory (or a file:// URL of one), else None
    (the loader then uses MNIST_HOME's copy)."""
    mirror = os.environ.get("MNIST_MIRROR", "").split(",")[0].split()
    if not mirror:
        return None
    value = mirror[0]
    if value.startswith("file://"):
        value = urlparse(value).path
    return value if Path(value).is_dir() else None


def train_one(model: str, data_dir: str | None, epochs: int | None = None,
              seed: int | None = None) -> dict:
    """Train ``model`` as `mnist train` would, in this process; the result as a dict."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from mnistcli.datasets import resolve_data_dir
    from mnistcli.models import get_model_spec
    from mnistcli.recipes import make_config
    from mnistcli.training import train

    spec = get_model_spec(model)
    data_dir = str(resolve_data_dir(data_dir))  # before MNIST_HOME moves to the scratch dir
    config = make_config(model, epochs=epochs, seed=seed, data_dir=data_dir)
    with tempfile.TemporaryDirectory(prefix="mnist-zoo-") as scratch:
        os.environ["MNIST_HOME"] = scratch  # nothing of the benchmark stays behind
        started = time.perf_counter()
        result = train(config, out=Path(scratch) / "run")
        wall = time.perf_counter() - started
    record = result.record
    epochs_done = record["epochs_completed"]
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "model": model,
        "epochs": epochs_done,
        "batch_size": config.batch_size,
        "test_accuracy": record["metrics"]["test_accuracy"],
        "target_accuracy": spec.target_accuracy,
        "training_seconds": record["training_seconds"],
        "seconds_per_epoch": record["training_seconds"] / max(1, epochs_done),
        "wall_seconds": round(wall, 1),
        "parameters": record["parameters"],
        "peak_memory_mib": round(peak_kib / 1024, 1),
    }


def run_in_subprocess(model: str, data_dir: str | None, epochs: int | None = None,
                      seed: int | None = None) -> dict:
    """:func:`train_one` in a fresh Python process (its own peak memory)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--one", model, "--json"]
    if data_dir is not None:
        command += ["--data", str(data_dir)]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    if seed is not None:
        command += ["--seed", str(seed)]
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"training {model} failed (exit {completed.returncode})")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| model | epochs | test accuracy | target | met | training s | s/epoch "
        "| parameters | peak memory MiB |",
        "|---|---:|---:|---:|:-:|---:|---:|---:|---:|",
    ]
    for row in rows:
        met = "yes" if row["test_accuracy"] >= row["target_accuracy"] else "NO"
        lines.append(
            f"| {row['model']} | {row['epochs']} | {row['test_accuracy']:.2%} "
            f"| {row['target_accuracy']:.1%} | {met} | {row['training_seconds']:.1f} "
            f"| {row['seconds_per_epoch']:.1f} | {row['parameters']:,} "
            f"| {row['peak_memory_mib']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="zoo models to train (default: all)")
    parser.add_argument("--data", default=default_data_dir(),
                        help="directory holding the four MNIST IDX files "
                             "(default: MNIST_MIRROR if a directory, else MNIST_HOME's)")
    parser.add_argument("--epochs", type=int, help="override the recipes' epochs")
    parser.add_argument("--seed", type=int, help="override the default seed")
    parser.add_argument("--json", action="store_true", help="JSON on stdout")
    parser.add_argument("--one", metavar="MODEL", help=argparse.SUPPRESS)  # worker mode
    args = parser.parse_args(argv)

    if args.one:
        from mnistcli.stdio import stdout_to_stderr

        with stdout_to_stderr():
            row = train_one(args.one, args.data, args.epochs, args.seed)
        print(json.dumps(row), flush=True)
        return 0

    from mnistcli.models import MODELS

    names = args.models or [name for name in MODELS if name not in LONG_MODELS]
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    rows = []
    for name in names:
        print(f"training {name} ...", file=sys.stderr, flush=True)
        row = run_in_subprocess(name, args.data, args.epochs, args.seed)
        print(f"  {name}: {row['test_accuracy']:.2%} in {row['training_seconds']:.0f} s",
              file=sys.stderr, flush=True)
        rows.append(row)
    print(json.dumps(rows, indent=2) if args.json else markdown_table(rows))
    return 0 if all(r["test_accuracy"] >= r["target_accuracy"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
