"""Run directories: what `mnist train` writes and every later command reads.

A run directory holds four files::

    model.keras    the trained Keras model (with its optimizer state, for --resume)
    model.tflite   the same model for LiteRT, so inference needs no tensorflow
    history.csv    one row per completed epoch
    run.json       what was trained, how, on which data, and how well it did

Runs live in ``MNIST_HOME/runs/<UTC time>-<model>/``. While a run is being written it sits
in a hidden ``.<name>.partial`` directory beside its final name and is renamed into place
only when complete, so anything without the leading dot is a finished (or cleanly
interrupted) run. The writer holds a lock (``.<name>.lock``, see :func:`run_lock`), and
checkpoints each completed epoch in ``.<name>.partial/checkpoint`` (see
:func:`write_checkpoint`): a killed training is listed by :func:`list_unfinished` and
continues with ``mnist train --resume``. Run records are checked when read
(:func:`check_run_record`).

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
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mnistcli.errors import OutputError, RunError, RunRecordWarning
from mnistcli.fsutil import make_directory, publish
from mnistcli.home import run_dirs, runs_dir

KERAS_FILE = "model.keras"
TFLITE_FILE = "model.tflite"
HISTORY_FILE = "history.csv"
RUN_FILE = "run.json"
RUN_FILES = (KERAS_FILE, TFLITE_FILE, HISTORY_FILE, RUN_FILE)
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")

STATUS_COMPLETED = "completed"
STATUS_INTERRUPTED = "interrupted"

STATUS_TRAINING = "training"  # an unfinished run a live process is training
STATUS_RESUMABLE = "resumable"  # an unfinished run with a checkpoint, no process on it
STATUS_ABANDONED = "abandoned"  # killed before its first epoch ended: nothing to keep

PARTIAL_SUFFIX = ".partial"
LOCK_SUFFIX = ".lock"
CHECKPOINT_DIR = "checkpoint"
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
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise RunRecordError(f"{path}: unreadable run record ({reason})") from None
    if not isinstance(record, dict) or "model" not in record:
        raise RunRecordError(f"{path}: not a run record (no \"model\" field)")
    check_run_record(record, path)
    return record


class RunRecordError(RunError):
    """A run.json that exists but cannot be used: unreadable, or a field of the wrong type."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# The fields the toolkit reads from a run record, and the types it relies on (None is
# always allowed: older records lack fields).
_RECORD_FIELDS: dict[str, tuple[str, Any]] = {
    "model": ("text", lambda v: isinstance(v, str) and v != ""),
    "name": ("text", lambda v: isinstance(v, str)),
    "status": ("text", lambda v: isinstance(v, str)),
    "started": ("an ISO time as text", lambda v: isinstance(v, str)),
    "finished": ("an ISO time as text", lambda v: isinstance(v, str)),
    "epochs_completed": ("a whole number >= 0", lambda v: _is_int(v) and v >= 0),
    "seed": ("a whole number", _is_int),
    "parameters": ("a whole number", _is_int),
    "training_seconds": ("a number", _is_number),
    "hyperparameters": ("an object", lambda v: isinstance(v, dict)),
    "metrics": ("an object of numbers", lambda v: isinstance(v, dict) and all(
        x is None or _is_number(x) for x in v.values())),
    "data": ("an object", lambda v: isinstance(v, dict)),
    "resumed": ("a list", lambda v: isinstance(v, list)),
    "class_names": ("a list of names", lambda v: isinstance(v, list) and all(
        isinstance(x, (str, int)) and not isinstance(x, bool) for x in v)),
    "preprocessing": ("text", lambda v: isinstance(v, str)),
}
_HYPERPARAMETER_FIELDS: dict[str, tuple[str, Any]] = {
    "epochs": ("a whole number >= 1", lambda v: _is_int(v) and v >= 1),
    "batch_size": ("a whole number >= 1", lambda v: _is_int(v) and v >= 1),
    "learning_rate": ("a number", _is_number),
    "validation": ("a whole number >= 0", lambda v: _is_int(v) and v >= 0),
    "max_steps": ("a whole number >= 1", lambda v: _is_int(v) and v >= 1),
    "optimizer": ("text", lambda v: isinstance(v, str)),
    "schedule": ("text", lambda v: isinstance(v, str)),
    "label_smoothing": ("a number", _is_number),
    "augment": ("an object", lambda v: isinstance(v, dict)),
}


def check_run_record(record: dict[str, Any], path: Path | str = RUN_FILE) -> None:
    """Raise RunRecordError naming the first field the toolkit reads whose value has the
    wrong type (e.g. ``"started": 12345``), so a bad record is refused when read rather
    than failing later wherever the field is used."""
    def check(fields: dict[str, tuple[str, Any]], values: dict[str, Any], prefix: str):
        for key, (expected, ok) in fields.items():
            value = values.get(key)
            if value is not None and not ok(value):
                shown = json.dumps(value, default=str)
                shown = shown if len(shown) <= 40 else shown[:37] + "..."
                raise RunRecordError(f"{path}: bad run record: \"{prefix}{key}\" is "
                                     f"{shown}, expected {expected}")

    check(_RECORD_FIELDS, record, "")
    check(_HYPERPARAMETER_FIELDS, record.get("hyperparameters") or {}, "hyperparameters.")
    data = record.get("data") or {}
    for key in ("dataset", "dir"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise RunRecordError(f"{path}: bad run record: \"data.{key}\" is not text")


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
    skipped; a run whose run.json is bad is skipped with a RunRecordWarning naming it."""
    directories = run_dirs() if directory is None else [directory]
    runs = []
    for child in (c for d in directories if d.is_dir() for c in d.iterdir()):
        if not child.is_dir() or child.name.startswith("."):  # a run being built
            continue
        try:
            runs.append(load_run(child))
        except RunRecordError as exc:
            # one bad run.json must not hide the others: skipped, and said once
            warnings.warn(RunRecordWarning(f"skipped: {exc}"), stacklevel=2)
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


def lock_path(final: Path) -> Path:
    """The lock file of run directory ``final``: hidden, beside it."""
    return final.with_name(f".{final.name}{LOCK_SUFFIX}")


@contextlib.contextmanager
def run_lock(final: Path) -> Iterator[None]:
    """Hold the inter-process lock of run directory ``final`` (a lock file beside it,
    released by the system if the process dies). Another process holding it: a RunError
    at once, so two trainings never write into one run."""
    from filelock import FileLock, Timeout

    try:
        make_directory(final.parent)
        lock = FileLock(str(lock_path(final)))
        lock.acquire(timeout=0)
    except Timeout:
        raise RunError(f"{final}: another mnist process is training into this run now; "
                       "wait for it to finish, or choose another run directory") from None
    except OutputError as exc:  # a file where a directory should be
        raise RunError(f"cannot write the run to {final.parent}: {exc}") from None
    except OSError as exc:
        raise RunError(f"cannot write the run to {final.parent}: "
                       f"{exc.strerror or exc}") from None
    try:
        yield
    finally:
        # removed while still held: a process that opens the name afterwards gets a new
        # lock and then finds the run published (or cleaned up) by this one
        with contextlib.suppress(OSError):
            os.unlink(lock_path(final))
        lock.release()


def is_locked(final: Path) -> bool:
    """Whether a live process holds the lock of run directory ``final``."""
    from filelock import FileLock, Timeout

    if not lock_path(final).exists():
        return False
    lock = FileLock(str(lock_path(final)))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    except OSError:
        return False
    lock.release()
    return False


def checkpoint_path(partial: Path) -> Path:
    """The checkpoint directory in ``partial``: ``checkpoint``, or (killed between the two
    renames that replace it) the previous one, moved aside as ``.checkpoint.old-PID``."""
    current = partial / CHECKPOINT_DIR
    if not (current / RUN_FILE).is_file():
        for aside in sorted(partial.glob(f".{CHECKPOINT_DIR}.old-*")):
            if (aside / RUN_FILE).is_file():
                return aside
    return current


def has_checkpoint(partial: Path) -> bool:
    return (checkpoint_path(partial) / RUN_FILE).is_file()


@contextlib.contextmanager
def building_run(final: Path, replacing: bool = False,
                 resuming: bool = False) -> Iterator[Path]:
    """Yield the hidden ``.<name>.partial`` directory to write a run in, holding the run's
    lock (see :func:`run_lock`); it becomes ``final`` when the block completes.

    Creating it happens first, so a destination that cannot be written fails before any
    training. ``replacing`` (a resumed run): the old run is moved aside and deleted only
    once the new one is in place. Otherwise ``final`` must not exist, or be empty.
    ``resuming``: the partial directory holds the checkpoint training continues from.

    If the block fails with a MnistError (a clear failure, e.g. a diverged training) the
    partial directory is deleted. If it is stopped otherwise (a second Ctrl-C, a crash)
    and holds a checkpoint of a completed epoch (see :func:`write_checkpoint`), it is kept
    for ``mnist train --resume``."""
    from mnistcli.errors import MnistError

    with run_lock(final):
        partial = partial_path(final)
        if not replacing and final.exists():
            if final.is_dir() and not final.is_symlink() and not any(final.iterdir()):
                final.rmdir()  # an empty directory the user made for us: ours to fill
            else:
                raise RunError(f"{final}: already exists; choose another run directory")
        if not resuming and partial.exists():
            if has_checkpoint(partial):
                raise RunError(
                    f"{final}: an unfinished training of this run is kept in {partial} "
                    f"({describe_checkpoint(partial)}); continue it with `mnist train "
                    f"--resume {final}`, or remove it with `mnist runs --prune`")
            # left by a process killed before its first epoch ended: nothing to keep
            shutil.rmtree(partial)
        try:
            partial.mkdir(exist_ok=resuming)
        except OSError as exc:
            raise RunError(f"cannot write the run to {final.parent}: "
                           f"{exc.strerror or exc}") from None
        try:
            yield partial
            if not replacing and final.exists():
                raise RunError(f"{final}: appeared while the run was being made; "
                               "the new run is discarded")
            for checkpoint in [partial / CHECKPOINT_DIR,
                               *partial.glob(f".{CHECKPOINT_DIR}.*")]:
                shutil.rmtree(checkpoint, ignore_errors=True)
            publish(partial, final, replace=replacing)
        except BaseException as exc:
            # a clear failure of a new run discards it; a resumed one keeps its checkpoint
            if (isinstance(exc, MnistError) and not resuming) or not has_checkpoint(partial):
                shutil.rmtree(partial, ignore_errors=True)
            raise


# --- checkpoints of unfinished runs ---------------------------------------------------------

def write_checkpoint(partial: Path, save_model, record: dict[str, Any],
                     history: list[dict[str, float]]) -> None:
    """Write the state after a completed epoch into ``partial``/checkpoint atomically: the
    model with its optimizer state (``save_model(path)`` writes it), history.csv and a
    run.json whose status is "training". The old checkpoint is replaced only by a
    complete new one, so a SIGKILL or power cut loses at most the epoch in flight."""
    scratch = partial / f".{CHECKPOINT_DIR}.new"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    save_model(scratch / KERAS_FILE)
    write_history(scratch / HISTORY_FILE, history)
    checkpoint_record = {**record, "status": STATUS_TRAINING,
                         "epochs_completed": len(history),
                         "checkpoint": {"epoch": len(history),
                                        "written": datetime.now(timezone.utc).isoformat(
                                            timespec="seconds")}}
    (scratch / RUN_FILE).write_text(json.dumps(checkpoint_record, indent=2, default=str)
                                    + "\n", encoding="utf-8")
    for name in (KERAS_FILE, HISTORY_FILE, RUN_FILE):
        with open(scratch / name, "rb") as handle:
            os.fsync(handle.fileno())
    publish(scratch, partial / CHECKPOINT_DIR, replace=True)


def describe_checkpoint(partial: Path) -> str:
    try:
        record = read_run_record(checkpoint_path(partial))
    except RunError:
        return "an unreadable checkpoint"
    total = (record.get("hyperparameters") or {}).get("epochs")
    return f"{record.get('epochs_completed')} of {total} epochs done"


def final_path(partial: Path) -> Path:
    """The run directory a ``.<name>.partial`` directory becomes."""
    name = partial.name
    return partial.with_name(name[1:-len(PARTIAL_SUFFIX)])


def is_partial_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(PARTIAL_SUFFIX) and \
        len(name) > 1 + len(PARTIAL_SUFFIX)


def load_unfinished(partial: Path) -> RunInfo:
    """A run that is being trained, or whose training was killed: ``path`` is its partial
    directory, ``status`` "training" (a live process holds its lock), "resumable" (it
    holds a checkpoint: `mnist train --resume` continues it) or "abandoned" (killed
    before its first epoch ended: nothing to keep)."""
    final = final_path(partial)
    locked = is_locked(final)
    record: dict[str, Any] = {"name": final.name, "model": None}
    keras_path = None
    if has_checkpoint(partial):
        try:
            record = read_run_record(checkpoint_path(partial))
            keras_path = checkpoint_path(partial) / KERAS_FILE
        except RunError:
            pass
    status = STATUS_TRAINING if locked else (
        STATUS_RESUMABLE if keras_path is not None else STATUS_ABANDONED)
    record = {**record, "name": final.name, "status": status}
    return RunInfo(path=partial, source="unfinished", record=record, keras_path=keras_path)


def list_unfinished(directory: Path | None = None) -> list[RunInfo]:
    """Runs being trained or left unfinished (see :func:`load_unfinished`), oldest first."""
    directories = run_dirs() if directory is None else [directory]
    found = [load_unfinished(child)
             for d in directories if d.is_dir() for child in d.iterdir()
             if is_partial_name(child.name) and child.is_dir()]
    found.sort(key=lambda run: (run.started or "", run.name))
    return found


def find_unfinished(arg: Path | str) -> RunInfo | None:
    """The unfinished run ``arg`` names (its partial directory, its final path, or its name
    as `mnist runs` shows it), if it has a checkpoint or is being trained; else None."""
    path = Path(arg).expanduser()
    candidates = []
    if is_partial_name(path.name):
        candidates.append(path)
    else:
        candidates.append(partial_path(path))
        if re.fullmatch(r"[\w.+-]+", str(arg)):
            candidates += [partial_path(d / str(arg)) for d in run_dirs()]
    for partial in candidates:
        if partial.is_dir():
            run = load_unfinished(partial)
            if run.status != STATUS_ABANDONED:
                return run
    return None


def prune_candidates(directory: Path | None = None) -> list[RunInfo]:
    """Unfinished runs no process is training (resumable or abandoned)."""
    return [run for run in list_unfinished(directory) if run.status != STATUS_TRAINING]


def prune_run(run: RunInfo) -> Path:
    """Delete an unfinished run's partial directory (and its lock file), unless a process
    took it up meanwhile."""
    if run.source != "unfinished" or not is_partial_name(run.path.name):
        raise RunError(f"{run.path}: not an unfinished run")
    final = final_path(run.path)
    with run_lock(final):
        shutil.rmtree(run.path, ignore_errors=True)
    return run.path


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
