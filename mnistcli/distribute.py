"""Training beyond one device with TensorFlow's own distribution engine (``tf.distribute``).

- ``mirrored``: :class:`tf.distribute.MirroredStrategy` over every visible GPU; with
  ``cpu_replicas=N`` (or without GPUs) over N logical devices carved out of the CPU, so
  the same path runs, and is tested, on any machine.
- ``multi-worker``: :class:`tf.distribute.MultiWorkerMirroredStrategy`, configured by the
  standard ``TF_CONFIG`` environment variable (what Kubernetes' training operators and
  cloud trainers set). The chief (task ``chief``, or ``worker`` 0 when there is none)
  writes the run; other workers write nothing into the user's runs.

The rules, the same for both strategies:

- Batch: ``--batch-size`` is the batch of one replica; the global batch (one optimizer
  step) is that times the replicas in sync (all devices of all workers).
- Learning rate (linear scaling, Goyal et al. 2017, "Accurate, Large Minibatch SGD"): the
  rate given (or the recipe's) is the rate for one device; with R replicas it is
  multiplied by R, because the global batch is R times larger. The larger rate is
  reached by a linear warm-up from the one-device rate over the first epoch (at most a
  fifth of the run); the one-cycle schedule keeps its own warm-up (from rate/25 over the
  first 20% of the steps), which already does that.
- Data: each worker reads its own shard of the training set (the input pipeline's id of
  the number of pipelines), shuffled with the seed plus the worker's index, so workers
  see different images in a different order; each epoch takes the same number of global
  steps on every worker (the training set divided by the global batch, remainder
  dropped), as collective operations need.
- Seeds: the weights are initialised once, from the seed, and broadcast from the chief;
  shuffles and augmentation use the seed plus the worker's index.

Devices must be chosen before TensorFlow starts using them: :func:`make_plan` is called
once per process, before any model is built.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mnistcli.errors import MnistError

STRATEGIES = ("mirrored", "multi-worker")
DEVICES = ("cpu", "gpu")
TF_CONFIG_ENV = "TF_CONFIG"
# Seconds between a multi-worker cluster's peer health checks, and the wait for an answer.
# TensorFlow's defaults are 30 and 10; MNIST_HEALTH_CHECK_SECONDS changes the interval.
HEALTH_CHECK_ENV = "MNIST_HEALTH_CHECK_SECONDS"
WARMUP_MAX_FRACTION = 0.2


class DistributionError(MnistError):
    """A distributed run that cannot start (bad TF_CONFIG, no GPU) or lost a worker."""


@dataclass(frozen=True)
class Distribution:
    """How to train: ``strategy`` None (one device), "mirrored" or "multi-worker";
    ``cpu_replicas`` logical CPU devices for mirrored; ``device`` "cpu", "gpu" or None
    (GPUs when there are any)."""

    strategy: str | None = None
    cpu_replicas: int | None = None
    device: str | None = None

    def check(self) -> None:
        if self.strategy is not None and self.strategy not in STRATEGIES:
            raise DistributionError(f"unknown distribution {self.strategy!r}; choose one of: "
                                    f"{', '.join(STRATEGIES)}")
        if self.device is not None and self.device not in DEVICES:
            raise DistributionError(f"unknown device {self.device!r}; choose one of: "
                                    f"{', '.join(DEVICES)}")
        if self.cpu_replicas is not None:
            if self.cpu_replicas < 1:
                raise DistributionError(f"--cpu-replicas must be at least 1, not "
                                        f"{self.cpu_replicas}")
            if self.strategy != "mirrored":
                raise DistributionError("--cpu-replicas splits the CPU for --distribute "
                                        "mirrored; give that too")
            if self.device == "gpu":
                raise DistributionError("--cpu-replicas trains on the CPU; it does not go "
                                        "with --device gpu")


@dataclass(frozen=True)
class Cluster:
    """The part of TF_CONFIG that matters here."""

    task_type: str
    task_index: int
    workers: int  # chief plus workers: the processes that train
    is_chief: bool
    worker_index: int  # 0 for the chief, then the workers in order

    @property
    def description(self) -> str:
        return f"{self.task_type} {self.task_index} of a {self.workers}-worker cluster"


def parse_tf_config(value: str | None = None) -> Cluster:
    """Read TF_CONFIG (``{"cluster": {"worker": [...], "chief": [...]}, "task": {"type":
    ..., "index": ...}}``); a DistributionError says what is wrong with it."""
    text = os.environ.get(TF_CONFIG_ENV) if value is None else value
    example = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}')
    if not text:
        raise DistributionError(f"--distribute multi-worker needs the {TF_CONFIG_ENV} "
                                f"environment variable, e.g. {TF_CONFIG_ENV}='{example}'")
    try:
        config = json.loads(text)
        cluster = config["cluster"]
        task = config["task"]
        task_type = str(task["type"])
        task_index = int(task.get("index", 0))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DistributionError(f"{TF_CONFIG_ENV} is not a valid cluster description "
                                f"({type(exc).__name__}: {exc}); expected e.g. "
                                f"'{example}'") from None
    chiefs = list(cluster.get("chief") or [])
    workers = list(cluster.get("worker") or [])
    if task_type not in ("chief", "worker"):
        raise DistributionError(f"{TF_CONFIG_ENV}: task type {task_type!r} does not train "
                                "here; run `mnist train` on the chief and the workers only")
    members = chiefs if task_type == "chief" else workers
    if not 0 <= task_index < len(members):
        raise DistributionError(f"{TF_CONFIG_ENV}: task {task_type} {task_index} is not in "
                                f"the cluster ({len(members)} {task_type} address(es))")
    is_chief = task_type == "chief" or (not chiefs and task_index == 0)
    worker_index = task_index if task_type == "chief" else len(chiefs) + task_index
    return Cluster(task_type, task_index, len(chiefs) + len(workers), is_chief, worker_index)


@dataclass
class Plan:
    """What this process trains on: a ``strategy`` (None: the default single device),
    how many replicas train in sync, and this process's place among the workers."""

    strategy: Any = None
    kind: str | None = None
    replicas: int = 1
    workers: int = 1
    worker_index: int = 0
    is_chief: bool = True
    devices: list[str] = field(default_factory=list)
    # what run.json keeps (set once the optimizer is made; see record())
    summary: dict[str, Any] | None = None

    @property
    def distributed(self) -> bool:
        return self.strategy is not None

    def description(self) -> str:
        """One line for people: which devices, how many replicas."""
        devices = ", ".join(self.devices) or "the default device"
        if self.kind is None:
            return f"Training on {devices}"
        if self.kind == "mirrored":
            return (f"Training on {self.replicas} replica(s) in sync (MirroredStrategy): "
                    f"{devices}")
        return (f"Training on {self.replicas} replica(s) in sync across {self.workers} "
                f"workers (MultiWorkerMirroredStrategy); this is worker {self.worker_index}"
                f"{' (chief: writes the run)' if self.is_chief else ''}, on {devices}")

    def record(self, per_replica_batch: int, learning_rate: float,
               warmup_steps: int) -> dict[str, Any]:
        """What run.json keeps of it."""
        return {"strategy": self.kind, "replicas": self.replicas, "workers": self.workers,
                "devices": self.devices, "per_replica_batch": per_replica_batch,
                "global_batch": per_replica_batch * self.replicas,
                "learning_rate_scale": self.replicas, "scaled_learning_rate": learning_rate,
                "warmup_steps": warmup_steps}


def _short(name: str) -> str:
    """'/job:localhost/replica:0/task:0/device:CPU:1' -> 'CPU:1'."""
    return name.rsplit("device:", 1)[-1]


def configure_devices(tf, distribution: Distribution) -> None:
    """Hide GPUs for --device cpu, require them for --device gpu, split the CPU for
    --cpu-replicas. Must run before TensorFlow initialises its devices."""
    try:
        if distribution.device == "cpu":
            tf.config.set_visible_devices([], "GPU")
        elif distribution.device == "gpu" and not tf.config.list_physical_devices("GPU"):
            raise DistributionError(
                "--device gpu: TensorFlow sees no GPU. The default install on Linux is "
                "TensorFlow's CPU build; see docs/scaling.md for the GPU install "
                "(CUDA-enabled tensorflow), and check `nvidia-smi`")
        if distribution.cpu_replicas is not None:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * distribution.cpu_replicas)
    except RuntimeError as exc:
        raise DistributionError(f"devices can be chosen only before TensorFlow starts "
                                f"using them (start a new process): {exc}") from None


def make_plan(distribution: Distribution | None = None) -> Plan:
    """Choose devices and build the strategy (importing tensorflow)."""
    from mnistcli.stdio import import_keras

    distribution = distribution or Distribution()
    distribution.check()
    _keras, tf = import_keras()
    if distribution.strategy == "multi-worker":
        cluster = parse_tf_config()
        configure_devices(tf, distribution)
        interval = os.environ.get(HEALTH_CHECK_ENV)
        if interval:
            # the interval lives on the strategy's implementation class
            from tensorflow.python.distribute import collective_all_reduce_strategy as car

            car.CollectiveAllReduceExtended._check_health_interval = float(interval)
            car.CollectiveAllReduceExtended._check_health_timeout = max(
                1.0, float(interval) / 3)
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        local = [_short(d.name) for d in tf.config.list_logical_devices("GPU")] or ["CPU:0"]
        return Plan(strategy, "multi-worker", int(strategy.num_replicas_in_sync),
                    cluster.workers, cluster.worker_index, cluster.is_chief, local)
    configure_devices(tf, distribution)
    gpus = tf.config.list_logical_devices("GPU")
    if distribution.strategy is None:
        device = _short(gpus[0].name) if gpus else "CPU:0"
        return Plan(devices=[device])
    if gpus and distribution.cpu_replicas is None:
        names = [gpu.name for gpu in gpus]
    else:
        names = [cpu.name for cpu in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices=names)
    return Plan(strategy, "mirrored", int(strategy.num_replicas_in_sync),
                devices=[_short(name) for name in names])


# --- the learning-rate rule and the optimizer --------------------------------------------

def warmup_steps(replicas: int, schedule: str, steps_per_epoch: int, epochs: int) -> int:
    """Steps of linear warm-up to the scaled rate: none on one replica or with the
    one-cycle schedule (its own warm-up), else one epoch, at most a fifth of the run."""
    if replicas <= 1 or schedule == "onecycle":
        return 0
    total = max(1, steps_per_epoch * epochs)
    return max(1, min(steps_per_epoch, int(total * WARMUP_MAX_FRACTION)))


def make_optimizer(config, steps_per_epoch: int, replicas: int):
    """The optimizer of ``config`` (a TrainConfig) with its rate scaled for ``replicas``
    replicas and warmed up as the module docstring says. Only built-in Keras schedules,
    so the saved model loads anywhere. Returns (optimizer, scaled rate, warm-up steps)."""
    import keras

    from mnistcli import models

    scaled = config.learning_rate * replicas
    warmup = warmup_steps(replicas, config.schedule, steps_per_epoch, config.epochs)
    if warmup == 0:
        optimizer = models.make_optimizer(config.optimizer, scaled, config.schedule,
                                          steps_per_epoch, config.epochs)
        return optimizer, scaled, 0
    if config.schedule not in ("constant", "cosine"):
        raise DistributionError(f"no warm-up rule for the {config.schedule!r} schedule")
    total = max(1, steps_per_epoch * config.epochs)
    # CosineDecay warms up linearly from initial_learning_rate to warmup_target, then
    # decays to alpha * warmup_target: alpha 1 keeps a constant rate constant
    rate = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate, warmup_target=scaled,
        warmup_steps=warmup, decay_steps=max(1, total - warmup),
        alpha=1.0 if config.schedule == "constant" else 0.0)
    if config.optimizer not in models.OPTIMIZERS:
        raise DistributionError(f"unknown optimizer {config.optimizer!r}; choose one of: "
                                f"{', '.join(models.OPTIMIZERS)}")
    if config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(learning_rate=rate)
    elif config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(learning_rate=rate,
                                           weight_decay=models.ADAMW_WEIGHT_DECAY)
    elif config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=rate, momentum=models.SGD_MOMENTUM,
                                         nesterov=True)
    else:
        optimizer = keras.optimizers.RMSprop(learning_rate=rate)
    return optimizer, scaled, warmup


# --- the input pipelines ------------------------------------------------------------------

def global_steps(train_images: int, per_replica_batch: int, replicas: int,
                 max_steps: int | None) -> int:
    """Optimizer steps per epoch: whole global batches only, the same on every worker."""
    steps = max(1, train_images // (per_replica_batch * replicas))
    return steps if max_steps is None else min(steps, max_steps)


def distributed_datasets(tf, plan: Plan, data: dict, config, prepare, steps: int):
    """(train, validation, validation steps) as distributed datasets: one input pipeline
    per worker, each reading its shard, batched per replica. ``prepare(images, labels,
    augment)`` turns a uint8 batch into model input."""
    strategy = plan.strategy
    per_replica = config.batch_size
    train = data["train"]

    def train_fn(context):
        pipeline = tf.data.Dataset.from_tensor_slices((train.images, train.labels))
        if context.num_input_pipelines > 1:
            pipeline = pipeline.shard(context.num_input_pipelines, context.input_pipeline_id)
        pipeline = pipeline.shuffle(len(train), seed=config.seed + context.input_pipeline_id,
                                    reshuffle_each_iteration=True).repeat()
        pipeline = pipeline.batch(per_replica, drop_remainder=True)
        pipeline = pipeline.map(lambda x, y: prepare(x, y, True))
        return pipeline.prefetch(tf.data.AUTOTUNE)

    train_data = strategy.distribute_datasets_from_function(train_fn)
    held_out = data.get("validation")
    validation_steps = 0
    validation_data = None
    if held_out is not None and len(held_out):
        batch = min(per_replica, max(1, len(held_out) // plan.replicas))
        validation_steps = max(1, len(held_out) // (batch * plan.replicas))

        def validation_fn(context):
            pipeline = tf.data.Dataset.from_tensor_slices((held_out.images, held_out.labels))
            if context.num_input_pipelines > 1:
                pipeline = pipeline.shard(context.num_input_pipelines,
                                          context.input_pipeline_id)
            pipeline = pipeline.batch(batch, drop_remainder=True).repeat()
            pipeline = pipeline.map(lambda x, y: prepare(x, y, False))
            return pipeline.prefetch(tf.data.AUTOTUNE)

        validation_data = strategy.distribute_datasets_from_function(validation_fn)
    return train_data, validation_data, validation_steps


def error_reason(exc: BaseException, limit: int = 200) -> str:
    """The telling line of a TensorFlow error: one naming the peer, the connection or
    the deadline when there is one, else the last."""
    lines = [line.strip() for line in (getattr(exc, "message", None) or str(exc)).splitlines()
             if line.strip() and not line.strip().startswith(("Detected at node", "File "))]
    keywords = ("unavailable", "peer", "socket", "connect", "deadline", "health", "task")
    telling = [line for line in lines if any(word in line.lower() for word in keywords)]
    reason = (telling or lines or [type(exc).__name__])[0]
    return reason if len(reason) <= limit else reason[:limit - 3] + "..."


def lost_worker_errors(tf) -> tuple[type[BaseException], ...]:
    """The errors a collective operation raises when a peer died or cannot be reached."""
    errors = tf.errors
    return (errors.UnavailableError, errors.DeadlineExceededError, errors.AbortedError,
            errors.CancelledError, errors.InternalError, errors.UnknownError)


@contextlib.contextmanager
def keras_multi_worker_fix(active: bool) -> Iterator[None]:
    """Keras 3.15 averages each step's metrics over a multi-worker cluster with
    ``strategy.reduce("MEAN", value, axis=0)``, which fails for scalar metrics (loss,
    accuracy); while ``active``, they are averaged over the replicas (``axis=None``)."""
    if not active:
        yield
        return
    from keras.src.backend.tensorflow import trainer
    from keras.src.tree import map_structure

    original = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean"):
            return map_structure(lambda value: strategy.reduce("MEAN", value, axis=None),
                                 values)
        return original(values, strategy, reduction)

    trainer.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        trainer.reduce_per_replica = original
