"""Keras model files: loading them, converting them to TensorFlow Lite, reading their layers.

Every Keras model the toolkit reads goes through :func:`load_keras_model` (safe mode on:
a ``.keras`` file from elsewhere cannot run code of its own while loading), and every
TensorFlow Lite file it writes comes from :func:`convert_to_tflite` or
:func:`convert_to_int8_tflite`. tensorflow and keras are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np

from mnistcli.errors import ModelError
from mnistcli.stdio import import_keras, quiet_library_output, stdout_to_stderr

# The .tflite must give the Keras model's answers; float32 rounding stays far below this.
TFLITE_TOLERANCE = 1e-4


def load_keras_model(path: Path | str | None, where: Path | str | None = None, *,
                     compile: bool = False):
    """The Keras model at ``path``. ``compile=True`` restores the optimizer state too
    (to continue training). ``path`` None means the model only exists as a TensorFlow Lite
    file (``where`` names it for the error)."""
    if path is None:
        raise ModelError(
            f"{where}: this needs the Keras model (model.keras), and only a TensorFlow Lite "
            "model is there; pass a run directory made by `mnist train` or a .keras file"
        )
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    if path.suffix == ".keras" and not _readable_zip(path):
        # keras itself would say "File not found" about a file that is there
        raise ModelError(f"{path}: not a valid Keras model (damaged: not a readable "
                         ".keras zip archive)")
    keras, _ = import_keras()
    try:
        with stdout_to_stderr():
            return keras.models.load_model(path, compile=compile, safe_mode=True)
    except Exception as exc:  # keras raises many types for a file that is not a model
        raise ModelError(f"{path}: not a valid Keras model ({exc})") from None


def _readable_zip(path: Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return bool(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def convert_to_tflite(model, path: Path | str) -> None:
    """Write ``model`` as a float32 TensorFlow Lite flatbuffer with the model's input.

    Keras' own LiteRT export: converting a hand-made tf.function over a Keras 3 model
    with TFLiteConverter.from_concrete_functions gives a model that answers NaN."""
    try:
        # the exporter prints "Saved artifact at <temporary name>": not news for anyone
        with stdout_to_stderr(), contextlib.redirect_stdout(io.StringIO()):
            model.export(str(path), format="litert")
    except Exception as exc:  # the converter raises many kinds (ConverterError, ValueError)
        raise ModelError(f"TensorFlow Lite conversion failed: {exc}") from None


def convert_to_int8_tflite(model, path: Path | str, representative: np.ndarray) -> None:
    """Write ``model`` as a TensorFlow Lite file with int8 weights and activations,
    calibrated on ``representative`` (uint8 images). Its interface stays float32, so it
    takes the same [0, 1] images as the float model."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    samples = representative.astype(np.float32)[..., None] / np.float32(255.0)

    def representative_dataset():
        for sample in samples:
            yield [sample[None]]

    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    try:
        with quiet_library_output():
            flatbuffer = converter.convert()
    except Exception as exc:  # the converter raises many kinds (ConverterError, ValueError)
        raise ModelError(f"TensorFlow Lite conversion failed: {exc}") from None
    Path(path).write_bytes(flatbuffer)


def check_tflite(model, tflite_path: Path, images: np.ndarray,
                 tolerance: float = TFLITE_TOLERANCE) -> float:
    """The largest difference between the .tflite's and the Keras model's probabilities
    on ``images`` (uint8); ModelError if it exceeds ``tolerance``."""
    from mnistcli.inference import load_predictor, to_model_input

    if len(images) == 0:
        return 0.0
    with stdout_to_stderr():
        expected = np.asarray(model.predict(to_model_input(images), verbose=0))
    actual = load_predictor(tflite_path).predict_proba(images)
    difference = float(np.abs(actual - expected).max())
    if not difference <= tolerance:  # NaN fails too
        raise ModelError(f"the converted {Path(tflite_path).name} disagrees with the Keras "
                         f"model (max difference {difference:.2g})")
    return difference


# --- layers ----------------------------------------------------------------------------

# layers that do nothing at inference time, or only reshape, in a dense network
PASSIVE_LAYERS = {"InputLayer", "Flatten", "Dropout", "Reshape"}


def flat_layers(model) -> list:
    """Layers in order, with nested models (e.g. an augmentation block) expanded."""
    flat = []
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            flat.extend(flat_layers(layer))
        else:
            flat.append(layer)
    return flat


def _activation_layer_name(layer) -> str | None:
    """The activation a standalone activation layer applies, or None if it is not one
    (or is a ReLU with a cap, a slope or a threshold)."""
    kind = type(layer).__name__
    if kind == "Activation":
        return layer.activation.__name__
    if kind == "Softmax":
        return "softmax"
    if kind == "ReLU" and layer.max_value is None and layer.negative_slope == 0 \
            and layer.threshold == 0:
        return "relu"
    return None


class NotDenseNetwork(ModelError):
    """The model is not a plain dense network (the message says what it has instead)."""


def dense_layers(model) -> list[tuple[Any, str]]:
    """The Dense layers of a plain dense network with the activation applied after each
    (a Dense layer's own, or a following activation layer's). NotDenseNetwork if the model
    has any other kind of layer, or no Dense layer."""
    layers: list[tuple[Any, str]] = []
    for layer in flat_layers(model):
        kind = type(layer).__name__
        if kind in PASSIVE_LAYERS:
            continue
        if kind == "Dense":
            layers.append((layer, layer.activation.__name__))
            continue
        name = _activation_layer_name(layer)
        if name and layers and layers[-1][1] == "linear":
            layers[-1] = (layers[-1][0], name)
            continue
        raise NotDenseNetwork(f"{model.name!r} has a {kind} layer ({layer.name!r})")
    if not layers:
        raise NotDenseNetwork(f"{model.name!r} has no Dense layer")
    return layers
