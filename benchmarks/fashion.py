"""Fashion-MNIST with the default recipes: `mnist train --dataset fashion-mnist`.

    python benchmarks/fashion.py run --from DIR     # train cnn and logreg, write the results
    python benchmarks/fashion.py report             # print benchmarks/results/fashion.md

``run`` copies the four real files from DIR (or FASHION_MNIST_MIRROR) into a scratch
MNIST_HOME with `mnist download --dataset fashion-mnist --from DIR` (which checks them
against the registry's digests), trains each model with `nice -n 19 mnist train --dataset
fashion-mnist --model NAME --json` exactly as a user would, and writes the figures and the
commands into benchmarks/results/fashion.md; ``report`` prints that file for
BENCHMARKS.md (the trainings take a quarter of an hour on 2 CPUs, too long for
`make benchmarks`).

Targets: cnn >= 93.0% test accuracy in under 10 minutes of training, logreg >= 84%
(Zalando's benchmark page: the best classic classifier 89.7%, ResNet18 94.9%).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "fashion.md"
TARGETS = {"cnn": (0.930, 600.0), "logreg": (0.84, None)}


def mnist(*args: str, env: dict) -> subprocess.CompletedProcess:
    command = ["nice", "-n", "19", sys.executable, "-m", "mnistcli", *args]
    return subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True)


def load_average() -> str:
    try:
        return " / ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def run(source: Path, models: list[str]) -> str:
    rows = []
    with tempfile.TemporaryDirectory(prefix="mnist-fashion-") as home:
        env = {**os.environ, "MNIST_HOME": home, "TF_CPP_MIN_LOG_LEVEL": "3"}
        mnist("download", "--dataset", "fashion-mnist", "--from", str(source), "--quiet",
              env=env)
        for model in models:
            print(f"== {model}", file=sys.stderr, flush=True)
            load_before = load_average()
            started = time.perf_counter()
            result = json.loads(mnist("train", "--dataset", "fashion-mnist", "--model", model,
                                      "--json", env=env).stdout)
            wall = time.perf_counter() - started
            accuracy = result["metrics"]["test_accuracy"]
            target, seconds = TARGETS.get(model, (None, None))
            met = (target is None or accuracy >= target) and (
                seconds is None or result["training_seconds"] <= seconds)
            rows.append(f"| {model} | {result['epochs']} | {accuracy:.2%} | "
                        f"{'' if target is None else f'{target:.1%}'}"
                        f"{'' if seconds is None else f' in < {seconds / 60:.0f} min'} | "
                        f"{'yes' if met else 'no'} | {result['training_seconds']:.0f} | "
                        f"{wall:.0f} | {load_before} |")
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{os.cpu_count()} CPUs, no GPU, Python {platform.python_version()}, shared with "
        "other work (trainings run with `nice -n 19`; the load average before each is "
        "shown): the seconds are pessimistic.",
        "",
        "Commands: `mnist download --dataset fashion-mnist --from DIR`, then "
        "`nice -n 19 mnist train --dataset fashion-mnist --model NAME` (default recipe, "
        "seed 0; 55,000 training images, 5,000 for validation, tested on the 10,000 test "
        "images).",
        "",
        "| model | epochs | test accuracy | target | met | training s | wall s "
        "| load average (1/5/15 min) |",
        "|---|---:|---:|---|:-:|---:|---:|---|",
        *rows,
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("run", "report"))
    parser.add_argument("--from", dest="source", type=Path,
                        default=os.environ.get("FASHION_MNIST_MIRROR"),
                        help="directory holding Fashion-MNIST's four .gz files")
    parser.add_argument("models", nargs="*", default=["cnn", "logreg"])
    args = parser.parse_intermixed_args(argv)
    if args.action == "report":
        if not RESULTS.is_file():
            raise SystemExit(f"{RESULTS} is missing: run `python benchmarks/fashion.py run`")
        print(RESULTS.read_text(encoding="utf-8"), end="")
        return 0
    if args.source is None:
        parser.error("--from DIR (or FASHION_MNIST_MIRROR) is needed")
    report = run(args.source, args.models)
    if RESULTS.is_file():
        # keep the rows of the models not trained this time (`run --from DIR cnn`)
        kept = [line for line in RESULTS.read_text(encoding="utf-8").splitlines()
                if line.startswith("| ") and line.split("|")[1].strip() not in args.models
                and line.split("|")[1].strip() in TARGETS]
        report = report.rstrip("\n") + "\n" + "".join(f"{line}\n" for line in kept)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")
    print(report, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
