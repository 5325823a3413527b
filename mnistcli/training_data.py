"""What a training run learns from: a registry dataset (``--dataset NAME``), four
MNIST-format IDX files (``--data DIR``), or a folder of your own images
(``--data DIR`` holding ``DIR/<class name>/*.png|jpg``).

Whatever the source, training gets the same :class:`TrainingData`: train, validation and
test splits of uint8 28x28 images, the class names, how pictures are prepared for the
model (the dataset's preprocessing), and what to record about the data in run.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnistcli.datasets import (
    DEFAULT_DATASET,
    Split,
    data_digests,
    get_dataset,
    load_dataset,
    resolve_data_dir,
)

# data.dataset in run.json for a run trained on a folder of images
IMAGES = "images"


@dataclass
class TrainingData:
    splits: dict[str, Split]
    dataset: str  # a registry name, or IMAGES
    class_names: tuple[str, ...]
    preprocessing: str
    directory: Path
    digests: dict[str, str]
    base_dataset: str = DEFAULT_DATASET  # the registry dataset whose preparation is used
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def record(self) -> dict[str, Any]:
        """run.json's ``data`` block."""
        block = {
            "dataset": self.dataset,
            "dir": str(self.directory.resolve()),
            "digests": self.digests,
            "images": {split: len(part) for split, part in self.splits.items()},
        }
        if self.dataset == IMAGES:
            block["base_dataset"] = self.base_dataset
        block.update(self.extra)
        return block


def load_training_data(dataset: str = DEFAULT_DATASET, data_dir: Path | str | None = None,
                       validation: int | None = None, seed: int = 0) -> TrainingData:
    """The data of a run. A ``data_dir`` holding class folders of images is split with
    ``seed`` (``validation`` does not apply); otherwise the registry dataset's files in
    ``data_dir`` (default: its MNIST_HOME directory) with the last ``validation``
    training images held out."""
    from mnistcli.datasets import DEFAULT_VALIDATION
    from mnistcli.image_folders import is_image_folder, load_image_folder

    spec = get_dataset(dataset)
    if data_dir is not None and is_image_folder(data_dir):
        folder = load_image_folder(data_dir, seed=seed, preprocessing=spec.preprocessing)
        return TrainingData(
            splits=folder.splits, dataset=IMAGES, class_names=folder.class_names,
            preprocessing=spec.preprocessing, directory=Path(data_dir),
            digests={"images": folder.digest}, base_dataset=spec.name,
            extra={"split_seed": seed})
    splits = load_dataset(data_dir, dataset=spec.name,
                          validation=DEFAULT_VALIDATION if validation is None else validation)
    return TrainingData(
        splits=splits, dataset=spec.name, class_names=spec.class_names,
        preprocessing=spec.preprocessing, directory=resolve_data_dir(data_dir, spec.name),
        digests=data_digests(data_dir, spec.name), base_dataset=spec.name)


def recorded_dataset(record: dict[str, Any]) -> str:
    """The registry dataset a run record names (its base dataset for an image folder);
    MNIST for records older than datasets."""
    data = record.get("data") or {}
    name = data.get("base_dataset") or data.get("dataset") or DEFAULT_DATASET
    return name if name != IMAGES else DEFAULT_DATASET


def run_data(record: dict[str, Any], data_dir: Path | str | None = None,
             validation: int | None = None) -> TrainingData:
    """The data a run was trained on, for testing it again: ``data_dir`` if given, else
    the directory it recorded (while it exists), else its dataset's MNIST_HOME copy; a
    folder of images is split again with the recorded seed."""
    data = record.get("data") or {}
    recorded_dir = data.get("dir")
    if data_dir is None and recorded_dir and Path(recorded_dir).is_dir():
        data_dir = recorded_dir
    if data.get("dataset") == IMAGES and data_dir is None:
        from mnistcli.errors import DataError

        raise DataError(f"the folder of images this run was trained on ({recorded_dir}) is "
                        "gone; pass --data DIR")
    if validation is None:
        recorded = (record.get("hyperparameters") or {}).get("validation")
        validation = int(recorded) if recorded is not None else None
    seed = int(data.get("split_seed", record.get("seed", 0)))
    return load_training_data(recorded_dataset(record), data_dir, validation, seed)
