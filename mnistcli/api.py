"""The Python API: what the ``mnist`` command does, for notebooks and scripts.

    import mnistcli

    model = mnistcli.load_model()               # latest run, else the shipped model
    answer = model.predict("digit.png")         # a path, PIL image, array or bytes
    answer.digit, answer.confidence

    run = mnistcli.train("logreg", epochs=1)    # a new run in MNIST_HOME
    mnistcli.evaluate(run).accuracy

Everything here is a thin layer over the core modules (``mnistcli.runs``,
``mnistcli.predicting``, ``mnistcli.training``, ``mnistcli.evaluation``), the same calls the
command line makes. tensorflow is imported only by :func:`train` (and by a ``.keras``
model where no ``.tflite`` exists).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mnistcli.errors import MnistError

if TYPE_CHECKING:
    from mnistcli.evaluation import Evaluation
    from mnistcli.inference import Predictor
    from mnistcli.predicting import Prediction
    from mnistcli.runs import RunInfo

@dataclass(frozen=True)
class Answer:
    """One image's answer: ``digit`` (the class index), ``confidence``, all
    ``probabilities``, the 28x28 ``pixels`` the model saw, and ``label`` (the class name:
    ``"7"`` for digits, ``"Sneaker"`` for Fashion-MNIST)."""

    source: str
    digit: int
    label: str
    confidence: float
    probabilities: np.ndarray
    pixels: np.ndarray

    def top(self, k: int = 3) -> list[tuple[int, float]]:
        """The ``k`` most likely classes as (index, probability)."""
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(int(i), float(self.probabilities[i])) for i in order]


class Model:
    """A trained model ready to predict: a run, a model file or the shipped model."""

    def __init__(self, run: RunInfo, predictor: Predictor):
        self.run = run
        self._predictor = predictor

    @property
    def path(self) -> Path:
        """The model file that answers."""
        return Path(self._predictor.path)

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def backend(self) -> str:
        """``"litert"`` (fast, no tensorflow) or ``"keras"``."""
        return self._predictor.backend

    @property
    def test_accuracy(self) -> float | None:
        return self.run.test_accuracy

    @property
    def class_names(self) -> list[str]:
        """The run's class names (RunInfo knows them: recorded, else MNIST's digits); a
        bare model file of another class count gets its indices."""
        names = [str(name) for name in self.run.class_names]
        count = int(getattr(self._predictor, "num_classes", len(names)))
        return names if len(names) == count else [str(index) for index in range(count)]

    def predict(self, image: Any) -> Answer:
        """The answer for one image; raises an MnistError (ImageError, ...) if the image
        cannot be used."""
        [prediction] = self._predict([image])
        if not prediction.ok:
            raise prediction.error
        return self._answer(prediction)

    def predict_many(self, images: Iterable[Any]) -> list[Answer | MnistError]:
        """Answers for many images, in order; an image that cannot be used gives its
        error in its place instead of stopping the others. Directories stand for the
        images inside them."""
        return [self._answer(p) if p.ok else p.error for p in self._predict(images)]

    def predict_proba(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities for images already in MNIST form: uint8 (N, 28, 28)."""
        return self._predictor.predict_proba(pixels)

    def _predict(self, images: Iterable[Any]) -> list[Prediction]:
        from mnistcli.predicting import NamedImage, predict_sources

        sources = []
        for index, image in enumerate(images):
            if isinstance(image, (str, Path, NamedImage)):
                sources.append(image)
            else:
                sources.append(NamedImage(f"<image {index}>", image))
        # prepared as the run's dataset was made (Fashion-MNIST's conversion differs)
        return list(predict_sources(sources, self._predictor,
                                    preprocessing=self.run.preprocessing))

    def _answer(self, prediction: Prediction) -> Answer:
        names = self.class_names
        index = prediction.label
        return Answer(source=prediction.source, digit=index,
                      label=names[index] if index < len(names) else str(index),
                      confidence=prediction.confidence,
                      probabilities=prediction.probabilities, pixels=prediction.pixels)

    def __repr__(self) -> str:
        accuracy = f", test accuracy {self.test_accuracy:.2%}" if self.test_accuracy else ""
        return f"<mnistcli.Model {self.name} ({self.backend}{accuracy})>"


def load_model(model: str | Path | None = None, backend: str = "auto") -> Model:
    """A run directory or its name, a ``.tflite``/``.keras`` file, or None for the latest
    run in MNIST_HOME, else the model shipped with mnistcli. A run calibrated with `mnist
    calibrate` answers with its temperature applied."""
    from mnistcli.calibration import load_run_predictor
    from mnistcli.runs import resolve_run

    run = resolve_run(model)
    return Model(run, load_run_predictor(run, backend=backend))


def train(model: str = "cnn", *, out: str | Path | None = None,
          data_dir: str | Path | None = None, observer: Any = None,
          **recipe: Any) -> Model:
    """Train a zoo model (``mnist models`` lists them) into a new run and return it,
    loaded. ``recipe`` overrides the model's default recipe: epochs, batch_size,
    learning_rate, optimizer, seed, validation. ``observer``: a
    ``mnistcli.training.TrainingObserver`` that receives progress (default: silent)."""
    from mnistcli import recipes, training

    config = recipes.make_config(model, data_dir=data_dir, **recipe)
    result = training.train(config, out=out, observer=observer)
    return load_model(result.run.path)


def evaluate(model: Model | str | Path | None = None, split: str = "test",
             data_dir: str | Path | None = None,
             images_dir: str | Path | None = None) -> Evaluation:
    """Accuracy, loss, per-class scores and the confusion matrix of a model on a split of
    its dataset, or on your own labelled images (``images_dir/<digit>/*.png``)."""
    from mnistcli.evaluation import evaluate_run
    from mnistcli.runs import resolve_run

    run = model.run if isinstance(model, Model) else resolve_run(model)
    evaluation, _arrays = evaluate_run(run, split=split, data_dir=data_dir,
                                       images_dir=images_dir)
    return evaluation


__all__ = ["Answer", "Model", "evaluate", "load_model", "train"]
