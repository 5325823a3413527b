#!/usr/bin/env python3
"""How fast `mnist predict` and `mnist evaluate` are, against their targets.

Prints a Markdown table on stdout (progress on stderr):

- `mnist --help`: wall time of a new process, median of --runs (target: at most 0.2 s);
- cold `mnist predict one.png`: wall time of a new process each time, median of --runs
  (target: at most 0.5 s);
- the classic tutorial way, measured in the same run: a Python script that imports
  tensorflow, loads the run's model.keras and predicts the same image; the ratio
  (target: predict at least 15 times faster);
- `mnist predict DIR` on directories of --images real MNIST test images written as PNG
  files into a temporary directory (deleted afterwards; never in the repository), end to
  end, in images per second (target: at least 4,000/s for each): white ink on black at
  28x28 as MNIST stores them; dark ink on light paper (the case users have) at a mix of
  sizes from 28 to 112 pixels; and a mix of both polarities and sizes;
- `mnist evaluate` on the test split against the model's own LiteRT inference time over
  the same images, measured in-process (target: evaluate adds at most 1 s).

Needs a trained run (``--model RUN``, else the latest run in MNIST_HOME, else the shipped
model; the tutorial comparison needs the run's model.keras) and the real MNIST files
(``--data DIR``, else MNIST_MIRROR when it is a directory, else MNIST_HOME's copy).

    .venv/bin/python benchmarks/predict_speed.py                    # the full measurement
    .venv/bin/python benchmarks/predict_speed.py --quick            # a small, fast check
    .venv/bin/python benchmarks/predict_speed.py --model RUN --runs 15
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout even when the package is not installed
    sys.path.insert(0, str(REPO))

ONE_IMAGE = REPO / "fixtures" / "images" / "3_black_on_white.png"  # like test_img.png

HELP_TARGET_SECONDS = 0.2
COLD_TARGET_SECONDS = 0.5
TUTORIAL_RATIO_TARGET = 15.0
DIRECTORY_TARGET_PER_SECOND = 4000.0
# Sides of the dark-on-light images: MNIST digits as a user's scans or drawings come.
USER_SIDES = (28, 40, 56, 84, 112)
EVALUATE_OVERHEAD_TARGET_SECONDS = 1.0

# The classic way: import tensorflow, load the Keras model, prepare the image by hand.
TUTORIAL_SCRIPT = """\
import sys

import numpy as np
import tensorflow as tf
from PIL import Image

model = tf.keras.models.load_model(sys.argv[1])
image = Image.open(sys.argv[2]).convert("L").resize((28, 28))
pixels = (255 - np.asarray(image, dtype="float32")) / 255.0  # black on white -> MNIST
print(int(np.argmax(model.predict(pixels.reshape(1, 28, 28, 1), verbose=0))))
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def mnist_command() -> list[str]:
    """The installed `mnist` script beside this Python, as a user runs it."""
    script = Path(sys.executable).parent / "mnist"
    if script.is_file():
        return [str(script)]
    found = shutil.which("mnist")
    return [found] if found else [sys.executable, "-m", "mnistcli"]


def timed(command: list[str], env: dict[str, str], stdout=subprocess.DEVNULL) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}\n"
                         f"{result.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def median_time(command: list[str], env: dict[str, str], runs: int, warmup: int = 1) -> float:
    for _ in range(warmup):  # fills the OS file cache; every timed run is a new process
        timed(command, env)
    return statistics.median(timed(command, env) for _ in range(runs))


def default_data_dir() -> Path:
    from mnistcli.datasets import resolve_data_dir
    from mnistcli.home import MIRROR_ENV

    mirror = os.environ.get(MIRROR_ENV, "").removeprefix("file://")
    if mirror and Path(mirror).is_dir():
        return Path(mirror)
    return resolve_data_dir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="run directory or model file [default: latest run]")
    parser.add_argument("--data", type=Path, help="directory with the four MNIST IDX files")
    parser.add_argument("--runs", type=int, default=10, help="cold predict runs (median)")
    parser.add_argument("--tutorial-runs", type=int, default=3, help="tutorial script runs")
    parser.add_argument("--images", type=int, default=10_000,
                        help="test images written as PNG for the directory measurement")
    parser.add_argument("--repeat", type=int, default=3,
                        help="repetitions of the directory and evaluate measurements")
    parser.add_argument("--quick", action="store_true",
                        help="a small check: 3 runs, 1 tutorial run, 1,000 images, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.tutorial_runs, args.images, args.repeat = 3, 1, 1000, 1

    import numpy as np
    from PIL import Image

    from mnistcli.datasets import load_split
    from mnistcli.inference import load_predictor
    from mnistcli.runs import resolve_run

    run = resolve_run(args.model)
    model_path = run.model_file()
    data_dir = args.data or default_data_dir()
    test = load_split("test", data_dir=data_dir)
    count = min(args.images, len(test))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    mnist = mnist_command()
    log(f"model {model_path} ({run.source}); data {data_dir}; {os.cpu_count()} CPUs")
    rows: list[tuple[str, str, str, str]] = []

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("yes" if ok else "NO")

    with tempfile.TemporaryDirectory(prefix="mnist-predict-bench-") as scratch:
        scratch = Path(scratch)
        one = ONE_IMAGE
        if not one.is_file():  # a checkout without fixtures: the first test digit
            one = scratch / "one.png"
            Image.fromarray(255 - test.images[0]).save(one)

        log(f"`mnist --help`, median of {args.runs} ...")
        help_seconds = median_time([*mnist, "--help"], env, args.runs)
        rows.append(("`mnist --help` (wall, median)", f"{help_seconds:.3f} s",
                     f"<= {HELP_TARGET_SECONDS} s", verdict(help_seconds <= HELP_TARGET_SECONDS)))

        log(f"cold `mnist predict one.png`, median of {args.runs} ...")
        cold = median_time([*mnist, "predict", "-q", "--model", str(model_path), str(one)],
                           env, args.runs)
        rows.append(("cold `mnist predict one.png` (wall, median)", f"{cold:.3f} s",
                     f"<= {COLD_TARGET_SECONDS} s", verdict(cold <= COLD_TARGET_SECONDS)))

        keras_path = run.keras_path
        if keras_path is not None and keras_path.is_file():
            script = scratch / "tutorial_predict.py"
            script.write_text(TUTORIAL_SCRIPT, encoding="utf-8")
            log(f"the tutorial way (import tensorflow, load .keras), median of "
                f"{args.tutorial_runs} ...")
            tutorial = median_time([sys.executable, str(script), str(keras_path), str(one)],
                                   env, args.tutorial_runs, warmup=0)
            ratio = tutorial / cold
            rows.append(("tutorial script: tensorflow + .keras, one image (wall, median)",
                         f"{tutorial:.3f} s", "", ""))
            rows.append(("speed-up of `mnist predict` over the tutorial way", f"{ratio:.1f}x",
                         f">= {TUTORIAL_RATIO_TARGET:.0f}x",
                         verdict(ratio >= TUTORIAL_RATIO_TARGET)))
        else:
            rows.append(("tutorial script: tensorflow + .keras, one image",
                         "n/a (the model has no .keras file)", "", "n/a"))

        def user_image(index: int, dark_on_light: bool) -> Image.Image:
            picture = Image.fromarray(test.images[index])
            side = USER_SIDES[index % len(USER_SIDES)]
            if side != 28:
                picture = picture.resize((side, side), Image.Resampling.BILINEAR)
            return Image.eval(picture, lambda v: 255 - v) if dark_on_light else picture

        sets = {
            "white on black, 28x28 (as MNIST stores them)":
                lambda i: Image.fromarray(test.images[i]),
            "dark ink on light paper, 28-112 px": lambda i: user_image(i, True),
            "mixed polarity and sizes": lambda i: user_image(i, i % 2 == 0),
        }
        for label, make in sets.items():
            directory = scratch / f"pngs-{len(os.listdir(scratch))}"
            directory.mkdir()
            log(f"writing {count:,} test images as PNG files: {label} ...")
            for index in range(count):
                make(index).save(directory / f"{index:05d}_{test.labels[index]}.png")
            log(f"`mnist predict DIR` on {count:,} PNGs, {args.repeat} time(s) ...")
            output = scratch / "predictions.tsv"
            seconds = []
            for _ in range(args.repeat):
                with open(output, "wb") as handle:
                    seconds.append(timed([*mnist, "predict", "-q", "--model",
                                          str(model_path), str(directory)], env,
                                         stdout=handle))
            lines = output.read_text(encoding="utf-8").splitlines()
            if len(lines) != count:
                raise SystemExit(f"`mnist predict DIR` printed {len(lines)} lines for "
                                 f"{count} images")
            correct = sum(Path(line.split("\t")[0]).stem.rsplit("_", 1)[1]
                          == line.split("\t")[1] for line in lines)
            directory_seconds = statistics.median(seconds)
            per_second = count / directory_seconds
            rows.append((f"`mnist predict DIR`, {count:,} PNGs, {label} (median)",
                         f"{directory_seconds:.2f} s = {per_second:,.0f} images/s "
                         f"(accuracy {correct / count:.2%})",
                         f">= {DIRECTORY_TARGET_PER_SECOND:,.0f}/s",
                         verdict(per_second >= DIRECTORY_TARGET_PER_SECOND)))

    log("the model's own LiteRT inference over the test split ...")
    predictor = load_predictor(run.model_file())
    predictor.predict_proba(test.images[:8])  # allocates tensors once, as evaluate does
    inference = []
    for _ in range(max(args.repeat, 2)):
        start = time.perf_counter()
        probabilities = predictor.predict_proba(test.images)
        inference.append(time.perf_counter() - start)
    inference_seconds = statistics.median(inference)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == test.labels))
    rows.append((f"model inference alone ({predictor.backend}, {len(test):,} test images, "
                 "in-process)", f"{inference_seconds:.3f} s = "
                 f"{inference_seconds / len(test) * 1e6:.0f} us/image (accuracy {accuracy:.2%})",
                 "", ""))

    log(f"`mnist evaluate` on the test split, {args.repeat} time(s) ...")
    evaluate_seconds = statistics.median(
        timed([*mnist, "evaluate", str(run.path if run.source == "run" else model_path),
               "--data", str(data_dir), "--quiet", "--json"], env)
        for _ in range(args.repeat))
    overhead = evaluate_seconds - inference_seconds
    rows.append((f"`mnist evaluate` on {len(test):,} test images (wall, median)",
                 f"{evaluate_seconds:.3f} s", "", ""))
    rows.append(("evaluate's time beyond the model's inference", f"{overhead:.3f} s",
                 f"<= {EVALUATE_OVERHEAD_TARGET_SECONDS} s",
                 verdict(overhead <= EVALUATE_OVERHEAD_TARGET_SECONDS)))

    print(f"Model: {run.name} ({model_path.name}, {run.source}); "
          f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print()
    print("| measurement | result | target | met |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
