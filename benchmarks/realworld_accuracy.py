#!/usr/bin/env python3
"""The shipped model on the generated real-world set (benchmarks/realworld.py).

    python benchmarks/realworld_accuracy.py                # 3,400 digits, 400 numbers
    python benchmarks/realworld_accuracy.py --digits 1700 --numbers 200 --seed 1
    python benchmarks/realworld_accuracy.py --save-failures DIR   # the misread images

Prints a Markdown section and writes it to benchmarks/results/realworld.md (``--out``):
single-digit accuracy per source (font faces, synthetic handwriting strokes) and per
degradation, the most frequent confusions, and the share of numbers read exactly: by
``mnistcli.numbers.read_number`` and, as the baseline, by a naive split at empty columns.
An image refused by preprocessing ("no ink found") counts as wrong.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks import realworld  # noqa: E402
from mnistcli.errors import ImageError  # noqa: E402
from mnistcli.inference import load_predictor  # noqa: E402
from mnistcli.preprocess import ink_map, normalise_ink, preprocess, to_grey  # noqa: E402
from mnistcli.runs import shipped_model  # noqa: E402

# Issue 12's targets
DIGIT_TARGET = 0.985
NUMBER_TARGET = 0.95
# The same set (seed 0, 3,400 digits) and model before this work's preprocessing changes
# (ink_map with fixed contrast thresholds, no thinning of fat strokes, a plane for the
# light), measured at commit 256cf9d; kept here since that code is gone.
BEFORE = {
    "all": 0.9568, "font": 0.9300, "stroke": 0.9835,
    "clean": 0.985, "blur": 0.985, "jpeg": 0.980, "lowres": 0.975, "light": 0.915,
    "faint": 0.750, "thick": 0.910, "thin": 0.950, "noise": 0.975, "texture": 0.985,
    "rotate": 0.985, "inverted": 0.990, "colour": 0.980, "transparent": 0.980,
    "offcentre": 0.985, "tiny": 0.950, "huge": 0.985,
}
BEFORE_NOTE = ("the same images and model with the preprocessing of commit 256cf9d "
               "(fixed ink thresholds; 54 images refused as \"no ink\"), seed 0, 3,400 "
               "digits only")


# What the remaining failures look like: written after looking at them (the misread
# images of --save-failures, `mnist inspect IMAGE` and `mnist predict --number --show`).
CLOSING_NOTE = (
    "Remaining failures, looked at with `--save-failures DIR`, `mnist inspect IMAGE` and "
    "`mnist predict --number --show`: a third of the single-digit mistakes are font 1s "
    "with a flag and a foot (Roboto, Open Sans and other sans faces, italics) read as 7 "
    "- the model never saw a 1 drawn like that, preprocessing cannot help; then bold "
    "faces whose 8, 9 and 6 keep too little hole even after thinning (8 as 0, 9 as 8), "
    "digits 7-13 px tall, and a few photos whose light changes faster than a 5x5 grid. "
    "Numbers fail mostly on touching pairs that overlap in columns (a 1 tucked under a "
    "7's arm, a 2's foot running under the next digit): every upright cut leaves part of "
    "one digit in the other's crop, and the model reads such halves (or the unsplit "
    "pair) with confidence; and on broken strokes in small, blurred numbers, where a "
    "piece reads confidently as a 1 on its own.")


def before(key: str, seed: int, count: int) -> str:
    return f"{BEFORE[key]:.2%}" if seed == 0 and count == 3400 and key in BEFORE else "-"


def percent(right: int, total: int) -> str:
    return f"{right / total:.2%}" if total else "-"


def digits_report(predictor, count: int, seed: int, failures: Path | None) -> list[str]:
    pixels, labels, samples, refused = [], [], [], []
    for sample in realworld.digit_set(count, seed):
        try:
            pixels.append(preprocess(sample.image))
        except ImageError:
            pixels.append(np.zeros((28, 28), np.uint8))
            refused.append(len(samples))
        labels.append(int(sample.label))
        samples.append((sample.source, sample.degradation, sample.detail))
        if failures is not None:
            sample.image.save(failures / f"_tmp_{len(samples) - 1}.png")
    probabilities = predictor.predict_proba(np.stack(pixels))
    predicted = probabilities.argmax(axis=1)
    predicted[refused] = -1
    labels_array = np.array(labels)
    right = predicted == labels_array
    by_source: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    by_degradation: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for ok, (source, degradation, _detail) in zip(right, samples, strict=True):
        by_source[source][0] += int(ok)
        by_source[source][1] += 1
        by_degradation[degradation][0] += int(ok)
        by_degradation[degradation][1] += 1
    confusions = collections.Counter(
        (int(t), int(p)) for t, p in zip(labels_array[~right], predicted[~right], strict=True))
    if failures is not None:
        for index in range(len(samples)):
            temporary = failures / f"_tmp_{index}.png"
            if right[index]:
                temporary.unlink()
            else:
                source, degradation, detail = samples[index]
                got = "refused" if predicted[index] < 0 else str(predicted[index])
                temporary.rename(failures / f"d{index:05d}_{labels[index]}_as_{got}_{source}_"
                                 f"{degradation}_{detail.get('font', '')}.png")
    lines = [
        f"Single digits: **{percent(int(right.sum()), len(right))}** of {len(right):,} read "
        f"correctly ({len(refused)} refused as \"no ink\"); before: "
        f"{before('all', seed, count)} ({BEFORE_NOTE}).", "",
        "| source | images | before | accuracy |", "|---|---:|---:|---:|",
    ]
    for source, (ok, total) in sorted(by_source.items()):
        lines.append(f"| {source} | {total} | {before(source, seed, count)} | "
                     f"{percent(ok, total)} |")
    lines += ["", "| degradation | images | before | accuracy |", "|---|---:|---:|---:|"]
    for degradation in realworld.DEGRADATIONS:
        ok, total = by_degradation[degradation]
        lines.append(f"| {degradation} | {total} | {before(degradation, seed, count)} | "
                     f"{percent(ok, total)} |")
    top = ", ".join(f"{t} as {'refused' if p < 0 else p} ({n})"
                    for (t, p), n in confusions.most_common(8))
    met = "met" if right.mean() >= DIGIT_TARGET else "not met"
    lines += ["", f"Most frequent mistakes: {top or 'none'}.", "",
              f"Target (issue 12): at least {DIGIT_TARGET:.1%} of single digits: {met}."]
    return lines


def naive_number(image, predictor) -> str:
    """The baseline: split the ink at empty columns, read each part as one digit."""
    try:
        ink = ink_map(to_grey(image))
    except ImageError:
        return ""
    filled = ink.max(axis=0) > 0
    parts, start = [], None
    for x, on in enumerate(np.append(filled, False)):
        if on and start is None:
            start = x
        elif not on and start is not None:
            parts.append((start, x))
            start = None
    crops = []
    for a, b in parts:
        try:
            crops.append(normalise_ink(ink[:, a:b]))
        except ImageError:
            continue
    if not crops:
        return ""
    return "".join(str(d) for d in predictor.predict_proba(np.stack(crops)).argmax(axis=1))


def numbers_report(predictor, count: int, seed: int, failures: Path | None) -> list[str]:
    try:
        from mnistcli.numbers import read_number
    except ImportError:
        read_number = None
    rows: dict[str, list[int]] = {"naive column split": [0, 0]}
    if read_number is not None:
        rows["mnistcli.numbers.read_number"] = [0, 0]
    by_feature: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for index, sample in enumerate(realworld.number_set(count, seed)):
        naive = naive_number(sample.image, predictor)
        rows["naive column split"][0] += naive == sample.label
        rows["naive column split"][1] += 1
        if read_number is None:
            continue
        try:
            reading = read_number(sample.image, predictor).number
        except ImageError:
            reading = ""
        ok = reading == sample.label
        rows["mnistcli.numbers.read_number"][0] += ok
        rows["mnistcli.numbers.read_number"][1] += 1
        for feature in sample.detail["features"] or ["plain"]:
            by_feature[feature][0] += ok
            by_feature[feature][1] += 1
        if failures is not None and not ok:
            sample.image.save(failures / f"n{index:05d}_{sample.label}_as_{reading or 'none'}_"
                              f"{sample.degradation}.png")
    lines = ["| reader | numbers | read exactly |", "|---|---:|---:|"]
    for name, (ok, total) in rows.items():
        lines.append(f"| {name} | {total} | {percent(ok, total)} |")
    if read_number is not None:
        ok, total = rows["mnistcli.numbers.read_number"]
        met = "met" if total and ok / total >= NUMBER_TARGET else "not met"
        lines += ["", f"Target (issue 12): at least {NUMBER_TARGET:.0%} of numbers read "
                  f"exactly: {met}."]
    if by_feature:
        lines += ["", "By feature (a number may have several), read_number:", "",
                  "| feature | numbers | read exactly |", "|---|---:|---:|"]
        for feature, (ok, total) in sorted(by_feature.items()):
            lines.append(f"| {feature} | {total} | {percent(ok, total)} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=3400)
    parser.add_argument("--numbers", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(HERE / "results" / "realworld.md"),
                        help="where to write the Markdown too ('' for nowhere)")
    parser.add_argument("--save-failures", metavar="DIR", default=None)
    args = parser.parse_args()
    failures = Path(args.save_failures) if args.save_failures else None
    if failures is not None:
        failures.mkdir(parents=True, exist_ok=True)
    run = shipped_model()
    predictor = load_predictor(run.model_file())
    started = time.perf_counter()
    lines = [
        f"The shipped model ({run.model_file().name}) on generated real-world images "
        f"(`benchmarks/realworld.py`, seed {args.seed}): digits rendered with "
        f"{len(realworld.font_files())} installed font faces and as synthetic handwriting "
        "strokes, each through one degradation of a scan or phone photo; and numbers of 2 "
        "to 6 digits (varied spacing, touching pairs, broken strokes, detached 5-tops, "
        "specks, underlines, drifting baselines, different heights). Nothing comes from "
        "MNIST or any other digit dataset. The model is unchanged by this work: its MNIST "
        f"test accuracy is {run.test_accuracy:.2%}, and the MNIST test images pass "
        "preprocessing unchanged." if run.test_accuracy is not None else
        "MNIST or any other digit dataset.",
        "",
    ]
    if args.digits:
        lines += digits_report(predictor, args.digits, args.seed, failures) + [""]
    if args.numbers:
        lines += numbers_report(predictor, args.numbers, args.seed, failures) + [""]
    lines += [CLOSING_NOTE, ""]
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    text = "\n".join(lines).rstrip() + "\n"
    print(text, end="")  # the body, as benchmarks/run_all.py puts it under its heading
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        reproduce = (f"Reproduce: `.venv/bin/python benchmarks/realworld_accuracy.py "
                     f"--digits {args.digits} --numbers {args.numbers} --seed {args.seed}`")
        Path(args.out).write_text(f"## realworld\n\n{reproduce}\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
