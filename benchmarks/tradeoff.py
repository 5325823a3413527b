"""Knowing when not to answer: the accuracy/coverage trade-off and calibration.

    python benchmarks/tradeoff.py --data DIR                  # the shipped model
    python benchmarks/tradeoff.py --data DIR RUN [RUN ...]    # a run, or an ensemble

For the model (several runs: their average, as `mnist evaluate R1 R2` does) on the 10,000
MNIST test images: for a few confidence thresholds (`mnist predict --min-confidence P`),
the share of images answered and the accuracy of those answers; the threshold answering
99% of them (target: at least 99.9% of those answers right); and the expected
calibration error before and after temperature scaling, with the temperature fitted on
the 5,000 validation images (as `mnist calibrate` does; here it is not stored). The
Markdown goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo import default_data_dir  # noqa: E402

COVERAGE = 0.99
TARGET = 0.999


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help="run directories (default: the shipped model)")
    parser.add_argument("--data", default=default_data_dir(),
                        help="the four MNIST IDX files (default: MNIST_MIRROR if a "
                             "directory, else MNIST_HOME's)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from mnistcli.calibration import (
        apply_temperature,
        at_coverage,
        expected_calibration_error,
        fit_temperature,
        tradeoff,
    )
    from mnistcli.datasets import load_split
    from mnistcli.ensemble import describe_runs, load_runs_predictor
    from mnistcli.runs import load_run, shipped_model

    runs = [load_run(path) for path in args.runs] or [shipped_model()]
    name = (describe_runs(runs) if len(runs) > 1
            else f"{runs[0].model} ({'shipped' if runs[0].source == 'shipped' else 'run'})")
    # the models' own probabilities: the temperature is fitted here, not read from runs
    predictor = load_runs_predictor(runs, calibrate=False)
    test = load_split("test", args.data)
    validation = load_split("validation", args.data)
    probabilities = predictor.predict_proba(test.images)
    temperature = fit_temperature(predictor.predict_proba(validation.images),
                                  validation.labels)
    calibrated = apply_temperature(probabilities, temperature)
    accuracy = float((probabilities.argmax(axis=1) == test.labels).mean())

    lines = [f"Model: {name}; test accuracy {accuracy:.2%} (answering everything).", "",
             "| min confidence | answered | share answered | accuracy of answers "
             "| wrong answers | share answered (calibrated) | accuracy (calibrated) |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for raw, scaled in zip(tradeoff(probabilities, test.labels),
                           tradeoff(calibrated, test.labels), strict=True):
        lines.append(
            f"| {raw.threshold:g} | {raw.answered:,} | {raw.coverage:.2%} "
            f"| {raw.accuracy:.3%} | {raw.errors} | {scaled.coverage:.2%} "
            f"| {scaled.accuracy:.3%} |")
    at = at_coverage(probabilities, test.labels, COVERAGE)
    met = "met" if at.accuracy >= TARGET else "NOT met"
    ece_before = expected_calibration_error(probabilities, test.labels)
    ece_after = expected_calibration_error(calibrated, test.labels)
    lines += [
        "",
        f"Answering the {COVERAGE:.0%} most confident (min confidence {at.threshold:.4g}, "
        f"{at.answered:,} images): {at.accuracy:.2%} right, {at.errors} wrong "
        f"(target at least {TARGET:.1%}: {met}).",
        "",
        f"Expected calibration error (15 bins) on the test images: {ece_before:.4f} as "
        f"the model says; {ece_after:.4f} after temperature scaling (T = "
        f"{temperature:.3f}, fitted on the {len(validation):,} validation images; "
        f"T {'>' if temperature > 1 else '<'} 1: the model was "
        f"{'over' if temperature > 1 else 'under'}-confident).",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
