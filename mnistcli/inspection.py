"""What `mnist inspect` computes about a dataset: pixel statistics, per-class counts,
picking examples by index or label.

Pure numpy (no typer, rich or tensorflow), so ``mnist inspect`` starts fast. The pictures
it draws come from :mod:`mnistcli.pictures`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mnistcli.datasets import (
    DEFAULT_DATASET,
    DEFAULT_VALIDATION,
    NUM_CLASSES,
    SPLITS,
    Split,
    get_dataset,
    load_dataset,
    resolve_data_dir,
    train_size,
    verify_files,
)
from mnistcli.errors import DataError

# A pixel counts as ink from half intensity up (MNIST strokes are 255 in their core and
# fade out over a pixel or two of anti-aliasing).
INK_THRESHOLD = 128
HISTOGRAM_CHUNK = 1 << 20  # pixels at a time


# ---------------------------------------------------------------- statistics


def default_validation(data_dir: Path | str | None = None,
                       dataset: str = DEFAULT_DATASET) -> int:
    """The validation size to use when none is asked for: the classic 5,000, or a sixth
    of the training set when that is smaller (a small dataset such as fixtures/tiny, 600
    images -> 100), so looking at one needs no --validation. Reads only the label file
    (EMNIST: the training labels in its archive)."""
    count = train_size(data_dir, dataset)
    if count is None:
        return DEFAULT_VALIDATION  # the loader then says the data is missing
    return min(DEFAULT_VALIDATION, count // 6)



def pixel_stats(image: np.ndarray) -> dict:
    """Statistics of one greyscale image (uint8, white ink on black).

    ``ink_fraction``: share of pixels >= INK_THRESHOLD. ``bounding_box``: the smallest
    rectangle holding every non-zero pixel, as x (column), y (row), width, height; None for
    a blank image. ``centre_of_mass``: intensity-weighted mean position (x, y) in pixel
    coordinates (pixel centres at integers); None for a blank image.
    """
    pixels = np.asarray(image)
    values = pixels.astype(np.float64)
    rows = np.flatnonzero(pixels.any(axis=1))
    cols = np.flatnonzero(pixels.any(axis=0))
    if rows.size:
        bounding_box = {"x": int(cols[0]), "y": int(rows[0]),
                        "width": int(cols[-1] - cols[0] + 1),
                        "height": int(rows[-1] - rows[0] + 1)}
        total = values.sum()
        ys, xs = np.indices(pixels.shape)
        centre_of_mass = {"x": round(float((xs * values).sum() / total), 4),
                          "y": round(float((ys * values).sum() / total), 4)}
    else:
        bounding_box = centre_of_mass = None
    return {
        "min": int(pixels.min()),
        "max": int(pixels.max()),
        "mean": round(float(values.mean()), 4),
        "std": round(float(values.std()), 4),
        "ink_fraction": round(float((pixels >= INK_THRESHOLD).mean()), 4),
        "bounding_box": bounding_box,
        "centre_of_mass": centre_of_mass,
    }


def label_counts(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> list[int]:
    """How many images of each class (digit 0-9 by default)."""
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).tolist()


def pixel_mean_std(images: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of all pixels (0-255), from a histogram so that 47
    million pixels need no float copy."""
    if images.size == 0:
        return 0.0, 0.0
    flat = np.ascontiguousarray(images).reshape(-1)
    histogram = np.zeros(256, dtype=np.int64)
    # in chunks: bincount widens to int64, which for all of MNIST would be 376 MB at once
    for start in range(0, flat.size, HISTOGRAM_CHUNK):
        histogram += np.bincount(flat[start:start + HISTOGRAM_CHUNK], minlength=256)
    values = np.arange(histogram.size, dtype=np.float64)
    count = histogram.sum()
    mean = float((histogram * values).sum() / count)
    variance = float((histogram * (values - mean) ** 2).sum() / count)
    return mean, variance ** 0.5


# ---------------------------------------------------------------- picking images


def parse_indices(values: Sequence[str]) -> list[int]:
    """``["1", "2,3"]`` -> ``[1, 2, 3]`` (repeated options and comma lists both work).
    Raises ValueError naming the bad item."""
    indices = []
    for value in values:
        for item in str(value).split(","):
            item = item.strip()
            if not item:
                continue
            try:
                indices.append(int(item))
            except ValueError:
                raise ValueError(f"{item!r} is not an image index (a whole number)") from None
    return indices


def check_indices(split: Split, indices: Sequence[int]) -> None:
    for index in indices:
        if not 0 <= index < len(split):
            raise DataError(
                f"index {index} is out of range: the {split.name} split has {len(split)} "
                f"images (0-{len(split) - 1})"
            )


def indices_of_label(labels: np.ndarray, digit: int, count: int,
                     num_classes: int = NUM_CLASSES) -> list[int]:
    """The first ``count`` indices whose label is ``digit`` (fewer if there are fewer)."""
    if not 0 <= digit < num_classes:
        what = "a digit 0-9" if num_classes == NUM_CLASSES else f"a class 0-{num_classes - 1}"
        raise DataError(f"label {digit} is not {what}")
    return np.flatnonzero(np.asarray(labels) == digit)[:max(count, 0)].tolist()


def describe_images(split: Split, indices: Sequence[int]) -> list[dict]:
    """Index, label and pixel statistics of each selected image."""
    check_indices(split, indices)
    return [{"index": int(i), "label": int(split.labels[i]),
             "stats": pixel_stats(split.images[i])} for i in indices]


# ---------------------------------------------------------------- dataset summary


def split_summary(split: Split, num_classes: int = NUM_CLASSES) -> dict:
    mean, std = pixel_mean_std(split.images)
    return {
        "count": len(split),
        "per_digit": label_counts(split.labels, num_classes),
        "pixel_mean": round(mean, 4),
        "pixel_std": round(std, 4),
    }


def dataset_summary(data_dir: Path | str | None = None, dataset: str = DEFAULT_DATASET,
                    validation: int = DEFAULT_VALIDATION) -> dict:
    """Files with their verification status, and per split: image count, images per
    digit, pixel mean and standard deviation (0-255). Raises DataNotFoundError when the
    dataset is missing (its message says to run ``mnist download``)."""
    directory = resolve_data_dir(data_dir, dataset)
    splits = load_dataset(directory, dataset, validation)
    spec = get_dataset(dataset)
    files = [{"role": status.role, "file": status.path.name, "status": status.status,
              "sha256": status.sha256} for status in verify_files(directory, dataset)]
    return {
        "dataset": dataset,
        "directory": str(directory),
        "validation": validation,
        "files": files,
        "class_names": list(spec.class_names),
        "splits": {name: split_summary(splits[name], spec.num_classes)
                   for name in SPLITS if name in splits},
    }
