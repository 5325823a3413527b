"""mnistcli.calibration: calibration error, reliability, the coverage trade-off and
temperature scaling, on toy cases whose answers are worked out by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mnistcli.calibration import (
    TemperatureScaled,
    apply_temperature,
    at_coverage,
    calibrate_run,
    calibrated,
    calibration_report,
    coverage_curve,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
    run_temperature,
    tradeoff,
)
from mnistcli.errors import MnistError


def two_class(confidences: list[float], right: list[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities answering class 0 with each confidence; the label is 0 when the
    answer is right, else 1."""
    p = np.array([[c, 1 - c] for c in confidences], dtype=np.float32)
    labels = np.array([0 if ok else 1 for ok in right])
    return p, labels


def test_ece_of_a_known_toy_case():
    # bin (0.8, 0.9]: four answers at 0.9, three right -> |0.75 - 0.9| = 0.15
    # bin (0.5, 0.6] (of 10 bins): four answers at 0.6, all right -> |1.0 - 0.6| = 0.4
    p, labels = two_class([0.9] * 4 + [0.6] * 4, [True, True, True, False] + [True] * 4)
    ece = expected_calibration_error(p, labels, bins=10)
    assert ece == pytest.approx(0.5 * 0.15 + 0.5 * 0.4, abs=1e-6)


def test_perfectly_calibrated_and_always_sure():
    p, labels = two_class([0.75] * 4, [True, True, True, False])
    assert expected_calibration_error(p, labels, bins=10) == pytest.approx(0.0, abs=1e-6)
    sure, labels = two_class([1.0] * 5, [True] * 4 + [False])
    assert expected_calibration_error(sure, labels) == pytest.approx(0.2, abs=1e-6)


def test_reliability_bins_hold_every_image_once():
    p, labels = two_class([0.55, 0.65, 0.65, 0.95, 1.0], [True, False, True, True, True])
    bins = reliability_bins(p, labels, bins=10)
    assert len(bins) == 10 and sum(b.count for b in bins) == 5
    assert [b.count for b in bins][5:] == [1, 2, 0, 0, 2]
    assert bins[6].accuracy == 0.5 and bins[6].confidence == pytest.approx(0.65)
    assert math.isnan(bins[7].accuracy)


def test_tradeoff_rows():
    p, labels = two_class([0.99, 0.97, 0.9, 0.8, 0.6], [True, True, False, True, False])
    rows = tradeoff(p, labels, [0.5, 0.85, 0.95, 0.999])
    assert [(r.answered, r.errors) for r in rows] == [(5, 2), (3, 1), (2, 0), (0, 0)]
    assert rows[1].coverage == 0.6 and rows[1].accuracy == pytest.approx(2 / 3)
    assert math.isnan(rows[3].accuracy)


def test_coverage_curve_and_threshold_for_a_coverage():
    p, labels = two_class([0.99, 0.97, 0.9, 0.8, 0.6], [True, True, False, True, False])
    coverage, accuracy, threshold = coverage_curve(p, labels)
    np.testing.assert_allclose(coverage, [0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(accuracy, [1, 1, 2 / 3, 3 / 4, 3 / 5])
    np.testing.assert_allclose(threshold, [0.99, 0.97, 0.9, 0.8, 0.6], rtol=1e-6)
    row = at_coverage(p, labels, 0.4)
    assert row.threshold == pytest.approx(0.97) and row.answered == 2 and row.accuracy == 1
    with pytest.raises(MnistError):
        at_coverage(p, labels, 0)


def test_apply_temperature_keeps_the_answer_and_softens():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype=np.float32)
    np.testing.assert_allclose(apply_temperature(p, 1.0), p, atol=1e-6)
    soft = apply_temperature(p, 2.0)
    # softmax(log p / 2) is sqrt(p), renormalised
    expected = np.sqrt(p) / np.sqrt(p).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(soft, expected, atol=1e-6)
    np.testing.assert_array_equal(soft.argmax(axis=1), p.argmax(axis=1))
    with pytest.raises(MnistError):
        apply_temperature(p, 0)


def test_fit_temperature_recovers_a_known_temperature():
    # labels drawn from softmax(z); the model reports softmax(3 z): over-confident by 3
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, size=(4000, 10))
    true_p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(10, p=row) for row in true_p])
    sharp = np.exp(3 * logits)
    sharp /= sharp.sum(axis=1, keepdims=True)
    temperature = fit_temperature(sharp, labels)
    assert temperature == pytest.approx(3.0, rel=0.1)
    before = expected_calibration_error(sharp, labels)
    after = expected_calibration_error(apply_temperature(sharp, temperature), labels)
    assert after < before / 3
    assert negative_log_likelihood(apply_temperature(sharp, temperature), labels) \
        < negative_log_likelihood(sharp, labels)


class Constant:
    path = Path("constant.tflite")
    backend = "litert"
    num_classes = 2

    def predict_proba(self, images):
        return np.tile(np.array([[0.8, 0.2]], dtype=np.float32), (len(images), 1))


def test_calibrated_predictor_from_a_run_record():
    predictor = Constant()
    assert calibrated(predictor, {}) is predictor
    assert run_temperature({"calibration": {"temperature": 2}}) == 2.0
    wrapped = calibrated(predictor, {"calibration": {"temperature": 2.0}})
    assert isinstance(wrapped, TemperatureScaled)
    assert (wrapped.path, wrapped.backend, wrapped.num_classes) == \
        (predictor.path, "litert", 2)
    # sqrt(0.8) : sqrt(0.2) = 2 : 1
    np.testing.assert_allclose(wrapped.predict_proba(np.zeros((3, 28, 28), np.uint8)),
                               [[2 / 3, 1 / 3]] * 3, atol=1e-6)


def test_report_before_and_after():
    p, labels = two_class([0.99] * 9 + [0.99], [True] * 9 + [False])
    report = calibration_report(p, labels)
    assert report.ece == pytest.approx(0.09, abs=1e-6)
    assert not report.calibrated and report.at_99_coverage.answered == 10
    softened = apply_temperature(p, 2.0)
    scaled = calibration_report(softened, labels, uncalibrated=p, temperatures=[2.0])
    assert scaled.ece == report.ece and scaled.calibrated
    assert scaled.ece_calibrated == pytest.approx(
        expected_calibration_error(softened, labels))
    assert json.dumps(scaled.to_dict())  # JSON-ready


@pytest.mark.slow
def test_calibrate_run_stores_the_temperature(tmp_path):
    from trained_runs import make_run

    from mnistcli.runs import load_run

    run = load_run(make_run("logreg", tmp_path))
    stored = calibrate_run(run)
    assert stored["temperature"] > 0 and stored["images"] == 100
    record = json.loads((run.path / "run.json").read_text())
    assert record["calibration"] == stored
    assert record["model"] == "logreg"  # the rest of the record is kept
    assert stored["nll_after"] <= stored["nll_before"] + 1e-9


def test_calibration_chart(tmp_path):
    from PIL import Image

    from mnistcli.charts import CALIBRATION_FIGSIZE, DPI, plot_calibration

    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.5, 1.0, 500)
    right = rng.uniform(size=500) < confidence
    p, labels = two_class(list(confidence), list(right))
    coverage, accuracy, _ = coverage_curve(p, labels)
    out = plot_calibration(reliability_bins(p, labels), coverage, accuracy,
                           tmp_path / "calibration.png", title="toy")
    with Image.open(out) as picture:
        assert picture.size == (CALIBRATION_FIGSIZE[0] * DPI, CALIBRATION_FIGSIZE[1] * DPI)
