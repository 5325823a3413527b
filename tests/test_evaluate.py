"""`mnist evaluate`, mnistcli.evaluation and mnistcli.inference."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_DATA
from PIL import Image
from typer.testing import CliRunner

from mnistcli import runs as runs_module
from mnistcli.cli import app
from mnistcli.datasets import load_split
from mnistcli.errors import ModelError
from mnistcli.evaluation import (
    confusion_matrix,
    cross_entropy,
    evaluate_probabilities,
    most_confused,
    per_digit_scores,
    worst_mistakes,
)
from mnistcli.inference import load_predictor
from mnistcli.recipes import make_config
from mnistcli.training import train

TINY_VALIDATION = 100
runner = CliRunner()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A logreg run trained for two short epochs on the tiny fixture."""
    out = tmp_path_factory.mktemp("evaluate") / "run"
    config = make_config("logreg", epochs=2, batch_size=32, seed=3, validation=TINY_VALIDATION,
                         data_dir=TINY_DATA)
    return train(config, out=out).run.path


def evaluate(*args: str, input: str | None = None):
    return runner.invoke(app, ["evaluate", *args], input=input)


# --- metrics from probabilities ----------------------------------------------------------

def test_metrics_from_hand_made_probabilities():
    labels = np.array([0, 0, 1, 2, 2, 2])
    probabilities = np.full((6, 10), 0.01, dtype=np.float32)
    # predictions: 0, 1, 1, 2, 2, 0
    for row, (predicted, p) in enumerate([(0, 0.91), (1, 0.6), (1, 0.91), (2, 0.91),
                                          (2, 0.91), (0, 0.5)]):
        probabilities[row, predicted] = p
    evaluation = evaluate_probabilities(probabilities, labels)
    assert evaluation.accuracy == pytest.approx(4 / 6)
    assert evaluation.errors == 2
    matrix = np.array(evaluation.confusion)
    assert matrix[0, 0] == 1 and matrix[0, 1] == 1 and matrix[2, 0] == 1 and matrix[2, 2] == 2
    assert matrix.sum() == 6
    digit0, digit1, digit2 = evaluation.per_digit[:3]
    assert (digit0.precision, digit0.recall) == (pytest.approx(1 / 2), pytest.approx(1 / 2))
    assert (digit1.precision, digit1.recall) == (pytest.approx(1 / 2), pytest.approx(1.0))
    assert digit1.f1 == pytest.approx(2 / 3)
    assert (digit2.precision, digit2.recall, digit2.support) == (1.0, pytest.approx(2 / 3), 3)
    assert evaluation.per_digit[5].f1 == 0.0  # no images, no predictions: 0, not a crash
    assert evaluation.most_confused == [{"true": 0, "predicted": 1, "count": 1},
                                        {"true": 2, "predicted": 0, "count": 1}]
    # the most confident mistake first: row 5 gave the true digit 0.01, row 1 gave it 0.01
    # as well, but row 1 comes first in a stable sort
    assert list(worst_mistakes(probabilities, labels, 5)) == [1, 5]
    expected_loss = -np.mean(np.log([0.91, 0.01, 0.91, 0.91, 0.91, 0.01]))
    assert evaluation.loss == pytest.approx(expected_loss, rel=1e-6)


def test_cross_entropy_clips_like_keras():
    probabilities = np.zeros((2, 10), dtype=np.float32)
    probabilities[0, 3] = 1.0  # certain and right
    probabilities[1, 4] = 1.0  # certain and wrong: the true class has probability 0
    loss = cross_entropy(probabilities, np.array([3, 5]))
    assert loss == pytest.approx((-np.log(1 - 1e-7) - np.log(1e-7)) / 2)


def test_confusion_helpers_agree():
    labels = np.array([3, 3, 3, 8])
    predicted = np.array([3, 8, 8, 3])
    matrix = confusion_matrix(labels, predicted)
    assert most_confused(matrix) == [{"true": 3, "predicted": 8, "count": 2},
                                     {"true": 8, "predicted": 3, "count": 1}]
    scores = per_digit_scores(matrix)
    assert scores[3].recall == pytest.approx(1 / 3) and scores[8].precision == 0.0


# --- against Keras -----------------------------------------------------------------------

@pytest.mark.slow
def test_evaluate_equals_keras_model_evaluate(trained_run):
    import keras

    result = evaluate(str(trained_run / "model.keras"), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["backend"] == "keras"

    test = load_split("test", data_dir=TINY_DATA)
    model = keras.models.load_model(trained_run / "model.keras", compile=False)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    x = test.images.astype("float32")[..., None] / 255.0
    keras_loss, keras_accuracy = model.evaluate(x, test.labels, batch_size=64, verbose=0)
    assert report["images"] == len(test) == 200
    assert report["accuracy"] == pytest.approx(keras_accuracy, abs=1e-5)
    assert report["loss"] == pytest.approx(keras_loss, abs=1e-5)

    # the run's .tflite (LiteRT) gives the same numbers
    lite = evaluate(str(trained_run), "--json")
    assert lite.exit_code == 0, lite.stderr
    lite_report = json.loads(lite.stdout)
    assert lite_report["backend"] == "litert"
    assert lite_report["accuracy"] == pytest.approx(keras_accuracy, abs=1e-5)
    assert lite_report["loss"] == pytest.approx(keras_loss, abs=1e-4)
    # and what train recorded
    record = json.loads((trained_run / "run.json").read_text())
    assert record["metrics"]["test_accuracy"] == pytest.approx(keras_accuracy, abs=1e-5)


@pytest.mark.slow
def test_evaluate_with_tflite_never_imports_tensorflow(trained_run):
    code = (
        "import sys\n"
        "from mnistcli.cli import app\n"
        f"sys.argv = ['mnist', 'evaluate', {str(trained_run)!r}, '--json', '--quiet']\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('TENSORFLOW' if 'tensorflow' in sys.modules else 'NO-TENSORFLOW',"
        " file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "NO-TENSORFLOW" in done.stderr
    assert json.loads(done.stdout)["backend"] == "litert"


# --- the command -------------------------------------------------------------------------

@pytest.mark.slow
def test_report_on_stderr_and_key_values_on_stdout(trained_run):
    result = evaluate(str(trained_run))
    assert result.exit_code == 0, result.stderr
    values = dict(line.split("\t") for line in result.stdout.splitlines())
    # ece: the expected calibration error (issue 15); ece_calibrated only for a run
    # with a temperature
    assert set(values) == {"accuracy", "loss", "images", "errors", "ece"}
    assert values["images"] == "200" and 0 <= float(values["ece"]) <= 1
    assert "Confusion matrix" in result.stderr and "precision" in result.stderr


@pytest.mark.slow
def test_validation_split_uses_the_runs_validation_size(trained_run):
    result = evaluate(str(trained_run), "--split", "validation", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["split"] == "validation" and report["images"] == TINY_VALIDATION
    assert sum(map(sum, report["confusion"])) == TINY_VALIDATION
    assert sum(score["support"] for score in report["per_digit"]) == TINY_VALIDATION


@pytest.mark.slow
def test_misclassified_grid(trained_run, tmp_path):
    grid = tmp_path / "worst.png"
    result = evaluate(str(trained_run), "--misclassified", "5", "--save", str(grid), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    mistakes = report["misclassified"]
    assert len(mistakes) == 5
    assert all(m["true"] != m["predicted"] for m in mistakes)
    assert [m["p_true"] for m in mistakes] == sorted(m["p_true"] for m in mistakes)
    assert report["grid"] == str(grid)
    with Image.open(grid) as picture:
        assert picture.format == "PNG"
        assert picture.width > 5 * 28  # five enlarged digits side by side
    assert not [p for p in tmp_path.iterdir() if p.name != "worst.png"]  # no temp files


@pytest.mark.slow
def test_reads_run_from_stdin_path_or_json(trained_run):
    by_path = evaluate("--json", input=f"{trained_run}\n")
    record = {"run": str(trained_run), "model": "logreg", "status": "completed"}
    by_json = evaluate("--json", input=json.dumps(record) + "\n")
    assert by_path.exit_code == 0, by_path.stderr
    assert by_json.exit_code == 0, by_json.stderr
    assert json.loads(by_path.stdout)["run"] == str(trained_run)
    assert json.loads(by_json.stdout)["accuracy"] == json.loads(by_path.stdout)["accuracy"]


@pytest.mark.slow
def test_no_argument_uses_latest_run(trained_run, mnist_home, interactive_stdin):
    runs = mnist_home / "runs"
    runs.mkdir()
    shutil.copytree(trained_run, runs / "20200101T000000Z-logreg")
    result = evaluate("--json", input="")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["run"] == str(runs / "20200101T000000Z-logreg")


def test_no_run_and_no_shipped_model_is_a_clear_error(monkeypatch, tmp_path,
                                                      interactive_stdin):
    monkeypatch.setattr(runs_module, "ASSETS_DIR", tmp_path / "no-assets")
    result = evaluate(input="")
    assert result.exit_code == 1
    assert "no run found" in result.stderr and "mnist train" in result.stderr


def test_run_directory_with_missing_files(trained_run, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    (broken / "model.tflite").unlink()
    (broken / "history.csv").unlink()
    result = evaluate(str(broken))
    assert result.exit_code == 1
    assert "missing model.tflite, history.csv" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["notes.txt", "fake.tflite", "fake.keras"])
def test_a_file_that_is_not_a_model(tmp_path, name):
    fake = tmp_path / name
    fake.write_text("just some text, not a model\n")
    result = evaluate(str(fake))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "not a model" in result.stderr
    with pytest.raises(ModelError):
        load_predictor(fake)


@pytest.mark.slow
def test_a_model_for_another_input_shape(tmp_path):
    import keras

    inputs = keras.Input(shape=(32, 32, 3))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "cifar.keras")
    from mnistcli.keras_files import convert_to_tflite

    convert_to_tflite(model, tmp_path / "cifar.tflite")
    for name in ("cifar.keras", "cifar.tflite"):
        result = evaluate(str(tmp_path / name))
        assert result.exit_code == 1, name
        assert "expects input of shape 32x32x3" in result.stderr


def test_unknown_split_is_a_usage_error(tmp_path):
    result = evaluate(str(tmp_path), "--split", "train2")
    assert result.exit_code == 2


def test_nonexistent_run_argument():
    result = evaluate("no-such-run")
    assert result.exit_code == 1 and "no such run" in result.stderr
    assert os.environ["MNIST_HOME"]  # the autouse fixture keeps us out of the real home


@pytest.mark.slow
def test_falls_back_to_tensorflows_interpreter_without_litert(trained_run, monkeypatch):
    import mnistcli.inference as inference_module

    # where LiteRT has no wheel (Windows, Intel macOS) the same .tflite runs on
    # TensorFlow's own interpreter, with the same answers
    monkeypatch.setattr(inference_module, "litert_available", lambda: False)
    result = evaluate(str(trained_run), "--json", "--quiet")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["backend"] == "tensorflow-lite"
    assert report["model_file"].endswith("model.tflite")
    monkeypatch.undo()
    lite = json.loads(evaluate(str(trained_run), "--json", "--quiet").stdout)
    assert lite["backend"] == "litert"
    assert report["accuracy"] == pytest.approx(lite["accuracy"], abs=1e-9)


# --- your own labelled images, and the confusion matrix as a picture ----------------------

def test_evaluate_on_labelled_images_matches_the_core(trained_run):
    from conftest import FIXTURE_IMAGES

    from mnistcli.predicting import load_labelled_images

    labelled = FIXTURE_IMAGES / "labelled"
    result = evaluate(str(trained_run), "--images", str(labelled), "--json",
                      "--misclassified", "50")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    pixels, labels, paths = load_labelled_images(labelled)
    probabilities = load_predictor(trained_run / "model.tflite").predict_proba(pixels)
    expected = evaluate_probabilities(probabilities, labels)
    assert record["split"] == "images" and record["images"] == len(paths) == 30
    assert record["accuracy"] == pytest.approx(expected.accuracy)
    assert record["loss"] == pytest.approx(expected.loss, rel=1e-6)
    assert record["confusion"] == expected.confusion
    assert record["data"] == str(labelled)
    # a mistake names the file it came from, whose folder is its true digit
    assert len(record["misclassified"]) == record["errors"]
    for mistake in record["misclassified"]:
        assert Path(mistake["path"]).parent.name == str(mistake["true"])


def test_unusable_labelled_images_are_each_an_error_and_the_rest_evaluated(trained_run,
                                                                           tmp_path):
    import shutil

    from conftest import FIXTURE_IMAGES

    labelled = tmp_path / "mine"
    shutil.copytree(FIXTURE_IMAGES / "labelled", labelled)
    (labelled / "4" / "broken.png").write_bytes(b"not an image")
    nan = labelled / "7" / "nan.tiff"
    Image.fromarray(np.full((20, 20), np.nan, dtype=np.float32)).save(nan)
    result = evaluate(str(trained_run), "--images", str(labelled), "--json")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 2
    assert any("broken.png" in line for line in errors)
    assert any("nan.tiff" in line for line in errors)
    record = json.loads(result.stdout)
    assert record["images"] == 30 and len(record["skipped"]) == 2
    assert "unexpected" not in result.stderr


def test_labelled_images_with_dataset_options_is_a_usage_error(trained_run, tmp_path):
    result = evaluate(str(trained_run), "--images", str(tmp_path), "--data", str(TINY_DATA))
    assert result.exit_code == 2
    assert "--images" in result.stderr


def test_labelled_images_error_is_one_line(trained_run, tmp_path):
    result = evaluate(str(trained_run), "--images", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "no labelled images" in result.stderr
    assert result.stdout == ""


def test_plot_writes_the_confusion_matrix(trained_run, tmp_path):
    out = tmp_path / "confusion.png"
    result = evaluate(str(trained_run), "--plot", str(out))
    assert result.exit_code == 0, result.stderr
    assert f"plot\t{out}" in result.stdout.splitlines()
    with Image.open(out) as picture:
        assert picture.format == "PNG" and picture.width > 300
    # beside it, the reliability diagram and coverage curve (issue 15)
    calibration = tmp_path / "confusion-calibration.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == [calibration.name, out.name]
    assert f"calibration_plot\t{calibration}" in result.stdout.splitlines()
    as_json = evaluate(str(trained_run), "--plot", str(out), "--json", "--force")
    assert json.loads(as_json.stdout)["plot"] == str(out)
