"""mnistcli.numbers: segmenting and reading whole numbers, on generated images whose
answer is known (handwriting-like strokes from benchmarks/realworld.py, no fonts needed),
read by the shipped model."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
from conftest import REPO
from PIL import Image, ImageDraw

from mnistcli.components import components, label
from mnistcli.errors import ImageError
from mnistcli.numbers import NumberReading, read_number, segment_digits

HEIGHT = 60  # digit height in the test pictures, pixels


def realworld():
    """benchmarks/realworld.py, the generator of the real-world set (also when pytest is
    started without the repository on sys.path)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return importlib.import_module("benchmarks.realworld")


stroke_glyph = realworld().stroke_glyph


@pytest.fixture(scope="module")
def predictor():
    from mnistcli.inference import load_predictor
    from mnistcli.runs import shipped_model

    return load_predictor(shipped_model().model_file())


def glyph(digit: int, seed: int, height: int = HEIGHT, **options) -> np.ndarray:
    """One handwritten-looking digit's ink, ``height`` pixels tall (style 0: plain)."""
    ink = stroke_glyph(digit, np.random.default_rng(seed), style=options.pop("style", 0),
                       **options)
    width = max(2, round(ink.shape[1] * height / ink.shape[0]))
    image = Image.fromarray(ink, mode="F").resize((width, height), Image.Resampling.BOX)
    return np.clip(np.asarray(image, dtype=np.float32), 0, 1)


def number_picture(glyphs: list[np.ndarray], gaps: list[int] | None = None,
                   drops: list[int] | None = None, specks: list[tuple[int, int, int]] = (),
                   underline: int | None = None, invert: bool = False,
                   noise: float = 0.0) -> Image.Image:
    """Glyphs side by side on paper: ``gaps`` between them (negative: overlapping boxes),
    ``drops`` moving each down (a drifting baseline), ``specks`` (x, y, radius) and an
    underline ``underline`` pixels below the baseline. Dark ink on light paper."""
    gaps = gaps if gaps is not None else [HEIGHT // 4] * (len(glyphs) - 1)
    drops = drops if drops is not None else [0] * len(glyphs)
    xs, x = [], 20
    for index, ink in enumerate(glyphs):
        xs.append(x)
        x += ink.shape[1] + (gaps[index] if index < len(gaps) else 0)
    width = x + 20
    baseline = HEIGHT + 20
    height = baseline + max(drops) + 40
    field = np.zeros((height, width), dtype=np.float32)
    for ink, left, drop in zip(glyphs, xs, drops, strict=True):
        top = baseline + drop - ink.shape[0]
        region = field[top:top + ink.shape[0], left:left + ink.shape[1]]
        np.maximum(region, ink, out=region)
    picture = Image.fromarray(field, mode="F")
    draw = ImageDraw.Draw(picture)
    for sx, sy, radius in specks:
        draw.ellipse([sx - radius, sy - radius, sx + radius, sy + radius], fill=1.0)
    if underline is not None:
        y = baseline + max(drops) + underline
        draw.line([(10, y), (width - 10, y + 2)], fill=1.0, width=5)
    ink = np.asarray(picture, dtype=np.float32)
    grey = 0.92 - 0.85 * ink
    if noise:
        grey = grey + np.random.default_rng(0).normal(0, noise, grey.shape)
    if invert:
        grey = 1 - grey
    return Image.fromarray(np.rint(np.clip(grey, 0, 1) * 255).astype(np.uint8), mode="L")


def read(picture, predictor) -> str:
    return read_number(picture, predictor).number


# ---------------------------------------------------------------- connected components


def test_components_are_8_connected_and_boxed():
    mask = np.zeros((6, 8), dtype=bool)
    mask[0, 0] = mask[1, 1] = True  # diagonal neighbours: one component
    mask[3:5, 4:8] = True
    mask[0, 6] = True
    labels, count = label(mask)
    assert count == 3
    assert labels[0, 0] == labels[1, 1] != 0
    boxes = {(b.top, b.bottom, b.left, b.right, b.area) for b in components(labels, count)}
    assert boxes == {(0, 2, 0, 2, 2), (3, 5, 4, 8, 8), (0, 1, 6, 7, 1)}
    assert label(np.zeros((3, 3), bool))[1] == 0


def flood_fill_count(mask: np.ndarray) -> np.ndarray:
    """Labels by a plain 8-connected flood fill (the reference)."""
    labels = np.zeros(mask.shape, dtype=int)
    count = 0
    for start in zip(*np.nonzero(mask), strict=True):
        if labels[start]:
            continue
        count += 1
        labels[start] = count
        stack = [start]
        while stack:
            y, x = stack.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    v, u = y + dy, x + dx
                    if (0 <= v < mask.shape[0] and 0 <= u < mask.shape[1] and mask[v, u]
                            and not labels[v, u]):
                        labels[v, u] = count
                        stack.append((v, u))
    return labels


def test_components_match_a_flood_fill():
    rng = np.random.default_rng(0)
    for _ in range(40):
        mask = rng.random((int(rng.integers(1, 25)), int(rng.integers(1, 25)))) < 0.45
        labels, count = label(mask)
        reference = flood_fill_count(mask)
        assert count == reference.max()
        assert ((labels > 0) == mask).all()
        # the same partition: each reference region holds exactly one label and back
        pairs = set(zip(labels[mask].tolist(), reference[mask].tolist(), strict=True))
        assert len(pairs) == count


# ---------------------------------------------------------------- reading numbers


def test_plain_number(predictor):
    digits = [4, 0, 7, 1, 9]
    picture = number_picture([glyph(d, seed) for seed, d in enumerate(digits)])
    reading = read_number(picture, predictor)
    assert isinstance(reading, NumberReading)
    assert reading.number == "40719"
    assert reading.confidence == min(d.confidence for d in reading.digits) > 0.5
    xs = [d.box[0] for d in reading.digits]
    assert xs == sorted(xs)  # left to right
    for d in reading.digits:
        x, y, w, h = d.box
        assert 0 <= x and 0 <= y and x + w <= picture.width and y + h <= picture.height
        assert 0.8 * HEIGHT <= h <= 1.1 * HEIGHT
        assert d.probabilities.shape == (10,) and abs(float(d.probabilities.sum()) - 1) < 1e-3
        assert d.digit == int(np.argmax(d.probabilities))


def test_both_polarities_and_noise(predictor):
    glyphs = [glyph(d, 10 + d) for d in (3, 8, 2)]
    assert read(number_picture(glyphs, invert=True), predictor) == "382"
    assert read(number_picture(glyphs, noise=0.08), predictor) == "382"


def test_detached_five_top_is_joined(predictor):
    glyphs = [glyph(5, 3, detach=True), glyph(2, 4), glyph(5, 5, detach=True)]
    picture = number_picture(glyphs)
    assert label(np.asarray(picture) < 128)[1] == 5  # two 5s in two pieces each
    boxes = segment_digits(picture, predictor)
    assert len(boxes) == 3
    assert read(picture, predictor) == "525"


def broken(ink: np.ndarray, rows: slice | None = None, cols: slice | None = None
           ) -> np.ndarray:
    """The glyph with a band of rows or columns erased: a stroke broken in two."""
    ink = ink.copy()
    if rows is not None:
        ink[rows] = 0
    if cols is not None:
        ink[:, cols] = 0
    return ink


def test_broken_strokes_are_joined(predictor):
    # a 7 whose stem is interrupted (pieces above each other) and a 0 broken at its top
    # and bottom (two arcs side by side, joined because the model reads them as one)
    seven = glyph(7, 2)
    seven = broken(seven, rows=slice(int(0.5 * HEIGHT), int(0.5 * HEIGHT) + 3))
    zero = glyph(0, 4)
    middle = zero.shape[1] // 2
    zero = broken(zero, cols=slice(middle - 1, middle + 2))
    picture = number_picture([glyph(1, 1), seven, zero, glyph(3, 4)])
    assert label(np.asarray(picture) < 128)[1] >= 6
    assert read(picture, predictor) == "1703"


def touching(left: np.ndarray, right: np.ndarray, overlap: int = 2) -> int:
    """The gap that makes the two glyphs' strokes just touch (negative)."""
    rows = min(left.shape[0], right.shape[0])
    gaps = []
    for row in range(rows):
        a = np.flatnonzero(left[left.shape[0] - rows + row] > 0.5)
        b = np.flatnonzero(right[right.shape[0] - rows + row] > 0.5)
        if a.size and b.size:
            gaps.append((left.shape[1] - 1 - a[-1]) + b[0])
    return -(min(gaps) + overlap)


@pytest.mark.parametrize("digits,seeds", [((6, 8), (1, 2)), ((2, 3), (3, 1)),
                                          ((9, 4), (5, 6))])
def test_touching_pair_is_split(predictor, digits, seeds):
    left, right = glyph(digits[0], seeds[0]), glyph(digits[1], seeds[1])
    picture = number_picture([glyph(7, 9), left, right],
                             gaps=[HEIGHT // 4, touching(left, right)])
    ink = np.asarray(picture) < 128
    assert label(ink)[1] == 2  # the pair is one connected blob
    assert read(picture, predictor) == "7" + "".join(map(str, digits))


def test_specks_are_ignored(predictor):
    glyphs = [glyph(d, 20 + d) for d in (5, 0, 6)]
    picture = number_picture(glyphs, specks=[(8, 8, 2), (60, HEIGHT + 35, 3),
                                             (150, 10, 2)])
    assert read(picture, predictor) == "506"


@pytest.mark.parametrize("below,pieces", [(12, 5), (0, 1)])
def test_underline_is_ignored(predictor, below, pieces):
    # 12 px below the digits; 0 px: the line runs through the digits' lowest strokes
    glyphs = [glyph(d, 30 + d) for d in (2, 7, 9, 3)]
    picture = number_picture(glyphs, underline=below)
    assert label(np.asarray(picture) < 128)[1] == pieces
    assert read(picture, predictor) == "2793"


def test_different_heights_and_drifting_baseline(predictor):
    glyphs = [glyph(6, 1, height=44), glyph(1, 2, height=66), glyph(0, 3, height=52),
              glyph(8, 4, height=60)]
    picture = number_picture(glyphs, drops=[0, 8, 16, 26])
    assert read(picture, predictor) == "6108"


def test_small_picture(predictor):
    picture = number_picture([glyph(d, d) for d in (3, 1, 4)])
    small = picture.resize((picture.width // 3, picture.height // 3), Image.Resampling.BOX)
    assert read(small, predictor) == "314"


def test_each_digit_is_preprocessed_like_a_single_digit(predictor):
    from mnistcli.preprocess import preprocess

    alone = number_picture([glyph(2, 8)])
    boxes = segment_digits(number_picture([glyph(2, 8), glyph(6, 3)]), predictor)
    assert len(boxes) == 2
    single = preprocess(alone)
    assert boxes[0].pixels.shape == (28, 28) and boxes[0].pixels.dtype == np.uint8
    difference = np.abs(boxes[0].pixels.astype(int) - single.astype(int))
    assert difference.mean() < 8


def test_no_ink_is_an_error(predictor):
    with pytest.raises(ImageError, match="no ink"):
        read_number(Image.new("L", (200, 80), 255), predictor)
    noise = np.random.default_rng(2).integers(110, 146, (80, 200), dtype=np.uint8)
    with pytest.raises(ImageError, match="no ink"):
        read_number(Image.fromarray(noise), predictor)


def test_without_a_predictor_a_wide_blob_is_cut_at_its_thinnest(predictor):
    left, right = glyph(0, 2), glyph(0, 5)
    picture = number_picture([left, right], gaps=[touching(left, right)])
    assert len(segment_digits(picture)) == 2


# ---------------------------------------------------------------- mnist predict --number


def test_predict_number_cli(tmp_path):
    import json

    from typer.testing import CliRunner

    from mnistcli.cli import app

    number_picture([glyph(d, d) for d in (8, 0, 3)]).save(tmp_path / "a.png")
    number_picture([glyph(d, d) for d in (5, 1)], invert=True).save(tmp_path / "b.png")
    (tmp_path / "c.png").write_bytes(b"not a picture")
    result = CliRunner().invoke(app, ["predict", "--number", "--quiet",
                                      str(tmp_path / "a.png"), str(tmp_path / "b.png")])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert [(path, number) for path, number, _confidence in lines] == [
        (str(tmp_path / "a.png"), "803"), (str(tmp_path / "b.png"), "51")]
    assert all(0.5 < float(confidence) <= 1 for _p, _n, confidence in lines)

    result = CliRunner().invoke(app, ["predict", "--number", "--json", "--quiet",
                                      str(tmp_path / "a.png"), str(tmp_path / "c.png")])
    assert result.exit_code == 1  # c.png is not a picture; a.png is still read
    [record] = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["number"] == "803"
    assert [d["digit"] for d in record["digits"]] == [8, 0, 3]
    assert record["confidence"] == min(d["confidence"] for d in record["digits"])
    for digit in record["digits"]:
        assert len(digit["box"]) == 4 and len(digit["probabilities"]) == 10

    result = CliRunner().invoke(app, ["predict", "--number", "--show", "--quiet",
                                      str(tmp_path / "a.png")])
    assert result.exit_code == 0
    assert "803" in result.output
