"""Small generated datasets in the canonical four-file IDX layout, with a registry spec
whose digests are those of the generated files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnistcli.datasets import DatasetFile, DatasetSpec, sha256_file
from mnistcli.idx import write_idx

FILENAMES = {
    "train-images": "train-images-idx3-ubyte.gz",
    "train-labels": "train-labels-idx1-ubyte.gz",
    "test-images": "t10k-images-idx3-ubyte.gz",
    "test-labels": "t10k-labels-idx1-ubyte.gz",
}


def write_dataset(directory: Path, n_train: int = 60, n_test: int = 20, seed: int = 0,
                  n_train_labels: int | None = None) -> dict[str, np.ndarray]:
    """Write random images and labels; returns the arrays written, by role."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels": rng.integers(0, 10, n_train_labels or n_train, dtype=np.uint8),
        "test-images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test-labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for role, array in arrays.items():
        write_idx(directory / FILENAMES[role], array)
    return arrays


def spec_for(directory: Path, name: str = "testdigits",
             mirrors: tuple[str, ...] = ()) -> DatasetSpec:
    """A registry entry for the files in ``directory``, digests computed from them."""
    files = tuple(DatasetFile(role, filename, sha256_file(directory / filename),
                              (directory / filename).stat().st_size)
                  for role, filename in FILENAMES.items())
    return DatasetSpec(name=name, description="generated test digits", files=files,
                       mirrors=mirrors, class_names=tuple(str(d) for d in range(10)))
