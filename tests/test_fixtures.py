"""The committed fixtures load, and the generator that made them works and is
deterministic."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from mnistcli.datasets import load_dataset
from mnistcli.idx import read_idx

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TINY_DATA = FIXTURES / "tiny"
FIXTURE_IMAGES = FIXTURES / "images"
GENERATOR = FIXTURES / "make_fixtures.py"
PREDICT_IMAGES = [
    "0_small.bmp", "1_palette.gif", "2_large_scan.png", "3_black_on_white.png",
    "4_photo_crop.jpg", "5_rgba_canvas.png", "6_16bit.png", "7_white_on_black.png",
    "8_mnist_like_28.png", "9_exif_rotated.jpg",
]


def test_tiny_dataset_loads_with_documented_counts():
    splits = load_dataset(data_dir=TINY_DATA, validation=100)
    assert {name: len(split) for name, split in splits.items()} == {
        "train": 500, "validation": 100, "test": 200}
    for name, split in splits.items():
        assert split.images.dtype == np.uint8 and split.images.shape[1:] == (28, 28)
        counts = np.bincount(split.labels, minlength=10)
        # balanced: 50 / 10 / 20 of each digit (see fixtures/README.md)
        assert counts.tolist() == [len(split) // 10] * 10, name


def test_tiny_dataset_images_look_like_mnist():
    images = load_dataset(data_dir=TINY_DATA, validation=0)["train"].images
    # white ink on a black background, every image holding a digit
    assert np.median(images) == 0
    assert (images.reshape(len(images), -1).max(axis=1) > 200).all()
    # centred by centre of mass, as MNIST (within the +-2 pixel shifts the generator adds)
    weights = images.astype(np.float64)
    ys, xs = np.indices((28, 28))
    com_y = (weights * ys).sum(axis=(1, 2)) / weights.sum(axis=(1, 2))
    com_x = (weights * xs).sum(axis=(1, 2)) / weights.sum(axis=(1, 2))
    assert np.abs(com_y - 13.5).max() < 3.5 and np.abs(com_x - 13.5).max() < 3.5
    # no two images are the same
    assert len({image.tobytes() for image in images}) == len(images)


def test_manifest_matches_committed_files():
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    assert manifest["tiny"] == {"train": 600, "test": 200, "validation_block": 100}
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("name", PREDICT_IMAGES)
def test_predict_images_open_with_their_label_first(name):
    with Image.open(FIXTURE_IMAGES / name) as image:
        image.load()
        assert int(name[0]) in range(10)
        assert min(image.size) >= 28


def test_predict_images_have_the_promised_kinds():
    def opened(name):
        with Image.open(FIXTURE_IMAGES / name) as image:
            image.load()
            # a GIF keeps its file open for the other frames: keep a closed copy
            return image.copy() if image.format == "GIF" else image

    assert opened("5_rgba_canvas.png").mode == "RGBA"
    alpha = np.asarray(opened("5_rgba_canvas.png"))[..., 3]
    assert alpha.min() == 0 and alpha.max() == 255  # transparent background, opaque ink
    assert opened("6_16bit.png").mode in ("I;16", "I")
    assert np.asarray(opened("6_16bit.png")).max() > 255
    assert opened("1_palette.gif").mode == "P"
    assert opened("2_large_scan.png").size == (600, 800)
    assert opened("4_photo_crop.jpg").mode == "RGB"
    mnist_like = opened("8_mnist_like_28.png")
    assert mnist_like.size == (28, 28) and mnist_like.mode == "L"
    assert np.asarray(mnist_like)[0].max() == 0  # white on black: dark border
    black_on_white = np.asarray(opened("3_black_on_white.png"))
    assert black_on_white[0].min() > 200 and black_on_white.min() < 50
    white_on_black = np.asarray(opened("7_white_on_black.png"))
    assert white_on_black[0].max() < 50 and white_on_black.max() > 200
    rotated = opened("9_exif_rotated.jpg")
    assert rotated.getexif().get(0x0112) == 6
    assert rotated.size == (200, 160)
    assert ImageOps.exif_transpose(rotated).size == (160, 200)  # portrait once upright


def test_labelled_tree_has_every_digit():
    labelled = FIXTURE_IMAGES / "labelled"
    for digit in range(10):
        files = sorted((labelled / str(digit)).glob("*.png"))
        assert len(files) == 3, digit
        assert all(path.name.startswith(f"{digit}_") for path in files)


def run_generator(out, *extra):
    return subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out), "--fast", *extra],
        capture_output=True, text=True, timeout=120, check=False)


def test_generator_writes_valid_files_and_is_deterministic(tmp_path):
    first = run_generator(tmp_path / "a")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == str(tmp_path / "a")

    splits = load_dataset(data_dir=tmp_path / "a" / "tiny", validation=10)
    assert len(splits["train"]) == 30 and len(splits["test"]) == 20
    assert sorted(set(read_idx(tmp_path / "a" / "tiny" / "t10k-labels-idx1-ubyte.gz"))) == \
        list(range(10))
    for name in PREDICT_IMAGES:
        with Image.open(tmp_path / "a" / "images" / name) as image:
            image.verify()
    assert len(list((tmp_path / "a" / "images" / "labelled").glob("*/*.png"))) == 10

    second = run_generator(tmp_path / "b")
    assert second.returncode == 0, second.stderr
    digests_a = json.loads((tmp_path / "a" / "manifest.json").read_text())["sha256"]
    digests_b = json.loads((tmp_path / "b" / "manifest.json").read_text())["sha256"]
    assert digests_a == digests_b and len(digests_a) == 4 + len(PREDICT_IMAGES) + 10

    other_seed = run_generator(tmp_path / "c", "--seed", "7")
    assert other_seed.returncode == 0, other_seed.stderr
    digests_c = json.loads((tmp_path / "c" / "manifest.json").read_text())["sha256"]
    assert digests_c["tiny/train-images-idx3-ubyte.gz"] != \
        digests_a["tiny/train-images-idx3-ubyte.gz"]


def test_fixtures_stay_small():
    total = sum(path.stat().st_size for path in FIXTURES.rglob("*") if path.is_file())
    assert total < 1_000_000


def load_generator():
    spec = importlib.util.spec_from_file_location("make_fixtures", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_works_with_only_pillows_builtin_font(tmp_path, monkeypatch):
    # a machine with no fonts installed (e.g. a bare CI image) still gets fixtures
    generator = load_generator()
    monkeypatch.setattr(generator, "FONT_DIRS", ())
    fonts = generator.find_fonts()
    assert [font.name for font in fonts] == ["pillow-default"]
    assert generator.main(["--out", str(tmp_path), "--fast"]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["fonts"] == ["pillow-default"]
    splits = load_dataset(data_dir=tmp_path / "tiny", validation=10)
    assert np.bincount(splits["test"].labels, minlength=10).tolist() == [2] * 10


def test_mnist_normalisation_centres_by_mass():
    generator = load_generator()
    ink = np.zeros((40, 10), dtype=np.float32)
    ink[:, :] = 1.0  # a tall bar: 40x10 -> 20x5
    field = generator.to_mnist(ink)
    rows = np.flatnonzero(field.max(axis=1) > 0)
    cols = np.flatnonzero(field.max(axis=0) > 0)
    assert len(rows) == 20 and len(cols) == 5  # longer side scaled to 20
    ys, xs = np.indices(field.shape)
    assert (ys * field).sum() / field.sum() == pytest.approx(13.5, abs=0.5)
    assert (xs * field).sum() / field.sum() == pytest.approx(13.5, abs=0.5)
