"""`mnist inspect` and its core (mnistcli.digits, mnistcli.cli.terminal), on the committed
tiny fixture dataset, plus one check against the real MNIST files."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

from mnistcli.cli import app
from mnistcli.cli.terminal import ascii_lines, draw_digits, half_block_lines
from mnistcli.datasets import load_dataset
from mnistcli.errors import DataError, DataNotFoundError
from mnistcli.home import dataset_dir
from mnistcli.idx import read_idx
from mnistcli.inspection import (
    dataset_summary,
    default_validation,
    indices_of_label,
    parse_indices,
    pixel_mean_std,
    pixel_stats,
)
from mnistcli.pictures import digit_grid

TINY = Path(__file__).resolve().parent.parent / "fixtures" / "tiny"
TINY_VALIDATION = 100  # what `inspect` picks for a 600-image training set


def inspect(*args: str):
    return CliRunner().invoke(app, ["inspect", *args])


def tiny(*args: str):
    return inspect("--data", str(TINY), *args)


@pytest.fixture(scope="module")
def tiny_splits():
    return load_dataset(data_dir=TINY, validation=TINY_VALIDATION)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


# ---------------------------------------------------------------- showing digits


def test_index_draws_28_by_14_ascii_digit_on_stderr(tiny_splits):
    result = tiny("--index", "7")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""  # the picture is for people: stderr
    lines = result.stderr.splitlines()
    label = int(tiny_splits["train"].labels[7])
    assert lines[0].split() == ["train", "#7", "label", str(label)]
    drawing = lines[1:]
    assert len(drawing) == 14 and all(len(line) == 28 for line in drawing)
    assert all(line.isascii() for line in drawing)  # NO_COLOR is set by conftest
    assert drawing == ascii_lines(tiny_splits["train"].images[7])


def test_ascii_rendering_follows_the_pixels():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:6, 10] = 255  # both pixels of one character cell: full ink
    image[8, 3] = 255  # one pixel of a cell: half ink
    lines = ascii_lines(image)
    assert len(lines) == 14 and {len(line) for line in lines} == {28}
    assert lines[2][10] == "@"
    assert lines[4][3] not in (" ", "@")
    assert sum(ch != " " for line in lines for ch in line) == 2


def test_half_blocks_carry_upper_and_lower_grey():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[0, 0] = 200  # upper pixel of the first cell
    image[1, 1] = 90  # lower pixel of the second cell
    lines = half_block_lines(image)
    assert len(lines) == 14 and all(line.plain == "▀" * 28 for line in lines)
    styles = [span.style for span in lines[0].spans]
    assert styles[0].color.triplet == (200, 200, 200)
    assert styles[0].bgcolor.triplet == (0, 0, 0)
    assert styles[1].color.triplet == (0, 0, 0)
    assert styles[1].bgcolor.triplet == (90, 90, 90)


def test_colour_console_draws_half_blocks_and_no_colour_draws_ascii(tiny_splits, monkeypatch):
    image = tiny_splits["test"].images[0]
    monkeypatch.delenv("NO_COLOR", raising=False)
    colour = Console(force_terminal=True, color_system="truecolor", width=80,
                     record=True, file=io.StringIO())
    draw_digits(colour, [image], ["x"])
    text = colour.export_text(styles=True)
    assert "▀" in text and "\x1b[" in text
    monkeypatch.setenv("NO_COLOR", "1")
    plain = Console(force_terminal=True, width=80, record=True, file=io.StringIO())
    draw_digits(plain, [image], ["x"])
    assert plain.export_text().splitlines()[1:] == ascii_lines(image)


def test_several_indices_side_by_side(tiny_splits):
    result = tiny("--index", "1", "--index", "2,3", "--split", "test")
    assert result.exit_code == 0, result.stderr
    labels = tiny_splits["test"].labels
    caption_line = result.stderr.splitlines()[0]
    for i in (1, 2):
        assert f"#{i}: {labels[i]}" in caption_line
    # 80 columns fit two 28-column digits per row: 1 and 2 side by side, then 3
    assert f"#3: {labels[3]}" in result.stderr.splitlines()[15:][1]
    assert max(len(line) for line in result.stderr.splitlines()) <= 80


def test_json_stats_match_numpy(tiny_splits):
    result = tiny("--index", "3,150", "--split", "test", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # no drawing with --json
    record = json.loads(result.stdout)
    assert record["split"] == "test"
    assert [entry["index"] for entry in record["images"]] == [3, 150]
    test = tiny_splits["test"]
    for entry in record["images"]:
        image = test.images[entry["index"]]
        pixels = image.astype(np.float64)
        stats = entry["stats"]
        assert entry["label"] == int(test.labels[entry["index"]])
        assert stats["min"] == image.min() and stats["max"] == image.max()
        assert stats["mean"] == pytest.approx(pixels.mean(), abs=1e-4)
        assert stats["std"] == pytest.approx(pixels.std(), abs=1e-4)
        assert stats["ink_fraction"] == pytest.approx((image >= 128).mean(), abs=1e-4)
        rows, cols = np.nonzero(image)
        assert stats["bounding_box"] == {
            "x": cols.min(), "y": rows.min(),
            "width": cols.max() - cols.min() + 1, "height": rows.max() - rows.min() + 1}
        ys, xs = np.indices(image.shape)
        assert stats["centre_of_mass"]["x"] == pytest.approx(
            (xs * pixels).sum() / pixels.sum(), abs=1e-3)
        assert stats["centre_of_mass"]["y"] == pytest.approx(
            (ys * pixels).sum() / pixels.sum(), abs=1e-3)


def test_out_of_range_index_is_one_error_line():
    result = tiny("--index", "200", "--split", "test")
    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        "Error: index 200 is out of range: the test split has 200 images (0-199)"]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_validation_split_is_the_end_of_train(tiny_splits):
    result = tiny("--split", "validation", "--index", "0", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["validation"] == TINY_VALIDATION
    everything = read_idx(TINY / "train-labels-idx1-ubyte.gz")
    assert record["images"][0]["label"] == everything[len(everything) - TINY_VALIDATION]
    # --validation moves the boundary
    result = tiny("--split", "validation", "--validation", "10", "--index", "9", "--json")
    assert json.loads(result.stdout)["images"][0]["label"] == everything[-1]


def test_label_count_selects_only_that_digit(tiny_splits):
    result = tiny("--label", "4", "--count", "5", "--json")
    assert result.exit_code == 0, result.stderr
    images = json.loads(result.stdout)["images"]
    train_labels = tiny_splits["train"].labels
    assert [entry["index"] for entry in images] == np.flatnonzero(train_labels == 4)[:5].tolist()
    assert {entry["label"] for entry in images} == {4}

    drawn = tiny("--label", "4", "--count", "3")
    assert drawn.exit_code == 0, drawn.stderr
    assert drawn.stderr.splitlines()[0] == "digit 4 in train: 3 example(s)"
    captions = drawn.stderr.splitlines()[1]
    assert captions.count(": 4") == 2  # two fit side by side in 80 columns


def test_label_out_of_range_is_a_usage_error():
    result = tiny("--label", "10")
    assert result.exit_code == 2
    assert "--label" in result.stderr


def test_save_one_digit_writes_enlarged_png(tmp_path, tiny_splits):
    out = tmp_path / "seven.png"
    result = tiny("--index", "7", "--save", str(out), "--scale", "5")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out)  # the saved path is the data
    with Image.open(out) as picture:
        assert picture.format == "PNG" and picture.size == (140, 140)
        # nearest-neighbour enlargement: every 5x5 block is one source pixel
        assert np.array_equal(np.asarray(picture)[::5, ::5], tiny_splits["train"].images[7])
    assert not [p for p in tmp_path.iterdir() if p.name != "seven.png"]  # no leftovers


def test_save_several_digits_writes_a_captioned_grid(tmp_path):
    out = tmp_path / "grid.png"
    result = tiny("--label", "2", "--count", "12", "--save", str(out), "--scale", "2",
                  "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["saved"] == str(out) and len(record["images"]) == 12
    with Image.open(out) as picture:
        # 10 columns and 2 rows of 56-pixel digits, plus captions
        assert picture.width >= 10 * 56 and picture.height > 2 * 56
        assert picture.width < 11 * 56 + 200


def test_digit_grid_places_each_image():
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[1] = 255
    grid = np.asarray(digit_grid(images, scale=2, columns=2, gap=2))
    assert grid.shape == (2 + 2 * (56 + 2), 2 + 2 * (56 + 2), 3)
    assert grid[2:58, 2:58].max() == 0  # image 0: black
    assert grid[2:58, 60:116].min() == 255  # image 1: white, to its right
    assert grid[60:116, 2:58].max() == 0  # image 2 on the second row
    captioned = digit_grid(images, ["a", "b", "c"], scale=2)
    assert captioned.height > 56 + 4  # room for captions under the digits


def test_bad_index_and_bad_split_are_usage_errors():
    result = tiny("--index", "seven")
    assert result.exit_code == 2
    assert "'seven' is not an image index" in result.stderr
    result = tiny("--split", "holdout", "--index", "0")
    assert result.exit_code == 2
    assert "'holdout' is not one of: train, validation, test" in result.stderr
    result = tiny("--index", "1", "--label", "2")
    assert result.exit_code == 2


def test_out_of_range_index_in_train_split():
    result = tiny("--index", "500")  # train holds 600 - 100 validation images
    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        "Error: index 500 is out of range: the train split has 500 images (0-499)"]


# ---------------------------------------------------------------- the summary


def test_summary_counts_and_bars():
    result = tiny()
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    text = result.stderr
    assert "SHA-256 differs from the registry" in text  # fixtures are not MNIST's files
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert rows["train"][1:2] == ["500"] and rows["validation"][1:2] == ["100"]
    assert rows["test"][1:2] == ["200"]
    for digit in range(10):
        assert rows[str(digit)][1:4] == ["50", "10", "20"]
        assert rows[str(digit)][4] == "#" * 24  # equal counts: equal full bars (ASCII)


def test_summary_json_matches_the_data(tiny_splits):
    result = tiny("--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [f["status"] for f in summary["files"]] == ["modified"] * 4
    assert summary["validation"] == TINY_VALIDATION
    for name, split in tiny_splits.items():
        entry = summary["splits"][name]
        assert entry["count"] == len(split)
        assert entry["per_digit"] == np.bincount(split.labels, minlength=10).tolist()
        pixels = split.images.astype(np.float64)
        assert entry["pixel_mean"] == pytest.approx(pixels.mean(), abs=1e-4)
        assert entry["pixel_std"] == pytest.approx(pixels.std(), abs=1e-4)


def test_summary_reads_mnist_home(mnist_home):
    shutil.copytree(TINY, dataset_dir("mnist"))
    result = inspect("--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["directory"] == str(mnist_home / "datasets" / "mnist")
    shown = inspect("--index", "0", "--split", "test")
    assert shown.exit_code == 0 and len(shown.stderr.splitlines()) == 15


def test_missing_data_says_run_download():
    for args in ([], ["--index", "7"], ["--json"]):
        result = inspect(*args)
        assert result.exit_code == 1
        errors = error_lines(result.stderr)
        assert len(errors) == 1 and "mnist download" in errors[0], result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""


def test_save_without_digits_is_a_usage_error(tmp_path):
    result = tiny("--save", str(tmp_path / "x.png"))
    assert result.exit_code == 2
    assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------- the core


def test_pixel_stats_of_a_known_image():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[10:12, 4:8] = 255  # 8 pixels of ink
    image[20, 20] = 100  # faint: in the box, not counted as ink
    stats = pixel_stats(image)
    assert stats["max"] == 255 and stats["min"] == 0
    assert stats["ink_fraction"] == round(8 / 784, 4)
    assert stats["bounding_box"] == {"x": 4, "y": 10, "width": 17, "height": 11}
    assert stats["centre_of_mass"]["x"] == pytest.approx(
        (5.5 * 8 * 255 + 20 * 100) / 2140, abs=1e-4)
    blank = pixel_stats(np.zeros((28, 28), dtype=np.uint8))
    assert blank["bounding_box"] is None and blank["centre_of_mass"] is None


def test_pixel_mean_std_from_histogram():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    mean, std = pixel_mean_std(images)
    assert mean == pytest.approx(images.mean()) and std == pytest.approx(images.std())


def test_parse_indices_and_label_selection():
    assert parse_indices(["1", "2, 3", "4,"]) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="'x'"):
        parse_indices(["1,x"])
    labels = np.array([3, 1, 3, 3, 0], dtype=np.uint8)
    assert indices_of_label(labels, 3, 2) == [0, 2]
    assert indices_of_label(labels, 7, 5) == []
    with pytest.raises(DataError):
        indices_of_label(labels, 12, 1)


def test_default_validation(tmp_path):
    assert default_validation(TINY) == 100  # a sixth of 600
    assert default_validation(tmp_path) == 5000  # no data: the classic default


def test_dataset_summary_raises_when_missing(tmp_path):
    with pytest.raises(DataNotFoundError, match="mnist download"):
        dataset_summary(tmp_path)


# ---------------------------------------------------------------- start-up and real data


@pytest.mark.parametrize("args", [
    ["--data", str(TINY), "--index", "7", "--json"],
    [str(TINY.parent / "images" / "3_black_on_white.png"), "--json"],
])
def test_inspect_never_imports_tensorflow(args):
    code = (
        "import sys\n"
        "from mnistcli.cli import app\n"
        "try:\n"
        f"    app(['inspect', *{args!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'tf_keras'))\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[0])  # it ran and printed its JSON
    assert "HEAVY []" in proc.stderr


@pytest.mark.realdata
def test_real_mnist_training_image_7(real_mnist_mirror):
    result = inspect("--data", str(real_mnist_mirror), "--index", "7", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    labels = read_idx(real_mnist_mirror / "train-labels-idx1-ubyte.gz")
    assert record["validation"] == 5000
    assert record["images"][0]["label"] == int(labels[7])
    summary = json.loads(inspect("--data", str(real_mnist_mirror), "--json").stdout)
    assert [f["status"] for f in summary["files"]] == ["verified"] * 4
    assert {name: s["count"] for name, s in summary["splits"].items()} == {
        "train": 55000, "validation": 5000, "test": 10000}


# ---------------------------------------------------------------- an image file


IMAGES = TINY.parent / "images"


def test_image_file_json_is_the_shared_preprocessing():
    from mnistcli.preprocess import load_image, preprocess

    path = IMAGES / "5_rgba_canvas.png"
    result = inspect(str(path), "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    expected = preprocess(load_image(path), name=str(path))
    assert record["size"] == [280, 280] and record["mode"] == "RGBA"
    assert np.array_equal(np.array(record["pixels"], dtype=np.uint8), expected)
    assert record["stats"] == json.loads(json.dumps(pixel_stats(expected)))


def test_image_file_drawn_beside_the_model_input():
    from mnistcli.preprocess import load_image, preprocess

    path = IMAGES / "7_white_on_black.png"
    result = inspect(str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{path.name} (200x200)")
    assert "model input (28x28)" in lines[0]
    drawing = lines[1:]
    assert len(drawing) == 14
    column = lines[0].index("model input")
    processed = preprocess(load_image(path), name=str(path))
    assert [line[column:column + 28] for line in drawing] == ascii_lines(processed)
    # the original, fitted into 28x28 at the left, is white on black here too
    assert all(line[:28].strip() == "" for line in drawing[:1])
    assert any("@" in line[:28] for line in drawing)


def test_image_file_save_writes_both_side_by_side(tmp_path):
    out = tmp_path / "seen.png"
    result = inspect(str(IMAGES / "2_large_scan.png"), "--save", str(out), "--scale", "4")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out)
    with Image.open(out) as picture:
        side, gap = 28 * 4, 2 * 4
        assert picture.width == 2 * side + 3 * gap and picture.height > side
        pixels = np.asarray(picture.convert("L"))
        # left tile: the scan's light paper; right tile: the model input's black field
        assert pixels[gap + 2, gap + side // 2] > 200
        assert pixels[gap + 2, 2 * gap + side + 2] == 0


def test_image_file_errors():
    result = inspect("no_such_file.png")
    assert result.exit_code == 1
    assert error_lines(result.stderr) == ["Error: no_such_file.png: no such file"]
    result = inspect(str(TINY / "train-labels-idx1-ubyte.gz"))
    assert result.exit_code == 1 and len(error_lines(result.stderr)) == 1
    assert "not an image" in result.stderr
    result = inspect(str(IMAGES / "3_black_on_white.png"), "--index", "1")
    assert result.exit_code == 2
