"""Preparing a picture the way Fashion-MNIST's images were made, and choosing between the
dataset preparations by name.

Fashion-MNIST's published conversion (Xiao, Rasul, Vollgraf 2017, section 2) differs from
MNIST's: there is no crop to ink, no 20-pixel box and no centring by mass. Each product
photo (an article on a white background) was

1. trimmed of its edges close to the colour of the corner pixels (within 5% of the
   largest intensity),
2. resized so that its longest edge is 28 pixels,
3. sharpened (a Gaussian operator of radius 0.65),
4. extended on its shortest edge to 28 and placed at the centre of the canvas,
5. negated (a light background becomes black) and turned to 8-bit greyscale.

:func:`preprocess_fashion` does the same to any picture of an article; a picture whose
corners are already dark (e.g. a Fashion-MNIST image saved as a PNG) is not negated, and
a 28x28 one on a dark background passes through unchanged.

:data:`PREPARATIONS` maps the registry's ``DatasetSpec.preprocessing`` names to the
function that prepares one picture for a model trained on that dataset.

Pure numpy and Pillow: no typer, rich or tensorflow.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from mnistcli.errors import ImageError, MnistError

FIELD = 28
# The trim tolerance of the published conversion: 5% of the largest intensity.
TRIM_TOLERANCE = 0.05
# The sharpening of the published conversion: a Gaussian of this radius (unsharp mask).
SHARPEN_RADIUS = 0.65


def _grey(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        if image.ndim != 2:
            raise ImageError(f"expected a 2-D greyscale array, got shape {image.shape}")
        return (image.astype(np.float32) / 255 if image.dtype == np.uint8
                else image.astype(np.float32))
    from mnistcli.preprocess import to_grey

    return to_grey(image)


def _border(grey: np.ndarray) -> np.ndarray:
    return np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])


def preprocess_fashion(image: Image.Image | np.ndarray, name: str = "image") -> np.ndarray:
    """Any picture of one article -> uint8 (28, 28), light article on black, as in
    Fashion-MNIST. Raises ImageError (naming ``name``) for a blank picture."""
    grey = _grey(image)
    corners = np.array([grey[0, 0], grey[0, -1], grey[-1, 0], grey[-1, -1]])
    if float(np.median(corners)) > 0.5:
        grey = 1.0 - grey  # step 5 first: the article's background becomes black
    background = float(np.median(_border(grey)))
    if grey.shape == (FIELD, FIELD) and background <= TRIM_TOLERANCE:
        return np.rint(np.clip(grey, 0, 1) * 255).astype(np.uint8)
    # step 1: trim the edges close to the background's colour
    content = np.abs(grey - background) > TRIM_TOLERANCE
    if not content.any():
        raise ImageError(f"{name}: nothing found (the picture is blank or uniform)")
    rows = np.flatnonzero(content.any(axis=1))
    cols = np.flatnonzero(content.any(axis=0))
    article = grey[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    article = np.clip((article - background) / max(1.0 - background, 1e-6), 0, 1)
    # step 2: the longest edge to 28 pixels
    height, width = article.shape
    scale = FIELD / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    picture = Image.fromarray(np.rint(article * 255).astype(np.uint8), mode="L")
    picture = picture.resize(size, Image.Resampling.LANCZOS)
    # step 3: sharpen
    picture = picture.filter(ImageFilter.UnsharpMask(radius=SHARPEN_RADIUS, percent=100,
                                                     threshold=0))
    # step 4: extend the shorter edge, the article at the centre
    canvas = np.zeros((FIELD, FIELD), dtype=np.uint8)
    pixels = np.asarray(picture, dtype=np.uint8)
    top = (FIELD - pixels.shape[0]) // 2
    left = (FIELD - pixels.shape[1]) // 2
    canvas[top:top + pixels.shape[0], left:left + pixels.shape[1]] = pixels
    return canvas


def _preprocess_mnist(image: Image.Image | np.ndarray, name: str = "image") -> np.ndarray:
    from mnistcli.preprocess import preprocess

    return preprocess(image, name)


# DatasetSpec.preprocessing -> how one picture is prepared for a model of that dataset
PREPARATIONS: dict[str, Callable[[Image.Image | np.ndarray, str], np.ndarray]] = {
    "mnist": _preprocess_mnist,
    "fashion": preprocess_fashion,
}
DEFAULT_PREPARATION = "mnist"


def preparation(name: str | None) -> Callable[[Image.Image | np.ndarray, str], np.ndarray]:
    """The function for a preprocessing name (None: MNIST's); an unknown one lists the
    choices."""
    try:
        return PREPARATIONS[name or DEFAULT_PREPARATION]
    except KeyError:
        raise MnistError(f"unknown preprocessing {name!r}; choose one of: "
                         f"{', '.join(PREPARATIONS)}") from None
