"""Time to 99.0% test accuracy: the Keras "simple MNIST convnet" against our `cnn`.

    python benchmarks/reference_convnet.py --data DIR
    python benchmarks/reference_convnet.py --data DIR --skip-ours    # the reference only
    python benchmarks/reference_convnet.py --data DIR --skip-reference --max-epochs 4

The reference is the recipe of https://keras.io/examples/vision/mnist_convnet/ (Conv2D 32
3x3 ReLU, max pool 2, Conv2D 64 3x3 ReLU, max pool 2, flatten, dropout 0.5, dense 10
softmax; Adam; batch 128; 15 epochs), trained on the same classic split as ours (the first
55,000 training images; the last 5,000 are its validation data, evaluated every epoch as
the original's validation_split does). After every epoch it is tested on the 10,000 test
images, outside the timed training; its time to 99.0% is the cumulative training time up
to the first epoch whose test accuracy is at least 99.0%.

Ours is the training time of the shortest `mnist train --model cnn --epochs N` whose final
test accuracy is at least 99.0% (N = 1, 2, ... : the learning-rate schedule adapts to N),
each run through benchmarks/zoo.py in its own process. Target: ours at most 0.4 x the
reference's time. The Markdown table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo import default_data_dir, run_in_subprocess  # noqa: E402

THRESHOLD = 0.99
TARGET_RATIO = 0.4
REFERENCE_EPOCHS = 15
REFERENCE_BATCH_SIZE = 128
SEED = 0


def build_reference_convnet():
    """The keras.io "Simple MNIST convnet", layer for layer."""
    import keras
    from keras import layers

    num_classes = 10
    input_shape = (28, 28, 1)
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ])


def run_reference(data_dir: str | None, epochs: int, stop_at_threshold: bool) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    from mnistcli.datasets import load_dataset
    from mnistcli.stdio import stdout_to_stderr

    data = load_dataset(data_dir)

    def as_input(split):
        return split.images.astype("float32")[..., None] / 255.0

    x_train, y_train = as_input(data["train"]), data["train"].labels
    x_val, y_val = as_input(data["validation"]), data["validation"].labels
    x_test, y_test = as_input(data["test"]), data["test"].labels

    keras.utils.set_random_seed(SEED)
    model = build_reference_convnet()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam",
                  metrics=["accuracy"])
    epochs_log, elapsed, reached = [], 0.0, None
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        with stdout_to_stderr():
            model.fit(x_train, y_train, batch_size=REFERENCE_BATCH_SIZE, epochs=1,
                      validation_data=(x_val, y_val), verbose=0)
        elapsed += time.perf_counter() - started
        probabilities = model.predict(x_test, batch_size=1024, verbose=0)
        accuracy = float(np.mean(probabilities.argmax(axis=1) == y_test))
        epochs_log.append({"epoch": epoch, "test_accuracy": accuracy,
                           "training_seconds": round(elapsed, 1)})
        print(f"  reference epoch {epoch}: test {accuracy:.2%}, "
              f"{elapsed:.1f} s of training", file=sys.stderr, flush=True)
        if reached is None and accuracy >= THRESHOLD:
            reached = {"epoch": epoch, "seconds": round(elapsed, 1)}
            if stop_at_threshold:
                break
    return {"epochs": epochs_log, "reached": reached,
            "parameters": int(model.count_params())}


def run_ours(data_dir: str | None, max_epochs: int) -> dict:
    tried = []
    for epochs in range(1, max_epochs + 1):
        print(f"  cnn --epochs {epochs} ...", file=sys.stderr, flush=True)
        row = run_in_subprocess("cnn", data_dir, epochs=epochs)
        tried.append({"epochs": epochs, "test_accuracy": row["test_accuracy"],
                      "training_seconds": row["training_seconds"]})
        print(f"  cnn --epochs {epochs}: test {row['test_accuracy']:.2%}, "
              f"{row['training_seconds']:.1f} s of training", file=sys.stderr, flush=True)
        if row["test_accuracy"] >= THRESHOLD:
            return {"tried": tried, "reached": {"epoch": epochs,
                                                "seconds": row["training_seconds"]},
                    "parameters": row["parameters"]}
    return {"tried": tried, "reached": None}


def report(reference: dict | None, ours: dict | None) -> str:
    lines = []
    if reference is not None:
        lines += ["Reference (keras.io simple MNIST convnet), per epoch:", "",
                  "| epoch | test accuracy | cumulative training s |", "|---:|---:|---:|"]
        lines += [f"| {e['epoch']} | {e['test_accuracy']:.2%} | {e['training_seconds']:.1f} |"
                  for e in reference["epochs"]]
        lines.append("")
    if ours is not None:
        lines += ["Ours (`mnist train --model cnn --epochs N`):", "",
                  "| N | final test accuracy | training s |", "|---:|---:|---:|"]
        lines += [f"| {t['epochs']} | {t['test_accuracy']:.2%} | {t['training_seconds']:.1f} |"
                  for t in ours["tried"]]
        lines.append("")
    lines += [f"Time to {THRESHOLD:.1%} test accuracy:", "",
              "| model | epochs | training s |", "|---|---:|---:|"]
    for name, result in (("keras.io simple convnet", reference), ("mnistcli cnn", ours)):
        if result is None:
            continue
        reached = result["reached"]
        lines.append(f"| {name} | {reached['epoch']} | {reached['seconds']:.1f} |" if reached
                     else f"| {name} | not reached | - |")
    if reference and ours and reference["reached"] and ours["reached"]:
        ratio = ours["reached"]["seconds"] / reference["reached"]["seconds"]
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        lines += ["", f"Ratio ours / reference: {ratio:.2f} (target at most "
                      f"{TARGET_RATIO}: {verdict})"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=default_data_dir(),
                        help="directory holding the four MNIST IDX files "
                             "(default: MNIST_MIRROR if a directory, else MNIST_HOME's)")
    parser.add_argument("--epochs", type=int, default=REFERENCE_EPOCHS,
                        help="reference epochs (default: the recipe's 15)")
    parser.add_argument("--stop-at-threshold", action="store_true",
                        help="stop the reference at its first epoch >= 99.0%%")
    parser.add_argument("--max-epochs", type=int, default=6,
                        help="largest N tried for `mnist train --model cnn --epochs N`")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--skip-ours", action="store_true")
    parser.add_argument("--json", action="store_true", help="JSON on stdout")
    args = parser.parse_args(argv)

    reference = ours = None
    if not args.skip_reference:
        print("reference convnet ...", file=sys.stderr, flush=True)
        reference = run_reference(args.data, args.epochs, args.stop_at_threshold)
    if not args.skip_ours:
        print("mnistcli cnn, shortest --epochs N reaching 99.0% ...", file=sys.stderr,
              flush=True)
        ours = run_ours(args.data, args.max_epochs)
    if args.json:
        print(json.dumps({"reference": reference, "ours": ours}, indent=2))
    else:
        print(report(reference, ours))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
