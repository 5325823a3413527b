"""Your own images as a dataset: ``DIR/<class name>/*.png|jpg`` -> train, validation and
test splits.

Class names are the folder names (sorted, numbers by value: ``2`` before ``10``); every
image is prepared as ``mnist predict`` prepares it (:mod:`mnistcli.predicting`), so a
model trained here sees at prediction time what it saw in training. A share of each
class is held out for validation and one for test, chosen with the seed (the same seed
and folder give the same split)::

    folder = load_image_folder("my_letters", seed=0)
    folder.class_names           # ("a", "b", "c")
    folder.splits["train"]       # a datasets.Split of uint8 (N, 28, 28) images

Pure numpy and Pillow: no typer, rich or tensorflow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnistcli.datasets import Split
from mnistcli.errors import DataError

# Held-out shares of each class (at least one image each once a class has three).
VALIDATION_SHARE = 0.1
TEST_SHARE = 0.1
MAX_CLASSES = 256  # labels are uint8


@dataclass(frozen=True)
class ImageFolder:
    directory: Path
    class_names: tuple[str, ...]
    splits: dict[str, Split]
    paths: dict[str, list[str]]  # split -> the image paths, in the split's order
    digest: str  # SHA-256 over every image's relative path and bytes

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _class_key(name: str) -> tuple:
    return (0, int(name), name) if name.isdigit() else (1, 0, name)


def _image_suffixes() -> frozenset[str]:
    from mnistcli.preprocess import IMAGE_SUFFIXES

    return IMAGE_SUFFIXES


def is_image_folder(directory: Path | str) -> bool:
    """Whether ``directory`` holds class folders of images (rather than IDX files)."""
    root = Path(directory)
    if not root.is_dir():
        return False
    suffixes = _image_suffixes()
    for child in root.iterdir():
        if child.is_dir() and not child.name.startswith("."):
            if any(path.suffix.lower() in suffixes for path in child.iterdir()
                   if path.is_file()):
                return True
    return False


def class_files(directory: Path | str) -> tuple[tuple[str, ...], list[tuple[Path, int]]]:
    """(class names, [(image path, class index)]) of DIR/<class>/<image> files."""
    root = Path(directory)
    if not root.is_dir():
        raise DataError(f"{root}: no such directory")
    suffixes = _image_suffixes()
    folders = sorted((child for child in root.iterdir()
                      if child.is_dir() and not child.name.startswith(".")),
                     key=lambda child: _class_key(child.name))
    names: list[str] = []
    files: list[tuple[Path, int]] = []
    for folder in folders:
        images = sorted(path for path in folder.iterdir()
                        if path.is_file() and not path.name.startswith(".")
                        and path.suffix.lower() in suffixes)
        if not images:
            continue
        files.extend((path, len(names)) for path in images)
        names.append(folder.name)
    if len(names) < 2:
        raise DataError(
            f"{root}: expected a folder of images per class, at least two classes (e.g. "
            f"{root}/a/1.png and {root}/b/1.png); found {len(names)}")
    if len(names) > MAX_CLASSES:
        raise DataError(f"{root}: {len(names)} classes; at most {MAX_CLASSES} are supported")
    return tuple(names), files


def _split_indices(labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Per class, a seeded shuffle cut into test, validation and train."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        count = len(members)
        held = count >= 3
        n_test = max(int(held), round(count * TEST_SHARE))
        n_validation = max(int(held), round(count * VALIDATION_SHARE))
        parts["test"].extend(members[:n_test])
        parts["validation"].extend(members[n_test:n_test + n_validation])
        parts["train"].extend(members[n_test + n_validation:])
    # each split in a seeded mixed order (training shuffles anyway; this keeps views tidy)
    return {name: np.array(sorted(indices), dtype=np.int64) for name, indices in parts.items()}


def load_image_folder(directory: Path | str, seed: int = 0,
                      preprocessing: str | None = None) -> ImageFolder:
    """Read, prepare and split every image of ``DIR/<class name>/``. An image that cannot
    be used raises one DataError naming it (and how many others failed)."""
    from mnistcli.predicting import first_failure, prepare_sources

    root = Path(directory)
    names, files = class_files(root)
    prepared = list(prepare_sources((str(path) for path, _label in files),
                                    preprocessing=preprocessing))
    failures = [item.error for item in prepared if not item.ok]
    if failures:
        error = first_failure(failures)
        raise DataError(f"{error}; fix or remove the image (training uses every image "
                        "in the folders)")
    images = np.stack([item.pixels for item in prepared]).astype(np.uint8, copy=False)
    labels = np.array([label for _path, label in files], dtype=np.uint8)
    digest = hashlib.sha256()
    for path, _label in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    chosen = _split_indices(labels, seed)
    splits = {name: Split(name, images[indices], labels[indices])
              for name, indices in chosen.items()}
    paths = {name: [str(files[i][0]) for i in indices] for name, indices in chosen.items()}
    if len(splits["train"]) == 0 or len(splits["test"]) == 0:
        raise DataError(f"{root}: too few images to hold some out for testing; give each "
                        "class at least three")
    return ImageFolder(root, names, splits, paths, digest.hexdigest())
