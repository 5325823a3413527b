"""Whole numbers: finding the digits of a picture side by side and reading them.

    reading = read_number(load_image("meter.jpg"), predictor)
    reading.number        # "40213"
    reading.confidence    # the least confident digit's probability
    reading.digits[0]     # DigitReading(box=(x, y, w, h), digit=4, probabilities, confidence)

Segmentation (``segment_digits``), on the ink map that single digits get
(``preprocess.ink_map``: any polarity, lighting, noise):

1. connected components of the ink (8-connected, ``mnistcli.components``);
2. the typical digit height: the median height of the substantial components;
3. specks (small both ways) and underlines or strike-throughs (long and flat) dropped;
4. pieces of one digit joined: components that overlap horizontally by half the narrower
   one (a 5's detached top over its body, a stroke broken in two, a 7's bar), or a small
   piece overlapping another at all;
5. touching digits split: a group wider than a digit usually is (relative to the typical
   height) gets candidate vertical cuts at the columns with the least ink; each cut's
   halves are classified and the cut whose halves the model reads most confidently wins,
   if it reads them better than the whole (always, when the group is too wide for one
   digit); halves are split again while they are too wide;
6. digits ordered left to right. Each digit's crop (only its own components' ink, not a
   neighbour's intruding stroke) goes through ``preprocess.normalise_ink``, exactly as
   a single digit does; a drifting baseline or digits of different heights do not
   matter, since every crop is scaled on its own.

Pure numpy and Pillow: no typer, rich or tensorflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from mnistcli.components import components as component_boxes
from mnistcli.components import label as label_components
from mnistcli.errors import ImageError
from mnistcli.preprocess import ink_map, normalise_ink, to_grey

# Probabilities in records: six decimals (as single-digit prediction records).
RECORD_DECIMALS = 6
# Ink at or above this level (the ink map is 0 on the background, 1 at full ink) makes
# the binary image the components come from.
INK_LEVEL = 0.2
# Components with at least this share of the largest one's ink decide the typical height.
SUBSTANTIAL_MASS = 0.15
# Specks: both sides under this share of the typical digit height.
SPECK_SIDE = 0.3
# Underlines: wider than this many typical heights and flatter than this share of it.
UNDERLINE_WIDTH = 1.3
UNDERLINE_HEIGHT = 0.3
# An underline touching the digits: its columns hold at least this share of the ink's.
LINE_COVERAGE = 0.6
# Pieces of one digit: horizontal overlap of at least this share of the narrower piece.
JOIN_OVERLAP = 0.5
# A piece shorter than this share of the typical height joins any piece it overlaps.
SMALL_PIECE = 0.6
# Width over typical height: above SPLIT_ALWAYS a group holds several digits; below
# SPLIT_NEVER it is one; between, the classifier decides.
SPLIT_NEVER = 0.8
SPLIT_ALWAYS = 1.0
# The same, relative to the median width of the other digits (1s left out: narrower than
# NARROW typical heights; DEFAULT_WIDTH typical heights when there are none).
SPLIT_WIDER = 1.3
SPLIT_ALWAYS_WIDER = 1.7
NARROW = 0.4
DEFAULT_WIDTH = 0.65
# Where the width leaves it open, the split wins unless the whole reads clearly better:
# the halves' error (1 - geometric mean of their confidences) more than this many times
# the whole's (the model is sure of most blobs, so errors are compared, not confidences).
SPLIT_ERROR_RATIO = 10.0
# Broken pieces side by side: at most MERGE_GAP typical heights apart, together at most
# MERGE_WIDTH of their height wide, and read as one with at most 1/MERGE_ERROR_RATIO of
# the pieces' error.
MERGE_GAP = 0.15
MERGE_WIDTH = 0.9
MERGE_ERROR_RATIO = 10.0
# Candidate cuts: at most this many columns, none leaving a part narrower than this share
# of the typical height.
MAX_CUTS = 9
MIN_PART = 0.2


@dataclass(frozen=True)
class DigitBox:
    """One digit found: its box in the picture (x, y, w, h) and its MNIST-style pixels."""

    x: int
    y: int
    w: int
    h: int
    pixels: np.ndarray = field(repr=False, compare=False)

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.w, self.h


@dataclass(frozen=True)
class DigitReading:
    box: tuple[int, int, int, int]  # x, y, w, h in the picture's pixels
    digit: int
    probabilities: np.ndarray = field(repr=False, compare=False)
    confidence: float = 0.0
    pixels: np.ndarray | None = field(default=None, repr=False, compare=False)  # 28x28


@dataclass(frozen=True)
class NumberReading:
    number: str  # the digits left to right, "" when none were found
    digits: list[DigitReading]

    @property
    def confidence(self) -> float:
        """The lowest digit confidence (0 when there are no digits)."""
        return min((d.confidence for d in self.digits), default=0.0)

    def record(self, min_confidence: float | None = None) -> dict:
        """JSON-ready: ``number``, ``confidence`` (the lowest digit's) and per digit its
        ``box`` [x, y, w, h], ``digit``, ``confidence`` and ten ``probabilities``.

        With ``min_confidence`` the record and each digit also say whether they were
        ``rejected``: the number is rejected (``number`` None) when any digit's
        confidence is below the threshold, as `mnist predict --min-confidence` does for
        single digits (mnistcli.predicting.Prediction.record)."""
        def rejected(confidence: float) -> bool:
            return (min_confidence is not None
                    and round(confidence, RECORD_DECIMALS) < min_confidence)

        digits = []
        for d in self.digits:
            entry = {"box": list(d.box), "digit": d.digit,
                     "confidence": round(d.confidence, RECORD_DECIMALS),
                     "probabilities": [round(float(p), RECORD_DECIMALS)
                                       for p in d.probabilities]}
            if min_confidence is not None:
                entry["rejected"] = rejected(d.confidence)
            digits.append(entry)
        record = {
            "number": self.number,
            "confidence": round(self.confidence, RECORD_DECIMALS),
            "digits": digits,
        }
        if min_confidence is not None:
            record["rejected"] = any(entry["rejected"] for entry in digits)
            if record["rejected"]:
                record["number"] = None
        return record


@dataclass
class _Group:
    """Pieces (component labels) taken as one digit, with their bounding box."""

    labels: list[int]
    top: int
    bottom: int
    left: int
    right: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    def merge(self, other: _Group) -> None:
        self.labels += other.labels
        self.top, self.bottom = min(self.top, other.top), max(self.bottom, other.bottom)
        self.left, self.right = min(self.left, other.left), max(self.right, other.right)


def _to_grey(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return (image.astype(np.float32) / 255 if image.dtype == np.uint8
                else image.astype(np.float32))
    return to_grey(image)


def _overlap(a: _Group, b: _Group) -> float:
    """Horizontal overlap as a share of the narrower one's width."""
    shared = min(a.right, b.right) - max(a.left, b.left)
    return max(shared, 0) / max(1, min(a.width, b.width))


def _line_band(mask: np.ndarray, typical: float) -> np.ndarray | None:
    """The pixels of a long flat line along the bottom of ``mask`` (an underline that
    touches the digits above it), or None when there is none."""
    height, width = mask.shape
    filled = np.flatnonzero(mask.any(axis=0))
    if filled.size < UNDERLINE_WIDTH * typical:
        return None
    flipped = mask[::-1, filled]
    lowest = height - 1 - np.argmax(flipped, axis=0)  # the bottom ink row per column
    above = np.ones(filled.size, dtype=np.int64)
    for _ in range(int(UNDERLINE_HEIGHT * typical) + 1):  # the bottom run's thickness
        rows = lowest - above
        inside = rows >= 0
        more = np.zeros(filled.size, dtype=bool)
        more[inside] = mask[rows[inside], filled[inside]]
        if not more.any():
            break
        above += more
    centres = lowest - (above - 1) / 2
    thickness = float(np.median(above))
    if thickness > UNDERLINE_HEIGHT * typical:
        return None
    slope, intercept = np.polyfit(filled, centres, 1)
    misfit = np.abs(centres - (slope * filled + intercept))
    inliers = misfit <= max(2.0, thickness)
    if inliers.sum() < 3:
        return None
    slope, intercept = np.polyfit(filled[inliers], centres[inliers], 1)
    misfit = np.abs(centres - (slope * filled + intercept))
    inliers = misfit <= max(2.0, thickness)
    span = filled[inliers]
    if (inliers.mean() < LINE_COVERAGE or span[-1] - span[0] < UNDERLINE_WIDTH * typical
            or abs(slope) > 0.2):
        return None
    band = np.zeros_like(mask)
    half = thickness / 2 + 1.5
    columns = np.arange(span[0], span[-1] + 1)
    line = slope * columns + intercept
    rows = np.arange(height)[:, None]
    band[:, columns] = np.abs(rows - line[None, :]) <= half
    return band & mask


def _components(ink: np.ndarray):
    labels, count = label_components(ink >= INK_LEVEL)
    boxes = component_boxes(labels, count)
    if not boxes:
        return labels, boxes, 0.0, None
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=count + 1)
    largest = float(mass[1:].max())
    heights = [b.height for b in boxes if mass[b.label] >= SUBSTANTIAL_MASS * largest
               and not (b.width > UNDERLINE_WIDTH * b.height / UNDERLINE_HEIGHT)]
    typical = float(np.median(heights)) if heights else float(max(b.height for b in boxes))
    return labels, boxes, typical, mass


def _groups(ink: np.ndarray) -> tuple[list[_Group], np.ndarray, float]:
    """The digit candidates (pieces joined, specks and underlines dropped), the component
    labels and the typical digit height. Erases underlines touching the digits from
    ``ink`` in place."""
    labels, boxes, typical, _mass = _components(ink)
    if not boxes:
        return [], labels, 0.0
    erased = False
    for b in boxes:
        if b.width > UNDERLINE_WIDTH * typical:
            window = labels[b.top:b.bottom, b.left:b.right] == b.label
            band = _line_band(window, typical)
            if band is not None:
                ink[b.top:b.bottom, b.left:b.right][band] = 0
                erased = True
    if erased:
        labels, boxes, typical, _mass = _components(ink)
    groups = []
    for b in boxes:
        if b.height < SPECK_SIDE * typical and b.width < SPECK_SIDE * typical:
            continue  # a speck
        if b.width > UNDERLINE_WIDTH * typical and b.height < UNDERLINE_HEIGHT * typical:
            continue  # an underline or a strike-through
        groups.append(_Group([b.label], b.top, b.bottom, b.left, b.right))
    # join the pieces of one digit, until nothing more joins
    groups.sort(key=lambda g: g.left)
    joined = True
    while joined:
        joined = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                a, b = groups[i], groups[j]
                overlap = _overlap(a, b)
                small = min(a.height, b.height) < SMALL_PIECE * typical
                if overlap >= JOIN_OVERLAP or (small and overlap > 0):
                    a.merge(b)
                    del groups[j]
                    joined = True
                    break
            if joined:
                break
    return groups, labels, typical


def _crop(ink: np.ndarray, labels: np.ndarray, group: _Group,
          left: int | None = None, right: int | None = None) -> np.ndarray:
    """The group's own ink (other components' ink zeroed) between columns left:right."""
    left = group.left if left is None else left
    right = group.right if right is None else right
    window = labels[group.top:group.bottom, left:right]
    own = np.isin(window, group.labels)
    # faint ink below INK_LEVEL next to the strokes belongs to them: grow the mask by one
    grown = own.copy()
    grown[1:] |= own[:-1]
    grown[:-1] |= own[1:]
    grown[:, 1:] |= own[:, :-1]
    grown[:, :-1] |= own[:, 1:]
    grown &= (window == 0) | own
    return ink[group.top:group.bottom, left:right] * grown


def _cut_candidates(crop: np.ndarray, typical: float) -> list[int]:
    """Columns to try cutting at: the least-ink columns, away from the ends."""
    width = crop.shape[1]
    margin = max(1, int(MIN_PART * typical))
    if width - 2 * margin < 1:
        return []
    profile = crop.sum(axis=0)
    filled = crop >= INK_LEVEL
    # strokes a cut crosses: runs of ink down the column (a touching point is one)
    crossings = (filled[1:] & ~filled[:-1]).sum(axis=0) + filled[0]
    inside = np.arange(margin, width - margin)
    # prefer columns crossing few strokes, then with little ink; spread the choices so
    # they are not all in one valley
    order = inside[np.lexsort((profile[inside], crossings[inside]))]
    chosen: list[int] = []
    spacing = max(1, int(0.06 * typical))
    for column in order:
        if all(abs(int(column) - c) >= spacing for c in chosen):
            chosen.append(int(column))
        if len(chosen) >= MAX_CUTS:
            break
    return chosen


def _normalised(crop: np.ndarray) -> np.ndarray | None:
    if not (crop >= INK_LEVEL).any():
        return None
    try:
        return normalise_ink(crop)
    except ImageError:
        return None


def _box_of(crop: np.ndarray, top: int, left: int) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(crop.max(axis=1) > 0)
    cols = np.flatnonzero(crop.max(axis=0) > 0)
    if rows.size == 0:
        return left, top, crop.shape[1], crop.shape[0]
    return (int(left + cols[0]), int(top + rows[0]), int(cols[-1] - cols[0] + 1),
            int(rows[-1] - rows[0] + 1))


def _split(ink: np.ndarray, labels: np.ndarray, group: _Group, typical: float,
           typical_width: float, predictor, depth: int = 0
           ) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """The group as one digit or, if it reads better (or is too wide), as several:
    [(28x28 pixels, box)] left to right."""
    crop = _crop(ink, labels, group)
    whole = _normalised(crop)
    box = _box_of(crop, group.top, group.left)
    if whole is None:
        return []
    aspect = box[2] / max(typical, box[3], 1)
    relative = box[2] / max(typical_width, 1.0)
    if (depth >= 4 or (aspect < SPLIT_NEVER and relative < SPLIT_WIDER)
            or box[2] < 2 * MIN_PART * typical):
        return [(whole, box)]
    must = aspect >= SPLIT_ALWAYS or relative >= SPLIT_ALWAYS_WIDER
    cuts = _cut_candidates(crop, typical)
    options = []
    for cut in cuts:
        left, right = _normalised(crop[:, :cut]), _normalised(crop[:, cut:])
        if left is not None and right is not None:
            options.append((cut, left, right))
    if not options:
        return [(whole, box)]
    if predictor is None:
        best_cut = options[0][0]  # the least-ink column
        split = must
    else:
        batch = np.stack([whole] + [p for _c, a, b in options for p in (a, b)])
        probabilities = predictor.predict_proba(batch)
        confidence = probabilities.max(axis=1)
        pairs = np.sqrt(confidence[1::2] * confidence[2::2])
        # wider parts than a digit can be are unlikely: prefer balanced halves a little
        best = int(np.argmax(pairs))
        best_cut = options[best][0]
        split = must or 1 - pairs[best] <= SPLIT_ERROR_RATIO * (1 - confidence[0])
    if not split:
        return [(whole, box)]
    parts = []
    for left, right in ((group.left, group.left + best_cut), (group.left + best_cut,
                                                              group.right)):
        part = _Group(group.labels, group.top, group.bottom, left, right)
        part_crop = _crop(ink, labels, part)
        rows = np.flatnonzero(part_crop.max(axis=1) > 0)
        if rows.size:
            part.top, part.bottom = group.top + int(rows[0]), group.top + int(rows[-1]) + 1
        parts.extend(_split(ink, labels, part, typical, typical_width, predictor, depth + 1))
    return parts


def _merge_broken(ink: np.ndarray, labels: np.ndarray, groups: list[_Group], typical: float,
                  predictor) -> list[_Group]:
    """Join neighbours that are pieces of one broken digit: close together, no wider
    together than a digit, and read far better as one (the union's error at most
    1/MERGE_ERROR_RATIO of the pieces')."""
    if predictor is None or len(groups) < 2:
        return groups
    groups = sorted(groups, key=lambda g: g.left)
    while True:
        candidates = []
        for i in range(len(groups) - 1):
            a, b = groups[i], groups[i + 1]
            union = _Group(a.labels + b.labels, min(a.top, b.top), max(a.bottom, b.bottom),
                           min(a.left, b.left), max(a.right, b.right))
            if (b.left - a.right > MERGE_GAP * typical
                    or union.width > MERGE_WIDTH * max(typical, union.height)):
                continue
            pictures = [_normalised(_crop(ink, labels, g)) for g in (a, b, union)]
            if any(p is None for p in pictures):
                continue
            candidates.append((i, union, pictures))
        if not candidates:
            return groups
        confidence = predictor.predict_proba(
            np.stack([p for _i, _u, pictures in candidates for p in pictures])).max(axis=1)
        best, gain = None, 1.0
        for k, (i, union, _pictures) in enumerate(candidates):
            pieces_error = 1 - math.sqrt(confidence[3 * k] * confidence[3 * k + 1])
            union_error = 1 - confidence[3 * k + 2]
            ratio = union_error / max(pieces_error, 1e-9)
            if ratio * MERGE_ERROR_RATIO <= 1 and ratio < gain:
                best, gain = (i, union), ratio
        if best is None:
            return groups
        i, union = best
        groups[i:i + 2] = [union]


def _typical_width(groups: list[_Group], typical: float) -> float:
    """The median width of the groups that look like one digit other than a 1."""
    widths = [g.width for g in groups
              if NARROW * typical <= g.width <= SPLIT_NEVER * max(typical, g.height)]
    return float(np.median(widths)) if widths else DEFAULT_WIDTH * typical


def _ink_of(image: Image.Image | np.ndarray, name: str) -> np.ndarray:
    grey = _to_grey(image)
    return ink_map(grey, name)


def segment_digits(image: Image.Image | np.ndarray, predictor=None,
                   name: str = "image") -> list[DigitBox]:
    """The digits of a picture of a number, left to right, each with its box and its
    28x28 MNIST-style pixels. ``image``: a PIL image or a greyscale array (uint8, or
    float in [0, 1]). With a ``predictor`` touching digits are split where the model
    reads the halves best; without, at the least-ink column of a group too wide for one
    digit. Raises ImageError when the picture holds no ink."""
    ink = _ink_of(image, name)
    groups, labels, typical = _groups(ink)
    groups = _merge_broken(ink, labels, groups, typical, predictor)
    typical_width = _typical_width(groups, typical)
    found: list[tuple[np.ndarray, tuple[int, int, int, int]]] = []
    for group in groups:
        found.extend(_split(ink, labels, group, typical, typical_width, predictor))
    found.sort(key=lambda item: item[1][0] + item[1][2] / 2)
    return [DigitBox(x, y, w, h, pixels) for pixels, (x, y, w, h) in found]


def read_number(image: Image.Image | np.ndarray, predictor, name: str = "image"
                ) -> NumberReading:
    """Read the number in a picture: its digits left to right, each with its box, digit,
    ten probabilities and confidence. Raises ImageError when the picture has no ink."""
    boxes = segment_digits(image, predictor, name)
    if not boxes:
        return NumberReading("", [])
    probabilities = predictor.predict_proba(np.stack([b.pixels for b in boxes]))
    digits = []
    for digit_box, row in zip(boxes, probabilities, strict=True):
        best = int(np.argmax(row))
        digits.append(DigitReading(digit_box.box, best, np.asarray(row, dtype=np.float32),
                                   float(row[best]), digit_box.pixels))
    return NumberReading("".join(str(d.digit) for d in digits), digits)


def picture_with_boxes(image: Image.Image | np.ndarray, reading: NumberReading,
                       max_width: int = 96, name: str = "image") -> np.ndarray:
    """The picture's ink (white on black, as the model sees ink) with each digit's box
    drawn in red, scaled to at most ``max_width`` pixels wide: uint8 (H, W, 3)."""
    ink = _ink_of(image, name)
    height, width = ink.shape
    scale = min(1.0, max_width / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(ink, mode="F").resize(size, Image.Resampling.BOX)
    grey = np.rint(np.clip(np.asarray(small), 0, 1) * 255).astype(np.uint8)
    picture = Image.fromarray(np.repeat(grey[..., None], 3, axis=2), mode="RGB")
    draw = ImageDraw.Draw(picture)
    for digit in reading.digits:
        x, y, w, h = digit.box
        left, top = int(x * scale), int(y * scale)
        right = max(left, int(math.ceil((x + w) * scale)) - 1)
        bottom = max(top, int(math.ceil((y + h) * scale)) - 1)
        draw.rectangle([left, top, right, bottom], outline=(255, 0, 0))
    return np.asarray(picture)
