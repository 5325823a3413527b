"""Run directories: what `mnist train` writes and every later command reads.

A run directory holds four files::

    model.keras    the trained Keras model (with its optimizer state, for --resume)
    model.tflite   the same model for LiteRT, so inference needs no tensorflow
    history.csv    one row per completed epoch
    run.json       what was trained, how, on which data, and how well it did

Runs live in ``MNIST_HOME/runs/<UTC time>-<model>/``. While a run is being written it sits
in a hidden ``.<name>.partial`` directory beside its final name and is renamed into place
only when complete, so anything without the leading dot is a finished (or cleanly
interrupted) run.

This module also resolves what a user means by "the model": a run directory, a model
file, a reference piped on stdin (a path line or the JSON record of ``train --json``), or
nothing (the latest run, else the model shipped inside the package). It reads and writes
a run's history.csv, and builds new run directories (:func:`building_run`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mnistcli.errors import RunError
from mnistcli.fsutil import atomic_directory
from mnistcli.home import run_dirs, runs_dir

KERAS_FILE = "model.keras"
TFLITE_FILE = "model.tflite"
HISTORY_FILE = "history.csv"
RUN_FILE = "run.json"
RUN_FILES = (KERAS_FILE, TFLITE_FILE, HISTORY_FILE, RUN_FILE)
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")

STATUS_COMPLETED = "completed"
STATUS_INTERRUPTED = "interrupted"

PARTIAL_SUFFIX = ".partial"
RUN_FORMAT = 1

# The model shipped with the package (a .tflite plus its run.json), used when there is no run.
ASSETS_DIR = Path(__file__).resolve().parent / "assets"

MODEL_SUFFIXES = (".keras", ".tflite")


@dataclass(frozen=True)
class RunInfo:
    """A run (or a bare model file) ready to be used.

    ``source`` is ``"run"`` for a run directory, ``"file"`` for a model file given directly
    and ``"shipped"`` for the model inside the package. ``record`` is the run.json content
    (empty for a bare model file outside any run).
    """

    path: Path
    source: str
    record: dict[str, Any] = field(default_factory=dict)
    keras_path: Path | None = None
    tflite_path: Path | None = None

    @property
    def name(self) -> str:
        return self.record.get("name") or self.path.name

    @property
    def model(self) -> str | None:
        return self.record.get("model")

    @property
    def status(self) -> str | None:
        return self.record.get("status")

    @property
    def started(self) -> str | None:
        return self.record.get("started")

    @property
    def metrics(self) -> dict[str, Any]:
        return self.record.get("metrics") or {}

    @property
    def test_accuracy(self) -> float | None:
        return self.metrics.get("test_accuracy")

    @property
    def dataset(self) -> str:
        """The dataset it was trained on ("images" for a folder of your own; MNIST for
        records older than datasets and for bare model files)."""
        return (self.record.get("data") or {}).get("dataset") or "mnist"

    @property
    def class_names(self) -> tuple[str, ...]:
        """Its classes' names, in output order: recorded by `mnist train`, else MNIST's
        digits (older records, bare model files)."""
        names = self.record.get("class_names")
        if names:
            return tuple(str(name) for name in names)
        from mnistcli.datasets import DATASETS

        spec = DATASETS.get(self.dataset)
        return spec.class_names if spec is not None else tuple(str(d) for d in range(10))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def preprocessing(self) -> str:
        """How pictures are prepared for it (DatasetSpec.preprocessing): "mnist" unless the
        record says otherwise."""
        return self.record.get("preprocessing") or "mnist"

    @property
    def digits(self) -> bool:
        """Whether its classes are the ten digits (then outputs need no class names)."""
        return self.class_names == tuple(str(d) for d in range(10))

    def output_dir(self) -> Path:
        """Where commands put what they make from this model unless told otherwise: the
        run directory, or the model file's directory; for the shipped model, which lives
        inside the installed package, the current directory."""
        if self.source == "shipped":
            return Path.cwd()
        return self.path if self.path.is_dir() else self.path.parent

    def model_file(self, prefer: str = "tflite") -> Path:
        """The model file to load: the .tflite when there is one (fast, no tensorflow),
        else the .keras; ``prefer="keras"`` reverses the order."""
        order = [self.tflite_path, self.keras_path]
        if prefer == "keras":
            order.reverse()
        for candidate in order:
            if candidate is not None:
                return candidate
        raise RunError(f"{self.path}: holds no model file")  # unreachable for a loaded run

    def summary(self) -> dict[str, Any]:
        """A short machine-readable description, as `mnist runs --json` prints it."""
        return {
            "name": self.name,
            "path": str(self.path),
            "model": self.model,
            "dataset": self.dataset,
            "status": self.status,
            "test_accuracy": self.test_accuracy,
            "epochs_completed": self.record.get("epochs_completed"),
            "started": self.started,
            "finished": self.record.get("finished"),
        }


def read_run_record(directory: Path) -> dict[str, Any]:
    path = directory / RUN_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{directory}: not a run directory ({RUN_FILE} is missing)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: unreadable run record ({exc})") from None
    if not isinstance(record, dict) or "model" not in record:
        raise RunError(f"{path}: not a run record (no \"model\" field)")
    return record


def load_run(path: Path | str) -> RunInfo:
    """Load and validate a run directory; a RunError names whatever is missing."""
    directory = Path(path)
    if not directory.exists():
        raise RunError(f"{directory}: no such run directory")
    if not directory.is_dir():
        raise RunError(f"{directory}: not a directory")
    missing = [name for name in RUN_FILES if not (directory / name).is_file()]
    if len(missing) == len(RUN_FILES):
        raise RunError(f"{directory}: not a run directory (no {', '.join(RUN_FILES)})")
    if missing:
        raise RunError(f"{directory}: incomplete run, missing {', '.join(missing)}")
    record = read_run_record(directory)
    return RunInfo(path=directory, source="run", record=record,
                   keras_path=directory / KERAS_FILE, tflite_path=directory / TFLITE_FILE)


def load_model_file(path: Path | str) -> RunInfo:
    """A bare .keras or .tflite file. If it sits in a run directory, that run's record
    comes along (so evaluate knows which data and validation split it was trained with)."""
    file = Path(path)
    if not file.is_file():
        raise RunError(f"{file}: no such file")
    suffix = file.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise RunError(f"{file}: not a model file (expected a run directory, "
                       f"a .keras or a .tflite file)")
    record: dict[str, Any] = {}
    if (file.parent / RUN_FILE).is_file():
        try:
            record = read_run_record(file.parent)
        except RunError:
            record = {}
    return RunInfo(path=file, source="file", record=record,
                   keras_path=file if suffix == ".keras" else None,
                   tflite_path=file if suffix == ".tflite" else None)


def list_runs(directory: Path | None = None) -> list[RunInfo]:
    """Every valid run under the runs directory (by default also the old location, see
    mnistcli.home.run_dirs), oldest first. Hidden (partial) and incomplete directories are
    skipped."""
    directories = run_dirs() if directory is None else [directory]
    runs = []
    for child in (c for d in directories if d.is_dir() for c in d.iterdir()):
        if not child.is_dir() or child.name.startswith("."):  # a run being built
            continue
        try:
            runs.append(load_run(child))
        except RunError:
            continue
    # started is an ISO timestamp in UTC, so it sorts as text; the name breaks ties
    runs.sort(key=lambda run: (run.started or "", run.name))
    return runs


def latest_run(directory: Path | None = None) -> RunInfo | None:
    runs = list_runs(directory)
    return runs[-1] if runs else None


def shipped_model() -> RunInfo:
    """The model shipped inside the package (mnistcli/assets: model.tflite, run.json, and
    the model.keras and history.csv that plot-weights, plot-history and export read)."""
    tflite = ASSETS_DIR / TFLITE_FILE
    if not tflite.is_file():
        raise RunError(
            f"no run found in {runs_dir()} and no model is shipped with this installation; "
            "train one with `mnist train` (or pass a run directory or model file)"
        )
    record: dict[str, Any] = {}
    if (ASSETS_DIR / RUN_FILE).is_file():
        record = read_run_record(ASSETS_DIR)
    keras_file = ASSETS_DIR / KERAS_FILE
    return RunInfo(path=ASSETS_DIR, source="shipped", record=record, tflite_path=tflite,
                   keras_path=keras_file if keras_file.is_file() else None)


def parse_run_reference(text: str) -> str:
    """What a previous command printed: a path line, or the JSON record of ``--json``
    (its ``"run"`` field). Returns the path as text."""
    stripped = text.strip()
    if not stripped:
        raise RunError("nothing on stdin: expected a run directory or model path "
                       "(e.g. `mnist train | mnist evaluate`)")
    if stripped.startswith("{"):
        first = stripped.splitlines()[0] if "\n" in stripped else stripped
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError:
            try:
                record = json.loads(first)  # JSON Lines: take the first record
            except json.JSONDecodeError as exc:
                raise RunError(f"stdin holds invalid JSON ({exc})") from None
        for key in ("run", "path", "model_path"):
            if isinstance(record, dict) and isinstance(record.get(key), str):
                return record[key]
        raise RunError('the JSON record on stdin has no "run" field')
    lines = [line.strip() for line in stripped.splitlines() if line.strip()]
    # the last line: `train` prints the path last, after anything a wrapper added
    return lines[-1]


def resolve_run(arg: Path | str | None = None, stdin_text: str | None = None) -> RunInfo:
    """What the user means by the model to use.

    ``arg``: a run directory or a .keras/.tflite file. Without it, ``stdin_text`` (what was
    piped in, if anything) names it; without either, the latest run, else the shipped model.
    """
    if arg is None and stdin_text is not None and stdin_text.strip():
        arg = parse_run_reference(stdin_text)
    if arg is None:
        latest = latest_run()
        return latest if latest is not None else shipped_model()
    path = Path(arg).expanduser()
    if path.is_dir():
        return load_run(path)
    if path.exists():
        return load_model_file(path)
    # a bare run name, as `mnist runs` shows it
    for directory in run_dirs() if re.fullmatch(r"[\w.+-]+", str(arg)) else []:
        if (directory / str(arg)).is_dir():
            return load_run(directory / str(arg))
    raise RunError(f"{arg}: no such run directory or model file")


# --- building a run directory -------------------------------------------------------------

def new_run_path(model: str) -> Path:
    """A fresh ``MNIST_HOME/runs/<UTC time>-<model>`` (with a number if that is taken)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = runs_dir() / f"{stamp}-{model}"
    candidate, n = base, 1
    while candidate.exists() or partial_path(candidate).exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def partial_path(final: Path) -> Path:
    """The hidden directory a run is built in before it is renamed to ``final``."""
    return final.with_name(f".{final.name}{PARTIAL_SUFFIX}")


@contextlib.contextmanager
def building_run(final: Path, replacing: bool = False) -> Iterator[Path]:
    """Yield the hidden ``.<name>.partial`` directory to write a run in; it becomes
    ``final`` when the block completes, and is deleted if the block fails.

    Creating it happens first, so a destination that cannot be written fails before any
    training. ``replacing`` (a resumed run): the old run is moved aside and deleted only
    once the new one is in place. Otherwise ``final`` must not exist, or be empty."""
    if not replacing and final.exists():
        if final.is_dir() and not any(final.iterdir()):
            final.rmdir()  # an empty directory the user made for us: ours to fill
        else:
            raise RunError(f"{final}: already exists; choose another run directory")
    with contextlib.ExitStack() as stack:
        try:
            partial = stack.enter_context(atomic_directory(
                final, replace=replacing, scratch_name=partial_path(final).name))
        except OSError as exc:
            raise RunError(f"cannot write the run to {final.parent}: "
                           f"{exc.strerror or exc}") from None
        yield partial
        if not replacing and final.exists():
            raise RunError(f"{final}: appeared while the run was being made; "
                           "the new run is discarded")


# --- history.csv ---------------------------------------------------------------------------

@dataclass(frozen=True)
class History:
    """Per-epoch metrics of a run, one array per column of history.csv; a missing value
    (e.g. no validation split) is NaN."""

    epoch: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray
    val_loss: np.ndarray
    val_accuracy: np.ndarray
    seconds: np.ndarray | None = None  # None: not recorded (all NaN)

    def __len__(self) -> int:
        return len(self.epoch)

    @property
    def has_validation(self) -> bool:
        return bool(np.isfinite(self.val_accuracy).any() or np.isfinite(self.val_loss).any())

    def rows(self) -> list[dict[str, float]]:
        """One dict per epoch, as training keeps them (``epoch`` an int)."""
        columns = {key: getattr(self, key) for key in HISTORY_COLUMNS[1:]}
        if self.seconds is None:
            columns["seconds"] = np.full(len(self), np.nan)
        return [{"epoch": int(epoch), **{key: float(values[i]) for key, values in columns.items()}}
                for i, epoch in enumerate(self.epoch)]


def _csv_number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _csv_text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.6g}" if abs(float(value)) >= 1 else f"{float(value):.6f}"


def read_history(path: Path | str) -> History:
    """Read a run's history.csv (columns HISTORY_COLUMNS; epoch, loss and accuracy are
    required, the others may be missing or empty)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"epoch", "loss", "accuracy"} - set(reader.fieldnames or ())
            if missing:
                raise RunError(
                    f"{path}: not a training history (missing column(s) "
                    f"{', '.join(sorted(missing))}; expected {', '.join(HISTORY_COLUMNS)})"
                )
            rows = list(reader)
    except FileNotFoundError:
        raise RunError(f"{path}: no training history ({HISTORY_FILE}) in this run") from None
    except OSError as exc:
        raise RunError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise RunError(f"{path}: unreadable training history ({exc})") from None
    if not rows:
        raise RunError(f"{path}: the training history has no epochs")
    columns = {name: np.array([_csv_number(row.get(name)) for row in rows])
               for name in HISTORY_COLUMNS}
    if not np.isfinite(columns["epoch"]).all():
        raise RunError(f"{path}: an epoch number is missing or not a number")
    return History(**columns)


def write_history(path: Path, rows: list[dict[str, float]]) -> None:
    """Write one row per epoch (dicts keyed by HISTORY_COLUMNS) as history.csv."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(HISTORY_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _csv_text(row.get(key)) for key in HISTORY_COLUMNS})
    path.write_text(buffer.getvalue(), encoding="utf-8")


# --- comparing and deleting runs ------------------------------------------------------------

def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


# What a side-by-side comparison shows, in this order: the recipe, then how it went.
COMPARED_SECTIONS = ("model", "seed", "data.dataset", "hyperparameters.", "epochs_completed",
                     "parameters", "training_seconds", "metrics.", "status")


def compare_runs(runs: list[RunInfo]) -> list[dict[str, Any]]:
    """Hyperparameters and metrics of ``runs`` side by side: one row per field, with each
    run's value (None where a run lacks it) and whether they differ."""
    flats = [_flatten(run.record) for run in runs]
    fields: list[str] = []
    for section in COMPARED_SECTIONS:
        for flat in flats:
            for key in flat:
                wanted = key.startswith(section) if section.endswith(".") else key == section
                if wanted and key not in fields:
                    fields.append(key)
    rows = []
    for key in fields:
        values = [flat.get(key) for flat in flats]
        texts = {json.dumps(value, sort_keys=True, default=str) for value in values}
        rows.append({"field": key, "values": values, "differs": len(texts) > 1})
    return rows


def delete_run(run: RunInfo) -> Path:
    """Delete a run directory. Only a directory that is a run of ours (its run.json read
    as a run record) is deleted; model files, the shipped model and anything else are
    refused."""
    import shutil

    if run.source != "run" or not run.path.is_dir():
        raise RunError(f"{run.path}: not a run directory; only runs are deleted")
    read_run_record(run.path)  # raises for a directory that is not a run
    shutil.rmtree(run.path)
    return run.path
