"""Reading real-world digit images and turning them into what the models were trained on.

MNIST digits were made by taking a scanned digit, cropping it to its ink, scaling the
longer side to 20 pixels (keeping the aspect ratio, anti-aliased) and placing it in a
28x28 field so that its centre of mass sits at the centre: white ink on black. This module
does the same to any picture of a digit::

    image = load_image("photo.jpg")          # any format Pillow reads; "-" reads stdin
    pixels = preprocess(image)               # uint8 (28, 28), white ink on black

Batches of files, directories and in-memory images go through
:func:`mnistcli.predicting.prepare_sources`.

Steps (``preprocess``): greyscale (transparent canvas drawings composited onto a
background that contrasts with their strokes); polarity (dark ink on light paper is
inverted, light ink on dark is kept, judged by which Otsu class the border belongs to);
background removal (a plane fitted to the border, so a photo's lighting gradient goes
too); ink detection (the picture averaged over a small box, a matched filter for
strokes; connected regions whose peak stands six noise deviations above the background
are ink, everything else is zeroed: pure noise and blank paper hold none, a faint digit on
a noisy background does), the ink level stretched to full white; crop to the ink's
bounding box, ignoring small specks cut off from the digit by empty rows or columns;
thin strokes thickened to MNIST's stroke width; longer side scaled to 20 px; centred by
centre of mass in 28x28. A 28x28 image that is already like that passes through
unchanged.

Pure numpy and Pillow: no typer, rich or tensorflow.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnistcli.components import label as label_components
from mnistcli.errors import ImageError

STDIN = "-"
# Larger images are refused before decoding: a decompression bomb (a small file claiming
# billions of pixels) must not exhaust memory. 50 megapixels covers any phone photo.
MAX_PIXELS = 50_000_000
# An image on stdin is read into memory: up to this much (a 50-megapixel RGBA bitmap
# fits; a photo or scan of a digit is a few MB), so an endless stdin cannot exhaust it.
MAX_STDIN_BYTES = 256 << 20
# Suffixes picked up when a directory is given (files named explicitly are always tried).
IMAGE_SUFFIXES = frozenset({
    ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".dib", ".gif", ".tif", ".tiff",
    ".webp", ".pgm", ".ppm", ".pbm", ".pnm",
})

FIELD = 28  # the MNIST image side
BOX = 20  # the longer side of the digit's bounding box in MNIST
# MNIST puts the intensity-weighted centre at (14.0, 14.0) in pixel coordinates (pixel
# centres at integers): measured over the 10,000 test images, mean 14.01/13.99.
CENTRE = 14.0
# Working resolution: larger crops are max-pooled down to this first (keeps thin strokes).
WORK_SIDE = 160
# Above this side, images are box-reduced right after decoding (a 12 MP photo of a digit
# carries no more information at 28x28 than a 1,000 px one, and decodes ~10x slower).
DECODE_SIDE = 1024
# Pixels less than this many noise standard deviations above the background are zeroed,
# and, whatever the noise, those under this share of the ink level (JPEG and WebP ringing
# around strokes, a few grey levels, would otherwise widen the ink's box).
NOISE_FLOOR_SIGMAS = 4.0
MIN_FLOOR = 0.06
# A run of rows (or columns) cut off from the rest by empty ones, holding less than this
# share of the ink, is a speck (dust, a stray mark), not part of the digit.
SPECK_MASS = 0.02
# Stroke width in the 20 px box as stroke_width() measures it: MNIST's median is 1.8, its
# 5th percentile 1.2. Thinner strokes (a fine pen on a large canvas) are thickened.
MIN_STROKE = 1.3
TARGET_STROKE = 2.0
# "Already MNIST-like": a 28x28 image whose ink box is about 20 px and whose centre of
# mass is within a pixel of the centre is kept as it is.
PASS_BOX_RANGE = (18, 22)
PASS_CENTRE_TOLERANCE = 1.0


# ---------------------------------------------------------------- reading


def load_image(source: str | Path | bytes | BinaryIO, name: str | None = None,
               stdin: BinaryIO | None = None) -> Image.Image:
    """Decode an image fully (so a truncated file fails here), EXIF orientation applied.

    ``source``: a path, ``"-"`` (read ``stdin``, default ``sys.stdin.buffer``), raw bytes
    or a binary file object. ``name`` is what error messages call it. Multi-frame images
    (GIF, TIFF) give their first frame. Raises ImageError.
    """
    if isinstance(source, (bytes, bytearray)):
        name = name or "<bytes>"
        handle: BinaryIO | str = io.BytesIO(source)
    elif isinstance(source, (str, Path)) and str(source) == STDIN:
        name = name or STDIN
        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read(MAX_STDIN_BYTES + 1)  # `yes | mnist predict -` must end
        if not data:
            raise ImageError(f"{name}: nothing on stdin (expected an image's bytes)")
        if len(data) > MAX_STDIN_BYTES:
            raise ImageError(f"{name}: more than {MAX_STDIN_BYTES >> 20} MiB on stdin, more "
                             "than any image this reads; not read further")
        handle = io.BytesIO(data)
    elif isinstance(source, (str, Path)):
        name = name or str(source)
        handle = str(source)  # a missing file or a directory fails in open() below
    else:
        name = name or getattr(source, "name", None) or "<stream>"
        handle = source
    stack = contextlib.ExitStack()  # a file opened here is closed here, even a GIF's
    try:
        with stack, warnings.catch_warnings():
            # Pillow warns above its own limit and raises above twice it; both are errors here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if isinstance(handle, str):
                handle = stack.enter_context(open(handle, "rb"))
            image = Image.open(handle)
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(
                    f"{name}: too large ({width}x{height} = {width * height / 1e6:.0f} "
                    f"megapixels; the limit is {MAX_PIXELS / 1e6:.0f}), refusing to decode"
                )
            if width == 0 or height == 0:
                raise ImageError(f"{name}: empty image ({width}x{height})")
            if max(width, height) > DECODE_SIDE and image.format == "JPEG":
                # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: far faster for photos
                image.draft(image.mode, (DECODE_SIDE, DECODE_SIDE))
            image.load()
            if image.mode == "F" and not np.isfinite(np.asarray(image)).all():
                raise ImageError(f"{name}: holds NaN or infinite pixel values (a float "
                                 "image); not a picture that can be read")
            if _may_have_orientation(image):
                image = ImageOps.exif_transpose(image)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a directory") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{name}: too large, refusing to decode (decompression bomb?): "
                         f"{exc}") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image, or a format Pillow cannot read") from None
    except PermissionError:
        raise ImageError(f"{name}: permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        # truncated data ("image file is truncated"), broken chunks, bad headers ...
        raise ImageError(f"{name}: unreadable or corrupt image ({exc})") from None
    return image


def _may_have_orientation(image: Image.Image) -> bool:
    """Whether an EXIF orientation tag can be present (reading EXIF costs more than
    decoding a small PNG, and a directory of 10,000 digits should not pay for it)."""
    return image.format in ("TIFF", "MPO") or any(
        key in image.info for key in ("exif", "Raw profile type exif", "xmp", "XML:com.adobe.xmp"))


# ---------------------------------------------------------------- greyscale


def _standard_mode(image: Image.Image) -> Image.Image:
    """One of L, LA, RGB, RGBA, I (16/32-bit integer) or F (float)."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA", "I", "F"):
        return image
    if mode == "P" or mode == "PA":
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I;16"):
        return image.convert("I")
    if mode in ("La", "RGBa"):  # premultiplied alpha
        return image.convert("RGBA" if mode == "RGBa" else "LA")
    if "A" in mode:
        return image.convert("RGBA")
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV ...


def _luminance(rgb: np.ndarray) -> np.ndarray:
    # ITU-R 601-2, as Pillow's own L conversion
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def to_grey(image: Image.Image) -> np.ndarray:
    """Greyscale float32 in [0, 1] (0 black). Transparency is composited: onto a
    background that contrasts with the strokes when few pixels are opaque (a canvas
    drawing), onto the opaque content's own typical level when most are (a photo with a
    transparent margin)."""
    sixteen_bit = image.mode.startswith("I;16")
    image = _standard_mode(image)
    longest = max(image.size)
    if longest > DECODE_SIDE:
        image = image.reduce(math.ceil(longest / DECODE_SIDE))
    mode = image.mode
    if mode == "L":
        return np.asarray(image, dtype=np.float32) / np.float32(255)
    if mode == "RGB":
        return _luminance(np.asarray(image, dtype=np.float32)) / np.float32(255)
    if mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float32)
        if not np.isfinite(values).all():
            raise ImageError("the image holds NaN or infinite pixel values")
        low, high = float(values.min()), float(values.max())
        if sixteen_bit or (mode == "I" and 0 <= low and high <= 65535 and high > 255):
            return values / np.float32(65535)
        if 0 <= low and high <= (1.0 if mode == "F" else 255):
            return values / np.float32(1.0 if mode == "F" else 255)
        span = high - low  # in float64: float32 overflows to inf for values near 3e38
        scaled = (values.astype(np.float64) - low) / (span if span > 0 else 1)
        return scaled.astype(np.float32)
    pixels = np.asarray(image, dtype=np.float32) / np.float32(255)
    alpha = pixels[..., -1]
    grey = pixels[..., 0] if mode == "LA" else _luminance(pixels[..., :3])
    if alpha.min() >= 1.0:
        return grey
    opaque = alpha > 0.5
    if not opaque.any():
        return np.zeros_like(grey)  # fully transparent: blank, reported as "no ink" later
    typical = _quantile(grey[opaque], 0.5)
    if opaque.mean() < 0.5:
        # strokes on a transparent canvas: the canvas is paper that contrasts with them
        background = 1.0 if typical < 0.5 else 0.0
    else:
        # an opaque picture with transparent parts: those parts look like the paper
        background = typical
    return grey * alpha + np.float32(background) * (1 - alpha)


# ---------------------------------------------------------------- preprocessing


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """The threshold that best separates two classes of ``values`` (Otsu's method)."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return low
    histogram, edges = np.histogram(values, bins=bins, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(histogram, dtype=np.float64)
    total = weight[-1]
    mass = np.cumsum(histogram * centres)
    below = weight[:-1]
    above = total - below
    valid = (below > 0) & (above > 0)
    mean_below = np.where(valid, mass[:-1] / np.maximum(below, 1), 0)
    mean_above = np.where(valid, (mass[-1] - mass[:-1]) / np.maximum(above, 1), 0)
    between = np.where(valid, below * above * (mean_below - mean_above) ** 2, -1)
    return float(edges[1:][int(np.argmax(between))])


def _quantile(values: np.ndarray, q: float) -> float:
    """The q-quantile (nearest rank) of a non-empty array, by partial sorting."""
    flat = values.ravel()
    rank = min(int(round(q * (flat.size - 1))), flat.size - 1)
    return float(np.partition(flat, rank)[rank])


def _border_mask(shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    band = max(1, round(min(height, width) * 0.03))
    mask = np.zeros(shape, dtype=bool)
    mask[:band] = mask[-band:] = True
    mask[:, :band] = mask[:, -band:] = True
    return mask


def _fit_plane(values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Least-squares a + b*row + c*col, as coefficients."""
    design = np.stack([np.ones_like(rows), rows, cols], axis=1).astype(np.float64)
    coefficients, *_ = np.linalg.lstsq(design, values.astype(np.float64), rcond=None)
    return coefficients


# The ink test (ink_map): is there anything a person could see? The picture is first
# averaged over a small box (a matched filter for strokes: it keeps a stroke's contrast
# and divides independent pixel noise by the box's side), one box side per this many
# pixels of the picture's shorter side (at least 3x3).
SMOOTH_DIVISOR = 100
# Pixels of the smoothed picture this many of its noise standard deviations (measured
# on the background) above the background are candidate ink; a connected region of them
# is ink when its peak stands DETECT_SIGMAS above: Gaussian noise reaches that once in
# ~10^9 independent samples, so pure noise and blank paper are refused, while a faint
# digit, whose stroke holds many pixels, stands far above it once averaged.
CANDIDATE_SIGMAS = 3.0
DETECT_SIGMAS = 6.0
# ... and by at least this much of the full scale (three grey levels: visible on a clean
# background; below that, compression and dithering make marks that are no digit).
MIN_INK = 3 / 255
# Noisier than this (ink level over per-pixel noise), the ink map is taken from the
# smoothed picture: per-pixel noise would otherwise riddle the strokes.
SMOOTH_BELOW_SNR = 12.0


def _box_mean(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2 radius + 1)^2 box at every pixel (edges: over the part inside)."""
    if radius <= 0:
        return values.astype(np.float32, copy=True)
    padded = np.pad(values.astype(np.float64), ((1, 0), (1, 0)))
    total = padded.cumsum(axis=0).cumsum(axis=1)
    height, width = values.shape
    top = np.clip(np.arange(height) - radius, 0, height)
    bottom = np.clip(np.arange(height) + radius + 1, 0, height)
    left = np.clip(np.arange(width) - radius, 0, width)
    right = np.clip(np.arange(width) + radius + 1, 0, width)
    sums = (total[bottom][:, right] - total[top][:, right] - total[bottom][:, left]
            + total[top][:, left])
    counts = np.outer(bottom - top, right - left)
    return (sums / counts).astype(np.float32)


def _robust_sigma(values: np.ndarray) -> float:
    """Standard deviation estimated from the median absolute deviation (ink-proof)."""
    if values.size == 0:
        return 0.0
    return 1.4826 * _quantile(np.abs(values - _quantile(values, 0.5)), 0.5)


def _background(smooth: np.ndarray, border: np.ndarray, paper: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A plane through the paper seen on the border (refitted once without the samples
    that stray from it: ink touching the border): (plane, sample rows, sample cols)."""
    samples = border & paper
    if samples.sum() < 3:
        samples = paper if paper.sum() >= 3 else np.ones_like(paper)
    rows, cols = np.nonzero(samples)
    values = smooth[rows, cols]
    coefficients = _fit_plane(values, rows, cols)
    misfit = values - (coefficients[0] + coefficients[1] * rows + coefficients[2] * cols)
    spread = _robust_sigma(misfit)
    inliers = np.abs(misfit - _quantile(misfit, 0.5)) <= 3 * spread + 1e-6
    if 3 <= inliers.sum() < inliers.size:
        rows, cols = rows[inliers], cols[inliers]
        coefficients = _fit_plane(smooth[rows, cols], rows, cols)
    a, b, c = coefficients
    row_index, col_index = np.indices(smooth.shape, dtype=np.float32)
    return (a + b * row_index + c * col_index).astype(np.float32), rows, cols


# The uneven-light background: the UNEVEN_QUANTILE level of each block of a grid of
# UNEVEN_GRID x UNEVEN_GRID (paper, as long as ink covers less than the rest of a block),
# interpolated; used when the plane leaves a visible misfit on the border (more than
# MIN_INK) and the surface's border residual spreads less than UNEVEN_GAIN times as much.
UNEVEN_GRID = 5
UNEVEN_QUANTILE = 0.3
UNEVEN_GAIN = 0.5


def _uneven_background(smooth: np.ndarray) -> np.ndarray:
    height, width = smooth.shape
    grid_rows, grid_cols = min(UNEVEN_GRID, height), min(UNEVEN_GRID, width)
    row_edges = np.linspace(0, height, grid_rows + 1).astype(int)
    col_edges = np.linspace(0, width, grid_cols + 1).astype(int)
    levels = np.empty((grid_rows, grid_cols), dtype=np.float32)
    for i in range(grid_rows):
        for j in range(grid_cols):
            block = smooth[row_edges[i]:row_edges[i + 1], col_edges[j]:col_edges[j + 1]]
            levels[i, j] = _quantile(block, UNEVEN_QUANTILE)
    # block centres to pixels: bilinear, flat beyond the outer centres. Interpolation is
    # linear in the levels, so it is two small matrix products: (height x grid) weights,
    # the levels, (grid x width) weights.
    centre_rows = (row_edges[:-1] + row_edges[1:] - 1) / 2
    centre_cols = (col_edges[:-1] + col_edges[1:] - 1) / 2
    down = _interpolation_weights(height, centre_rows)
    across = _interpolation_weights(width, centre_cols)
    return (down @ levels.astype(np.float64) @ across.T).astype(np.float32)


def _interpolation_weights(size: int, centres: np.ndarray) -> np.ndarray:
    """(size, len(centres)) weights: row i holds how np.interp at i mixes the centres."""
    positions = np.arange(size)
    identity = np.eye(len(centres))
    return np.stack([np.interp(positions, centres, identity[k])
                     for k in range(len(centres))], axis=1)


def ink_map(grey: np.ndarray, name: str = "image") -> np.ndarray:
    """Greyscale [0, 1] -> float32 ink map: the digit's ink in (0, 1] on an exact-zero
    background, whatever the polarity, lighting and noise of the picture. Raises
    ImageError when there is no ink a person could see.

    Polarity: the Otsu class of the (smoothed) picture that the border mostly shows is
    the paper. Background: a plane fitted to the paper on the border. Ink: connected
    regions of the smoothed picture that stand out from the background by more than
    DETECT_SIGMAS times the background's own (smoothed) noise; everything else is zero.
    """
    grey = np.asarray(grey, dtype=np.float32)
    low, high = float(grey.min()), float(grey.max())
    if high - low < MIN_INK:
        raise ImageError(f"{name}: no ink found (the image is blank or uniform)")
    radius = max(1, round(min(grey.shape) / SMOOTH_DIVISOR / 2))
    smooth = _box_mean(grey, radius)
    border = _border_mask(grey.shape)
    upper = smooth > otsu_threshold(smooth)
    bright_border = float(upper[border].mean())
    if bright_border > 0.5 or (bright_border == 0.5 and upper.mean() > 0.5):
        # dark ink on light paper: MNIST is light ink on dark
        grey = 1.0 - grey
        smooth = 1.0 - smooth
        upper = ~upper
    # The background is what the border shows outside the ink; a plane through it
    # removes uniform paper tone and a photo's lighting gradient alike.
    plane, rows, cols = _background(smooth, border, ~upper)
    residual_smooth = smooth - plane
    sigma_smooth = _robust_sigma(residual_smooth[rows, cols])
    # Light that is not a plane (a phone's shadow, a vignette): a surface through each
    # block's paper level, taken when it explains the border far better than the plane.
    # (Only worth computing when the plane leaves a visible misfit: most pictures don't.)
    if sigma_smooth > MIN_INK:
        surface = _uneven_background(smooth)
        sigma_surface = _robust_sigma((smooth - surface)[rows, cols])
        if sigma_surface < UNEVEN_GAIN * sigma_smooth:
            plane, residual_smooth, sigma_smooth = surface, smooth - surface, sigma_surface
    sigma = _robust_sigma((grey - plane)[rows, cols])
    split = otsu_threshold(residual_smooth)
    ink_values = residual_smooth[residual_smooth > split]
    ink_level = _quantile(ink_values, 0.9) if ink_values.size else 0.0
    if ink_level < max(MIN_INK, DETECT_SIGMAS * sigma_smooth):
        raise ImageError(f"{name}: no ink found (nothing stands out from the background "
                         "or its noise)")
    # Which connected regions are ink: their peak stands out from the noise
    candidate = residual_smooth > max(CANDIDATE_SIGMAS * sigma_smooth, MIN_FLOOR * ink_level,
                                      MIN_INK / 2)
    labels, count = label_components(candidate)
    peaks = np.zeros(count + 1, dtype=np.float32)
    np.maximum.at(peaks, labels[candidate], residual_smooth[candidate])
    significant = peaks >= max(DETECT_SIGMAS * sigma_smooth, MIN_INK)
    significant[0] = False
    if not significant.any():
        raise ImageError(f"{name}: no ink found (nothing stands out from the background "
                         "or its noise)")
    keep = significant[labels]
    if ink_level >= SMOOTH_BELOW_SNR * sigma:
        # clean enough: the sharp picture, its noise and JPEG ringing floored away
        residual = np.clip(grey - plane, 0, None)
        level = _quantile(residual[keep], 0.9) if keep.any() else ink_level
        level = max(level, ink_level)
        floor = max(NOISE_FLOOR_SIGMAS * sigma, MIN_FLOOR * level)
        keep = _dilate(keep.astype(np.float32), 2 * radius + 1)[radius:radius + grey.shape[0],
                                                                radius:radius + grey.shape[1]]
    else:
        residual = np.clip(residual_smooth, 0, None)
        level = ink_level
        floor = max(CANDIDATE_SIGMAS * sigma_smooth, MIN_FLOOR * level)
    ink = np.clip((residual - floor) / np.float32(max(level - floor, 1e-6)), 0, 1) * keep
    return ink.astype(np.float32, copy=False)


def _keep_range(profile: np.ndarray) -> tuple[int, int]:
    """[start, stop) of the profile's ink, dropping end runs cut off by empty entries
    that hold less than SPECK_MASS of the total."""
    filled = profile > 0
    indices = np.flatnonzero(filled)
    gaps = np.flatnonzero(np.diff(indices) > 1)
    starts = indices[np.concatenate(([0], gaps + 1))]
    stops = indices[np.concatenate((gaps, [indices.size - 1]))] + 1
    runs = [(int(a), int(b), float(profile[a:b].sum())) for a, b in zip(starts, stops, strict=True)]
    total = sum(run[2] for run in runs)
    while len(runs) > 1 and runs[0][2] < SPECK_MASS * total:
        runs.pop(0)
    while len(runs) > 1 and runs[-1][2] < SPECK_MASS * total:
        runs.pop()
    return runs[0][0], runs[-1][1]


def ink_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), exclusive ends, of the digit's ink without specks."""
    top, bottom = _keep_range(ink.sum(axis=1))
    left, right = _keep_range(ink[top:bottom].sum(axis=0))
    top, bottom = _keep_range(ink[:, left:right].sum(axis=1))
    return top, bottom, left, right


def _centre_of_mass(ink: np.ndarray) -> tuple[float, float]:
    total = float(ink.sum())
    rows = float(ink.sum(axis=1) @ np.arange(ink.shape[0], dtype=np.float32)) / total
    cols = float(ink.sum(axis=0) @ np.arange(ink.shape[1], dtype=np.float32)) / total
    return rows, cols


def _max_pool(ink: np.ndarray, factor: int) -> np.ndarray:
    height, width = ink.shape
    padded = np.zeros((-(-height // factor) * factor, -(-width // factor) * factor),
                      dtype=ink.dtype)
    padded[:height, :width] = ink
    return padded.reshape(padded.shape[0] // factor, factor,
                          padded.shape[1] // factor, factor).max(axis=(1, 3))


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in pixels: twice the ink area over its outline length (a band
    of width w and length l has area w*l and an outline of about 2*l)."""
    mask = ink >= 0.5
    area = int(mask.sum())
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1)
    edges = int((padded[1:] != padded[:-1]).sum() + (padded[:, 1:] != padded[:, :-1]).sum())
    return 2.0 * area / edges


def _dilate(ink: np.ndarray, size: int) -> np.ndarray:
    """Grey-level dilation by a size x size square; the result grows by size-1."""
    height, width = ink.shape
    grown = np.zeros((height + size - 1, width), dtype=ink.dtype)
    for shift in range(size):
        np.maximum(grown[shift:shift + height], ink, out=grown[shift:shift + height])
    result = np.zeros((height + size - 1, width + size - 1), dtype=ink.dtype)
    for shift in range(size):
        np.maximum(result[:, shift:shift + width], grown, out=result[:, shift:shift + width])
    return result


# Strokes thicker than this in the 20 px box (MNIST's 99th percentile is 3.4: a marker,
# a bold face, ink spread in a scan) are eroded to THIN_TARGET (MNIST's 95th percentile,
# 2.9): fat strokes fill the holes of 6, 8, 9 and 0 that tell the digits apart.
MAX_STROKE = 3.6
THIN_TARGET = 2.9


def _erode(ink: np.ndarray, size: int) -> np.ndarray:
    """Grey-level erosion by a size x size square (same shape; outside counts as 0): a
    stroke loses size-1 pixels of width."""
    before, after = size // 2, size - 1 - size // 2
    height, width = ink.shape
    padded = np.pad(ink, ((0, 0), (before, after)))
    narrowed = ink.copy()
    for shift in range(size):
        np.minimum(narrowed, padded[:, shift:shift + width], out=narrowed)
    padded = np.pad(narrowed, ((before, after), (0, 0)))
    result = narrowed.copy()
    for shift in range(size):
        np.minimum(result, padded[shift:shift + height], out=result)
    return result


def _place(digit: np.ndarray) -> np.ndarray:
    """Paste the scaled digit into the 28x28 field, centre of mass at the centre (whole
    pixels, as MNIST did), kept inside the field."""
    height, width = digit.shape
    centre_row, centre_col = _centre_of_mass(digit)
    top = min(max(round(CENTRE - centre_row), 0), FIELD - height)
    left = min(max(round(CENTRE - centre_col), 0), FIELD - width)
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    field[top:top + height, left:left + width] = digit
    return field


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(values, 0, 1) * 255).astype(np.uint8)


def normalise_ink(ink: np.ndarray) -> np.ndarray:
    """An ink map (any size) -> uint8 28x28 the MNIST way."""
    top, bottom, left, right = ink_box(ink)
    if ink.shape == (FIELD, FIELD):
        longest = max(bottom - top, right - left)
        centre_row, centre_col = _centre_of_mass(ink)
        if (PASS_BOX_RANGE[0] <= longest <= PASS_BOX_RANGE[1]
                and abs(centre_row - CENTRE) <= PASS_CENTRE_TOLERANCE
                and abs(centre_col - CENTRE) <= PASS_CENTRE_TOLERANCE):
            return _to_uint8(ink)  # already MNIST-like
    crop = ink[top:bottom, left:right]
    longest = max(crop.shape)
    if longest > WORK_SIDE:
        crop = _max_pool(crop, math.ceil(longest / WORK_SIDE))
        longest = max(crop.shape)
    width_in_box = stroke_width(crop) * BOX / longest
    if 0 < width_in_box < MIN_STROKE:
        grow = round((TARGET_STROKE - width_in_box) * longest / BOX)
        if grow >= 1:
            crop = _dilate(crop, grow + 1)
            longest = max(crop.shape)
    elif width_in_box > MAX_STROKE:
        shrink = round((width_in_box - THIN_TARGET) * longest / BOX)
        if shrink >= 1:
            thinner = _erode(crop, shrink + 1)
            if thinner.max() > 0:
                crop = thinner
    height, width = crop.shape
    size = (max(1, round(width * BOX / longest)), max(1, round(height * BOX / longest)))
    # area averaging when shrinking is MNIST's anti-aliasing; bilinear when enlarging
    resample = Image.Resampling.BOX if longest > BOX else Image.Resampling.BILINEAR
    digit = np.asarray(Image.fromarray(crop, mode="F").resize(size, resample),
                       dtype=np.float32)
    digit = np.clip(digit, 0, None)
    peak = float(digit.max())
    if peak <= 0:
        raise ImageError("no ink left after scaling")  # unreachable for a non-empty box
    return _to_uint8(_place(digit / peak))


def _pass_through(pixels: np.ndarray) -> np.ndarray | None:
    """``pixels`` unchanged if it is a uint8 28x28 MNIST-like image (white ink on a clean
    black background, ink box about 20 px, centre of mass within a pixel of the centre),
    else None. Cheap, so a directory of MNIST-style PNGs goes fast."""
    if pixels.shape != (FIELD, FIELD) or pixels.dtype != np.uint8:
        return None
    border = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    # MNIST's own digits touch the border in 1% of images, with a few pixels
    if np.count_nonzero(border) > border.size // 10 or pixels.max() < 128:
        return None
    rows = np.flatnonzero(pixels.any(axis=1))
    cols = np.flatnonzero(pixels.any(axis=0))
    longest = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    if not PASS_BOX_RANGE[0] <= longest <= PASS_BOX_RANGE[1]:
        return None
    centre_row, centre_col = _centre_of_mass(pixels.astype(np.float32))
    if (abs(centre_row - CENTRE) > PASS_CENTRE_TOLERANCE
            or abs(centre_col - CENTRE) > PASS_CENTRE_TOLERANCE):
        return None
    return pixels.copy()


def preprocess(image: Image.Image | np.ndarray, name: str = "image") -> np.ndarray:
    """Any picture of a digit -> uint8 (28, 28), white ink on black, as in MNIST.

    Accepts a PIL image (any mode) or a 2-D array (uint8 0-255, or float 0-1).
    Raises ImageError (naming ``name``) when the image holds no ink.
    """
    if isinstance(image, np.ndarray):
        grey = (image.astype(np.float32) / 255 if image.dtype == np.uint8
                else image.astype(np.float32))
    else:
        grey = to_grey(image)
    if grey.shape == (FIELD, FIELD):
        kept = _pass_through(np.rint(grey * 255).astype(np.uint8))
        if kept is not None:
            return kept
    try:
        return normalise_ink(ink_map(grey, name))
    except ImageError as exc:
        if str(exc).startswith(name):
            raise
        raise ImageError(f"{name}: {exc}") from None
