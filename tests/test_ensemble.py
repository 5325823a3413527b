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
