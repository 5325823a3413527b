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
nothing (the latest run, else the model shipped inside the package).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnistcli.errors import RunError
from mnistcli.home import run_dirs, runs_dir

KERAS_FILE = "model.keras"
TFLITE_FILE = "model.tflite"
HISTORY_FILE = "history.csv"
RUN_FILE = "run.json"
RUN_FILES = (KERAS_FILE, TFLITE_FILE, HISTORY_FILE, RUN_FILE)
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")

STATUS_COMPLETED = "completed"
STATUS_INTERRUPTED = "interrupted"
STATUSES = (STATUS_COMPLETED, STATUS_INTERRUPTED)

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


def is_run_dir_name(name: str) -> bool:
    return not name.startswith(".")


def list_runs(directory: Path | None = None) -> list[RunInfo]:
    """Every valid run under the runs directory (by default also the old location, see
    mnistcli.home.run_dirs), oldest first. Hidden (partial) and incomplete directories are
    skipped."""
    directories = run_dirs() if directory is None else [directory]
    runs = []
    for child in (c for d in directories if d.is_dir() for c in d.iterdir()):
        if not child.is_dir() or not is_run_dir_name(child.name):
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
