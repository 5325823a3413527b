"""mnistcli.preprocess: reading every kind of image and preprocessing it the MNIST way."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from conftest import FIXTURE_IMAGES
from PIL import Image, ImageDraw, ImageFont

from mnistcli import preprocess as preprocess_module
from mnistcli.errors import ImageError
from mnistcli.preprocess import (
    ink_map,
    load_image,
    normalise_ink,
    preprocess,
    stroke_width,
    to_grey,
)

SIDE = 200


def draw_digit(digit: int, side: int = SIDE, ink: int = 0, paper: int = 255,
               size: int | None = None, stroke: int = 3, at: tuple[float, float] | None = None,
               mode: str = "L") -> Image.Image:
    """A digit drawn with Pillow's built-in font: dark ink on light paper by default."""
    font = ImageFont.load_default(size=size or int(side * 0.7))
    picture = Image.new(mode, (side, side), paper)
    centre = at or (side / 2, side / 2)
    ImageDraw.Draw(picture).text(centre, str(digit), font=font, fill=ink, anchor="mm",
                                 stroke_width=stroke, stroke_fill=ink)
    return picture


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two 28x28 images (1 = same picture), allowing the one-pixel offset
    that whole-pixel centring (as in MNIST) gives when a centre of mass lies near .5."""
    return max(correlation(np.roll(a, (dy, dx), axis=(0, 1)), b)
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def ink_box_size(pixels: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero(pixels.any(axis=1))
    cols = np.flatnonzero(pixels.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def centre_of_mass(pixels: np.ndarray) -> tuple[float, float]:
    weights = pixels.astype(np.float64)
    rows, cols = np.indices(pixels.shape)
    return float((rows * weights).sum() / weights.sum()), float((cols * weights).sum()
                                                                / weights.sum())


def encoded(picture: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def three() -> Image.Image:
    return draw_digit(3)


@pytest.fixture(scope="module")
def reference(three) -> np.ndarray:
    return preprocess(three)


# ---------------------------------------------------------------- the MNIST shape


def test_output_is_mnist_shaped(reference):
    assert reference.shape == (28, 28) and reference.dtype == np.uint8
    assert reference.max() == 255  # full-intensity ink ...
    assert reference[0].max() == reference[-1].max() == 0  # ... on a black background
    assert max(ink_box_size(reference)) in (19, 20)  # the longer side scaled to 20 px
    row, col = centre_of_mass(reference)
    assert abs(row - 14) <= 1 and abs(col - 14) <= 1  # centred by mass


@pytest.mark.parametrize("digit,at,size", [
    (1, (40, 40), 60),  # small, in a corner
    (7, (150, 160), 90),
    (0, (100, 100), 180),  # fills the frame
])
def test_any_position_and_size_is_cropped_scaled_and_centred(digit, at, size):
    out = preprocess(draw_digit(digit, at=at, size=size))
    assert max(ink_box_size(out)) in (19, 20)
    row, col = centre_of_mass(out)
    assert abs(row - 14) <= 1 and abs(col - 14) <= 1
    # the same digit drawn big in the middle comes out the same
    assert similarity(out, preprocess(draw_digit(digit, size=size))) > 0.95


def test_aspect_ratio_is_kept():
    # a tall, narrow "1": height 20, width well under 20
    height, width = ink_box_size(preprocess(draw_digit(1)))
    assert height in (19, 20) and width < 14
    # a wide bar stays wide and flat
    bar = Image.new("L", (300, 120), 255)
    ImageDraw.Draw(bar).rectangle((30, 50, 270, 70), fill=0)
    height, width = ink_box_size(preprocess(bar))
    assert width in (19, 20) and height <= 3


def test_mnist_like_28x28_passes_through_unchanged(reference, tmp_path):
    # `reference` is what preprocessing makes: already MNIST-like
    assert np.array_equal(preprocess(reference), reference)
    path = tmp_path / "mnist_like.png"
    Image.fromarray(reference).save(path)
    assert np.array_equal(preprocess(load_image(path)), reference)
    # in any mode
    for mode in ("RGB", "RGBA", "LA", "P"):
        assert np.array_equal(preprocess(Image.fromarray(reference).convert(mode)), reference)
    # the full pipeline (without the shortcut) changes it by at most a little
    general = normalise_ink(ink_map(reference / np.float32(255)))
    difference = np.abs(general.astype(int) - reference.astype(int))
    assert difference.mean() < 3


def test_off_centre_28x28_is_recentred(reference):
    shifted = np.zeros_like(reference)
    shifted[:, 4:] = reference[:, :-4]
    out = preprocess(shifted)
    assert similarity(out, reference) > 0.95
    assert abs(centre_of_mass(out)[1] - 14) <= 1


def test_real_mnist_test_images_pass_through(real_mnist_mirror):
    from mnistcli.idx import read_idx

    digits = read_idx(real_mnist_mirror / "t10k-images-idx3-ubyte.gz")[:2000]
    unchanged = sum(np.array_equal(preprocess(d), d) for d in digits)
    assert unchanged == len(digits)


# ---------------------------------------------------------------- polarity and noise


def test_polarity_dark_on_light_and_light_on_dark_agree(reference):
    light_on_dark = preprocess(draw_digit(3, ink=255, paper=0))
    assert similarity(light_on_dark, reference) > 0.98


@pytest.mark.parametrize("ink,paper", [(40, 150), (200, 110)])
def test_polarity_on_grey_paper(reference, ink, paper):
    assert similarity(preprocess(draw_digit(3, ink=ink, paper=paper)), reference) > 0.95


def test_noise_and_lighting_gradient_are_removed(three, reference):
    rng = np.random.default_rng(0)
    pixels = np.asarray(three, dtype=np.float64)
    # paper lit unevenly (a photo), grainy, ink not quite black
    gradient = np.linspace(-110, 0, SIDE)[None, :]
    noisy = np.where(pixels > 128, 235, 35) + gradient + rng.normal(0, 6, pixels.shape)
    out = preprocess(Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)))
    assert similarity(out, reference) > 0.95
    # no speckle left in the background: the corners are exactly black
    assert out[:4, :4].max() == 0 and out[-4:, -4:].max() == 0


def test_a_speck_of_dust_does_not_move_the_box(three, reference):
    dusty = three.copy()
    ImageDraw.Draw(dusty).ellipse((5, 5, 9, 9), fill=0)  # far from the digit
    out = preprocess(dusty)
    assert ink_box_size(out) == ink_box_size(reference)
    assert similarity(out, reference) > 0.98


def pen_seven(side: int, width: int) -> Image.Image:
    """A "7" drawn with a pen of ``width`` pixels, black on white."""
    picture = Image.new("L", (side, side), 255)
    points = [(0.25 * side, 0.2 * side), (0.75 * side, 0.2 * side), (0.4 * side, 0.85 * side)]
    ImageDraw.Draw(picture).line(points, fill=0, width=width, joint="curve")
    return picture


def test_thin_strokes_are_thickened():
    thin = pen_seven(1000, 3)  # a fine pen on a big canvas: 0.5% of the digit's height
    out = preprocess(thin)
    assert stroke_width(out / 255.0) >= 1.3  # MNIST's 5th percentile is about 1.2
    # without thickening, the stroke would be a fraction of a pixel wide and faint
    assert (out >= 128).sum() >= 30
    assert similarity(out, preprocess(pen_seven(200, 16))) > 0.9


# ---------------------------------------------------------------- formats and modes


@pytest.mark.parametrize("fmt,options", [
    ("PNG", {}), ("JPEG", {"quality": 85}), ("BMP", {}), ("GIF", {}), ("TIFF", {}),
    ("WEBP", {"quality": 80}),
])
def test_every_format(three, reference, tmp_path, fmt, options):
    path = tmp_path / f"digit.{fmt.lower()}"
    three.convert("RGB").save(path, format=fmt, **options)
    assert similarity(preprocess(load_image(path)), reference) > 0.97


def _rgba_canvas(colour: tuple[int, int, int]) -> Image.Image:
    """A canvas export: transparent everywhere but the strokes (whose transparent pixels
    are black, as browsers store them)."""
    alpha = 255 - np.asarray(draw_digit(3), dtype=np.uint8)  # anti-aliased edges
    rgba = np.zeros((SIDE, SIDE, 4), dtype=np.uint8)
    rgba[..., :3] = colour
    rgba[..., :3] *= (alpha > 0)[..., None]
    rgba[..., 3] = alpha
    return Image.fromarray(rgba, mode="RGBA")


@pytest.mark.parametrize("colour", [(0, 0, 0), (200, 30, 30), (255, 230, 0), (255, 255, 255),
                                    (30, 60, 220)])
def test_transparent_canvas_exports(reference, colour, tmp_path):
    canvas = _rgba_canvas(colour)
    # dropping the alpha channel would leave (nearly) nothing to see
    naive = np.asarray(canvas.convert("L"))
    assert naive.std() < 5 or colour != (0, 0, 0)
    path = tmp_path / "canvas.png"
    canvas.save(path)
    assert similarity(preprocess(load_image(path)), reference) > 0.97


def test_rgba_photo_with_transparent_margin(three, reference):
    # opaque paper with a digit, then a transparent frame around it
    rgba = three.convert("RGBA")
    alpha = np.full((SIDE, SIDE), 255, dtype=np.uint8)
    alpha[:10], alpha[-10:], alpha[:, :10], alpha[:, -10:] = 0, 0, 0, 0
    rgba.putalpha(Image.fromarray(alpha))
    assert similarity(preprocess(rgba), reference) > 0.97


def test_palette_with_transparency(reference, tmp_path):
    palette = _rgba_canvas((20, 20, 120)).quantize(colors=16)
    path = tmp_path / "palette.png"
    palette.save(path, transparency=int(np.asarray(palette)[0, 0]))
    loaded = load_image(path)
    assert loaded.mode == "P" and "transparency" in loaded.info
    assert similarity(preprocess(loaded), reference) > 0.95


def test_palette_gif(three, reference, tmp_path):
    path = tmp_path / "digit.gif"
    three.convert("RGB").quantize(colors=8).save(path)
    assert load_image(path).mode == "P"
    assert similarity(preprocess(load_image(path)), reference) > 0.97


def test_sixteen_bit(three, reference, tmp_path):
    pixels = np.asarray(three, dtype=np.uint16) * 257
    path = tmp_path / "deep.png"
    Image.fromarray(pixels).save(path)
    loaded = load_image(path)
    assert loaded.mode.startswith("I")
    assert similarity(preprocess(loaded), reference) > 0.98


@pytest.mark.parametrize("mode", ["LA", "1", "CMYK", "F", "I"])
def test_other_modes(three, reference, mode):
    if mode == "F":
        picture = Image.fromarray(np.asarray(three, dtype=np.float32) / 255, mode="F")
    else:
        picture = three.convert(mode)
    assert similarity(preprocess(picture), reference) > 0.95


def test_exif_orientation_is_honoured(three, reference, tmp_path):
    # stored turned, with the EXIF tag saying how to turn it back (6: rotate 270 to view)
    stored = three.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif.tobytes(), quality=95)
    assert similarity(preprocess(load_image(path)), reference) > 0.95
    assert similarity(preprocess(stored), reference) < 0.8  # without the tag: sideways


def test_large_images_are_reduced_before_work(tmp_path):
    photo = draw_digit(8, side=3000, size=2000, stroke=40)
    path = tmp_path / "photo.jpg"
    photo.save(path, quality=90)
    loaded = load_image(path)
    assert max(loaded.size) < 3000  # JPEG decoded at a reduced scale
    assert max(to_grey(photo).shape) <= preprocess_module.DECODE_SIDE
    assert similarity(preprocess(loaded), preprocess(draw_digit(8, stroke=3))) > 0.9


def test_stdin(three, reference):
    stream = io.BytesIO(encoded(three, "PNG"))
    assert similarity(preprocess(load_image("-", stdin=stream)), reference) > 0.99


def test_bytes_and_arrays(three, reference):
    assert np.array_equal(preprocess(load_image(encoded(three, "PNG"))), reference)
    assert np.array_equal(preprocess(np.asarray(three)), reference)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("picture,what", [
    (Image.new("L", (100, 100), 255), "blank"),
    (Image.new("RGB", (64, 48), (128, 140, 120)), "uniform"),
    (Image.new("RGBA", (64, 64), (0, 0, 0, 0)), "transparent"),
    (Image.fromarray(np.random.default_rng(1).integers(118, 138, (80, 80), dtype=np.uint8)),
     "faint noise"),
])
def test_no_ink(picture, what, tmp_path):
    path = tmp_path / f"{what}.png"
    picture.save(path)
    with pytest.raises(ImageError, match=rf"^{path}: no ink found"):
        preprocess(load_image(path), name=str(path))


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(ImageError, match="not an image"):
        load_image(path)


def test_truncated_file(three, tmp_path):
    data = encoded(three, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"cut.png: unreadable or corrupt image \(.*truncated"):
        load_image(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="is a directory"):
        load_image(tmp_path)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with one tiny data chunk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("width,height", [(100_000, 100_000), (8_000, 8_000)])
def test_decompression_bomb_is_refused_before_decoding(tmp_path, width, height):
    # 10 gigapixels trips Pillow's own guard; 64 megapixels only ours (50)
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(width, height))
    with pytest.raises(ImageError, match="too large"):
        load_image(path)


def test_pixel_limit_is_configurable(three, monkeypatch):
    monkeypatch.setattr(preprocess_module, "MAX_PIXELS", 100 * 100)
    with pytest.raises(ImageError, match=r"too large \(200x200"):
        load_image(encoded(three, "PNG"))


# ---------------------------------------------------------------- fixtures and evaluation


def test_fixture_images_preprocess_to_mnist_shape():
    paths = sorted(p for p in FIXTURE_IMAGES.iterdir() if p.is_file())
    if not paths:
        pytest.skip("fixtures/images not generated")
    for path in paths:
        out = preprocess(load_image(path), name=str(path))
        assert max(ink_box_size(out)) in (19, 20, 21), path
        row, col = centre_of_mass(out)
        assert abs(row - 14) <= 1.5 and abs(col - 14) <= 1.5, path


# ---------------------------------------------------------------- people's pictures
# Handwriting-like digits (benchmarks/realworld.py's pen strokes: no fonts needed) as
# scans and phone photos show them, read by the shipped model: every digit must come out.


@pytest.fixture(scope="module")
def shipped_predictor():
    from mnistcli.inference import load_predictor
    from mnistcli.runs import shipped_model

    return load_predictor(shipped_model().model_file())


def handwritten(digit: int, height: int = 120, canvas: int | None = None,
                ink_level: float = 0.1, paper: float = 0.9, noise: float = 0.0,
                blur: float = 0.0, pen: float = 1.0, invert: bool = False,
                seed: int = 0) -> Image.Image:
    """A pen-stroke digit ``height`` px tall on a ``canvas`` px square picture."""
    import importlib
    import sys

    from conftest import REPO
    from PIL import ImageFilter

    if str(REPO) not in sys.path:  # benchmarks/ is not a package installed with mnistcli
        sys.path.insert(0, str(REPO))
    stroke_glyph = importlib.import_module("benchmarks.realworld").stroke_glyph
    ink = stroke_glyph(digit, np.random.default_rng([seed, digit]), style=0)
    if pen != 1.0:  # a thicker or finer pen: grow or shrink the stroke
        size = max(3, int(round(abs(pen - 1) * 8)) | 1)
        mask = Image.fromarray(np.rint(ink * 255).astype(np.uint8))
        mask = mask.filter(ImageFilter.MaxFilter(size) if pen > 1 else ImageFilter.MinFilter(
            size))
        ink = np.asarray(mask, dtype=np.float32) / 255
    width = max(1, round(ink.shape[1] * height / ink.shape[0]))
    ink = np.asarray(Image.fromarray(ink, mode="F").resize((width, height),
                                                           Image.Resampling.BOX))
    canvas = canvas or int(height * 1.6)
    field = np.zeros((canvas, canvas), dtype=np.float32)
    top, left = (canvas - height) // 2, (canvas - width) // 2
    field[top:top + height, left:left + width] = np.clip(ink, 0, 1)
    grey = paper + (ink_level - paper) * field
    if noise:
        grey = grey + np.random.default_rng(seed).normal(0, noise, grey.shape)
    if invert:
        grey = 1 - grey
    picture = Image.fromarray(np.rint(np.clip(grey, 0, 1) * 255).astype(np.uint8))
    return picture.filter(ImageFilter.GaussianBlur(blur)) if blur else picture


PEOPLES_PICTURES = {
    "clean": {},
    "faint": {"ink_level": 0.78},  # 12% contrast: plainly visible, far from black
    "faint on noise": {"ink_level": 0.75, "noise": 0.04},  # contrast ~4 noise deviations
    "noisy": {"noise": 0.12},
    "thick": {"pen": 2.5},
    "thin": {"pen": 0.4, "height": 300},
    "blurred": {"blur": 4.0},
    "tiny": {"height": 10, "canvas": 16},
    "huge": {"height": 900},
    "light on dark": {"invert": True},
    "faint light on dark": {"invert": True, "ink_level": 0.75, "noise": 0.03},
}


@pytest.mark.parametrize("case", sorted(PEOPLES_PICTURES))
def test_peoples_pictures_are_read(case, shipped_predictor):
    pictures = [handwritten(digit, **PEOPLES_PICTURES[case]) for digit in range(10)]
    pixels = np.stack([preprocess(picture) for picture in pictures])
    read = shipped_predictor.predict_proba(pixels).argmax(axis=1)
    assert read.tolist() == list(range(10))


def test_faint_digit_on_noise_is_kept_but_the_noise_alone_is_refused():
    faint = handwritten(3, ink_level=0.8, noise=0.04)  # 10% contrast, 2.5 noise deviations
    assert preprocess(faint).max() == 255
    paper = np.asarray(handwritten(3, ink_level=0.9, noise=0.04))  # the same, no digit
    with pytest.raises(ImageError, match="no ink found"):
        preprocess(paper)
    for seed in range(5):  # noise of any strength and no digit: refused
        noise = np.random.default_rng(seed).normal(0.5, 0.02 + 0.05 * seed, (150, 150))
        with pytest.raises(ImageError, match="no ink found"):
            preprocess(np.clip(noise, 0, 1).astype(np.float32))


def test_noise_specks_do_not_enter_the_ink():
    # a faint digit on noise: nothing outside the digit's strokes survives in the ink map
    picture = handwritten(7, ink_level=0.75, noise=0.04)
    ink = ink_map(to_grey(picture))
    clean = ink_map(to_grey(handwritten(7)))
    assert (ink > 0).sum() > 0
    assert ((ink > 0) & (clean == 0)).sum() < 0.2 * (clean > 0).sum()
