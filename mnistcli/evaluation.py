"""Evaluating a model on a dataset split: accuracy, loss, per-digit scores, confusions.

Everything is computed with numpy from the model's probabilities, so evaluating a
``.tflite`` never imports tensorflow. The loss is Keras' sparse categorical
cross-entropy (probabilities clipped to [1e-7, 1 - 1e-7], as Keras does), so the numbers
match ``model.evaluate`` on the same model and data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnistcli.datasets import (
    DEFAULT_VALIDATION,
    NUM_CLASSES,
    SPLITS,
    load_split,
    resolve_data_dir,
)
from mnistcli.errors import DataError, MnistError
from mnistcli.inference import litert_available, load_predictor
from mnistcli.runs import RunInfo

# Keras' backend.epsilon(): the clipping its cross-entropy applies to probabilities.
KERAS_EPSILON = 1e-7


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean sparse categorical cross-entropy, as Keras computes it from probabilities."""
    if len(labels) == 0:
        return float("nan")
    p_true = probabilities[np.arange(len(labels)), labels.astype(np.int64)]
    p_true = np.clip(p_true.astype(np.float64), KERAS_EPSILON, 1.0 - KERAS_EPSILON)
    return float(-np.log(p_true).mean())


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray,
                     num_classes: int = NUM_CLASSES) -> np.ndarray:
    """counts[true, predicted]."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels.astype(np.int64), predicted.astype(np.int64)), 1)
    return matrix


@dataclass(frozen=True)
class DigitScore:
    digit: int
    precision: float
    recall: float
    f1: float
    support: int


def per_digit_scores(matrix: np.ndarray) -> list[DigitScore]:
    scores = []
    for digit in range(len(matrix)):
        true_positive = float(matrix[digit, digit])
        predicted_as = float(matrix[:, digit].sum())
        actual = float(matrix[digit, :].sum())
        precision = true_positive / predicted_as if predicted_as else 0.0
        recall = true_positive / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(DigitScore(digit, precision, recall, f1, int(actual)))
    return scores


def most_confused(matrix: np.ndarray, top: int = 5) -> list[dict[str, int]]:
    """The (true, predicted) pairs mistaken most often, most frequent first."""
    off_diagonal = matrix.copy()
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(-off_diagonal, axis=None, kind="stable")
    pairs = []
    for flat in order[:top]:
        true, predicted = np.unravel_index(flat, matrix.shape)
        count = int(off_diagonal[true, predicted])
        if count == 0:
            break
        pairs.append({"true": int(true), "predicted": int(predicted), "count": count})
    return pairs


def worst_mistakes(probabilities: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of misclassified images, most confident mistakes first (lowest probability
    given to the true digit)."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    p_true = probabilities[wrong, labels[wrong].astype(np.int64)]
    return wrong[np.argsort(p_true, kind="stable")][:count]


@dataclass
class Evaluation:
    """The result of evaluating one model on one split."""

    split: str
    images: int
    accuracy: float
    loss: float
    errors: int
    per_digit: list[DigitScore]
    confusion: list[list[int]]
    most_confused: list[dict[str, int]]
    model: str | None = None
    run: str | None = None
    model_file: str | None = None
    backend: str | None = None
    data: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    misclassified: list[dict[str, Any]] = field(default_factory=list)
    # your own images that could not be used (their errors); the metrics leave them out
    skipped: list[str] = field(default_factory=list)
    # a model of another dataset: its dataset and class names (None for MNIST's digits)
    dataset: str | None = None
    class_names: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        for key in ("dataset", "class_names"):
            if record[key] is None:
                del record[key]
        return record

    def name(self, index: int) -> str:
        """A class as people read it: its name, or the digit."""
        return self.class_names[index] if self.class_names else str(index)


def evaluate_probabilities(probabilities: np.ndarray, labels: np.ndarray,
                           split: str = "test", top_confused: int = 5) -> Evaluation:
    """All metrics from a model's probabilities (N, classes) and the true labels (N,)."""
    labels = np.asarray(labels).astype(np.int64)
    predicted = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predicted, num_classes=probabilities.shape[1])
    correct = int((predicted == labels).sum())
    return Evaluation(
        split=split,
        images=int(len(labels)),
        accuracy=correct / len(labels) if len(labels) else float("nan"),
        loss=cross_entropy(probabilities, labels),
        errors=int(len(labels) - correct),
        per_digit=per_digit_scores(matrix),
        confusion=matrix.tolist(),
        most_confused=most_confused(matrix, top_confused),
    )


def data_dir_for(run: RunInfo, data_dir: Path | str | None) -> Path | None:
    """The explicit --data, else the directory the run was trained on if it still exists
    (so `mnist train --data D | mnist evaluate` evaluates on D), else the default."""
    if data_dir is not None:
        return Path(data_dir)
    recorded = (run.record.get("data") or {}).get("dir")
    if recorded and Path(recorded).is_dir():
        return Path(recorded)
    return None


def evaluate_run(run: RunInfo, split: str = "test", data_dir: Path | str | None = None,
                 validation: int | None = None, misclassified: int = 0,
                 backend: str = "auto", images_dir: Path | str | None = None,
                 predictor=None, dataset: str | None = None
                 ) -> tuple[Evaluation, dict[str, np.ndarray]]:
    """Evaluate a run (or model file) on a split of the dataset, or with ``images_dir`` on
    your own labelled images (``DIR/<digit>/*.png``, preprocessed as `mnist predict`
    does; the split is then called ``"images"``).

    ``dataset`` evaluates on another registry dataset than the run's (of the same
    classes: an MNIST model on emnist-digits); a run trained on a folder of images is
    tested on the share of it held out.

    ``predictor`` replaces the run's own model file (a calibrated one, an ensemble of
    several runs: mnistcli.ensemble.load_runs_predictor); the run then only says which
    data it was trained on.

    Returns the Evaluation and the arrays behind it (``images``, ``labels``,
    ``probabilities``, ``mistakes``: indices of the worst ``misclassified`` mistakes) for
    rendering pictures.
    """
    import time

    if images_dir is None and split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    started = time.perf_counter()
    prefer = "tflite" if backend != "keras" and litert_available() else "keras"
    if backend == "litert":
        prefer = "tflite"
    if predictor is None:
        model_file = run.model_file(prefer=prefer)
        predictor = load_predictor(model_file, backend=backend)
    else:
        model_file = predictor.path
    loaded = time.perf_counter()
    paths: list[str] | None = None
    probabilities = None
    skipped: list[str] = []
    if images_dir is not None:
        from mnistcli.predicting import predict_labelled_images

        split = "images"
        labelled = predict_labelled_images(
            images_dir, predictor, preprocessing=run.preprocessing,
            class_names=None if run.digits else run.class_names)
        images, labels, probabilities = (labelled.images, labelled.labels,
                                         labelled.probabilities)
        paths, skipped = labelled.paths, [str(error) for error in labelled.failures]
        source = str(images_dir)
    else:
        if validation is None:
            recorded = (run.record.get("hyperparameters") or {}).get("validation")
            validation = int(recorded) if recorded is not None else DEFAULT_VALIDATION
        directory = data_dir_for(run, data_dir)
        from mnistcli.training_data import IMAGES, recorded_dataset, run_data

        if dataset is None and run.dataset == IMAGES:
            # a folder of images: its held-out split, chosen again with the run's seed
            folder = run_data(run.record, data_dir, validation)
            data, directory = folder.splits[split], folder.directory
        else:
            if dataset is not None and dataset != recorded_dataset(run.record):
                directory = data_dir  # another dataset: not in the run's directory
            dataset = dataset or recorded_dataset(run.record)
            data = load_split(split, data_dir=directory, dataset=dataset,
                              validation=validation)
        if len(data) == 0:
            raise MnistError(f"the {split} split is empty; nothing to evaluate")
        images, labels = data.images, data.labels
        source = str(resolve_data_dir(directory, dataset or "mnist"))
    read = time.perf_counter()
    if probabilities is None:
        probabilities = predictor.predict_proba(images)
    predicted_at = time.perf_counter()
    if len(labels) and int(labels.max()) >= probabilities.shape[1]:
        raise DataError(f"the images are labelled up to {int(labels.max())}, but the model "
                        f"knows {probabilities.shape[1]} classes: evaluate it on a dataset "
                        "of its own classes")
    evaluation = evaluate_probabilities(probabilities, labels, split=split)
    if not run.digits:
        evaluation.dataset = run.dataset
        evaluation.class_names = list(run.class_names)
    evaluation.model = run.model
    evaluation.run = str(run.path)
    evaluation.model_file = str(model_file)
    evaluation.backend = predictor.backend
    evaluation.data = source
    evaluation.skipped = skipped
    mistakes = worst_mistakes(probabilities, labels, misclassified)
    evaluation.misclassified = [
        {"index": int(i), "true": int(labels[i]),
         "predicted": int(probabilities[i].argmax()),
         "confidence": float(probabilities[i].max()),
         "p_true": float(probabilities[i, int(labels[i])]),
         **({"path": paths[i]} if paths is not None else {})}
        for i in mistakes
    ]
    evaluation.seconds = {
        "load_model": loaded - started,
        "load_data": read - loaded,
        "inference": predicted_at - read,
        "metrics": time.perf_counter() - predicted_at,
    }
    arrays = {"images": images, "labels": labels,
              "probabilities": probabilities, "mistakes": mistakes}
    return evaluation, arrays


def save_mistakes_grid(path: Path | str, images: np.ndarray, labels: np.ndarray,
                       probabilities: np.ndarray, indices: np.ndarray) -> Path:
    """A PNG grid of the given images, each captioned with its true and predicted digit
    and the model's confidence in its (wrong) answer."""
    from mnistcli.fsutil import save_png
    from mnistcli.pictures import digit_grid

    if len(indices) == 0:
        raise MnistError("no misclassified images to draw")
    captions = [
        f"{int(labels[i])} as {int(probabilities[i].argmax())} "
        f"({float(probabilities[i].max()):.0%})"
        for i in indices
    ]
    return save_png(digit_grid(images[indices], captions, scale=3, columns=8), path)
