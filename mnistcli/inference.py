"""Turning MNIST-style images into class probabilities, as fast as the platform allows.

API (kept small on purpose; image preprocessing builds on top of it)::

    predictor = load_predictor("run/model.tflite")     # or a .keras file
    probabilities = predictor.predict_proba(images)     # uint8 (N, 28, 28) -> float32 (N, 10)

A ``.tflite`` file runs through LiteRT (``ai_edge_litert``, ~0.15 s to import), so
inference never imports tensorflow (~4 s). A ``.keras`` file, or a ``.tflite`` where
LiteRT is not installed, goes through Keras. Input images are uint8 pixels 0-255 (white
ink on black, as in MNIST); they are scaled to [0, 1] here exactly as in training.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Protocol

import numpy as np

from mnistcli.datasets import IMAGE_PIXELS, IMAGE_SHAPE, IMAGE_SIDE
from mnistcli.errors import MnistError, ModelError
from mnistcli.stdio import import_keras, quiet_native_stderr

# Big enough to amortise per-call overhead, small enough to keep memory flat.
DEFAULT_BATCH_SIZE = 1024
TFLITE_IDENTIFIER = b"TFL3"  # bytes 4-8 of every TensorFlow Lite flatbuffer


class Predictor(Protocol):
    path: Path
    backend: str  # "litert" or "keras"
    num_classes: int  # the size of the model's output

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """uint8 images (N, 28, 28) -> float32 probabilities (N, num_classes)."""
        ...


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1], what every zoo model takes."""
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise ModelError(f"expected images of shape (N, {IMAGE_SIDE}, {IMAGE_SIDE}), "
                         f"got {images.shape}")
    return (images.astype(np.float32) / np.float32(255.0))[..., None]


def _check_shapes(path: Path, input_shape, output_shape) -> int:
    """The model must take 28x28(x1) images and give at least two classes; returns how
    many classes it gives."""
    spatial = tuple(int(d) for d in input_shape[1:])
    if spatial not in ((*IMAGE_SHAPE, 1), IMAGE_SHAPE, (IMAGE_PIXELS,)):
        shown = "x".join("?" if d < 0 else str(d) for d in spatial)
        raise ModelError(
            f"{path}: model expects input of shape {shown}, but MNIST images are "
            f"{IMAGE_SIDE}x{IMAGE_SIDE}x1"
        )
    num_classes = int(output_shape[-1])
    if num_classes < 2:
        raise ModelError(
            f"{path}: model gives {num_classes} output; a classifier needs at least 2 classes"
        )
    return num_classes


def litert_interpreter(path: Path, num_threads: int | None = None):
    """A LiteRT interpreter for a .tflite file (``ai_edge_litert``: no tensorflow)."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path), num_threads=num_threads)


def tensorflow_interpreter(path: Path, num_threads: int | None = None):
    """TensorFlow's bundled interpreter for the same files: slow to start, for platforms
    without a LiteRT wheel."""
    _, tf = import_keras()
    with warnings.catch_warnings():
        # TensorFlow's deprecation notice sends the user to LiteRT, which is missing here
        warnings.filterwarnings("ignore", r"\s*Warning: tf\.lite\.Interpreter is deprecated",
                                UserWarning)
        return tf.lite.Interpreter(model_path=str(path), num_threads=num_threads)


class LiteRTPredictor:
    """Runs a .tflite file; ``make_interpreter`` chooses the runtime that reads it."""

    def __init__(self, path: Path, num_threads: int | None = None,
                 make_interpreter=litert_interpreter, backend: str = "litert"):
        self.path = path
        self.backend = backend
        try:
            with quiet_native_stderr():  # LiteRT logs "Created ... XNNPACK delegate" here
                self._interpreter = make_interpreter(path, num_threads)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{path}: not a valid TensorFlow Lite model ({exc})") from None
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{path}: expected one input and one output, found "
                             f"{len(inputs)} and {len(outputs)}")
        self._input = inputs[0]
        self._output = outputs[0]
        self.num_classes = _check_shapes(path, self._input["shape_signature"],
                                         self._output["shape"])
        self._flat = len(self._input["shape_signature"]) == 2
        self._batch = None

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            shape = [batch, IMAGE_PIXELS] if self._flat else [batch, *self._input["shape"][1:]]
            self._interpreter.resize_tensor_input(self._input["index"], shape)
            with quiet_native_stderr():
                self._interpreter.allocate_tensors()
            self._batch = batch

    def predict_proba(self, images: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE
                      ) -> np.ndarray:
        x = to_model_input(images)
        if self._flat:
            x = x.reshape(len(x), IMAGE_PIXELS)
        result = np.empty((len(x), self.num_classes), dtype=np.float32)
        for start in range(0, len(x), batch_size):
            chunk = x[start:start + batch_size]
            self._resize(len(chunk))
            self._interpreter.set_tensor(self._input["index"], chunk)
            self._interpreter.invoke()
            result[start:start + len(chunk)] = self._interpreter.get_tensor(self._output["index"])
        return result


class KerasPredictor:
    backend = "keras"

    def __init__(self, path: Path):
        from mnistcli.keras_files import load_keras_model

        self.path = path
        self.model = load_keras_model(path)
        if len(self.model.inputs) != 1 or len(self.model.outputs) != 1:
            raise ModelError(f"{path}: expected a model with one input and one output")
        input_shape = [-1 if d is None else d for d in self.model.inputs[0].shape]
        self.num_classes = _check_shapes(path, input_shape, self.model.outputs[0].shape)

    def predict_proba(self, images: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE
                      ) -> np.ndarray:
        x = to_model_input(images)
        if len(self.model.inputs[0].shape) == 2:
            x = x.reshape(len(x), IMAGE_PIXELS)
        if len(x) == 0:
            return np.empty((0, self.num_classes), dtype=np.float32)
        probabilities = self.model.predict(x, batch_size=batch_size, verbose=0)
        return np.asarray(probabilities, dtype=np.float32)


def litert_available() -> bool:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return False
    return True


def _sniff(path: Path) -> str:
    """"tflite", "keras" or "unknown", by content (a renamed file is still recognised)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if head[4:8] == TFLITE_IDENTIFIER:
        return "tflite"
    if head[:2] == b"PK" and zipfile.is_zipfile(path):
        return "keras"
    return "unknown"


def load_predictor(path: Path | str, backend: str = "auto") -> Predictor:
    """A predictor for a ``.tflite`` or ``.keras`` file.

    ``backend``: ``"auto"`` (LiteRT for .tflite when installed, else Keras), ``"litert"`` or
    ``"keras"``. Raises ModelError for a file that is not a model or takes other inputs.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    kind = _sniff(path)
    if kind == "unknown":
        raise ModelError(f"{path}: not a model file (neither TensorFlow Lite nor Keras)")
    if kind == "keras":
        if backend == "litert":
            raise ModelError(f"{path}: a Keras model cannot run on LiteRT; use its .tflite")
        return check_predictor(KerasPredictor(path))
    if backend == "keras":
        raise ModelError(f"{path}: a TensorFlow Lite model needs the LiteRT backend")
    if litert_available():
        return check_predictor(LiteRTPredictor(path))
    # No LiteRT wheel for this platform: TensorFlow's own interpreter reads the same file.
    return check_predictor(LiteRTPredictor(path, make_interpreter=tensorflow_interpreter,
                                           backend="tensorflow-lite"))


def _known_input() -> np.ndarray:
    """Two pictures every model must answer: a blank one and a vertical stroke (a 1)."""
    images = np.zeros((2, *IMAGE_SHAPE), dtype=np.uint8)
    images[1, 4:24, 13:15] = 255
    return images


def check_predictor(predictor):
    """Use a model only after it answered a known input with finite probabilities that
    sum to 1 (a corrupted file can load, then answer NaN or garbage); ModelError if not.
    One small batch: cheap beside loading."""
    path = predictor.path
    try:
        with quiet_native_stderr():
            probabilities = np.asarray(predictor.predict_proba(_known_input()))
    except MnistError:
        raise
    except Exception as exc:  # an interpreter fails in many ways on a damaged file
        raise ModelError(f"{path}: the model fails on a test input, so the file is damaged "
                         f"or not a classifier ({type(exc).__name__}: {exc})") from None
    if probabilities.shape != (2, predictor.num_classes):
        raise ModelError(f"{path}: the model answers a test input with shape "
                         f"{probabilities.shape}, not one row of "
                         f"{predictor.num_classes} probabilities per image")
    if not np.isfinite(probabilities).all():
        raise ModelError(f"{path}: the model answers a test input with NaN or infinite "
                         "values; the file is damaged or the model diverged")
    sums = probabilities.sum(axis=1)
    # an int8 model's softmax is quantised (steps of 1/256 per class): a loose sum
    if (probabilities < -1e-3).any() or not np.allclose(sums, 1.0, atol=0.05):
        raise ModelError(f"{path}: the model's outputs on a test input are not "
                         f"probabilities (they sum to {float(sums.max()):.4g}); it needs a "
                         "softmax output, or the file is damaged")
    return predictor

