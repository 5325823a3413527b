"""A realistic evaluation set, generated: digits as people's images show them.

Nothing here comes from MNIST or any other digit dataset. Digits are drawn two ways:

- ``font``: rendered with the TrueType/OpenType fonts installed on the machine (Debian's
  font packages: serif, sans, mono, handwriting and script faces), one file per face,
  faces whose ten digits look identical to another face's dropped;
- ``stroke``: synthetic handwriting, a pen trajectory per digit through jittered control
  points (several writing styles per digit: open or closed 4, 7 with or without a bar,
  1 with or without a flag and base, a 5 whose top may be detached) drawn with a varying
  pen width, slanted, stretched.

Each digit then goes through one named degradation (``DEGRADATIONS``) on top of a mild
random variation every image gets (size, position, slight rotation, paper and ink
tone): blur, JPEG, low resolution upscaled, uneven light, faint ink on noise, thick or
thin ink, noise, paper texture, rotation and shear, light on dark, colour ink, a
transparent canvas, off-centre, tiny, huge.

``number_sample`` makes a multi-digit number (2 to 6 digits side by side): varied
spacing, touching pairs, broken strokes and detached 5-tops, specks, underlines, a
drifting baseline and digits of different heights.

Every sample is a pure function of (seed, index): ``digit_sample(7, seed=0)`` is the same
image on every run on a machine with the same fonts installed. Pure numpy and Pillow.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.fonts"))
# Faces that draw symbols, not digits
FONT_EXCLUDE = ("dingbat", "symbol", "d050000l", "emoji", "math", "music", "musica",
                "opensymbol", "wingding", "webdings", "cursor", "fontawesome", "icons")
# Noto's script faces (Bengali, Tamil ...) carry Noto Sans's Latin digits again: only the
# Latin families count, so one design is not drawn twenty times more often than others.
NOTO_LATIN = ("NotoSans-", "NotoSerif-", "NotoSansDisplay-", "NotoSerifDisplay-",
              "NotoSansMono-")
GLYPH_SIZE = 96  # pixels per em when rasterising a font digit
DEGRADATIONS = (
    "clean", "blur", "jpeg", "lowres", "light", "faint", "thick", "thin", "noise",
    "texture", "rotate", "inverted", "colour", "transparent", "offcentre", "tiny", "huge",
)


@dataclass
class Sample:
    image: Image.Image
    label: str  # the digit ("7") or the number ("40213")
    source: str  # "font" or "stroke" ("number" for numbers)
    degradation: str
    detail: dict = field(default_factory=dict)


# ---------------------------------------------------------------- fonts


def _rasterise(font: ImageFont.FreeTypeFont, text: str) -> np.ndarray:
    """The text's ink as float32 [0, 1], cropped to its box (empty array if none)."""
    box = font.getbbox(text)
    width, height = max(1, box[2] - box[0] + 4), max(1, box[3] - box[1] + 4)
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).text((2 - box[0], 2 - box[1]), text, font=font, fill=255)
    ink = np.asarray(canvas, dtype=np.float32) / 255
    rows = np.flatnonzero(ink.max(axis=1) > 0.1)
    cols = np.flatnonzero(ink.max(axis=0) > 0.1)
    if rows.size == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _font_fingerprint(path: str) -> str | None:
    """A hash of the face's ten digits at low resolution, or None when the face has no
    real digits (missing glyphs, all alike, symbol faces)."""
    try:
        font = ImageFont.truetype(path, 32)
    except OSError:
        return None
    shapes = []
    for digit in "0123456789":
        try:
            ink = _rasterise(font, digit)
        except (OSError, ValueError):
            return None
        if ink.size == 0 or ink.shape[0] < 10:
            return None
        small = np.asarray(Image.fromarray((ink * 255).astype(np.uint8)).resize((12, 16)))
        shapes.append((small > 100).tobytes())
    missing = _rasterise(font, "\ue000\U0010fffd")
    if missing.size and (np.asarray(Image.fromarray((missing * 255).astype(np.uint8))
                                    .resize((12, 16))) > 100).tobytes() in shapes:
        return None
    if len(set(shapes)) < 10:
        return None
    # a 1 must be taller than wide and an 8 must have ink in its middle: digits, not art
    return hashlib.sha1(b"".join(shapes)).hexdigest()


@functools.lru_cache(maxsize=1)
def font_files() -> tuple[str, ...]:
    """Every installed face with distinct, real digits, sorted by path (one per design)."""
    found = []
    for root in FONT_DIRS:
        for directory, _dirs, files in os.walk(root):
            for name in files:
                if name.lower().endswith((".ttf", ".otf")) and not any(
                        word in name.lower() for word in FONT_EXCLUDE) and (
                        not name.startswith("Noto") or name.startswith(NOTO_LATIN)):
                    found.append(os.path.join(directory, name))
    seen: set[str] = set()
    kept = []
    for path in sorted(found):
        fingerprint = _font_fingerprint(path)
        if fingerprint is not None and fingerprint not in seen:
            seen.add(fingerprint)
            kept.append(path)
    return tuple(kept)


def font_glyph(digit: int, font_path: str | None, rng: np.random.Generator,
               size: int = GLYPH_SIZE) -> np.ndarray:
    """One digit's ink from a font file (Pillow's built-in face when None)."""
    if font_path is None:
        font = ImageFont.load_default(size=size)
    else:
        font = ImageFont.truetype(font_path, size)
    if rng.random() < 0.25:  # a bolder pen: the text's own outline stroke
        canvas_font = font
        box = canvas_font.getbbox(str(digit), stroke_width=2)
        width, height = box[2] - box[0] + 8, box[3] - box[1] + 8
        canvas = Image.new("L", (width, height), 0)
        ImageDraw.Draw(canvas).text((4 - box[0], 4 - box[1]), str(digit), font=font,
                                    fill=255, stroke_width=2, stroke_fill=255)
        ink = np.asarray(canvas, dtype=np.float32) / 255
        rows = np.flatnonzero(ink.max(axis=1) > 0.1)
        cols = np.flatnonzero(ink.max(axis=0) > 0.1)
        return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return _rasterise(font, str(digit))


# ---------------------------------------------------------------- synthetic handwriting

# Per digit, writing styles; each style is a list of strokes; a stroke is ("s" smooth
# through the points, or "l" straight segments, points in a unit box: x right, y down).
STYLES: dict[int, list[list[tuple[str, list[tuple[float, float]]]]]] = {
    0: [[("s", [(0.5, 0.0), (0.12, 0.25), (0.1, 0.7), (0.5, 1.0), (0.9, 0.7), (0.88, 0.25),
                (0.5, 0.0), (0.3, 0.08)])],
        [("s", [(0.55, 0.02), (0.2, 0.15), (0.05, 0.55), (0.35, 0.98), (0.8, 0.85),
                (0.95, 0.4), (0.7, 0.05), (0.45, 0.05)])]],
    1: [[("l", [(0.5, 0.0), (0.5, 1.0)])],
        [("l", [(0.2, 0.22), (0.55, 0.0), (0.55, 1.0)])],
        [("l", [(0.2, 0.22), (0.55, 0.0), (0.55, 1.0)]), ("l", [(0.25, 1.0), (0.85, 1.0)])],
        [("l", [(0.62, 0.0), (0.42, 1.0)])]],
    2: [[("s", [(0.1, 0.28), (0.3, 0.04), (0.62, 0.0), (0.86, 0.22), (0.7, 0.55),
                (0.35, 0.82), (0.08, 1.0)]), ("l", [(0.08, 1.0), (0.95, 0.98)])],
        [("s", [(0.12, 0.2), (0.5, 0.0), (0.85, 0.25), (0.55, 0.62), (0.12, 0.95)]),
         ("s", [(0.12, 0.95), (0.3, 0.85), (0.6, 0.95), (0.92, 0.9)])]],
    3: [[("s", [(0.1, 0.12), (0.45, 0.0), (0.82, 0.15), (0.75, 0.38), (0.42, 0.47)]),
         ("s", [(0.42, 0.47), (0.85, 0.62), (0.85, 0.88), (0.5, 1.0), (0.08, 0.88)])],
        [("l", [(0.1, 0.0), (0.85, 0.0), (0.4, 0.42)]),
         ("s", [(0.4, 0.42), (0.82, 0.55), (0.9, 0.82), (0.55, 1.0), (0.1, 0.9)])]],
    4: [[("l", [(0.68, 1.0), (0.68, 0.0), (0.05, 0.7), (0.95, 0.7)])],
        [("l", [(0.3, 0.0), (0.1, 0.62), (0.92, 0.62)]), ("l", [(0.72, 0.15), (0.72, 1.0)])],
        [("l", [(0.35, 0.0), (0.08, 0.6), (0.9, 0.6)]), ("l", [(0.68, 0.0), (0.62, 1.0)])]],
    5: [[("l", [(0.85, 0.0), (0.2, 0.0), (0.16, 0.45)]),
         ("s", [(0.16, 0.45), (0.55, 0.36), (0.88, 0.62), (0.6, 0.98), (0.08, 0.88)])],
        [("l", [(0.22, 0.02), (0.88, 0.0)]),
         ("s", [(0.22, 0.04), (0.18, 0.45), (0.55, 0.38), (0.88, 0.65), (0.58, 0.98),
                (0.1, 0.86)])]],
    6: [[("s", [(0.75, 0.0), (0.35, 0.25), (0.12, 0.65), (0.35, 1.0), (0.78, 0.9),
                (0.82, 0.6), (0.48, 0.5), (0.15, 0.68)])],
        [("s", [(0.8, 0.05), (0.45, 0.1), (0.15, 0.5), (0.2, 0.9), (0.55, 1.0), (0.85, 0.75),
                (0.6, 0.52), (0.22, 0.6)])]],
    7: [[("l", [(0.05, 0.0), (0.95, 0.0), (0.38, 1.0)])],
        [("l", [(0.05, 0.0), (0.95, 0.0), (0.38, 1.0)]), ("l", [(0.35, 0.5), (0.85, 0.5)])],
        [("l", [(0.05, 0.15), (0.1, 0.0), (0.92, 0.0)]),
         ("s", [(0.92, 0.0), (0.6, 0.45), (0.45, 1.0)])]],
    8: [[("s", [(0.55, 0.46), (0.18, 0.22), (0.5, 0.0), (0.82, 0.2), (0.45, 0.48),
                (0.1, 0.75), (0.5, 1.0), (0.9, 0.75), (0.55, 0.46)])],
        [("s", [(0.5, 0.0), (0.15, 0.2), (0.5, 0.45), (0.85, 0.72), (0.5, 1.0), (0.12, 0.72),
                (0.5, 0.45), (0.85, 0.2), (0.5, 0.0)])]],
    9: [[("s", [(0.85, 0.22), (0.5, 0.0), (0.15, 0.2), (0.3, 0.45), (0.7, 0.4),
                (0.85, 0.22)]), ("l", [(0.85, 0.22), (0.8, 1.0)])],
        [("s", [(0.82, 0.15), (0.45, 0.0), (0.12, 0.22), (0.4, 0.45), (0.82, 0.3)]),
         ("s", [(0.82, 0.15), (0.8, 0.55), (0.6, 1.0)])]],
}


def _catmull_rom(points: np.ndarray, steps: int = 24) -> np.ndarray:
    """A smooth curve through the points (centripetal-ish uniform Catmull-Rom)."""
    if len(points) < 3:
        return _polyline(points, steps)
    padded = np.vstack([2 * points[0] - points[1], points, 2 * points[-1] - points[-2]])
    out = []
    t = np.linspace(0, 1, steps, endpoint=False)[:, None]
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    out.append(points[-1:])
    return np.vstack(out)


def _polyline(points: np.ndarray, steps: int = 24) -> np.ndarray:
    out = [np.linspace(a, b, steps, endpoint=False) for a, b in zip(points[:-1], points[1:],
                                                                     strict=True)]
    out.append(points[-1:])
    return np.vstack(out)


def stroke_glyph(digit: int, rng: np.random.Generator, height: int = 112,
                 style: int | None = None, breaks: int = 0, detach: bool = False
                 ) -> np.ndarray:
    """One handwritten-looking digit: float32 ink [0, 1], cropped to its box.

    ``breaks``: gaps cut into the pen path (a broken stroke); ``detach``: a 5 drawn with its
    top bar lifted off the body."""
    styles = STYLES[digit]
    strokes = styles[style % len(styles)] if style is not None else styles[
        int(rng.integers(len(styles)))]
    if digit == 5 and detach:
        strokes = STYLES[5][1]
    aspect = rng.uniform(0.55, 0.8) if digit != 1 else rng.uniform(0.35, 0.6)
    slant = rng.normal(0, 0.15)
    jitter = rng.uniform(0.02, 0.05)
    pen = rng.uniform(0.07, 0.13) * height
    paths = []
    for kind, points in strokes:
        p = np.array(points, dtype=np.float64)
        p = p + rng.normal(0, jitter, p.shape)
        curve = _catmull_rom(p) if kind == "s" else _polyline(p)
        x = curve[:, 0] * aspect * height
        y = curve[:, 1] * height
        x = x + slant * (height - y)
        paths.append(np.stack([x, y], axis=1))
    if digit == 5 and detach:
        # lift the top bar: move it up and to the right a little
        paths[0] = paths[0] + np.array([rng.uniform(0.0, 0.1), -rng.uniform(0.08, 0.15)]
                                       ) * height
    every = np.vstack(paths)
    margin = pen + 4
    offset = -every.min(axis=0) + margin
    width = int(math.ceil(every[:, 0].max() - every[:, 0].min() + 2 * margin))
    full = int(math.ceil(every[:, 1].max() - every[:, 1].min() + 2 * margin))
    scale = 2  # drawn at twice the size, then reduced: smooth edges
    canvas = Image.new("L", (width * scale, full * scale), 0)
    draw = ImageDraw.Draw(canvas)
    total = sum(len(path) for path in paths)
    gaps = set()
    for _ in range(breaks):
        centre = int(rng.integers(total // 5, 4 * total // 5))
        gaps.update(range(centre - 3, centre + 4))
    counter = 0
    for path in paths:
        points = (path + offset) * scale
        # the pen width drifts smoothly along the stroke
        phase, speed = rng.uniform(0, 2 * math.pi), rng.uniform(0.5, 2.0)
        for i in range(len(points) - 1):
            counter += 1
            if counter in gaps:
                continue
            w = pen * scale * (1 + 0.25 * math.sin(phase + speed * i / len(points) * 6))
            (x0, y0), (x1, y1) = points[i], points[i + 1]
            draw.line([(x0, y0), (x1, y1)], fill=255, width=max(1, int(round(w))))
            r = w / 2
            draw.ellipse([x1 - r, y1 - r, x1 + r, y1 + r], fill=255)
        counter += 1
    canvas = canvas.reduce(scale)
    ink = np.asarray(canvas, dtype=np.float32) / 255
    rows = np.flatnonzero(ink.max(axis=1) > 0.1)
    cols = np.flatnonzero(ink.max(axis=0) > 0.1)
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


# ---------------------------------------------------------------- degradations


def _resize(ink: np.ndarray, width: int, height: int) -> np.ndarray:
    image = Image.fromarray(ink.astype(np.float32), mode="F")
    small = width < ink.shape[1]
    resample = Image.Resampling.BOX if small else Image.Resampling.BILINEAR
    return np.asarray(image.resize((max(1, width), max(1, height)), resample),
                      dtype=np.float32)


def _affine(ink: np.ndarray, angle: float, shear: float) -> np.ndarray:
    """Rotate (degrees) and shear the ink about its centre, growing the canvas."""
    height, width = ink.shape
    pad = int(max(height, width) * 0.5)
    padded = np.pad(ink, pad)
    image = Image.fromarray(padded, mode="F")
    cx, cy = padded.shape[1] / 2, padded.shape[0] / 2
    a = math.radians(angle)
    cos, sin = math.cos(a), math.sin(a)
    # Pillow maps each output pixel back to the input: the inverse of rotate @ shear
    inverse = np.linalg.inv(np.array([[cos, -sin], [sin, cos]]) @ np.array([[1, shear],
                                                                            [0, 1]]))
    coeffs = (inverse[0, 0], inverse[0, 1], cx - inverse[0, 0] * cx - inverse[0, 1] * cy,
              inverse[1, 0], inverse[1, 1], cy - inverse[1, 0] * cx - inverse[1, 1] * cy)
    out = np.asarray(image.transform(image.size, Image.Transform.AFFINE, coeffs,
                                     resample=Image.Resampling.BILINEAR), dtype=np.float32)
    rows = np.flatnonzero(out.max(axis=1) > 0.05)
    cols = np.flatnonzero(out.max(axis=0) > 0.05)
    return out[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1] (paper fibres, blotches): a coarse grid upscaled."""
    coarse = rng.uniform(-1, 1, (max(2, shape[0] // cell + 2), max(2, shape[1] // cell + 2)))
    image = Image.fromarray(coarse.astype(np.float32), mode="F")
    return np.asarray(image.resize((shape[1], shape[0]), Image.Resampling.BICUBIC),
                      dtype=np.float32)


def _thicken(ink: np.ndarray, pixels: int) -> np.ndarray:
    image = Image.fromarray((np.clip(ink, 0, 1) * 255).astype(np.uint8))
    return np.asarray(image.filter(ImageFilter.MaxFilter(2 * pixels + 1)),
                      dtype=np.float32) / 255


def _thin(ink: np.ndarray, pixels: int) -> np.ndarray:
    image = Image.fromarray((np.clip(ink, 0, 1) * 255).astype(np.uint8))
    thinned = np.asarray(image.filter(ImageFilter.MinFilter(2 * pixels + 1)),
                         dtype=np.float32) / 255
    return thinned if thinned.max() > 0.5 else ink


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGB" if image.mode not in ("L", "RGB") else image.mode).save(
        buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    out = Image.open(buffer)
    out.load()
    return out


def compose(ink: np.ndarray, rng: np.random.Generator, degradation: str) -> Image.Image:
    """Put one digit's ink on a picture, as a person's image of it might look."""
    # mild variation every image gets
    angle = rng.normal(0, 4)
    shear = rng.normal(0, 0.06)
    if degradation == "rotate":
        angle = rng.choice([-1, 1]) * rng.uniform(6, 14)
        shear = rng.choice([-1, 1]) * rng.uniform(0.1, 0.25)
    if degradation == "thick":
        ink = _thicken(ink, int(max(1, round(ink.shape[0] * rng.uniform(0.03, 0.06)))))
    elif degradation == "thin":
        ink = _thin(ink, int(max(1, round(ink.shape[0] * 0.02))))
    ink = _affine(ink, angle, shear)
    # the canvas and the digit's height on it
    fraction = rng.uniform(0.45, 0.85)
    if degradation == "tiny":
        digit_height = rng.uniform(7, 13)
    elif degradation == "huge":
        digit_height = rng.uniform(700, 1400)
    elif degradation == "lowres":
        digit_height = rng.uniform(9, 16)
    else:
        digit_height = math.exp(rng.uniform(math.log(20), math.log(300)))
    canvas_height = int(round(digit_height / fraction))
    canvas_width = int(round(canvas_height * rng.uniform(0.8, 1.4)))
    glyph_h = max(2, int(round(digit_height)))
    glyph_w = max(1, int(round(ink.shape[1] * glyph_h / ink.shape[0])))
    canvas_width = max(canvas_width, glyph_w + 4)
    glyph = np.clip(_resize(ink, glyph_w, glyph_h), 0, 1)
    field = np.zeros((canvas_height, canvas_width), dtype=np.float32)
    room_y, room_x = canvas_height - glyph_h, canvas_width - glyph_w
    if degradation == "offcentre":
        top, left = int(rng.integers(0, room_y + 1)), int(rng.integers(0, room_x + 1))
    else:
        top = int(round(room_y * rng.uniform(0.3, 0.7)))
        left = int(round(room_x * rng.uniform(0.3, 0.7)))
    field[top:top + glyph_h, left:left + glyph_w] = glyph
    # tones: dark ink on light paper unless inverted
    paper = rng.uniform(0.75, 1.0)
    ink_tone = rng.uniform(0.0, 0.3)
    if degradation == "faint":
        ink_tone = paper - rng.uniform(0.10, 0.22)
    if degradation == "transparent":
        colour = np.array(rng.choice([[0, 0, 0], [20, 40, 200], [200, 30, 30], [255, 255, 255]]))
        rgba = np.zeros((*field.shape, 4), dtype=np.uint8)
        rgba[..., :3] = colour
        rgba[..., 3] = np.rint(np.clip(field, 0, 1) * 255).astype(np.uint8)
        return Image.fromarray(rgba, mode="RGBA")
    grey = paper + (ink_tone - paper) * field
    noise_sigma = rng.uniform(0, 0.01)
    if degradation == "light":
        rows, cols = np.indices(field.shape, dtype=np.float32)
        gx, gy = rng.uniform(-0.5, 0.5, 2)
        gradient = (gx * cols / canvas_width + gy * rows / canvas_height)
        shade = 1.0 - np.abs(gradient) * rng.uniform(0.3, 0.6) - 0.15 * _smooth_noise(
            rng, field.shape, max(4, canvas_height // 2))
        grey = grey * np.clip(shade, 0.2, 1.2)
    if degradation == "texture":
        grey = grey + rng.uniform(0.04, 0.09) * _smooth_noise(rng, field.shape,
                                                             max(2, canvas_height // 12))
        grey = grey + rng.uniform(0.02, 0.05) * _smooth_noise(rng, field.shape, 2)
    if degradation in ("noise", "faint"):
        noise_sigma = rng.uniform(0.02, 0.06) if degradation == "noise" else rng.uniform(
            0.02, 0.04)
    grey = grey + rng.normal(0, noise_sigma, field.shape).astype(np.float32)
    if degradation == "inverted":
        grey = 1.0 - grey
    grey = np.clip(grey, 0, 1)
    if degradation == "colour":
        ink_rgb = rng.choice([[0.1, 0.2, 0.8], [0.8, 0.1, 0.1], [0.1, 0.5, 0.15],
                              [0.5, 0.1, 0.6]])
        paper_rgb = np.array([paper, paper * rng.uniform(0.9, 1.0), paper * rng.uniform(0.8, 1)])
        rgb = paper_rgb + (np.array(ink_rgb) - paper_rgb) * field[..., None]
        rgb = np.clip(rgb + rng.normal(0, 0.01, rgb.shape), 0, 1)
        image = Image.fromarray(np.rint(rgb * 255).astype(np.uint8), mode="RGB")
    else:
        image = Image.fromarray(np.rint(grey * 255).astype(np.uint8), mode="L")
    if degradation == "blur":
        image = image.filter(ImageFilter.GaussianBlur(glyph_h * rng.uniform(0.03, 0.07)))
    if degradation == "lowres":
        big = int(rng.integers(4, 10))
        image = image.resize((image.width * big, image.height * big),
                             rng.choice([Image.Resampling.NEAREST, Image.Resampling.BILINEAR]))
    if degradation == "jpeg":
        image = _jpeg(image, int(rng.integers(8, 40)))
    elif rng.random() < 0.3:
        image = _jpeg(image, int(rng.integers(50, 95)))
    return image


# ---------------------------------------------------------------- the sets


def digit_sample(index: int, seed: int = 0) -> Sample:
    """The index-th single-digit image: digit index % 10, source alternating font/stroke,
    degradation cycling through DEGRADATIONS."""
    rng = np.random.default_rng([seed, index, 1])
    digit = index % 10
    source = "font" if (index // 10) % 2 == 0 else "stroke"
    degradation = DEGRADATIONS[(index // 20) % len(DEGRADATIONS)]
    detail: dict = {}
    if source == "font":
        fonts = font_files() or (None,)
        font = fonts[int(rng.integers(len(fonts)))]
        detail["font"] = os.path.basename(font) if font else "pillow-default"
        ink = font_glyph(digit, font, rng)
    else:
        ink = stroke_glyph(digit, rng)
    image = compose(ink, rng, degradation)
    return Sample(image, str(digit), source, degradation, detail)


def digit_set(count: int, seed: int = 0):
    """The first ``count`` digit samples."""
    for index in range(count):
        yield digit_sample(index, seed)


def number_sample(index: int, seed: int = 0) -> Sample:
    """The index-th multi-digit number image (2 to 6 digits, handwritten mostly)."""
    rng = np.random.default_rng([seed, index, 2])
    count = int(rng.integers(2, 7))
    digits = [int(d) for d in rng.integers(0, 10, count)]
    if rng.random() < 0.25:  # detached 5-tops are the interesting 5s
        digits[int(rng.integers(count))] = 5
    text = "".join(map(str, digits))
    height = 80
    use_font = rng.random() < 0.25
    fonts = font_files() or (None,)
    font = fonts[int(rng.integers(len(fonts)))] if use_font else None
    features: list[str] = []
    glyphs = []
    for digit in digits:
        if use_font:
            ink = font_glyph(digit, font, rng, size=int(height * 1.3))
        else:
            breaks = 1 if rng.random() < 0.15 else 0
            detach = digit == 5 and rng.random() < 0.5
            if breaks:
                features.append("broken")
            if detach:
                features.append("detached-5")
            ink = stroke_glyph(digit, rng, height=112, breaks=breaks, detach=detach)
        scale = rng.uniform(0.85, 1.15)
        h = max(8, int(round(height * scale)))
        w = max(2, int(round(ink.shape[1] * h / ink.shape[0])))
        glyphs.append(np.clip(_resize(ink, w, h), 0, 1))
    gap_scale = rng.uniform(0.05, 0.4)
    touching = rng.random() < 0.3
    drift = rng.normal(0, 0.08)
    xs, cursor = [], 20
    touch_at = int(rng.integers(count - 1)) if touching else -1
    if touching:
        features.append("touching")
    for glyph in glyphs:
        xs.append(cursor)
        gap = height * (gap_scale + rng.uniform(-0.03, 0.08))
        cursor += glyph.shape[1] + int(round(gap))
    canvas_h = int(height * 1.9 + abs(drift) * cursor)
    base = height * 1.3 + (abs(drift) * cursor if drift < 0 else 0)
    ys = []
    for x, glyph in zip(xs, glyphs, strict=True):
        y = int(round(base + drift * x - glyph.shape[0] + rng.normal(0, 2)))
        ys.append(min(max(y, 2), canvas_h - glyph.shape[0] - 2))
    if touching:
        # slide the right digit (and those after it) left until the strokes just touch
        a, b = glyphs[touch_at] > 0.5, glyphs[touch_at + 1] > 0.5
        top = max(ys[touch_at], ys[touch_at + 1])
        bottom = min(ys[touch_at] + a.shape[0], ys[touch_at + 1] + b.shape[0])
        gaps = []
        for row in range(top, bottom):
            left_row, right_row = a[row - ys[touch_at]], b[row - ys[touch_at + 1]]
            if left_row.any() and right_row.any():
                right_edge = xs[touch_at] + np.flatnonzero(left_row)[-1]
                left_edge = xs[touch_at + 1] + np.flatnonzero(right_row)[0]
                gaps.append(left_edge - right_edge - 1)
        if gaps:
            shift = min(gaps) + int(rng.integers(1, 4))
            for i in range(touch_at + 1, count):
                xs[i] -= shift
            cursor -= shift
    width = cursor + 20
    field = np.zeros((canvas_h, width), dtype=np.float32)
    for x, y, glyph in zip(xs, ys, glyphs, strict=True):
        region = field[y:y + glyph.shape[0], x:x + glyph.shape[1]]
        np.maximum(region, glyph, out=region)
    pen = max(3, int(round(height * 0.09)))
    draw_field = Image.fromarray(field, mode="F")
    draw = ImageDraw.Draw(draw_field)
    if rng.random() < 0.3:
        features.append("specks")
        for _ in range(int(rng.integers(1, 5))):
            sx, sy = rng.uniform(0, width), rng.uniform(0, canvas_h)
            r = rng.uniform(1, pen * 0.6)
            near = field[max(0, int(sy - 3 * pen)):int(sy + 3 * pen),
                         max(0, int(sx - 3 * pen)):int(sx + 3 * pen)]
            if near.size and near.max() > 0:
                continue  # a speck on a digit could change what it reads as
            draw.ellipse([sx - r, sy - r, sx + r, sy + r], fill=1.0)
    if rng.random() < 0.2:
        features.append("underline")
        y0 = base + rng.uniform(0.1, 0.25) * height
        x0, x1 = xs[0] - rng.uniform(0, 15), cursor + rng.uniform(-10, 10)
        draw.line([(x0, y0 + drift * x0), (x1, y0 + drift * x1 + rng.normal(0, 3))],
                  fill=1.0, width=pen)
    field = np.asarray(draw_field, dtype=np.float32)
    # the picture: scale, tones, mild degradations
    target_h = rng.uniform(14, 70) / height  # digits' height in the final image
    field = np.clip(_resize(field, max(8, int(width * target_h)),
                            max(8, int(canvas_h * target_h))), 0, 1)
    paper = rng.uniform(0.75, 1.0)
    ink_tone = rng.uniform(0.0, 0.35)
    grey = paper + (ink_tone - paper) * field
    grey = grey + rng.normal(0, rng.uniform(0, 0.03), grey.shape)
    if rng.random() < 0.2:
        grey = 1 - grey
        features.append("inverted")
    image = Image.fromarray(np.rint(np.clip(grey, 0, 1) * 255).astype(np.uint8), mode="L")
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    if rng.random() < 0.4:
        image = _jpeg(image, int(rng.integers(30, 90)))
    detail = {"features": features, "font": os.path.basename(font) if font else None}
    return Sample(image, text, "number", "+".join(features) or "plain", detail)


def number_set(count: int, seed: int = 0):
    for index in range(count):
        yield number_sample(index, seed)


if __name__ == "__main__":  # write a few samples to look at: python benchmarks/realworld.py DIR
    import sys

    out = sys.argv[1] if len(sys.argv) > 1 else "realworld_samples"
    os.makedirs(out, exist_ok=True)
    for i in range(int(sys.argv[2]) if len(sys.argv) > 2 else 60):
        s = digit_sample(i)
        s.image.save(os.path.join(out, f"d{i:04d}_{s.label}_{s.source}_{s.degradation}.png"))
    for i in range(20):
        s = number_sample(i)
        s.image.save(os.path.join(out, f"n{i:04d}_{s.label}_{s.degradation}.png"))
    print(f"{len(font_files())} fonts", file=sys.stderr)
