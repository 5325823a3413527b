"""Training a zoo model into a run directory (see mnistcli.runs for the layout).

    config = make_config("cnn", epochs=3, seed=1)
    result = train(config)                   # -> TrainResult(run=RunInfo, ...)
    result = resume("runs/20260101T000000Z-cnn")

The run is built in a hidden ``.<name>.partial`` directory and renamed into place when
complete. SIGINT (Ctrl-C) during training stops after the current batch; the weights of
the last completed epoch are then published as a run with ``"status": "interrupted"``,
which :func:`resume` continues. A second Ctrl-C aborts at once and publishes nothing.

Progress is reported to an optional :class:`TrainingObserver`; this module prints nothing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import platform
import shutil
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mnistcli import __version__
from mnistcli.datasets import (
    DEFAULT_DATASET,
    DEFAULT_VALIDATION,
    data_digests,
    get_dataset,
    load_dataset,
    resolve_data_dir,
)
from mnistcli.errors import MnistError, ModelError, RunError
from mnistcli.evaluation import evaluate_probabilities
from mnistcli.home import runs_dir
from mnistcli.models import INPUT_SHAPE, get_model_spec
from mnistcli.runs import (
    HISTORY_COLUMNS,
    HISTORY_FILE,
    KERAS_FILE,
    PARTIAL_SUFFIX,
    RUN_FILE,
    RUN_FORMAT,
    STATUS_COMPLETED,
    STATUS_INTERRUPTED,
    TFLITE_FILE,
    RunInfo,
    load_run,
    resolve_run,
)
from mnistcli.stdio import import_keras, stdout_to_stderr

DEFAULT_SEED = 0
# The .tflite must give the Keras model's answers; float32 rounding stays far below this.
TFLITE_TOLERANCE = 1e-4
TFLITE_CHECK_IMAGES = 256


class TrainingInterrupted(MnistError):
    """Ctrl-C before any epoch completed: there is nothing worth keeping."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (recorded in run.json)."""

    model: str
    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str
    schedule: str
    augment: dict[str, float] | None
    label_smoothing: float
    seed: int
    validation: int = DEFAULT_VALIDATION
    data_dir: Path | None = None
    # Train at most this many batches per epoch (quick checks and tests); None: all.
    max_steps: int | None = None
    # Recipe.extra: options passed to model.compile (jit_compile, steps_per_execution)
    extra: dict[str, Any] = field(default_factory=dict)

    def hyperparameters(self) -> dict[str, Any]:
        values = asdict(self)
        for key in ("model", "seed", "data_dir"):
            values.pop(key)
        return values


def make_config(model: str, epochs: int | None = None, batch_size: int | None = None,
                learning_rate: float | None = None, optimizer: str | None = None,
                seed: int | None = None, validation: int | None = None,
                data_dir: Path | str | None = None, max_steps: int | None = None
                ) -> TrainConfig:
    """A TrainConfig: what is given, the model's registry recipe for the rest."""
    spec = get_model_spec(model)
    recipe = spec.recipe
    config = TrainConfig(
        model=spec.name,
        epochs=recipe.epochs if epochs is None else epochs,
        batch_size=recipe.batch_size if batch_size is None else batch_size,
        learning_rate=recipe.learning_rate if learning_rate is None else learning_rate,
        optimizer=recipe.optimizer if optimizer is None else optimizer,
        schedule=recipe.schedule,
        augment=dict(recipe.augment) if recipe.augment else None,
        label_smoothing=recipe.label_smoothing,
        seed=DEFAULT_SEED if seed is None else seed,
        validation=DEFAULT_VALIDATION if validation is None else validation,
        data_dir=Path(data_dir) if data_dir is not None else None,
        max_steps=max_steps,
        extra=dict(recipe.extra),
    )
    _check_config(config)
    return config


def _check_config(config: TrainConfig) -> None:
    if config.epochs < 1:
        raise MnistError(f"--epochs {config.epochs}: must be at least 1")
    if config.batch_size < 1:
        raise MnistError(f"--batch-size {config.batch_size}: must be at least 1")
    if not config.learning_rate > 0:
        raise MnistError(f"--learning-rate {config.learning_rate}: must be positive")
    if config.max_steps is not None and config.max_steps < 1:
        raise MnistError(f"--max-steps {config.max_steps}: must be at least 1")


class TrainingObserver:
    """Receives progress; the CLI draws it. Every method is optional (no-ops here)."""

    def on_train_begin(self, *, run_name: str, epochs: int, initial_epoch: int,
                       steps_per_epoch: int, parameters: int) -> None: ...

    def on_epoch_begin(self, epoch: int) -> None: ...

    def on_batch_end(self, step: int, loss: float, accuracy: float) -> None: ...

    def on_epoch_end(self, row: dict[str, float]) -> None: ...

    def on_interrupt(self) -> None:
        """The first Ctrl-C arrived: training stops after the current batch."""

    def on_phase(self, text: str) -> None:
        """A step after training (testing, converting, writing)."""

    def on_train_end(self) -> None: ...


@dataclass
class TrainResult:
    run: RunInfo
    record: dict[str, Any]

    @property
    def status(self) -> str:
        return self.record["status"]

    @property
    def interrupted(self) -> bool:
        return self.status == STATUS_INTERRUPTED

    def summary(self) -> dict[str, Any]:
        """The JSON record `mnist train --json` prints (``run`` is the directory)."""
        record = self.record
        return {
            "run": str(self.run.path),
            "name": record["name"],
            "model": record["model"],
            "status": record["status"],
            "epochs_completed": record["epochs_completed"],
            "epochs": record["hyperparameters"]["epochs"],
            "seed": record["seed"],
            "parameters": record["parameters"],
            "training_seconds": record["training_seconds"],
            "metrics": record["metrics"],
            "hyperparameters": record["hyperparameters"],
        }


# --- helpers that touch tensorflow (imported lazily) -------------------------------------

def _deterministic_ops(config: TrainConfig) -> bool:
    """Whether to ask TensorFlow for deterministic kernels. Keras turns XLA off when they
    are on, so a recipe that asks for ``jit_compile`` gets XLA instead (whose CPU kernels
    repeat their results run to run: tests/test_train.py checks same seed, same weights
    for the cnn). ``extra={"deterministic": ...}`` overrides either way."""
    return bool(config.extra.get("deterministic", not config.extra.get("jit_compile", False)))


def _seed_everything(seed: int, deterministic: bool = True) -> None:
    keras, tf = import_keras()
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _make_optimizer(config: TrainConfig, steps_per_epoch: int):
    from mnistcli.models import make_optimizer

    return make_optimizer(config.optimizer, config.learning_rate, config.schedule,
                          steps_per_epoch, config.epochs)


def _make_augmenter(augment: dict[str, float] | None):
    from mnistcli.models import make_augmenter

    return make_augmenter(augment)


def _apply_augmenter(augmenter, images):
    try:
        return augmenter(images, training=True)
    except TypeError:  # a plain callable rather than a keras layer
        return augmenter(images)


def _datasets(tf, data: dict, config: TrainConfig, augmenter):
    """tf.data pipelines: uint8 in memory, scaled (and augmented) per batch."""
    smoothing = config.label_smoothing > 0
    num_classes = get_dataset(DEFAULT_DATASET).num_classes

    def prepare(images, labels, augment: bool):
        x = tf.cast(images, tf.float32)[..., None] / 255.0
        if augment and augmenter is not None:
            x = _apply_augmenter(augmenter, x)
        y = tf.one_hot(tf.cast(labels, tf.int32), num_classes) if smoothing else labels
        return x, y

    train = data["train"]
    pipeline = tf.data.Dataset.from_tensor_slices((train.images, train.labels))
    pipeline = pipeline.shuffle(len(train), seed=config.seed, reshuffle_each_iteration=True)
    pipeline = pipeline.batch(config.batch_size)
    if config.max_steps is not None:
        pipeline = pipeline.take(config.max_steps)
    # Random augmentation draws from a stateful generator: one call at a time keeps the
    # draws in batch order (so a seed repeats); prefetch still overlaps it with training.
    if augmenter is not None:
        pipeline = pipeline.map(lambda x, y: prepare(x, y, True))
    else:
        pipeline = pipeline.map(lambda x, y: prepare(x, y, True),
                                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    pipeline = pipeline.prefetch(tf.data.AUTOTUNE)
    steps = math.ceil(len(train) / config.batch_size)
    if config.max_steps is not None:
        steps = min(steps, config.max_steps)
    validation = None
    if "validation" in data and len(data["validation"]):
        held_out = data["validation"]
        validation = (tf.data.Dataset.from_tensor_slices((held_out.images, held_out.labels))
                      .batch(max(config.batch_size, 256))
                      .map(lambda x, y: prepare(x, y, False))
                      .prefetch(tf.data.AUTOTUNE))
    return pipeline, validation, steps


# Recipe.extra keys that tune how Keras runs the training step (measured per model).
COMPILE_OPTIONS = ("jit_compile", "steps_per_execution")


def _compile(keras, model, optimizer, config: TrainConfig) -> None:
    if config.label_smoothing > 0:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
    options = {key: config.extra[key] for key in COMPILE_OPTIONS if key in config.extra}
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], **options)


class _InterruptState:
    def __init__(self) -> None:
        self.requested = False


@contextlib.contextmanager
def _sigint_stops_training(state: _InterruptState, observer: TrainingObserver
                           ) -> Iterator[None]:
    """First Ctrl-C: finish the current batch, then stop. Second: abort now."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if state.requested:
            raise KeyboardInterrupt
        state.requested = True
        observer.on_interrupt()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _progress_callback(keras, observer: TrainingObserver, state: _InterruptState,
                       history: list[dict[str, float]]):
    """A keras Callback feeding the observer, keeping history rows for completed epochs and
    snapshotting weights so an interrupted epoch can be rolled back."""

    class Progress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.snapshot = None  # (model variables, optimizer variables) at the last epoch end
            self.partial_epoch = False
            self.epoch_started = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_started = time.perf_counter()
            observer.on_epoch_begin(epoch)

        def on_train_batch_end(self, batch, logs=None):
            logs = logs or {}
            observer.on_batch_end(batch, _as_float(logs.get("loss")),
                                  _as_float(logs.get("accuracy")))
            if state.requested:
                self.partial_epoch = True
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if self.partial_epoch:
                return  # the interrupted epoch is rolled back, not recorded
            logs = logs or {}
            row = {
                "epoch": epoch + 1,
                "loss": _as_float(logs.get("loss")),
                "accuracy": _as_float(logs.get("accuracy")),
                "val_loss": _as_float(logs.get("val_loss")),
                "val_accuracy": _as_float(logs.get("val_accuracy")),
                "seconds": time.perf_counter() - self.epoch_started,
            }
            history.append(row)
            to_numpy = keras.ops.convert_to_numpy
            self.snapshot = ([to_numpy(v) for v in self.model.variables],
                             [to_numpy(v) for v in self.model.optimizer.variables])
            observer.on_epoch_end(row)
            if state.requested:  # Ctrl-C during validation: this epoch is complete; stop
                self.model.stop_training = True

        def restore_last_epoch(self):
            model_values, optimizer_values = self.snapshot
            for variable, value in zip(self.model.variables, model_values, strict=True):
                variable.assign(value)
            for variable, value in zip(self.model.optimizer.variables, optimizer_values,
                                       strict=True):
                variable.assign(value)

    return Progress()


def _as_float(value) -> float:
    if value is None:
        return float("nan")
    return float(np.asarray(value))


def convert_to_tflite(model, path: Path) -> None:
    """Write ``model`` as a float32 TensorFlow Lite flatbuffer taking (N, 28, 28, 1).

    Keras' own LiteRT export: converting a hand-made tf.function over a Keras 3 model
    with TFLiteConverter.from_concrete_functions produced a model giving NaN (TF 2.21)."""
    # the exporter prints "Saved artifact at <temporary name>": not news for anyone
    with stdout_to_stderr(), contextlib.redirect_stdout(io.StringIO()):
        model.export(str(path), format="litert")


def _check_tflite(model, tflite_path: Path, images: np.ndarray) -> float:
    """Largest difference between the .tflite's and Keras' probabilities on ``images``."""
    from mnistcli.inference import load_predictor, to_model_input

    if len(images) == 0:
        return 0.0
    expected = np.asarray(model.predict(to_model_input(images), verbose=0))
    actual = load_predictor(tflite_path).predict_proba(images)
    difference = float(np.abs(actual - expected).max())
    if not difference <= TFLITE_TOLERANCE:  # NaN fails too
        raise RunError(f"the converted {TFLITE_FILE} disagrees with the Keras model "
                       f"(max difference {difference:.2g})")
    return difference


def library_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"mnistcli": __version__, "python": platform.python_version()}
    for package in ("tensorflow", "tensorflow-cpu", "keras", "numpy", "ai-edge-litert"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --- run directories ---------------------------------------------------------------------

def _new_run_path(model: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = runs_dir() / f"{stamp}-{model}"
    candidate, n = base, 1
    while candidate.exists() or _partial_path(candidate).exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def _partial_path(final: Path) -> Path:
    return final.with_name(f".{final.name}{PARTIAL_SUFFIX}")


def _begin_partial(final: Path, replacing: bool = False) -> Path:
    """Create the hidden directory the run is built in; fail early if we cannot write."""
    if not replacing and final.exists():
        raise RunError(f"{final}: already exists; choose another --out")
    partial = _partial_path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        if partial.exists():  # left behind by a killed process
            shutil.rmtree(partial)
        partial.mkdir()
    except OSError as exc:
        raise RunError(f"cannot write the run to {final.parent}: "
                       f"{exc.strerror or exc}") from None
    return partial


def _publish(partial: Path, final: Path, replacing: bool) -> None:
    """Move the finished run into place. Replacing (resume): the old run moves aside
    first, and is deleted only once the new one is in place."""
    if not replacing:
        if final.exists():
            raise RunError(f"{final}: appeared while training; the run stays in {partial}")
        os.rename(partial, final)
        return
    retired = final.with_name(f".{final.name}.old")
    if retired.exists():
        shutil.rmtree(retired)
    os.rename(final, retired)
    os.rename(partial, final)
    shutil.rmtree(retired, ignore_errors=True)


def write_history(path: Path, rows: list[dict[str, float]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(HISTORY_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _csv_value(row.get(key)) for key in HISTORY_COLUMNS})
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _csv_value(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.6g}" if abs(float(value)) >= 1 else f"{float(value):.6f}"


def read_history(path: Path) -> list[dict[str, float]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise RunError(f"{path}: cannot read ({exc.strerror or exc})") from None
    history = []
    for row in rows:
        entry: dict[str, float] = {"epoch": int(row["epoch"])}
        for key in HISTORY_COLUMNS[1:]:
            entry[key] = float(row[key]) if row.get(key) else float("nan")
        history.append(entry)
    return history


# --- training ----------------------------------------------------------------------------

def train(config: TrainConfig, out: Path | str | None = None,
          observer: TrainingObserver | None = None) -> TrainResult:
    """Train ``config`` into a new run directory (``out``, default a new one under
    MNIST_HOME/runs) and return it. Raises before writing anything when the model, data or
    destination is bad."""
    observer = observer or TrainingObserver()
    _check_config(config)
    spec = get_model_spec(config.model)
    data = load_dataset(config.data_dir, validation=config.validation)
    digests = data_digests(config.data_dir)
    final = Path(out).expanduser() if out is not None else _new_run_path(spec.name)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise RunError(f"{final}: already exists; choose another --out")
    replacing_empty_dir = final.is_dir()
    if replacing_empty_dir:
        final.rmdir()  # an empty directory the user made for us: ours to fill
    partial = _begin_partial(final)
    record = {
        "format": RUN_FORMAT,
        "name": final.name,
        "model": spec.name,
        "description": spec.description,
        "status": None,
        "hyperparameters": _jsonable(config.hyperparameters()),
        "seed": config.seed,
        "data": {
            "dataset": DEFAULT_DATASET,
            "dir": str(resolve_data_dir(config.data_dir).resolve()),
            "digests": digests,
            "images": {split: len(part) for split, part in data.items()},
        },
        "versions": None,
        "started": _now(),
        "resumed": [],
        "finished": None,
    }
    try:
        keras, _ = import_keras()
        _seed_everything(config.seed, _deterministic_ops(config))
        model = spec.build(get_dataset(DEFAULT_DATASET).num_classes)
        return _fit_and_publish(keras, model, None, config, data, record, [], partial, final,
                                observer, replacing=False)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def resume(run_arg: Path | str, observer: TrainingObserver | None = None,
           epochs: int | None = None, data_dir: Path | str | None = None) -> TrainResult:
    """Continue an interrupted run from its next epoch to its planned total (or ``epochs``)
    and mark it completed. The optimizer state comes back from its model.keras."""
    observer = observer or TrainingObserver()
    run = load_run(run_arg) if Path(run_arg).is_dir() else resolve_run(run_arg)
    if run.source != "run":
        raise RunError(f"{run_arg}: --resume needs a run directory")
    record = json.loads(json.dumps(run.record))  # a private copy
    history = read_history(run.path / HISTORY_FILE)
    done = int(record.get("epochs_completed", len(history)))
    hyper = dict(record["hyperparameters"])
    if epochs is not None:
        hyper["epochs"] = epochs
    if done >= hyper["epochs"]:
        raise RunError(f"{run.path}: already trained for {done} of {hyper['epochs']} epochs; "
                       "nothing to resume (pass --epochs N to train further)")
    recorded_dir = (record.get("data") or {}).get("dir")
    config = TrainConfig(
        model=record["model"], seed=int(record.get("seed", DEFAULT_SEED)),
        data_dir=Path(data_dir) if data_dir is not None else
        (Path(recorded_dir) if recorded_dir else None),
        epochs=int(hyper["epochs"]), batch_size=int(hyper["batch_size"]),
        learning_rate=float(hyper["learning_rate"]), optimizer=hyper["optimizer"],
        schedule=hyper.get("schedule", "constant"), augment=hyper.get("augment"),
        label_smoothing=float(hyper.get("label_smoothing", 0.0)),
        validation=int(hyper.get("validation", DEFAULT_VALIDATION)),
        max_steps=hyper.get("max_steps"),
        extra=dict(hyper.get("extra") or {}),
    )
    _check_config(config)
    get_model_spec(config.model)
    data = load_dataset(config.data_dir, validation=config.validation)
    digests = data_digests(config.data_dir)
    recorded_digests = (record.get("data") or {}).get("digests")
    if recorded_digests and digests != recorded_digests:
        raise RunError(f"the data in {resolve_data_dir(config.data_dir)} differs from the "
                       f"data {run.path.name} was trained on (SHA-256 mismatch)")
    record["hyperparameters"] = _jsonable(config.hyperparameters())
    record["resumed"] = [*record.get("resumed", []), _now()]
    partial = _begin_partial(run.path, replacing=True)
    try:
        keras, _ = import_keras()
        # shuffles differ from the first epochs', yet stay reproducible
        _seed_everything(config.seed + done, _deterministic_ops(config))
        # schedules registered by the optimizer factory must exist before loading
        steps = math.ceil(len(data["train"]) / config.batch_size)
        if config.max_steps is not None:
            steps = min(steps, config.max_steps)
        _make_optimizer(config, steps)
        try:
            model = keras.models.load_model(run.path / KERAS_FILE, compile=True)
        except Exception as exc:
            raise ModelError(f"{run.path / KERAS_FILE}: cannot load ({exc})") from None
        return _fit_and_publish(keras, model, model.optimizer, config, data, record,
                                history, partial, run.path, observer, replacing=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _fit_and_publish(keras, model, optimizer, config: TrainConfig, data: dict,
                     record: dict, history: list[dict[str, float]], partial: Path,
                     final: Path, observer: TrainingObserver, replacing: bool) -> TrainResult:
    _, tf = import_keras()
    initial_epoch = len(history)
    augmenter = _make_augmenter(config.augment)
    train_data, validation_data, steps = _datasets(tf, data, config, augmenter)
    if optimizer is None:
        _compile(keras, model, _make_optimizer(config, steps), config)
    parameters = int(model.count_params())
    state = _InterruptState()
    callback = _progress_callback(keras, observer, state, history)
    observer.on_train_begin(run_name=final.name, epochs=config.epochs,
                            initial_epoch=initial_epoch, steps_per_epoch=steps,
                            parameters=parameters)
    with stdout_to_stderr(), _sigint_stops_training(state, observer), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*shuffle=True.*was passed")
        model.fit(train_data, validation_data=validation_data, epochs=config.epochs,
                  initial_epoch=initial_epoch, callbacks=[callback], verbose=0)
    observer.on_train_end()
    if len(history) == initial_epoch and state.requested:
        raise TrainingInterrupted(
            "interrupted before an epoch completed; nothing saved"
            + (f" ({final} is unchanged)" if replacing else ""))
    if callback.partial_epoch:
        callback.restore_last_epoch()
    completed = len(history) >= config.epochs
    status = STATUS_COMPLETED if completed else STATUS_INTERRUPTED

    with stdout_to_stderr():
        observer.on_phase("testing")
        from mnistcli.inference import to_model_input

        test = data["test"]
        probabilities = np.asarray(model.predict(to_model_input(test.images),
                                                 batch_size=1024, verbose=0))
        test_result = evaluate_probabilities(probabilities, test.labels)
        observer.on_phase("saving")
        model.save(partial / KERAS_FILE)
        convert_to_tflite(model, partial / TFLITE_FILE)
        difference = _check_tflite(model, partial / TFLITE_FILE,
                                   test.images[:TFLITE_CHECK_IMAGES])

    last = history[-1]
    record.update({
        "status": status,
        "epochs_completed": len(history),
        "parameters": parameters,
        "input_shape": list(INPUT_SHAPE),
        "versions": library_versions(),
        "finished": _now(),
        "training_seconds": round(sum(row["seconds"] for row in history), 3),
        "metrics": {
            "test_accuracy": test_result.accuracy,
            "test_loss": test_result.loss,
            "val_accuracy": _json_float(last["val_accuracy"]),
            "val_loss": _json_float(last["val_loss"]),
            "train_accuracy": _json_float(last["accuracy"]),
            "train_loss": _json_float(last["loss"]),
        },
        "tflite_max_difference": difference,
    })
    write_history(partial / HISTORY_FILE, history)
    (partial / RUN_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    _publish(partial, final, replacing)
    return TrainResult(run=load_run(final), record=record)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """As JSON will hold it (anything exotic in a recipe becomes its text)."""
    return json.loads(json.dumps(values, default=str))


def _json_float(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
