"""What a training run is made of: its recipe (TrainConfig), built from a zoo model's
defaults and what the user changes, from a TOML recipe file, or from an earlier run.

    config = make_config("cnn", epochs=3, seed=1)          # the registry recipe, changed
    config = make_config(**read_recipe_file("recipe.toml"))
    config = make_config(**recipe_of_run(run))              # that run's recipe again

Every value is checked here (:func:`check_config`), before any data is read or any
library loaded; :mod:`mnistcli.training` trains a config.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from mnistcli import models
from mnistcli.datasets import DEFAULT_DATASET, DEFAULT_VALIDATION, get_dataset
from mnistcli.errors import MnistError, ParameterError
from mnistcli.runs import RunInfo
from mnistcli.training_data import recorded_dataset

DEFAULT_SEED = 0
# numpy's and TensorFlow's generators take a seed of 32 bits; resuming adds the epoch to it
MAX_SEED = 2**32 - 1 - 100_000


# TrainConfig fields that say where and how a run is recorded, not how it is trained.
NOT_HYPERPARAMETERS = ("model", "seed", "data_dir", "dataset", "tensorboard")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (recorded in run.json)."""

    model: str
    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str = "adam"
    schedule: str = "constant"
    augment: dict[str, float] | None = None
    label_smoothing: float = 0.0
    # Stop after this many epochs without a lower validation loss, keeping the best
    # epoch's weights; None trains every epoch.
    early_stopping: int | None = None
    seed: int = DEFAULT_SEED
    validation: int = DEFAULT_VALIDATION
    data_dir: Path | None = None
    # Train at most this many batches per epoch (quick checks and tests); None: all.
    max_steps: int | None = None
    # The registry dataset (with --data, whose classes and preprocessing the files use)
    dataset: str = DEFAULT_DATASET
    # Write TensorBoard event logs into the run (how it is watched, not what is trained)
    tensorboard: bool = False

    def hyperparameters(self) -> dict[str, Any]:
        values = asdict(self)
        for key in NOT_HYPERPARAMETERS:
            values.pop(key)
        return values

    @classmethod
    def from_record(cls, record: dict[str, Any], epochs: int | None = None,
                    data_dir: Path | str | None = None) -> TrainConfig:
        """The config a run was trained with, from its run.json record; ``epochs`` and
        ``data_dir`` replace the recorded ones when given. Keys this version does not
        know (from older or newer records) are ignored."""
        known = {f.name for f in fields(cls)} - set(NOT_HYPERPARAMETERS)
        hyperparameters = {key: value for key, value in record["hyperparameters"].items()
                           if key in known}
        if epochs is not None:
            hyperparameters["epochs"] = epochs
        if data_dir is None:
            data_dir = (record.get("data") or {}).get("dir")
        return cls(model=record["model"], seed=int(record.get("seed", DEFAULT_SEED)),
                   data_dir=Path(data_dir) if data_dir else None,
                   dataset=recorded_dataset(record), **hyperparameters)


def make_config(model: str, epochs: int | None = None, batch_size: int | None = None,
                learning_rate: float | None = None, optimizer: str | None = None,
                seed: int | None = None, validation: int | None = None,
                data_dir: Path | str | None = None, max_steps: int | None = None,
                dataset: str | None = None, schedule: str | None = None,
                augment: dict[str, float] | None | bool = None,
                label_smoothing: float | None = None, early_stopping: int | None = None,
                tensorboard: bool = False) -> TrainConfig:
    """A TrainConfig: what is given, the model's registry recipe for the rest.
    ``augment``: a dict of strengths (see models.make_augmenter), False for none, None
    for the recipe's."""
    spec = models.get_model_spec(model)
    recipe = spec.recipe
    data_spec = get_dataset(dataset or DEFAULT_DATASET)
    recipe_augment, recipe_smoothing = recipe.augment, recipe.label_smoothing
    recipe_epochs = recipe.epochs
    if recipe.augment and data_spec.augment is not None:
        # an augmenting recipe takes the dataset's own augmentation (smoothing, epochs):
        # clothing is mirrored, not rotated
        recipe_augment = data_spec.augment
        if data_spec.label_smoothing is not None:
            recipe_smoothing = data_spec.label_smoothing
        if data_spec.epochs is not None:
            recipe_epochs = data_spec.epochs
    if augment is None:
        augment = dict(recipe_augment) if recipe_augment else None
    elif augment is True:  # asked for, whatever the recipe says
        augment = dict(recipe_augment or models.DEFAULT_AUGMENT)
    config = TrainConfig(
        model=spec.name,
        epochs=recipe_epochs if epochs is None else epochs,
        batch_size=recipe.batch_size if batch_size is None else batch_size,
        learning_rate=recipe.learning_rate if learning_rate is None else learning_rate,
        optimizer=recipe.optimizer if optimizer is None else optimizer,
        schedule=recipe.schedule if schedule is None else schedule,
        augment=dict(augment) if augment else None,
        label_smoothing=recipe_smoothing if label_smoothing is None else label_smoothing,
        early_stopping=early_stopping,
        seed=DEFAULT_SEED if seed is None else seed,
        validation=DEFAULT_VALIDATION if validation is None else validation,
        data_dir=Path(data_dir) if data_dir is not None else None,
        max_steps=max_steps,
        dataset=data_spec.name,
        tensorboard=tensorboard,
    )
    check_config(config)
    return config


# What a recipe file (`mnist train --config FILE`) may set: make_config's parameters.
RECIPE_KEYS = ("model", "epochs", "batch_size", "learning_rate", "optimizer", "schedule",
               "augment", "label_smoothing", "early_stopping", "seed", "validation",
               "dataset")


def read_recipe_file(path: Path | str) -> dict[str, Any]:
    """A TOML recipe: top-level keys from RECIPE_KEYS (``augment`` a table of strengths,
    or false). An unknown key is an error naming it, so a typo never trains silently
    with the default."""
    import tomllib

    path = Path(path)
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MnistError(f"{path}: no such recipe file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MnistError(f"{path}: cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise MnistError(f"{path}: not valid TOML ({exc})") from None
    unknown = [key for key in values if key not in RECIPE_KEYS]
    if unknown:
        raise MnistError(f"{path}: unknown key {unknown[0]!r}; a recipe sets "
                         f"{', '.join(RECIPE_KEYS)}")
    augment = values.get("augment")
    if augment is not None and not isinstance(augment, (dict, bool)):
        raise MnistError(f"{path}: augment must be a table of strengths "
                         "(e.g. {{ shift = 2, rotate = 10 }}) or false")
    return values


def recipe_of_run(run: RunInfo) -> dict[str, Any]:
    """The make_config arguments that train ``run``'s recipe again (model, seed, dataset
    and every hyperparameter it recorded)."""
    config = TrainConfig.from_record(run.record)
    values = asdict(config)
    for key in ("data_dir", "max_steps", "tensorboard"):
        values.pop(key)
    values["augment"] = values["augment"] or False
    return values


def check_config(config: TrainConfig) -> None:
    if config.epochs < 1:
        raise ParameterError("epochs", f"must be at least 1, not {config.epochs}")
    if config.batch_size < 1:
        raise ParameterError("batch_size", f"must be at least 1, not {config.batch_size}")
    if not (config.learning_rate > 0 and math.isfinite(config.learning_rate)):
        raise ParameterError("learning_rate", f"must be a positive number, not "
                                             f"{config.learning_rate}")
    if not 0 <= config.seed <= MAX_SEED:
        raise ParameterError("seed", f"must be between 0 and {MAX_SEED}, not {config.seed}")
    if config.validation < 0:
        raise ParameterError("validation", f"must be 0 or more images, not "
                                           f"{config.validation}")
    if not (0 <= config.label_smoothing < 1):
        raise ParameterError("label_smoothing", f"must be in [0, 1), not "
                                                f"{config.label_smoothing}")
    if config.max_steps is not None and config.max_steps < 1:
        raise ParameterError("max_steps", f"must be at least 1, not {config.max_steps}")
    if config.schedule not in models.SCHEDULES:
        raise ParameterError("schedule", f"{config.schedule!r} is unknown; choose one of: "
                                         f"{', '.join(models.SCHEDULES)}")
    if config.augment:
        models.check_augment(config.augment)
    if config.tensorboard:
        from importlib.util import find_spec

        if find_spec("tensorboard") is None:
            raise MnistError("TensorBoard logs need the tensorboard package "
                             "(pip install tensorboard)")
    if config.early_stopping is not None:
        if config.early_stopping < 1:
            raise ParameterError("early_stopping", f"must be at least 1 epoch, not "
                                                   f"{config.early_stopping}")
        if config.validation == 0:
            raise ParameterError("early_stopping", "watches the validation loss: it needs a "
                                 "validation split (validation > 0)")
