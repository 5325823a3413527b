"""Training a recipe (mnistcli.recipes) into a run directory (see mnistcli.runs for the
layout).

    config = make_config("cnn", epochs=3, seed=1)    # from mnistcli.recipes
    result = train(config)                   # -> TrainResult(run=RunInfo, ...)
    result = resume("runs/20260101T000000Z-cnn")

The run is built in a hidden ``.<name>.partial`` directory and renamed into place when
complete; each completed epoch is checkpointed there (mnistcli.runs.write_checkpoint), so
a killed training loses at most the epoch in flight and :func:`resume` continues it.
SIGINT (Ctrl-C) or SIGTERM during training stops after the current batch; the weights of
the last completed epoch are then published as a run with ``"status": "interrupted"``,
which :func:`resume` continues. After the last epoch (testing, saving, converting,
writing) it lets the finished run be published first. A second one aborts at once
(TrainingAborted), publishing nothing and keeping the checkpoint. Bad settings and data
are refused before training; a loss that becomes NaN stops it (TrainingDiverged).

Progress is reported to an optional :class:`TrainingObserver`; this module prints nothing.
"""

from __future__ import annotations

import contextlib
import json
import math
import platform
import signal
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mnistcli import __version__, models
from mnistcli.distribute import Distribution, DistributionError, Plan
from mnistcli.errors import MnistError, RunError
from mnistcli.evaluation import evaluate_probabilities
from mnistcli.inference import to_model_input
from mnistcli.keras_files import check_tflite, convert_to_tflite, load_keras_model
from mnistcli.recipes import TrainConfig, check_config
from mnistcli.runs import (
    HISTORY_FILE,
    KERAS_FILE,
    RUN_FILE,
    RUN_FORMAT,
    STATUS_COMPLETED,
    STATUS_INTERRUPTED,
    TFLITE_FILE,
    RunInfo,
    building_run,
    find_unfinished,
    load_run,
    new_run_path,
    partial_path,
    read_history,
    resolve_run,
    write_checkpoint,
    write_history,
)
from mnistcli.stdio import import_keras, stdout_to_stderr
from mnistcli.training_data import load_training_data

TFLITE_CHECK_IMAGES = 256  # test images the .tflite must answer as the Keras model does
TENSORBOARD_DIR = "tensorboard"  # TensorBoard event logs inside a run (--tensorboard)


class TrainingInterrupted(MnistError):
    """Ctrl-C before any epoch completed: there is nothing worth keeping."""


class TrainingDiverged(MnistError):
    """The loss became NaN or infinite: training stopped, nothing was published."""


class TrainingAborted(KeyboardInterrupt):
    """A second Ctrl-C (or SIGTERM) stopped training at once; the message says what was
    kept (the checkpoint of the last completed epoch, for --resume)."""


class TrainingObserver:
    """Receives progress; the CLI draws it. Every method is optional (no-ops here)."""

    def on_train_begin(self, *, run_name: str, epochs: int, initial_epoch: int,
                       steps_per_epoch: int, parameters: int) -> None: ...

    def on_devices(self, description: str) -> None:
        """Which devices train (one line, before training starts)."""

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
    # False on a multi-worker run's non-chief workers: the chief publishes the run
    published: bool = True
    # Ctrl-C or SIGTERM arrived after training, while testing or writing: the finished
    # run was kept (its status says whether all epochs were trained)
    stopped_by_signal: bool = False

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
            "dataset": (record.get("data") or {}).get("dataset"),
            "status": record["status"],
            "epochs_completed": record["epochs_completed"],
            "epochs": record["hyperparameters"]["epochs"],
            "seed": record["seed"],
            "parameters": record["parameters"],
            "training_seconds": record["training_seconds"],
            "metrics": record["metrics"],
            "hyperparameters": record["hyperparameters"],
        }


# --- the tf.data pipeline and the model's compilation (tensorflow imported lazily) --------

def _seed_everything(seed: int) -> None:
    """Seed every generator and ask TensorFlow for deterministic kernels: the same seed on
    the same data gives the same weights."""
    keras, tf = import_keras()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _steps_per_epoch(train_images: int, config: TrainConfig) -> int:
    steps = math.ceil(train_images / config.batch_size)
    return steps if config.max_steps is None else min(steps, config.max_steps)


def _make_optimizer(config: TrainConfig, steps_per_epoch: int):
    return models.make_optimizer(config.optimizer, config.learning_rate, config.schedule,
                                 steps_per_epoch, config.epochs)


def _apply_augmenter(augmenter, images):
    try:
        return augmenter(images, training=True)
    except TypeError:  # a plain callable rather than a keras layer
        return augmenter(images)


def _batch_preparer(tf, config: TrainConfig, augmenter, num_classes: int):
    """uint8 batch -> model input: scaled (and augmented), labels one-hot if smoothed."""
    smoothing = config.label_smoothing > 0

    def prepare(images, labels, augment: bool):
        x = tf.cast(images, tf.float32)[..., None] / 255.0
        if augment and augmenter is not None:
            x = _apply_augmenter(augmenter, x)
        y = tf.one_hot(tf.cast(labels, tf.int32), num_classes) if smoothing else labels
        return x, y

    return prepare


def _datasets(tf, data: dict, config: TrainConfig, augmenter, num_classes: int):
    """tf.data pipelines: uint8 in memory, scaled (and augmented) per batch."""
    prepare = _batch_preparer(tf, config, augmenter, num_classes)

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
    validation = None
    if "validation" in data and len(data["validation"]):
        held_out = data["validation"]
        validation = (tf.data.Dataset.from_tensor_slices((held_out.images, held_out.labels))
                      .batch(max(config.batch_size, 256))
                      .map(lambda x, y: prepare(x, y, False))
                      .prefetch(tf.data.AUTOTUNE))
    return pipeline, validation


def _compile(keras, model, optimizer, config: TrainConfig) -> None:
    if config.label_smoothing > 0:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])


# --- Ctrl-C and progress ---------------------------------------------------------------------

class _InterruptState:
    def __init__(self) -> None:
        self.requested = False
        self.diverged: str | None = None  # why the loss is no longer a number


STOP_SIGNALS = ("SIGINT", "SIGTERM")  # Ctrl-C; timeout, docker stop, batch schedulers


@contextlib.contextmanager
def _sigint_stops_training(state: _InterruptState, observer: TrainingObserver
                           ) -> Iterator[None]:
    """First Ctrl-C or SIGTERM: finish the current batch (or the testing and writing of a
    trained run), then stop. Second: abort now (the last epoch's checkpoint is kept)."""
    if threading.current_thread() is not threading.main_thread() or \
            getattr(state, "handling", False):
        yield
        return

    def handler(signum, frame):
        if state.requested:
            raise KeyboardInterrupt
        state.requested = True
        observer.on_interrupt()

    state.handling = True
    previous = {name: signal.signal(getattr(signal, name), handler) for name in STOP_SIGNALS
                if hasattr(signal, name)}
    try:
        yield
    finally:
        state.handling = False
        for name, old in previous.items():
            signal.signal(getattr(signal, name), old)


def _progress_callback(keras, observer: TrainingObserver, state: _InterruptState,
                       history: list[dict[str, float]], scale: float = 1.0,
                       on_epoch=None):
    """A keras Callback feeding the observer, keeping history rows for completed epochs and
    snapshotting weights so an interrupted epoch can be rolled back. Logged metrics are
    multiplied by ``scale`` (a multi-worker run logs sums over its replicas)."""

    def _value(logs, key):
        return _as_float(logs.get(key)) * scale

    class Progress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.snapshot = None  # (model variables, optimizer variables) at the last epoch end
            self.epoch = 0
            self.partial_epoch = False
            self.epoch_started = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            self.epoch_started = time.perf_counter()
            observer.on_epoch_begin(epoch)

        def on_train_batch_end(self, batch, logs=None):
            logs = logs or {}
            loss = _value(logs, "loss")
            observer.on_batch_end(batch, loss, _value(logs, "accuracy"))
            if not math.isfinite(loss) and "loss" in logs:
                state.diverged = f"the loss became {loss} in epoch {self.epoch + 1}"
                self.model.stop_training = True
                return
            if state.requested:
                self.partial_epoch = True
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if self.partial_epoch or state.diverged:
                return  # the interrupted epoch is rolled back, not recorded
            logs = logs or {}
            if not math.isfinite(_value(logs, "val_loss") if "val_loss" in logs else 0.0):
                state.diverged = (f"the validation loss became {_value(logs, 'val_loss')} "
                                  f"in epoch {epoch + 1}")
                self.model.stop_training = True
                return
            row = {
                "epoch": epoch + 1,
                "loss": _value(logs, "loss"),
                "accuracy": _value(logs, "accuracy"),
                "val_loss": _value(logs, "val_loss"),
                "val_accuracy": _value(logs, "val_accuracy"),
                "seconds": time.perf_counter() - self.epoch_started,
            }
            history.append(row)
            to_numpy = keras.ops.convert_to_numpy
            self.snapshot = ([to_numpy(v) for v in self.model.variables],
                             [to_numpy(v) for v in self.model.optimizer.variables])
            if on_epoch is not None:
                on_epoch(self.model, history)  # the checkpoint for --resume
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


# --- training ----------------------------------------------------------------------------

def train(config: TrainConfig, out: Path | str | None = None,
          observer: TrainingObserver | None = None,
          distribution: Distribution | None = None) -> TrainResult:
    """Train ``config`` into a new run directory (``out``, default a new one under
    MNIST_HOME/runs) and return it. Raises before writing anything when the model, data or
    destination is bad. ``distribution`` trains on several devices or workers (see
    mnistcli.distribute); only the chief publishes the run."""
    observer = observer or TrainingObserver()
    check_config(config)
    spec = models.get_model_spec(config.model)
    loaded = load_training_data(config.dataset, config.data_dir, config.validation,
                                config.seed)
    data = loaded.splits
    _check_data(data, config)
    from mnistcli.distribute import make_plan

    plan = make_plan(distribution)
    observer.on_devices(plan.description())
    final = Path(out).expanduser() if out is not None else new_run_path(spec.name)
    record = {
        "format": RUN_FORMAT,
        "name": final.name,
        "model": spec.name,
        "description": spec.description,
        "status": None,
        "hyperparameters": _jsonable(config.hyperparameters()),
        "seed": config.seed,
        "data": loaded.record(),
        "class_names": list(loaded.class_names),
        "preprocessing": loaded.preprocessing,
        "versions": None,
        "started": _now(),
        "resumed": [],
        "finished": None,
    }
    if not plan.is_chief:
        # a multi-worker run's other workers train alongside the chief and write nothing
        # into the user's runs: their copy goes to a scratch directory, then away
        with tempfile.TemporaryDirectory(prefix="mnist-worker-") as scratch:
            _seed_everything(config.seed + plan.worker_index)
            with plan.strategy.scope():
                model = spec.build(loaded.num_classes)
            record = _train_into(Path(scratch), model, config, data, record, [], observer,
                                 replacing=False, plan=plan)
        return TrainResult(run=RunInfo(path=final, source="worker", record=record),
                           record=record, published=False)
    state = _InterruptState()
    with _stoppable(state, observer, final), building_run(final) as partial:
        # weights start from the seed (a multi-worker run broadcasts the chief's);
        # shuffles and augmentation differ per worker
        _seed_everything(config.seed + plan.worker_index)
        with _scope(plan):
            model = spec.build(loaded.num_classes)
        record = _train_into(partial, model, config, data, record, [], observer,
                             replacing=False, plan=plan, state=state)
    return TrainResult(run=load_run(final), record=record, stopped_by_signal=state.requested)


def _check_data(data: dict, config: TrainConfig) -> None:
    """Refuse, before any training, data a run cannot be trained and tested on."""
    if not len(data.get("train", ())):
        raise MnistError("the training split is empty: nothing to train on"
                         + (f" (--validation {config.validation} holds out every image)"
                            if config.validation else ""))
    if "test" not in data or not len(data["test"]):
        raise MnistError("the test split is empty: a run is tested after training; give "
                         "data with test images")


@contextlib.contextmanager
def _stoppable(state: _InterruptState, observer: TrainingObserver,
               final: Path) -> Iterator[None]:
    """Ctrl-C and SIGTERM stop training gracefully (see _sigint_stops_training); an abort
    (a second one) becomes TrainingAborted saying what was kept."""
    from mnistcli.runs import describe_checkpoint, has_checkpoint

    with _sigint_stops_training(state, observer):
        try:
            yield
        except TrainingAborted:
            raise
        except KeyboardInterrupt:
            partial = partial_path(final)
            if has_checkpoint(partial):
                raise TrainingAborted(
                    f"aborted; the last completed epoch ({describe_checkpoint(partial)}) "
                    f"is kept: `mnist train --resume {final}` continues it") from None
            raise TrainingAborted("aborted before an epoch completed; nothing saved"
                                  ) from None


def _scope(plan: Plan | None):
    """The strategy's scope for building and compiling a model (none on one device)."""
    if plan is None or plan.strategy is None:
        return contextlib.nullcontext()
    return plan.strategy.scope()


def resume(run_arg: Path | str, observer: TrainingObserver | None = None,
           epochs: int | None = None, data_dir: Path | str | None = None) -> TrainResult:
    """Continue an interrupted run from its next epoch to its planned total (or ``epochs``)
    and mark it completed. The optimizer state comes back from its model.keras.

    ``run_arg`` is a run directory or name, or an unfinished run (killed while training:
    its ``.<name>.partial`` directory, or the name it was to have), which continues from
    its last checkpoint."""
    from mnistcli.runs import ASSETS_DIR, STATUS_TRAINING, checkpoint_path, final_path

    observer = observer or TrainingObserver()
    unfinished = find_unfinished(run_arg)
    if unfinished is not None:
        if unfinished.status == STATUS_TRAINING:
            raise RunError(f"{run_arg}: another mnist process is training this run now; "
                           "wait for it to finish")
        final = final_path(unfinished.path)
        source = checkpoint_path(unfinished.path)
        record = json.loads(json.dumps(unfinished.record))  # a private copy
        record.pop("checkpoint", None)
    else:
        path = Path(run_arg).expanduser()
        run = load_run(path) if path.is_dir() else resolve_run(run_arg)
        if run.source == "shipped" or run.path.resolve() == ASSETS_DIR:
            raise RunError("the model shipped with mnistcli cannot be resumed (it carries no "
                           "optimizer state); train a run of your own with `mnist train`")
        if run.source != "run":
            raise RunError(f"{run_arg}: only a run directory can be resumed")
        final = source = run.path
        record = json.loads(json.dumps(run.record))  # a private copy
    history = read_history(source / HISTORY_FILE).rows()
    done = len(history)
    config = TrainConfig.from_record(record, epochs=epochs, data_dir=data_dir)
    if done >= config.epochs and unfinished is None:
        # (an unfinished run checkpointed after its last epoch is tested and written)
        raise RunError(f"{final}: already trained for {done} of {config.epochs} epochs; "
                       "nothing to resume (ask for more epochs to train further)")
    check_config(config)
    models.get_model_spec(config.model)
    loaded = load_training_data(config.dataset, config.data_dir, config.validation,
                                config.seed)
    data = loaded.splits
    _check_data(data, config)
    recorded_digests = (record.get("data") or {}).get("digests")
    if recorded_digests and loaded.digests != recorded_digests:
        raise RunError(f"the data in {loaded.directory} differs from the "
                       f"data {final.name} was trained on (SHA-256 mismatch)")
    record["hyperparameters"] = _jsonable(config.hyperparameters())
    record["resumed"] = [*record.get("resumed", []), _now()]
    state = _InterruptState()
    with _stoppable(state, observer, final), \
            building_run(final, replacing=final.exists(),
                         resuming=unfinished is not None) as partial:
        # shuffles differ from the first epochs', yet stay reproducible
        _seed_everything(config.seed + done)
        # schedules registered by the optimizer factory must exist before loading
        _make_optimizer(config, _steps_per_epoch(len(data["train"]), config))
        model = load_keras_model(source / KERAS_FILE, compile=True)
        if getattr(model, "optimizer", None) is None or not model.compiled:
            raise RunError(f"{source / KERAS_FILE}: holds no optimizer state, so its "
                           "training cannot be continued")
        record = _train_into(partial, model, config, data, record, history, observer,
                             replacing=True, state=state)
    return TrainResult(run=load_run(final), record=record, stopped_by_signal=state.requested)


def _train_into(partial: Path, model, config: TrainConfig, data: dict, record: dict,
                history: list[dict[str, float]], observer: TrainingObserver,
                replacing: bool, plan: Plan | None = None,
                state: _InterruptState | None = None) -> dict[str, Any]:
    """Fit ``model`` from epoch ``len(history)`` on (checkpointing each completed epoch in
    ``partial``), then write the run's four files into ``partial``; returns the finished
    record."""
    checkpoint = None
    if plan is None or not plan.distributed:
        def checkpoint(fitted, rows):
            write_checkpoint(partial, lambda path: fitted.save(path), record, rows)
    keras, _ = import_keras()
    stopper = None
    extra_callbacks = []
    if config.early_stopping:
        stopper = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.early_stopping, restore_best_weights=True)
        extra_callbacks.append(stopper)
    if config.tensorboard:
        # event files of every epoch, inside the run: `tensorboard --logdir RUNS_DIR`
        extra_callbacks.append(keras.callbacks.TensorBoard(
            log_dir=str(partial / TENSORBOARD_DIR), write_graph=False))
    parameters = _fit(model, config, data, history, observer, record["name"], replacing,
                      plan, state=state, on_epoch=checkpoint, extra_callbacks=extra_callbacks)
    stopped_early = stopper is not None and stopper.stopped_epoch > 0
    if plan is not None and plan.distributed:
        record["distribution"] = plan.summary
        if not plan.is_chief:
            return record  # the chief tests, converts and writes the run
        # tested, saved and converted as a plain single-device model
        model = _undistributed_copy(model, config)
    test = data["test"]
    with stdout_to_stderr():
        observer.on_phase("testing")
        probabilities = np.asarray(model.predict(to_model_input(test.images),
                                                 batch_size=1024, verbose=0))
        if not np.isfinite(probabilities).all():
            raise TrainingDiverged("training diverged: the model answers NaN on the test "
                                   "images; nothing was published")
        test_result = evaluate_probabilities(probabilities, test.labels)
        observer.on_phase("saving")
        model.save(partial / KERAS_FILE)
        observer.on_phase("converting")
        convert_to_tflite(model, partial / TFLITE_FILE)
        difference = check_tflite(model, partial / TFLITE_FILE,
                                  test.images[:TFLITE_CHECK_IMAGES])
    last = history[-1]
    if stopped_early:
        # the weights are the best epoch's: so are the metrics reported with them
        best = max(0, min(int(stopper.best_epoch), len(history) - 1))  # 0-based
        last = history[best]
        record["early_stopping"] = {"patience": config.early_stopping,
                                    "stopped_after_epoch": len(history),
                                    "best_epoch": best + 1}
    record.update({
        "status": STATUS_COMPLETED if len(history) >= config.epochs or stopped_early
        else STATUS_INTERRUPTED,
        "epochs_completed": len(history),
        "parameters": parameters,
        "input_shape": list(models.INPUT_SHAPE),
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
    observer.on_phase("writing")
    write_history(partial / HISTORY_FILE, history)
    (partial / RUN_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def _fit(model, config: TrainConfig, data: dict, history: list[dict[str, float]],
         observer: TrainingObserver, run_name: str, replacing: bool,
         plan: Plan | None = None, state: _InterruptState | None = None,
         on_epoch=None, extra_callbacks=()) -> int:
    """Train until ``config.epochs`` or the first Ctrl-C, appending a row to ``history``
    per completed epoch and leaving the weights of the last completed one; returns the
    model's parameter count."""
    from mnistcli import distribute

    keras, tf = import_keras()
    initial_epoch = len(history)
    augmenter = models.make_augmenter(config.augment)
    num_classes = int(model.outputs[0].shape[-1])
    distributed = plan is not None and plan.distributed
    fit_options: dict[str, Any] = {}
    if distributed:
        steps = distribute.global_steps(len(data["train"]), config.batch_size, plan.replicas,
                                        config.max_steps)
        prepare = _batch_preparer(tf, config, augmenter, num_classes)
        train_data, validation_data, validation_steps = distribute.distributed_datasets(
            tf, plan, data, config, prepare, steps)
        fit_options = {"steps_per_epoch": steps,
                       "validation_steps": validation_steps or None}
    else:
        train_data, validation_data = _datasets(tf, data, config, augmenter, num_classes)
        steps = _steps_per_epoch(len(data["train"]), config)
    if not model.compiled:
        with _scope(plan):
            if distributed:
                optimizer, rate, warmup = distribute.make_optimizer(config, steps,
                                                                    plan.replicas)
                plan.summary = plan.record(config.batch_size, rate, warmup)
            else:
                optimizer = _make_optimizer(config, steps)
            _compile(keras, model, optimizer, config)
    multi_worker = distributed and plan.kind == "multi-worker"
    if multi_worker:
        _build_before_fit(tf, model, plan, prepare, data["train"], config.batch_size)
    parameters = int(model.count_params())
    state = state or _InterruptState()
    callback = _progress_callback(keras, observer, state, history, on_epoch=on_epoch)
    if state.requested:
        raise TrainingInterrupted("interrupted before training started; nothing saved")
    observer.on_train_begin(run_name=run_name, epochs=config.epochs,
                            initial_epoch=initial_epoch, steps_per_epoch=steps,
                            parameters=parameters)
    with stdout_to_stderr(), _sigint_stops_training(state, observer), \
            warnings.catch_warnings(), distribute.keras_multi_worker_fix(multi_worker):
        warnings.filterwarnings("ignore", message=".*shuffle=True.*was passed")
        try:
            if initial_epoch < config.epochs:  # else a checkpoint after the last epoch
                model.fit(train_data, validation_data=validation_data,
                          epochs=config.epochs, initial_epoch=initial_epoch,
                          callbacks=[callback, *extra_callbacks], verbose=0,
                          **fit_options)
        except distribute.lost_worker_errors(tf) as exc:
            if not distributed or plan.workers < 2:
                raise
            raise DistributionError(
                "distributed training stopped: another worker of the cluster failed or "
                f"cannot be reached ({type(exc).__name__}: {distribute.error_reason(exc)}); "
                "nothing was published") from None
    observer.on_train_end()
    if state.diverged:
        raise TrainingDiverged(
            f"training diverged: {state.diverged}; nothing was published (try a lower "
            "--learning-rate)")
    if len(history) == initial_epoch and state.requested:
        raise TrainingInterrupted(
            "interrupted before an epoch completed; nothing saved"
            + (f" (the run {run_name} is unchanged)" if replacing else ""))
    if callback.partial_epoch:
        callback.restore_last_epoch()
    return parameters


def _build_before_fit(tf, model, plan: Plan, prepare, train, batch_size: int) -> None:
    """Build the optimizer and metrics from a local sample batch. Keras (3.15) would
    build them from the first distributed batch, reduced across replicas as a tuple,
    which MultiWorkerMirroredStrategy cannot reduce; built here, fit skips that step."""
    images = tf.constant(train.images[:batch_size])
    labels = tf.constant(train.labels[:batch_size])
    with plan.strategy.scope():
        model._symbolic_build(data_batch=prepare(images, labels, False))
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def _undistributed_copy(model, config: TrainConfig):
    """A plain (single-device) copy of a model trained under a strategy, with its weights
    and optimizer state, so testing, saving, conversion and --resume work as for any run."""
    keras, _tf = import_keras()
    to_numpy = keras.ops.convert_to_numpy
    plain = models.get_model_spec(config.model).build(int(model.outputs[0].shape[-1]))
    plain.set_weights([to_numpy(weight) for weight in model.weights])
    optimizer = model.optimizer.__class__.from_config(model.optimizer.get_config())
    _compile(keras, plain, optimizer, config)
    optimizer.build(plain.trainable_variables)
    if len(optimizer.variables) == len(model.optimizer.variables):
        for target, source in zip(optimizer.variables, model.optimizer.variables,
                                  strict=True):
            target.assign(to_numpy(source))
    return plain


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """As JSON will hold it (anything exotic in a recipe becomes its text)."""
    return json.loads(json.dumps(values, default=str))


def _json_float(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
