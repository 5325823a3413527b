"""Ensembles: EnsemblePredictor averages its members' probabilities, the averaging .tflite
export gives the members' average, and `mnist predict`/`mnist evaluate` take several
models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mnistcli.ensemble import EnsemblePredictor, describe_runs
from mnistcli.errors import ModelError

IMAGES = np.zeros((2, 28, 28), dtype=np.uint8)


class Fixed:
    """A predictor answering fixed probabilities, whatever the images."""

    def __init__(self, name: str, rows, backend: str = "litert"):
        self.path = Path(name)
        self.backend = backend
        self.rows = np.array(rows, dtype=np.float32)
        self.num_classes = self.rows.shape[1]

    def predict_proba(self, images):
        assert len(images) == len(self.rows)
        return self.rows


def test_ensemble_averages_by_hand():
    a = Fixed("a.tflite", [[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    b = Fixed("b.tflite", [[0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
    c = Fixed("c.keras", [[0.1, 0.8, 0.1], [0.2, 0.2, 0.6]], backend="keras")
    two = EnsemblePredictor([a, b]).predict_proba(IMAGES)
    np.testing.assert_allclose(two, [[0.4, 0.5, 0.1], [0.2, 0.2, 0.6]], atol=1e-7)
    three = EnsemblePredictor([a, b, c])
    # row 0: (0.6 + 0.2 + 0.1) / 3 = 0.3, (0.3 + 0.7 + 0.8) / 3 = 0.6, 0.1
    np.testing.assert_allclose(three.predict_proba(IMAGES),
                               [[0.3, 0.6, 0.1], [0.2, 0.2, 0.6]], atol=1e-7)
    assert three.predict_proba(IMAGES).dtype == np.float32
    assert str(three.path) == "a.tflite + b.tflite + c.keras"
    assert three.backend == "litert+keras" and three.num_classes == 3
    assert "average of 3" in three.description


def test_ensemble_answer_can_differ_from_every_majority_of_answers():
    # two members say class 0 barely, one says class 1 surely: the average says 1
    a = Fixed("a", [[0.55, 0.45]] * 2)
    b = Fixed("b", [[0.55, 0.45]] * 2)
    c = Fixed("c", [[0.01, 0.99]] * 2)
    averaged = EnsemblePredictor([a, b, c]).predict_proba(IMAGES)
    np.testing.assert_allclose(averaged[0], [0.37, 0.63], atol=1e-6)


def test_ensemble_needs_two_members_with_the_same_classes():
    with pytest.raises(ModelError, match="at least two"):
        EnsemblePredictor([Fixed("a", [[1.0, 0.0]])])
    with pytest.raises(ModelError, match="same classes"):
        EnsemblePredictor([Fixed("a", [[1.0, 0.0]]), Fixed("b", [[0.2, 0.3, 0.5]])])


class FakeRun:
    def __init__(self, model):
        self.model = model


def test_describe_runs():
    runs = [FakeRun("cnn-best"), FakeRun("cnn-best"), FakeRun("cnn")]
    assert describe_runs(runs) == "ensemble of 3 (cnn-best x2, cnn)"


# ---------------------------------------------------------------- with trained runs


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from trained_runs import make_run

    from mnistcli.runs import load_run

    parent = tmp_path_factory.mktemp("ensemble_runs")
    first = make_run("cnn", parent / "one")
    second = make_run("mlp", parent / "two")
    return load_run(first), load_run(second)


@pytest.fixture(scope="module")
def tiny_test_images():
    from conftest import TINY_DATA

    from mnistcli.datasets import load_split

    return load_split("test", TINY_DATA)


@pytest.mark.slow
def test_export_of_an_ensemble_answers_as_the_separate_models(two_runs, tiny_test_images,
                                                              tmp_path):
    from mnistcli.ensemble import export_ensemble
    from mnistcli.inference import load_predictor

    images = tiny_test_images.images
    out = tmp_path / "ensemble.tflite"
    result = export_ensemble(two_runs, out, check_images=images[:32])
    assert out.is_file() and result["max_difference"] <= 1e-4
    separate = [load_predictor(run.path / "model.keras").predict_proba(images)
                for run in two_runs]
    expected = (separate[0] + separate[1]) / 2
    actual = load_predictor(out).predict_proba(images)
    np.testing.assert_allclose(actual, expected, atol=1e-5)
    np.testing.assert_array_equal(actual.argmax(axis=1), expected.argmax(axis=1))


@pytest.mark.slow
def test_export_keeps_each_members_temperature(two_runs, tiny_test_images, tmp_path):
    import shutil

    from mnistcli.calibration import apply_temperature
    from mnistcli.ensemble import export_ensemble
    from mnistcli.inference import load_predictor
    from mnistcli.runs import load_run

    copy = tmp_path / "calibrated"
    shutil.copytree(two_runs[0].path, copy)
    record = json.loads((copy / "run.json").read_text())
    record["calibration"] = {"temperature": 2.5}
    (copy / "run.json").write_text(json.dumps(record))
    runs = [load_run(copy), two_runs[1]]
    images = tiny_test_images.images[:64]
    out = tmp_path / "tempered.tflite"
    export_ensemble(runs, out, check_images=images)
    first = apply_temperature(load_predictor(copy / "model.tflite").predict_proba(images), 2.5)
    second = load_predictor(two_runs[1].path / "model.tflite").predict_proba(images)
    np.testing.assert_allclose(load_predictor(out).predict_proba(images),
                               (first + second) / 2, atol=1e-5)


# ---------------------------------------------------------------- the commands


def _invoke(*args: str):
    from typer.testing import CliRunner

    from mnistcli.cli import app

    return CliRunner().invoke(app, list(args))


@pytest.mark.slow
def test_evaluate_several_runs_averages_them(two_runs, tiny_test_images):
    from conftest import TINY_DATA

    from mnistcli.inference import load_predictor

    result = _invoke("evaluate", str(two_runs[0].path), str(two_runs[1].path),
                     "--data", str(TINY_DATA), "--json")
    assert result.exit_code == 0, result.output
    assert "probabilities are averaged" in result.stderr
    report = json.loads(result.stdout)
    assert report["model"] == "ensemble of 2 (cnn, mlp)"
    separate = [load_predictor(run.path / "model.tflite").predict_proba(
        tiny_test_images.images) for run in two_runs]
    averaged = (separate[0] + separate[1]) / 2
    expected = float((averaged.argmax(axis=1) == tiny_test_images.labels).mean())
    assert report["accuracy"] == pytest.approx(expected)
    assert " + " in report["model_file"]
    assert report["calibration"]["tradeoff"][0]["threshold"] == 0.5


@pytest.mark.slow
def test_predict_with_several_models_averages_them(two_runs):
    from conftest import FIXTURE_IMAGES

    from mnistcli.inference import load_predictor
    from mnistcli.predicting import predict_sources

    image = str(FIXTURE_IMAGES / "7_white_on_black.png")
    result = _invoke("predict", "--model", str(two_runs[0].path), "--model",
                     str(two_runs[1].path), "--json", image)
    assert result.exit_code == 0, result.output
    assert "probabilities are averaged" in result.stderr
    record = json.loads(result.stdout)
    separate = [next(predict_sources([image], load_predictor(run.path / "model.tflite")))
                for run in two_runs]
    expected = (separate[0].probabilities + separate[1].probabilities) / 2
    np.testing.assert_allclose(record["probabilities"], expected, atol=2e-6)


@pytest.mark.slow
def test_predict_rejects_below_min_confidence(two_runs):
    from conftest import FIXTURE_IMAGES

    run = str(two_runs[0].path)  # a few training steps: unsure of everything
    images = [str(FIXTURE_IMAGES / name) for name in ("3_black_on_white.png",
                                                      "7_white_on_black.png")]
    tsv = _invoke("predict", "--model", run, "--min-confidence", "0.999", *images)
    assert tsv.exit_code == 0, tsv.output
    assert [line.split("\t")[1] for line in tsv.stdout.splitlines()] == ["?", "?"]
    as_json = _invoke("predict", "--model", run, "--min-confidence", "0.999", "--json",
                      *images)
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [r["rejected"] for r in records] == [True, True]
    assert all(r["digit"] is None for r in records)
    answered = _invoke("predict", "--model", run, "--min-confidence", "0", "--json", *images)
    assert all(json.loads(line)["rejected"] is False
               for line in answered.stdout.splitlines())


@pytest.mark.slow
def test_calibrate_then_evaluate_reports_before_and_after(two_runs, tmp_path):
    import shutil

    from conftest import TINY_DATA

    run = tmp_path / "run"
    shutil.copytree(two_runs[0].path, run)
    calibrated = _invoke("calibrate", str(run))
    assert calibrated.exit_code == 0, calibrated.output
    values = dict(line.split("\t") for line in calibrated.stdout.splitlines())
    assert float(values["temperature"]) > 0
    assert json.loads((run / "run.json").read_text())["calibration"]["temperature"] > 0
    report = _invoke("evaluate", str(run), "--data", str(TINY_DATA), "--json")
    assert report.exit_code == 0, report.output
    calibration = json.loads(report.stdout)["calibration"]
    assert calibration["ece_calibrated"] is not None
    assert calibration["temperatures"] == [pytest.approx(float(values["temperature"]))]


@pytest.mark.slow
def test_export_command_writes_one_averaging_file(two_runs, tmp_path):
    from conftest import FIXTURE_IMAGES, TINY_DATA

    out = tmp_path / "both.tflite"
    exported = _invoke("export", str(two_runs[0].path), str(two_runs[1].path), "--out",
                       str(out), "--data", str(TINY_DATA))
    assert exported.exit_code == 0, exported.output
    assert exported.stdout == f"{out}\n" and "averaging" in exported.stderr
    image = str(FIXTURE_IMAGES / "4_photo_crop.jpg")
    one_file = _invoke("predict", "--model", str(out), "--json", image)
    two_models = _invoke("predict", "--model", str(two_runs[0].path), "--model",
                         str(two_runs[1].path), "--json", image)
    np.testing.assert_allclose(json.loads(one_file.stdout)["probabilities"],
                               json.loads(two_models.stdout)["probabilities"], atol=2e-5)
    refused = _invoke("export", str(two_runs[0].path), str(two_runs[1].path), "--format",
                      "onnx")
    assert refused.exit_code == 2
