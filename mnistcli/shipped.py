"""The model shipped inside the package: a run's ``model.tflite`` and ``run.json``.

``make bundled-model`` trains the default ``cnn`` on real MNIST and then runs::

    python -m mnistcli.shipped RUN_DIR

which copies the two files into ``mnistcli/assets/``. The copied run.json keeps
everything that describes the model (hyperparameters, seed, data digests, versions,
metrics) but not the data directory, a path of the machine that trained it.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from mnistcli.errors import MnistError, RunError
from mnistcli.fsutil import atomic_path, write_text_atomic
from mnistcli.runs import ASSETS_DIR, RUN_FILE, STATUS_COMPLETED, TFLITE_FILE, load_run

# Bigger than this and the wheel grows past what a CLI's default model should cost.
MAX_SHIPPED_BYTES = 2 * 1024 * 1024


def ship_run(run_dir: Path | str, assets_dir: Path = ASSETS_DIR) -> dict:
    """Copy a completed run's model.tflite and run.json into ``assets_dir``; returns the
    record written. Raises RunError for an unfinished run or a model too big to ship."""
    run = load_run(Path(run_dir))
    record = dict(run.record)
    if record.get("status") != STATUS_COMPLETED:
        raise RunError(f"{run.path}: only a completed run can be shipped "
                       f"(status: {record.get('status')})")
    if run.tflite_path is None or not run.tflite_path.is_file():
        raise RunError(f"{run.path}: no {TFLITE_FILE} to ship")
    size = run.tflite_path.stat().st_size
    if size > MAX_SHIPPED_BYTES:
        raise RunError(f"{run.tflite_path}: {size:,} bytes, more than the "
                       f"{MAX_SHIPPED_BYTES:,} a shipped model may take")
    data = dict(record.get("data") or {})
    data.pop("dir", None)  # a path of the training machine
    record["data"] = data
    assets_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(assets_dir / TFLITE_FILE) as tmp:
        shutil.copyfile(run.tflite_path, tmp)
    write_text_atomic(assets_dir / RUN_FILE, json.dumps(record, indent=2) + "\n")
    return record


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
