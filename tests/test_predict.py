"""`mnist predict`: output formats, batches with bad files, model choice, start-up."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURE_IMAGES, REPO
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from mnistcli import runs as runs_module
from mnistcli.cli import app
from mnistcli.preprocess import load_image, preprocess

runner = CliRunner()


def predict(*args: str, input: bytes | str | None = None):
    return runner.invoke(app, ["predict", *args], input=input)


def draw_digit(digit: int, side: int = 160, ink: int = 0, paper: int = 255) -> Image.Image:
    font = ImageFont.load_default(size=int(side * 0.7))
    picture = Image.new("L", (side, side), paper)
    ImageDraw.Draw(picture).text((side / 2, side / 2), str(digit), font=font, fill=ink,
                                 anchor="mm", stroke_width=3, stroke_fill=ink)
    return picture


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A small cnn run (a few training steps on the tiny fixture dataset)."""
    from trained_runs import make_run

    return make_run("cnn", tmp_path_factory.mktemp("predict_run"))


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("digits")
    for digit in (4, 1, 7):
        draw_digit(digit).save(directory / f"{digit}_drawn.png")
    draw_digit(2, ink=255, paper=0).save(directory / "2_inverted.jpg")
    return directory


def expected_probabilities(run_dir: Path, paths: list[Path]) -> np.ndarray:
    """What the core gives: preprocessing then the run's LiteRT model."""
    from mnistcli.inference import load_predictor

    pixels = np.stack([preprocess(load_image(p)) for p in paths])
    return load_predictor(run_dir / "model.tflite").predict_proba(pixels)


def test_piped_output_is_one_tsv_line_per_image(run_dir, digits_dir):
    paths = sorted(digits_dir.iterdir())
    result = predict("--model", str(run_dir), *map(str, paths))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(paths)
    expected = expected_probabilities(run_dir, paths)
    for line, path, probabilities in zip(lines, paths, expected, strict=True):
        name, digit, confidence = line.split("\t")
        assert name == str(path)
        assert int(digit) == int(np.argmax(probabilities))
        assert float(confidence) == pytest.approx(float(probabilities.max()), abs=1e-4)
    assert f"Model: {run_dir / 'model.tflite'}" in result.stderr  # which model, on stderr


def test_json_lines_carry_all_ten_probabilities(run_dir, digits_dir):
    result = predict("--model", str(run_dir), "--json", "--top", "3", str(digits_dir))
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["path"]).name for r in records] == sorted(p.name
                                                             for p in digits_dir.iterdir())
    for record in records:
        probabilities = record["probabilities"]
        assert len(probabilities) == 10
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
        assert record["digit"] == int(np.argmax(probabilities))
        assert record["confidence"] == probabilities[record["digit"]]
        top = record["top"]
        assert len(top) == 3 and top[0]["digit"] == record["digit"]
        assert [t["probability"] for t in top] == sorted(
            (t["probability"] for t in top), reverse=True)
        assert [t["probability"] for t in top] == [probabilities[t["digit"]] for t in top]


def test_top_k_adds_runner_up_columns(run_dir, digits_dir):
    result = predict("--model", str(run_dir), "--top", "4", str(digits_dir / "4_drawn.png"))
    assert result.exit_code == 0
    fields = result.stdout.strip().split("\t")
    assert len(fields) == 3 + 2 * 3
    digits = [int(d) for d in fields[1::2]]
    probabilities = [float(p) for p in fields[2::2]]
    assert len(set(digits)) == 4 and probabilities == sorted(probabilities, reverse=True)
    assert predict("--model", str(run_dir), "--top", "11", "x.png").exit_code == 2


def test_stdin_image(run_dir, digits_dir):
    data = (digits_dir / "7_drawn.png").read_bytes()
    result = predict("--model", str(run_dir), "-", input=data)
    assert result.exit_code == 0, result.stderr
    from_stdin = result.stdout.strip().split("\t")
    from_file = predict("--model", str(run_dir), str(digits_dir / "7_drawn.png"))
    assert from_stdin[0] == "-"
    assert from_stdin[1:] == from_file.stdout.strip().split("\t")[1:]


def test_bad_files_are_reported_and_the_rest_predicted(run_dir, digits_dir, tmp_path):
    (tmp_path / "junk.png").write_bytes(b"not an image")
    Image.new("L", (60, 60), 255).save(tmp_path / "blank.png")
    good = digits_dir / "4_drawn.png"
    result = predict("--model", str(run_dir), str(tmp_path / "junk.png"), str(good),
                     str(tmp_path / "blank.png"), str(tmp_path / "missing.png"))
    assert result.exit_code == 1
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == [str(good)]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert errors == [
        f"Error: {tmp_path / 'junk.png'}: not an image, or a format Pillow cannot read",
        f"Error: {tmp_path / 'blank.png'}: no ink found (the image is blank or uniform)",
        f"Error: {tmp_path / 'missing.png'}: no such file",
    ]
    assert "Traceback" not in result.stderr
    assert "3 of 4 images failed" in result.stderr


def test_only_bad_files(run_dir, tmp_path):
    (tmp_path / "junk.png").write_bytes(b"junk")
    result = predict("--model", str(run_dir), str(tmp_path / "junk.png"))
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.strip().endswith("not an image, or a format Pillow cannot read")


def test_bad_model_is_one_error(tmp_path, digits_dir):
    (tmp_path / "notes.txt").write_text("hello")
    result = predict("--model", str(tmp_path / "notes.txt"), str(digits_dir))
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1


def test_model_path_from_stdin(run_dir, digits_dir):
    result = predict("--model", "-", str(digits_dir / "1_drawn.png"), input=f"{run_dir}\n")
    assert result.exit_code == 0, result.stderr
    assert str(run_dir) in result.stderr
    both = predict("--model", "-", "-", input=f"{run_dir}\n")
    assert both.exit_code == 2 and "stdin" in both.stderr


def test_default_model_is_the_latest_run_then_the_shipped_one(run_dir, digits_dir, mnist_home,
                                                             tmp_path, monkeypatch):
    image = str(digits_dir / "1_drawn.png")
    # no run and nothing shipped: a clear error
    monkeypatch.setattr(runs_module, "ASSETS_DIR", tmp_path / "assets")
    result = predict(image)
    assert result.exit_code == 1 and "no run found" in result.stderr
    # the shipped model
    (tmp_path / "assets").mkdir()
    shutil.copy(run_dir / "model.tflite", tmp_path / "assets" / "model.tflite")
    shutil.copy(run_dir / "run.json", tmp_path / "assets" / "run.json")
    result = predict(image)
    assert result.exit_code == 0, result.stderr
    assert "the model shipped with mnistcli" in result.stderr
    # a run in MNIST_HOME wins
    latest = mnist_home / "runs" / run_dir.name
    shutil.copytree(run_dir, latest)
    result = predict(image)
    assert result.exit_code == 0, result.stderr
    assert f"Model: {latest / 'model.tflite'} (run" in result.stderr


def test_keras_model_gives_the_same_answers(run_dir, digits_dir):
    lite = predict("--model", str(run_dir / "model.tflite"), "--json", str(digits_dir))
    keras = predict("--model", str(run_dir / "model.keras"), "--json", str(digits_dir))
    assert lite.exit_code == keras.exit_code == 0, keras.stderr
    assert "keras)" in keras.stderr
    for a, b in zip(lite.stdout.splitlines(), keras.stdout.splitlines(), strict=True):
        a, b = json.loads(a), json.loads(b)
        assert a["digit"] == b["digit"]
        np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-4)


def test_show_draws_the_preprocessed_digit_on_stderr_when_piped(run_dir, digits_dir):
    path = digits_dir / "7_drawn.png"
    result = predict("--model", str(run_dir), "--show", str(path))
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 1  # stdout stays data
    lines = result.stderr.splitlines()
    caption = next(i for i, line in enumerate(lines) if line.startswith(f"{path}: "))
    drawing = lines[caption + 1:caption + 15]
    pixels = preprocess(load_image(path))
    # ASCII (no colour here): one character per column, one line per two rows of pixels
    assert all(len(line.rstrip()) <= 28 for line in drawing)
    ink_rows = [i for i, line in enumerate(drawing) if line.strip()]
    expected_rows = [i for i in range(14) if pixels[2 * i:2 * i + 2].max() >= 26]
    assert ink_rows == expected_rows


def test_terminal_table(run_dir, digits_dir, monkeypatch):
    monkeypatch.setattr("mnistcli.cli.output.stdout_is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "160")
    result = predict("--model", str(run_dir), "--show", str(digits_dir))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""  # a table is for people: stderr
    out = result.stderr
    for header in ("file", "preprocessed", "digit", "confidence", "runners-up"):
        assert header in out
    expected = expected_probabilities(run_dir, sorted(digits_dir.iterdir()))
    for path, probabilities in zip(sorted(digits_dir.iterdir()), expected, strict=True):
        row = next(line for line in out.splitlines() if path.name in line)
        order = np.argsort(-probabilities)
        assert f"{probabilities[order[0]]:.1%}" in row
        assert f"{order[1]} ({probabilities[order[1]]:.1%})" in row  # runners-up
        assert f"{order[2]} ({probabilities[order[2]]:.1%})" in row
    assert "\t" not in out  # a table, not the piped format


def test_predict_never_imports_tensorflow_with_a_tflite_model(run_dir, digits_dir):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mnistcli", "predict", "--model",
         str(run_dir / "model.tflite"), str(digits_dir / "4_drawn.png")],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "ai_edge_litert.interpreter" in imported  # the check sees real imports
    assert not {"tensorflow", "keras"} & imported
    assert result.stdout.startswith(str(digits_dir / "4_drawn.png") + "\t")


def test_shipped_model_reads_the_fixture_images():
    shipped = runs_module.ASSETS_DIR / "model.tflite"
    assert shipped.is_file(), "the package ships a default model (make bundled-model)"
    images = sorted(p for p in FIXTURE_IMAGES.iterdir() if p.is_file())
    assert len(images) >= 10
    result = predict("--model", str(shipped), *map(str, images))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(images)
    for line in lines:
        path, digit, _confidence = line.split("\t")
        assert Path(path).name[0] == digit, line  # fixture names start with the digit


def test_stderr_has_no_library_chatter():
    # LiteRT logs "Created TensorFlow Lite XNNPACK delegate" from C++; people should see
    # only which model answered.
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "mnistcli", "predict", str(FIXTURE_IMAGES / "7_white_on_black.png")],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\t")[1] == "7"
    assert result.stderr.splitlines() == [line for line in result.stderr.splitlines()
                                          if line.startswith("Model: ")]
    assert len(result.stderr.splitlines()) == 1
    assert "shipped" in result.stderr


def test_input_bytes_are_used_as_given(run_dir):
    # a JPEG on stdin decodes like the same JPEG from a file
    buffer = io.BytesIO()
    draw_digit(3).save(buffer, format="JPEG")
    result = predict("--model", str(run_dir), "--json", "-", input=buffer.getvalue())
    assert result.exit_code == 0
    assert json.loads(result.stdout)["path"] == "-"


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_batches_keep_the_order(run_dir, digits_dir, tmp_path, monkeypatch, batch_size):
    (tmp_path / "junk.png").write_bytes(b"junk")
    paths = [str(p) for p in sorted(digits_dir.iterdir())]
    args = [paths[0], str(tmp_path / "junk.png"), *paths[1:], paths[0]]
    whole = predict("--model", str(run_dir), "--json", *args)
    monkeypatch.setattr("mnistcli.predicting.BATCH_SIZE", batch_size)
    batched = predict("--model", str(run_dir), "--json", *args)
    assert whole.exit_code == batched.exit_code == 1
    assert [json.loads(line)["path"] for line in batched.stdout.splitlines()] == [
        paths[0], *paths[1:], paths[0]]
    assert batched.stdout == whole.stdout
