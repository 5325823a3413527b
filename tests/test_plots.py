"""`mnist plot-weights`, `mnist plot-history`, mnistcli.weight_maps and mnistcli.charts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURE_IMAGES, TINY_DATA
from PIL import Image
from trained_runs import make_run
from typer.testing import CliRunner

from mnistcli.charts import plot_confusion, plot_history, zoom_window
from mnistcli.cli import app
from mnistcli.errors import ModelError
from mnistcli.runs import read_history
from mnistcli.weight_maps import (
    DIVERGING_ANCHORS,
    NEUTRAL_COLOUR,
    MapSet,
    colorize,
    render,
    weight_maps,
)

runner = CliRunner()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    parent = tmp_path_factory.mktemp("plot_runs")
    return {model: make_run(model, parent) for model in ("logreg", "mlp", "cnn")}


def invoke(*args: str):
    return runner.invoke(app, list(args))


def colours(path: Path) -> dict[tuple[int, int, int], int]:
    """How many pixels of each colour a PNG has."""
    pixels = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    values, counts = np.unique(pixels, axis=0, return_counts=True)
    return {tuple(int(c) for c in value): int(count)
            for value, count in zip(values, counts, strict=True)}


def keras_kernel(run: Path) -> np.ndarray:
    import keras

    model = keras.models.load_model(run / "model.keras", compile=False)
    first = next(layer for layer in model.layers if type(layer).__name__ == "Dense")
    return first.get_weights()[0]


def assert_one_error_line(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


# --- colours and layout (core) -------------------------------------------------------------

def test_diverging_colours_are_centred_on_zero():
    assert tuple(colorize(np.array(0.0), diverging=True)) == NEUTRAL_COLOUR
    red = colorize(np.array(1.0), diverging=True)
    blue = colorize(np.array(-1.0), diverging=True)
    assert red[0] > red[2] and blue[2] > blue[0]
    assert tuple(blue) == tuple(DIVERGING_ANCHORS[0]) and tuple(red) == tuple(DIVERGING_ANCHORS[-1])
    # symmetric: equal magnitudes are equally far from white
    half_red, half_blue = colorize(np.array(0.5), True), colorize(np.array(-0.5), True)
    assert abs(int(half_red.sum()) - int(half_blue.sum())) < 120


def test_logreg_maps_share_one_scale_and_zero_is_neutral():
    import keras

    from mnistcli.models import build_logreg

    model = build_logreg()
    kernel = np.zeros((784, 10), dtype=np.float32)
    kernel[:, 1] = 1.0  # digit 1: strongest positive
    kernel[:, 2] = -1.0  # digit 2: strongest negative
    kernel[:, 3] = 0.5  # digit 3: half as strong, so paler on the shared scale
    model.get_layer("softmax").set_weights([kernel, np.zeros(10, dtype=np.float32)])
    report = weight_maps(model)
    assert report.kind == "softmax"
    assert (report.minimum, report.maximum) == (-1.0, 1.0)
    section = report.sections[0]
    assert section.labels == [f"digit {d}" for d in range(10)]
    assert section.maps.shape == (10, 28, 28) and section.columns == 5
    # map d is column d of the kernel, pixel (r, c) is input r * 28 + c
    assert section.maps[1, 3, 4] == kernel[3 * 28 + 4, 1]
    picture = render(report.sections)
    pixels = np.asarray(picture).reshape(-1, 3)
    counts = {colour: int(np.all(pixels == colour, axis=1).sum()) for colour in
              (NEUTRAL_COLOUR, tuple(DIVERGING_ANCHORS[-1].astype(int)),
               tuple(DIVERGING_ANCHORS[0].astype(int)),
               tuple(int(v) for v in colorize(np.array(0.5), True)))}
    cell = 112 * 112  # a 28x28 map enlarged 4 times
    # seven all-zero maps are neutral, one map each in full red, full blue and half red
    assert counts[NEUTRAL_COLOUR] >= 7 * cell
    for colour in list(counts)[1:]:
        assert cell <= counts[colour] < 2 * cell, (colour, counts[colour])
    del keras


def test_dense_units_are_the_strongest_by_norm():
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1))
    hidden = layers.Dense(6, activation="relu", name="hidden")(layers.Flatten()(inputs))
    model = keras.Model(inputs, layers.Dense(10, activation="softmax")(hidden))
    kernel = np.zeros((784, 6), dtype=np.float32)
    for unit, strength in enumerate([0.1, 3.0, 0.5, 2.0, 0.0, 1.0]):
        kernel[unit * 10, unit] = strength
    model.get_layer("hidden").set_weights([kernel, np.zeros(6, dtype=np.float32)])
    report = weight_maps(model, units=3)
    assert report.kind == "dense" and report.layer == "hidden"
    assert (report.units_total, report.units_shown) == (6, 3)
    assert report.sections[0].labels == ["unit 1", "unit 3", "unit 5"]


def test_a_map_set_of_zeros_still_has_a_scale():
    section = MapSet("zeros", np.zeros((2, 5, 5)), ["a", "b"], 2, True, "weight")
    assert section.limit == 1.0 and np.all(section.normalised() == 0)
    assert render([section]).width > 0


# --- mnist plot-weights ----------------------------------------------------------------------

def test_plot_weights_logreg(runs, tmp_path):
    out = tmp_path / "weights.png"
    result = invoke("plot-weights", str(runs["logreg"]), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}\n"
    kernel = keras_kernel(runs["logreg"])
    assert f"min {kernel.min():.4g}, max {kernel.max():.4g}" in result.stderr
    with Image.open(out) as picture:
        assert picture.format == "PNG"
        assert picture.width >= 5 * 112 and picture.height >= 2 * 112
    found = colours(out)
    assert len(found) > 100  # many shades of red and blue, not a blank canvas
    reds = sum(n for (r, g, b), n in found.items() if r > b + 40)
    blues = sum(n for (r, g, b), n in found.items() if b > r + 40)
    assert reds > 1000 and blues > 1000


def test_plot_weights_json_and_default_path_next_to_the_run(runs):
    result = invoke("plot-weights", str(runs["logreg"]), "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["path"] == str(runs["logreg"] / "weights.png")
    assert record["kind"] == "softmax" and record["units_shown"] == 10
    kernel = keras_kernel(runs["logreg"])
    assert record["min"] == pytest.approx(float(kernel.min()))
    assert record["max"] == pytest.approx(float(kernel.max()))
    with Image.open(record["path"]) as picture:
        assert (picture.width, picture.height) == (record["width"], record["height"])


def test_plot_weights_reads_the_run_from_stdin(runs, tmp_path):
    out = tmp_path / "piped.png"
    result = runner.invoke(app, ["plot-weights", "--out", str(out)],
                           input=f"{runs['logreg']}\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}\n" and out.is_file()


def test_plot_weights_dense_units(runs, tmp_path):
    out = tmp_path / "mlp.png"
    result = invoke("plot-weights", str(runs["mlp"]), "--units", "4", "--out", str(out),
                    "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["kind"] == "dense" and record["units_shown"] == 4
    assert record["units_total"] > 4
    assert len(colours(out)) > 100


def test_plot_weights_cnn_filters(runs, tmp_path):
    out = tmp_path / "cnn.png"
    result = invoke("plot-weights", str(runs["cnn"]), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["kind"] == "conv"
    assert record["units_shown"] == record["units_total"]  # every filter by default
    assert len(colours(out)) > 20
    fewer = invoke("plot-weights", str(runs["cnn"]), "--out", str(out), "--units", "3",
                   "--json", "--force")
    assert json.loads(fewer.stdout)["units_shown"] == 3


def test_plot_weights_cnn_feature_maps_of_an_image(runs, tmp_path):
    pytest.importorskip("mnistcli.preprocess")
    out = tmp_path / "features.png"
    plain = tmp_path / "filters.png"
    assert invoke("plot-weights", str(runs["cnn"]), "--out", str(plain)).exit_code == 0
    result = invoke("plot-weights", str(runs["cnn"]), "--input",
                    str(FIXTURE_IMAGES / "7_white_on_black.png"), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}\n"
    with Image.open(out) as features, Image.open(plain) as filters:
        # the filters, then the input and the feature maps below them
        assert features.height > filters.height + 2 * 112
    # activations use a sequential (viridis) map: its dark purple and yellow ends appear
    found = colours(out)
    assert sum(n for (r, g, b), n in found.items() if g > 150 and b < 120 and r > 100) > 0


def test_feature_maps_of_the_first_convolutions(runs):
    import keras

    from mnistcli.datasets import load_split
    from mnistcli.weight_maps import feature_maps

    model = keras.models.load_model(runs["cnn"] / "model.keras", compile=False)
    image = load_split("test", TINY_DATA).images[0]
    sections = feature_maps(model, image, conv_layers=2, max_maps=8)
    assert [s.legend for s in sections] == ["pixel", "activation", "activation"]
    np.testing.assert_allclose(sections[0].maps[0], image / 255.0)
    convolutions = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"][:2]
    for section, layer in zip(sections[1:], convolutions, strict=True):
        assert section.title.startswith(layer.name)
        channels = layer.get_weights()[0].shape[-1]
        assert len(section.maps) == min(8, channels)
        assert section.maps.std() > 0  # the image produced varied activations
    logreg = keras.models.load_model(runs["logreg"] / "model.keras", compile=False)
    with pytest.raises(ModelError, match="no convolution"):
        feature_maps(logreg, image)


def test_plot_weights_input_needs_a_cnn(runs):
    pytest.importorskip("mnistcli.preprocess")
    result = invoke("plot-weights", str(runs["logreg"]), "--input",
                    str(FIXTURE_IMAGES / "7_white_on_black.png"))
    assert_one_error_line(result, "convolution")


def test_plot_weights_terminal_preview_on_stderr(runs, tmp_path):
    out = tmp_path / "w.png"
    result = invoke("plot-weights", str(runs["logreg"]), "--out", str(out), "--terminal")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}\n"
    assert "digit 0" in result.stderr and "digit 9" in result.stderr
    # NO_COLOR is set by the test fixtures: signs are drawn in ASCII
    assert "+" in result.stderr and "-" in result.stderr
    quiet = invoke("plot-weights", str(runs["logreg"]), "--out", str(out), "--force")
    assert quiet.exit_code == 0, quiet.output
    assert "digit 9" not in quiet.stderr  # not a terminal and no --terminal


def test_terminal_tiles_in_colour_are_half_blocks_of_the_picture_colours():
    from mnistcli.cli.plot_weights import _tile_lines

    values = np.array([[-1.0, 0.0], [1.0, 0.0]])  # two pixel rows make one line
    (line,) = _tile_lines(values, diverging=True, colour=True)
    assert line.plain == "▀▀"
    first = line.spans[0].style
    assert tuple(first.color.get_truecolor()) == tuple(DIVERGING_ANCHORS[0])  # -1 above
    assert tuple(first.bgcolor.get_truecolor()) == tuple(DIVERGING_ANCHORS[-1])  # +1 below
    assert tuple(line.spans[1].style.color.get_truecolor()) == NEUTRAL_COLOUR
    (plain,) = _tile_lines(values, diverging=True, colour=False)
    assert plain.plain == "  "  # -1 and +1 average to zero: blank, like zero itself


def test_plot_weights_needs_the_keras_model(runs, tmp_path):
    tflite_only = tmp_path / "model.tflite"
    shutil.copy(runs["logreg"] / "model.tflite", tflite_only)
    out = tmp_path / "never.png"
    result = invoke("plot-weights", str(tflite_only), "--out", str(out))
    assert_one_error_line(result, "model.keras")
    assert not out.exists()


def test_plot_weights_missing_run():
    assert_one_error_line(invoke("plot-weights", "no/such/run"), "no/such/run")


# --- mnist plot-history ----------------------------------------------------------------------

def write_history(path: Path, epochs: int, validation: bool = True) -> Path:
    lines = ["epoch,loss,accuracy,val_loss,val_accuracy,seconds"]
    for epoch in range(1, epochs + 1):
        val = f"{0.5 / epoch:.4f},{0.9 + 0.01 * epoch:.4f}" if validation else ","
        lines.append(f"{epoch},{1 / epoch:.4f},{0.8 + 0.015 * epoch:.4f},{val},2.0")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_read_history_and_zoom_window(tmp_path):
    history = read_history(write_history(tmp_path / "history.csv", 6, validation=False))
    assert len(history) == 6 and not history.has_validation
    assert history.accuracy[-1] == pytest.approx(0.89)
    assert np.isnan(history.val_loss).all()
    assert [zoom_window(n) for n in (1, 2, 3, 6, 15)] == [1, 2, 2, 3, 8]


def test_plot_history_size_and_content(tmp_path):
    out = plot_history(read_history(write_history(tmp_path / "h.csv", 8)), tmp_path / "c.png")
    with Image.open(out) as picture:
        assert picture.size == (1200, 800)
    found = colours(out)
    # both curves are drawn: the training blue and the validation red
    assert found.get((31, 119, 180), 0) > 200 and found.get((214, 39, 40), 0) > 200


def test_plot_history_command(runs, tmp_path):
    out = tmp_path / "curves.png"
    result = invoke("plot-history", str(runs["logreg"]), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}\n"
    assert "epoch" in result.stderr and "accuracy" in result.stderr
    with Image.open(out) as picture:
        assert picture.size == (1200, 800)
    assert len(colours(out)) > 50


def test_plot_history_default_path_and_json(runs):
    result = invoke("plot-history", str(runs["mlp"]), "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["path"] == str(runs["mlp"] / "history.png")
    assert record["epochs"] == len(read_history(runs["mlp"] / "history.csv"))
    assert Path(record["path"]).is_file()


def test_plot_history_errors(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["logreg"], run)
    (run / "history.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    out = tmp_path / "x.png"
    assert_one_error_line(invoke("plot-history", str(run), "--out", str(out)),
                          "history.csv", "missing column")
    (run / "history.csv").write_text("epoch,loss,accuracy\n", encoding="utf-8")
    assert_one_error_line(invoke("plot-history", str(run), "--out", str(out)), "no epochs")
    assert not out.exists()


# --- the confusion matrix ------------------------------------------------------------------

def test_plot_confusion(tmp_path):
    matrix = np.diag(np.full(10, 950)) + np.eye(10, k=1, dtype=int) * 7
    matrix[3, 5] = 40
    out = plot_confusion(matrix, tmp_path / "confusion.png")
    with Image.open(out) as picture:
        assert picture.size == (800, 700)
    found = colours(out)
    assert len(found) > 50
    dark_blue = sum(n for (r, g, b), n in found.items() if b > 80 and r < 40 and g < 80)
    assert dark_blue > 1000  # the diagonal's large counts at the top of the scale
    with pytest.raises(ValueError, match="square"):
        plot_confusion(np.zeros((3, 4)), tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


# --- start-up cost ---------------------------------------------------------------------------

def test_plot_modules_import_nothing_heavy():
    code = ("import sys, mnistcli.charts, mnistcli.weight_maps, mnistcli.export, "
            "mnistcli.cli.plot_weights, mnistcli.cli.plot_history, mnistcli.cli.export; "
            "print(sorted(m for m in ('matplotlib', 'tensorflow', 'keras') if m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert output.strip() == "[]"
