#!/usr/bin/env python3
"""Run every benchmark and write BENCHMARKS.md (what `make benchmarks` does).

    python benchmarks/run_all.py --out BENCHMARKS.md
    python benchmarks/run_all.py --only zoo,predict --out /tmp/partial.md

Each benchmark is a script beside this one, run in its own process; its Markdown output
goes into the report under the command that reproduces it. Progress goes to stderr.
Needs the real MNIST files: MNIST_MIRROR naming a directory, or `mnist download` done.
Run it on a quiet machine: the seconds are wall-clock times.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# name -> (script and arguments, what it measures)
BENCHMARKS = {
    "zoo": (["benchmarks/zoo.py"],
            "Every zoo model trained with its default recipe (`mnist train --model NAME`, "
            "seed 0) on the 55,000 training images, tested on the 10,000 test images."),
    "convnet": (["benchmarks/reference_convnet.py"],
                "Time to 99.0% test accuracy: the keras.io \"simple MNIST convnet\" recipe "
                "against the shortest `mnist train --model cnn --epochs N` that reaches it."),
    "predict": (["benchmarks/predict_speed.py"],
                "Start-up and throughput of `mnist predict` and `mnist evaluate` (LiteRT), "
                "against the classic tutorial way of predicting one image."),
    "serve": (["benchmarks/serve_load.py"],
              "`mnist serve` under load: 8 concurrent clients posting a mix of 28x28 to "
              "600x600 PNGs for 20 s on loopback (the load generator shares the 2 cores); "
              "latencies as the server measures them; resident memory over 10,000 "
              "requests; time from starting the command to `/healthz`."),
    "realworld": (["benchmarks/realworld_accuracy.py"],
                  "People's images, generated (benchmarks/realworld.py): single digits from "
                  "Debian's font faces and synthetic handwriting through scan and photo "
                  "degradations, and whole numbers, read by the shipped model."),
    "tradeoff": (["benchmarks/tradeoff.py"],
                 "Knowing when not to answer: the shipped model on the 10,000 test images, "
                 "answering only at a confidence of at least P (`mnist predict "
                 "--min-confidence P`), and its calibration error before and after "
                 "temperature scaling."),
    "fashion": (["benchmarks/fashion.py", "report"],
                "Fashion-MNIST with the default recipes (`mnist train --dataset "
                "fashion-mnist --model NAME`): targets cnn >= 93.0% in under 10 minutes, "
                "logreg >= 84%. The trainings take a quarter of an hour: `python "
                "benchmarks/fashion.py run --from DIR` runs them and writes "
                "benchmarks/results/fashion.md; this section copies that file."),
    "cnn-best": (["benchmarks/cnn_best_search.py", "report"],
                 "The cnn-best preset: candidates chosen on the validation split, then the "
                 "chosen recipe and the default cnn over three seeds each, alone and as "
                 "ensembles (probabilities averaged). The trainings take hours: `make "
                 "benchmarks-best` runs them, keeping every result in "
                 "benchmarks/results/cnn_best.jsonl (and the tables in cnn_best.md); this "
                 "section prints those tables."),
}


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    versions = []
    for package in ("tensorflow-cpu", "tensorflow", "keras", "ai-edge-litert"):
        try:
            versions.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            continue
    return (f"{os.cpu_count()} CPUs ({cpu}), no GPU; Python {platform.python_version()}; "
            + ", ".join(versions))


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def run_benchmark(name: str) -> tuple[str, float]:
    script, _ = BENCHMARKS[name]
    command = [sys.executable, *script]
    print(f"== {name}: {' '.join(script)}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    # stderr (progress) passes through; stdout is the Markdown for the report. A benchmark
    # that misses its target still reports: the table says which targets were met.
    completed = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if not completed.stdout.strip():
        raise SystemExit(f"{name} printed nothing (exit {completed.returncode})")
    return completed.stdout.strip(), elapsed


def existing_sections(report: str) -> dict[str, str]:
    """The report's "## name" sections, each with its heading, by name."""
    sections: dict[str, str] = {}
    for chunk in report.split("\n## ")[1:]:
        name = chunk.split("\n", 1)[0].strip()
        sections[name] = ("## " + chunk).rstrip()
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the report here (else stdout)")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--update", action="store_true",
                        help="with --only and --out: rewrite only those sections of the "
                        "existing report, keeping the others as they were measured")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from "
                     f"{', '.join(BENCHMARKS)}")

    kept = {}
    if args.update:
        if args.out is None or not args.out.is_file():
            parser.error("--update rewrites sections of an existing --out report")
        kept = existing_sections(args.out.read_text(encoding="utf-8"))
    sections = [
        "# Benchmarks",
        "",
        "Every number below was printed by a script in `benchmarks/`; this file is written "
        "by `make benchmarks` (`python benchmarks/run_all.py --out BENCHMARKS.md`) with "
        "the real MNIST files (`MNIST_MIRROR=DIR` or after `mnist download`). Each section "
        "says when it was measured; `--only NAME --update` remeasures one.",
        "",
        f"Machine: {machine_line()}.",
    ]
    for name in BENCHMARKS:
        if name not in names:
            if name in kept:
                sections += ["", kept[name]]
            continue
        script, what = BENCHMARKS[name]
        output, elapsed = run_benchmark(name)
        sections += ["", f"## {name}", "", what, "", "Reproduce: `.venv/bin/python "
                     f"{' '.join(script)}` ({duration(elapsed)} here, measured "
                     f"{time.strftime('%Y-%m-%d', time.gmtime())})", "", output]
    report = "\n".join(sections) + "\n"
    if args.out is None:
        print(report, end="")
    else:
        from mnistcli.fsutil import write_text_atomic

        write_text_atomic(args.out, report)
        print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
