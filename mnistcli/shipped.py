"""The model shipped inside the package: a run's ``model.tflite`` and ``run.json``, plus
its ``model.keras`` and ``history.csv`` so that plot-weights, plot-history and export
work on it too.

``make bundled-model`` trains the default ``cnn`` on real MNIST and then runs::

    python -m mnistcli.shipped RUN_DIR

which copies them into ``mnistcli/assets/``. The copied run.json keeps everything that
describes the model (hyperparameters, seed, data digests, versions, metrics) but not the
data directory, a path of the machine that trained it. The Keras model is saved again
without its optimizer state, which only training needs and which would triple its size.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from mnistcli.errors import MnistError, RunError
from mnistcli.fsutil import atomic_directory
from mnistcli.keras_files import load_keras_model
from mnistcli.runs import (
    ASSETS_DIR,
    HISTORY_FILE,
    KERAS_FILE,
    RUN_FILE,
    STATUS_COMPLETED,
    TFLITE_FILE,
    load_run,
)
from mnistcli.stdio import stdout_to_stderr

# Bigger than this (all shipped files together) and the wheel grows past what a CLI's
# default model should cost.
MAX_SHIPPED_BYTES = 2 * 1024 * 1024
SHIPPED_FILES = (TFLITE_FILE, KERAS_FILE, HISTORY_FILE, RUN_FILE)


def ship_run(run_dir: Path | str, assets_dir: Path = ASSETS_DIR) -> dict:
    """Make ``assets_dir`` hold a completed run's model files, history and record (and
    nothing else); returns the record written. Raises RunError for an unfinished run or
    one too big to ship, and then changes nothing."""
    run = load_run(Path(run_dir))
    record = dict(run.record)
    if record.get("status") != STATUS_COMPLETED:
        raise RunError(f"{run.path}: only a completed run can be shipped "
                       f"(status: {record.get('status')})")
    data = dict(record.get("data") or {})
    data.pop("dir", None)  # a path of the training machine
    record["data"] = data
    # the new assets replace the old ones all at once, or not at all
    with atomic_directory(assets_dir, replace=True) as staged:
        shutil.copyfile(run.path / TFLITE_FILE, staged / TFLITE_FILE)
        shutil.copyfile(run.path / HISTORY_FILE, staged / HISTORY_FILE)
        _save_without_optimizer(run.path / KERAS_FILE, staged / KERAS_FILE)
        (staged / RUN_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        size = sum((staged / name).stat().st_size for name in SHIPPED_FILES)
        if size > MAX_SHIPPED_BYTES:
            raise RunError(f"{run.path}: {size:,} bytes to ship, more than the "
                           f"{MAX_SHIPPED_BYTES:,} a shipped model may take")
        for name in SHIPPED_FILES:
            os.chmod(staged / name, 0o644)
        os.chmod(staged, 0o755)
    return record


def _save_without_optimizer(source: Path, target: Path) -> None:
    model = load_keras_model(source)
    with stdout_to_stderr():
        model.save(target)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mnistcli.shipped RUN_DIR", file=sys.stderr)
        return 2
    try:
        record = ship_run(args[0])
    except MnistError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    accuracy = record.get("metrics", {}).get("test_accuracy")
    print(f"shipped {record.get('model')} (test accuracy {accuracy}) to {ASSETS_DIR}",
          file=sys.stderr)
    print(ASSETS_DIR)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
