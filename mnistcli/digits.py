"""Looking at digits: pixel statistics, per-digit counts, picking examples, image grids.

Pure numpy and Pillow (no typer, rich or tensorflow), so ``mnist inspect`` starts fast and
other commands (``evaluate --misclassified``, ``plot-weights``) can reuse the grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mnistcli.datasets import (
    DEFAULT_DATASET,
    DEFAULT_VALIDATION,
    NUM_CLASSES,
    SPLITS,
    Split,
    get_dataset,
    load_dataset,
    resolve_data_dir,
    verify_files,
)
from mnistcli.errors import DataError
from mnistcli.fsutil import atomic_path
from mnistcli.idx import read_idx

# A pixel counts as ink from half intensity up (MNIST strokes are 255 in their core and
# fade out over a pixel or two of anti-aliasing).
INK_THRESHOLD = 128
HISTOGRAM_CHUNK = 1 << 20  # pixels at a time


# ---------------------------------------------------------------- statistics


def default_validation(data_dir: Path | str | None = None,
                       dataset: str = DEFAULT_DATASET) -> int:
    """The validation size to use when none is asked for: the classic 5,000, or a sixth
    of the training set when that is smaller (a small dataset such as fixtures/tiny, 600
    images -> 100), so looking at one needs no --validation. Reads only the label file."""
    labels = resolve_data_dir(data_dir, dataset) / get_dataset(dataset).file(
        "train-labels").filename
    if not labels.is_file():
        return DEFAULT_VALIDATION  # the loader then says the data is missing
    return min(DEFAULT_VALIDATION, len(read_idx(labels)) // 6)



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


def label_counts(labels: np.ndarray) -> list[int]:
    """How many images of each digit 0-9."""
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=NUM_CLASSES).tolist()


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


def indices_of_label(labels: np.ndarray, digit: int, count: int) -> list[int]:
    """The first ``count`` indices whose label is ``digit`` (fewer if there are fewer)."""
    if not 0 <= digit < NUM_CLASSES:
        raise DataError(f"label {digit} is not a digit 0-9")
    return np.flatnonzero(np.asarray(labels) == digit)[:max(count, 0)].tolist()


def describe_images(split: Split, indices: Sequence[int]) -> list[dict]:
    """Index, label and pixel statistics of each selected image."""
    check_indices(split, indices)
    return [{"index": int(i), "label": int(split.labels[i]),
             "stats": pixel_stats(split.images[i])} for i in indices]


# ---------------------------------------------------------------- dataset summary


def split_summary(split: Split) -> dict:
    mean, std = pixel_mean_std(split.images)
    return {
        "count": len(split),
        "per_digit": label_counts(split.labels),
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
    files = [{"role": status.role, "file": status.path.name, "status": status.status,
              "sha256": status.sha256} for status in verify_files(directory, dataset)]
    return {
        "dataset": dataset,
        "directory": str(directory),
        "validation": validation,
        "files": files,
        "splits": {name: split_summary(splits[name]) for name in SPLITS if name in splits},
    }


# ---------------------------------------------------------------- pictures


def enlarge(image: np.ndarray, scale: int) -> Image.Image:
    """One greyscale image scaled up by an integer factor, pixels kept square and sharp."""
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    return picture.resize((picture.width * scale, picture.height * scale),
                          Image.Resampling.NEAREST)


def digit_grid(images: Sequence[np.ndarray] | np.ndarray, captions: Sequence[str] | None = None,
               *, scale: int = 4, columns: int | None = None,
               caption_colors: Sequence[tuple[int, int, int]] | None = None,
               gap: int = 2) -> Image.Image:
    """A grid of greyscale images (each enlarged by ``scale``) as an RGB picture, with an
    optional caption under each (e.g. ``"7: 3"``, ``"true 4, predicted 9"``) in the given
    colours (default light grey). ``columns`` defaults to up to 10 per row."""
    tiles = [enlarge(image, scale) for image in images]
    if not tiles:
        raise ValueError("digit_grid needs at least one image")
    if captions is not None and len(captions) != len(tiles):
        raise ValueError("digit_grid: one caption per image")
    columns = max(1, min(columns or 10, len(tiles)))
    rows = -(-len(tiles) // columns)
    tile_width = max(tile.width for tile in tiles)
    tile_height = max(tile.height for tile in tiles)
    font_size = max(10, min(4 * scale, 24))
    font = ImageFont.load_default(font_size) if captions else None
    caption_height = int(font_size * 1.5) if captions else 0
    if captions:
        # wide captions widen every cell, so no caption runs into its neighbour
        widest = max(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(c, font=font)
                     for c in captions)
        tile_width = max(tile_width, int(widest) + 4)
    cell_width, cell_height = tile_width + gap, tile_height + caption_height + gap
    grid = Image.new("RGB", (columns * cell_width + gap, rows * cell_height + gap),
                     (48, 48, 48))
    draw = ImageDraw.Draw(grid)
    for position, tile in enumerate(tiles):
        left = gap + (position % columns) * cell_width
        top = gap + (position // columns) * cell_height
        grid.paste(tile.convert("RGB"), (left + (tile_width - tile.width) // 2, top))
        if captions:
            color = caption_colors[position] if caption_colors else (230, 230, 230)
            draw.text((left + tile_width // 2, top + tile_height + caption_height // 2),
                      captions[position], fill=tuple(color), font=font, anchor="mm")
    return grid


def save_png(picture: Image.Image, path: Path | str) -> Path:
    """Write a PNG atomically (complete or not at all)."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        picture.save(tmp, format="PNG")
    return path


def fit_in_square(image: np.ndarray, side: int) -> np.ndarray:
    """A greyscale uint8 image scaled (area-averaged, aspect kept) so its longer side is
    ``side`` pixels: a picture of any size shown at a digit's size."""
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    fit = side / max(picture.size)
    size = (max(1, round(picture.width * fit)), max(1, round(picture.height * fit)))
    resample = Image.Resampling.BOX if fit < 1 else Image.Resampling.LANCZOS
    return np.asarray(picture.resize(size, resample))


def comparison_picture(original: np.ndarray, processed: np.ndarray, scale: int = 8,
                       captions: tuple[str, str] = ("original", "model input (28x28)"),
                       ) -> Image.Image:
    """An image file beside what the model sees: the original greyscale (any size) fitted
    smoothly into a square of 28*scale pixels, and the 28x28 ``processed`` digit enlarged
    with sharp pixels, each captioned."""
    side = 28 * scale
    left = Image.fromarray(fit_in_square(original, side))
    right = enlarge(processed, scale)
    font_size = max(10, min(4 * scale, 24))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    while font_size > 6 and max(
            measure.textlength(c, font=ImageFont.load_default(font_size)) for c in captions
    ) > side:
        font_size -= 1  # small --scale: shrink the captions to the tiles' width
    font = ImageFont.load_default(font_size)
    caption_height = int(font_size * 1.5)
    gap = 2 * scale
    picture = Image.new("RGB", (2 * side + 3 * gap, side + caption_height + 2 * gap),
                        (48, 48, 48))
    draw = ImageDraw.Draw(picture)
    for column, (tile, caption) in enumerate(zip((left, right), captions, strict=True)):
        x = gap + column * (side + gap)
        picture.paste(tile.convert("RGB"), (x + (side - tile.width) // 2,
                                            gap + (side - tile.height) // 2))
        draw.text((x + side // 2, gap + side + caption_height // 2), caption,
                  fill=(230, 230, 230), font=font, anchor="mm")
    return picture
