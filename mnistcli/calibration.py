"""How far a model's confidence can be trusted, and when not to answer.

From a model's probabilities (N, classes) and the true labels, with numpy only:

- :func:`expected_calibration_error` and :func:`reliability_bins`: does a confidence of
  0.9 mean right 90% of the time? (equal-width confidence bins, Guo et al. 2017);
- :func:`tradeoff` and :func:`coverage_curve`: answer only when the confidence reaches a
  threshold; the share of images answered (coverage) against the accuracy on them;
- :func:`fit_temperature`: temperature scaling, one number T fitted on the validation
  split by minimising the cross-entropy of ``softmax(log p / T)``. It never changes the
  answer (the order of the classes stays), only how sure the model says it is.

A run's temperature lives in its run.json under ``"calibration"`` (:func:`calibrate_run`
fits and stores it; `mnist calibrate RUN`), and :func:`calibrated` wraps a run's predictor
so every command that loads the run's model through :func:`load_run_predictor` answers
with calibrated probabilities. The temperature works on log-probabilities because the
TensorFlow Lite models end in their softmax.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mnistcli.errors import MnistError, RunError

CALIBRATION_KEY = "calibration"  # in run.json
DEFAULT_BINS = 15
# Thresholds the trade-off table shows by default (confidence of the answer, 0-1).
DEFAULT_THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99, 0.999)
# The smallest probability taken to a logarithm: float32 softmax outputs reach 0 exactly.
LOG_FLOOR = 1e-12
# Temperatures the fit searches between, on a log scale.
TEMPERATURE_RANGE = (0.05, 20.0)


# ------------------------------------------------------------------------ temperature


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row by row, float32: T > 1 softens over-confident
    probabilities, T < 1 sharpens them, T = 1 leaves them (up to rounding)."""
    if not temperature > 0:
        raise MnistError(f"a temperature must be positive, not {temperature}")
    logits = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), LOG_FLOOR, None))
    scaled = logits / float(temperature)
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of the true labels (probabilities floored at LOG_FLOOR)."""
    labels = np.asarray(labels).astype(np.int64)
    if len(labels) == 0:
        return float("nan")
    p_true = np.asarray(probabilities, dtype=np.float64)[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(p_true, LOG_FLOOR, None)).mean())


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray,
                    tolerance: float = 1e-4) -> float:
    """The temperature minimising the cross-entropy of ``apply_temperature(p, T)`` on
    ``labels``: a golden-section search over log T in TEMPERATURE_RANGE (the loss is
    convex in 1/T, so one minimum)."""
    labels = np.asarray(labels).astype(np.int64)
    if len(labels) == 0:
        raise MnistError("fitting a temperature needs labelled images; there are none")
    logits = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), LOG_FLOOR, None))
    rows = np.arange(len(labels))

    def loss(log_t: float) -> float:
        scaled = logits / math.exp(log_t)
        top = scaled.max(axis=1)
        log_sum = top + np.log(np.exp(scaled - top[:, None]).sum(axis=1))
        return float((log_sum - scaled[rows, labels]).mean())

    low, high = math.log(TEMPERATURE_RANGE[0]), math.log(TEMPERATURE_RANGE[1])
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    while high - low > tolerance:
        if loss_a < loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - ratio * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + ratio * (high - low)
            loss_b = loss(b)
    return float(math.exp((low + high) / 2))


class TemperatureScaled:
    """A Predictor whose probabilities are another's with a temperature applied."""

    def __init__(self, predictor, temperature: float):
        if not temperature > 0:
            raise MnistError(f"a temperature must be positive, not {temperature}")
        self.inner = predictor
        self.temperature = float(temperature)
        self.path = predictor.path
        self.backend = predictor.backend
        self.num_classes = predictor.num_classes

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return apply_temperature(self.inner.predict_proba(images), self.temperature)


def run_temperature(record: dict[str, Any]) -> float | None:
    """The temperature stored in a run record, or None (not calibrated)."""
    value = (record.get(CALIBRATION_KEY) or {}).get("temperature")
    return float(value) if value is not None else None


def calibrated(predictor, record: dict[str, Any]):
    """``predictor`` with the run's stored temperature applied, or as it is."""
    temperature = run_temperature(record)
    return predictor if temperature is None else TemperatureScaled(predictor, temperature)


def load_run_predictor(run, backend: str = "auto", calibrate: bool = True):
    """The predictor for a run (or model file): its .tflite when there is one (on LiteRT,
    else TensorFlow's interpreter), its .keras with ``backend="keras"``; with the run's
    temperature when it has one and ``calibrate`` is true."""
    from mnistcli.inference import load_predictor

    prefer = "keras" if backend == "keras" else "tflite"
    predictor = load_predictor(run.model_file(prefer=prefer), backend=backend)
    return calibrated(predictor, run.record) if calibrate else predictor


# ------------------------------------------------------------------------ measuring


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float  # the bin holds confidences in (lower, upper]
    upper: float
    count: int
    confidence: float  # mean confidence of its images (nan when empty)
    accuracy: float  # share of them answered right (nan when empty)


def _confidence_and_correct(probabilities: np.ndarray, labels: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray]:
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise MnistError(f"probabilities {probabilities.shape} do not match "
                         f"{len(labels)} labels")
    return probabilities.max(axis=1), probabilities.argmax(axis=1) == labels


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray,
                     bins: int = DEFAULT_BINS) -> list[ReliabilityBin]:
    """The images grouped by the confidence of their answer into ``bins`` equal-width
    bins over (0, 1]: per bin, how sure the model was and how often it was right."""
    confidence, correct = _confidence_and_correct(probabilities, labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # bin i holds (edges[i], edges[i + 1]]; a confidence of exactly 0 joins the first
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    result = []
    for i in range(bins):
        members = index == i
        count = int(members.sum())
        result.append(ReliabilityBin(
            float(edges[i]), float(edges[i + 1]), count,
            float(confidence[members].mean()) if count else float("nan"),
            float(correct[members].mean()) if count else float("nan")))
    return result


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray,
                               bins: int = DEFAULT_BINS) -> float:
    """ECE: the gap between confidence and accuracy per bin, weighted by the bin's share
    of the images (0 is perfectly calibrated)."""
    total = len(labels)
    if total == 0:
        return float("nan")
    return float(sum(b.count / total * abs(b.accuracy - b.confidence)
                     for b in reliability_bins(probabilities, labels, bins) if b.count))


@dataclass(frozen=True)
class TradeoffRow:
    threshold: float  # answer when the confidence is at least this
    answered: int
    coverage: float  # share of the images answered
    accuracy: float  # share of the answers that are right (nan when none)
    errors: int  # wrong answers given


def tradeoff(probabilities: np.ndarray, labels: np.ndarray,
             thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> list[TradeoffRow]:
    """For each threshold: answering only at that confidence or above, how many images
    are answered and how many of those answers are right."""
    confidence, correct = _confidence_and_correct(probabilities, labels)
    rows = []
    for threshold in thresholds:
        answered = confidence >= threshold
        count = int(answered.sum())
        right = int(correct[answered].sum())
        rows.append(TradeoffRow(float(threshold), count,
                                count / len(labels) if len(labels) else float("nan"),
                                right / count if count else float("nan"), count - right))
    return rows


def coverage_curve(probabilities: np.ndarray, labels: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coverage, accuracy, threshold) arrays: answering the k most confident images,
    for every k, with the confidence of the k-th."""
    confidence, correct = _confidence_and_correct(probabilities, labels)
    order = np.argsort(-confidence, kind="stable")
    answered = np.arange(1, len(order) + 1)
    accuracy = np.cumsum(correct[order]) / answered
    return answered / max(1, len(order)), accuracy, confidence[order]


def at_coverage(probabilities: np.ndarray, labels: np.ndarray, coverage: float
                ) -> TradeoffRow:
    """The threshold answering (at least) ``coverage`` of the images, e.g. 0.99, and
    the accuracy there."""
    if not 0 < coverage <= 1:
        raise MnistError(f"coverage must be in (0, 1], not {coverage}")
    confidence, _ = _confidence_and_correct(probabilities, labels)
    if len(confidence) == 0:
        raise MnistError("no images")
    ranked = np.sort(confidence)[::-1]
    threshold = float(ranked[max(0, math.ceil(coverage * len(ranked)) - 1)])
    return tradeoff(probabilities, labels, [threshold])[0]


@dataclass
class CalibrationReport:
    """What `mnist evaluate` shows about confidence: the calibration error of the model's
    own probabilities and, when it answers with calibrated ones, of those; the trade-off
    table, the 99%-coverage point and the reliability bins of what it answers with."""

    ece: float  # of the model's own probabilities
    ece_calibrated: float | None = None  # of the calibrated ones, when calibrated
    temperatures: list[float | None] | None = None  # per model (several for an ensemble)
    bins: int = DEFAULT_BINS
    tradeoff: list[TradeoffRow] | None = None
    at_99_coverage: TradeoffRow | None = None
    reliability: list[ReliabilityBin] | None = None

    @property
    def calibrated(self) -> bool:
        return self.ece_calibrated is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def calibration_report(probabilities: np.ndarray, labels: np.ndarray,
                       uncalibrated: np.ndarray | None = None,
                       temperatures: Sequence[float | None] | None = None,
                       thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                       bins: int = DEFAULT_BINS) -> CalibrationReport:
    """Calibration and the trade-off of ``probabilities``, what the model answers with.
    When those are calibrated, ``uncalibrated`` are the model's own (the "before")."""
    report = CalibrationReport(
        ece=expected_calibration_error(
            probabilities if uncalibrated is None else uncalibrated, labels, bins),
        temperatures=list(temperatures) if temperatures is not None else None, bins=bins)
    if uncalibrated is not None:
        report.ece_calibrated = expected_calibration_error(probabilities, labels, bins)
    if len(labels):
        report.tradeoff = tradeoff(probabilities, labels, thresholds)
        report.at_99_coverage = at_coverage(probabilities, labels, 0.99)
        report.reliability = reliability_bins(probabilities, labels, bins)
    return report


# ------------------------------------------------------------------------ runs


def calibrate_run(run, data_dir: Path | str | None = None, backend: str = "auto"
                  ) -> dict[str, Any]:
    """Fit the temperature of a run on its validation split (the images it held out in
    training) and store it in its run.json; returns the stored calibration record."""
    from mnistcli.datasets import DEFAULT_VALIDATION, load_split, resolve_data_dir
    from mnistcli.evaluation import data_dir_for
    from mnistcli.fsutil import write_text_atomic
    from mnistcli.runs import RUN_FILE

    if run.source != "run":
        raise RunError(f"{run.path}: only a run directory can store a temperature "
                       "(calibrate a run made by `mnist train`)")
    recorded = (run.record.get("hyperparameters") or {}).get("validation")
    validation = int(recorded) if recorded is not None else DEFAULT_VALIDATION
    if validation == 0:
        raise RunError(f"{run.path}: trained without a validation split (--validation 0); "
                       "there are no held-out images to calibrate on")
    directory = data_dir_for(run, data_dir)
    data = load_split("validation", data_dir=directory, validation=validation)
    raw = load_run_predictor(run, backend=backend, calibrate=False).predict_proba(data.images)
    temperature = fit_temperature(raw, data.labels)
    scaled = apply_temperature(raw, temperature)
    record = {
        "temperature": round(temperature, 6),
        "split": "validation",
        "images": int(len(data.labels)),
        "data": str(resolve_data_dir(directory)),
        "ece_before": expected_calibration_error(raw, data.labels),
        "ece_after": expected_calibration_error(scaled, data.labels),
        "nll_before": negative_log_likelihood(raw, data.labels),
        "nll_after": negative_log_likelihood(scaled, data.labels),
        "fitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path = run.path / RUN_FILE
    current = json.loads(path.read_text(encoding="utf-8"))  # as it is now on disk
    current[CALIBRATION_KEY] = record
    write_text_atomic(path, json.dumps(current, indent=2) + "\n")
    return record
