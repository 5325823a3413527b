"""Taking a trained model elsewhere: TensorFlow Lite, SavedModel, Keras, CSV and ONNX.

A registry (name -> ExportFormat) lists the formats; ``export_model`` writes one of them.
Every export is atomic (:func:`mnistcli.fsutil.atomic_output`): it is written in a scratch
directory beside ``out`` and renamed into place only when complete, so a failure leaves
nothing behind (and an existing ``out`` is only replaced by a complete new one).

Every exported model takes what the Keras model takes: float32 images (N, 28, 28, 1) with
pixels scaled to [0, 1] (pixel / 255), and gives the class probabilities.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistcli.datasets import IMAGE_PIXELS, IMAGE_SIDE
from mnistcli.errors import DataError, MnistError, ModelError, RunError
from mnistcli.fsutil import atomic_output, check_output
from mnistcli.keras_files import (
    NotDenseNetwork,
    convert_to_int8_tflite,
    convert_to_tflite,
    dense_layers,
    load_keras_model,
)
from mnistcli.models import INPUT_SHAPE
from mnistcli.runs import RUN_FILE, RUN_FILES
from mnistcli.stdio import quiet_library_output, stdout_to_stderr

EXPORT_DIR = "export"  # default destination: RUN/export/<default name>
REPRESENTATIVE_SAMPLES = 500  # training images that calibrate int8 quantisation
REPRESENTATIVE_SEED = 0
QUANTIZE_CHOICES = ("int8",)
ONNX_OPSET = 17
CSV_FORMAT_NAME = "dense-theta-csv"
CSV_MANIFEST = "manifest.json"
# activations the CSV manifest can name, with the formula a hand-written version uses
CSV_ACTIVATIONS = {
    "linear": "z",
    "relu": "max(z, 0)",
    "sigmoid": "1 / (1 + exp(-z))",
    "tanh": "tanh(z)",
    "softmax": "exp(z - max(z)) / sum(exp(z - max(z)))",
}
# what every exported model takes, as the formats that describe their input say it
INPUT_DESCRIPTION = f"image: float32 (N, {', '.join(map(str, INPUT_SHAPE))}) in [0, 1]"


@dataclass(frozen=True)
class ExportOptions:
    quantize: str | None = None
    data_dir: Path | None = None  # the dataset, for int8 calibration and accuracy
    validation: int | None = None  # the run's validation size (calibrate on its train split)
    # the run's record: its dataset (another than MNIST, or a folder) and class names
    record: dict[str, Any] | None = None


@dataclass(frozen=True)
class ExportFormat:
    name: str
    description: str
    default_name: str  # under RUN/export/
    directory: bool  # the artifact is a directory (savedmodel, csv)
    suffix: str | None  # a required file suffix (keras loads only *.keras)
    write: Callable[[Any, Path, ExportOptions], dict[str, Any]]
    check: Callable[[Any], object] | None = None  # ModelError if the model doesn't fit


# ------------------------------------------------------------------------------- helpers

def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def _input_signature():
    import tensorflow as tf

    return [tf.TensorSpec((None, *INPUT_SHAPE), tf.float32, name="image")]


# -------------------------------------------------------------------------------- tflite

def _test_split(options: ExportOptions):
    """The test split if the dataset is there, else None (accuracy is then not reported)."""
    from mnistcli.datasets import load_split

    try:
        if options.record:
            from mnistcli.training_data import run_data

            return run_data(options.record, options.data_dir).splits["test"]
        return load_split("test", options.data_dir)
    except DataError:
        return None


def _accuracy(tflite_path: Path, split) -> float:
    from mnistcli.inference import load_predictor

    probabilities = load_predictor(tflite_path).predict_proba(split.images)
    return float(np.mean(np.argmax(probabilities, axis=1) == split.labels))


def _representative_sample(options: ExportOptions) -> np.ndarray:
    from mnistcli.datasets import DEFAULT_VALIDATION, load_split

    validation = DEFAULT_VALIDATION if options.validation is None else options.validation
    try:
        if options.record:
            from mnistcli.training_data import run_data

            train = run_data(options.record, options.data_dir, validation).splits["train"]
        else:
            train = load_split("train", options.data_dir, validation=validation)
    except DataError as exc:
        raise DataError(f"int8 quantisation calibrates on training images: {exc}") from None
    rng = np.random.default_rng(REPRESENTATIVE_SEED)
    count = min(REPRESENTATIVE_SAMPLES, len(train))
    return train.images[np.sort(rng.choice(len(train), size=count, replace=False))]


def _write_tflite(model, target: Path, options: ExportOptions) -> dict[str, Any]:
    test = _test_split(options)
    details: dict[str, Any] = {"quantize": options.quantize,
                               "accuracy_split": "test" if test is not None else None}
    if options.quantize is None:
        convert_to_tflite(model, target)
        details["accuracy"] = _accuracy(target, test) if test is not None else None
        return details
    sample = _representative_sample(options)
    convert_to_int8_tflite(model, target, sample)
    details["accuracy"] = _accuracy(target, test) if test is not None else None
    details["representative_samples"] = len(sample)
    # the float model, for comparison: measured in the scratch directory, not kept
    float_path = target.with_name(f".float-{target.name}")
    convert_to_tflite(model, float_path)
    details["float"] = {
        "size_bytes": float_path.stat().st_size,
        "accuracy": _accuracy(float_path, test) if test is not None else None,
    }
    float_path.unlink()
    return details


# ------------------------------------------------------------------- savedmodel, keras, onnx

def _write_savedmodel(model, target: Path, options: ExportOptions) -> dict[str, Any]:
    try:
        with quiet_library_output():
            model.export(str(target), format="tf_saved_model", verbose=False)
    except Exception as exc:
        raise ModelError(f"SavedModel export failed: {exc}") from None
    return {"signature": "serving_default", "input": INPUT_DESCRIPTION}


def _write_keras(model, target: Path, options: ExportOptions) -> dict[str, Any]:
    with stdout_to_stderr():
        model.save(target)
    return {}


def _write_onnx(model, target: Path, options: ExportOptions) -> dict[str, Any]:
    try:
        import tf2onnx
    except ImportError:
        raise ModelError("the onnx format needs the tf2onnx package: "
                         "pip install 'mnistcli[onnx]' (or pip install tf2onnx)") from None
    try:
        with quiet_library_output():
            tf2onnx.convert.from_keras(model, input_signature=_input_signature(),
                                       opset=ONNX_OPSET, output_path=str(target))
    except Exception as exc:
        raise ModelError(f"ONNX conversion failed: {exc}") from None
    return {"opset": ONNX_OPSET, "input": INPUT_DESCRIPTION}


# ----------------------------------------------------------------------------------- csv

def _csv_layers(model) -> list[tuple[Any, str]]:
    """The model's Dense layers and their activations, if the CSV format can describe
    them; else ModelError (before anything is written)."""
    try:
        layers = dense_layers(model)
    except NotDenseNetwork as exc:
        raise ModelError(f"the csv format is for dense networks (Flatten, Dense, Dropout), "
                         f"but {exc}; use tflite, savedmodel, keras or onnx for it") from None
    for layer, activation in layers:
        if activation not in CSV_ACTIVATIONS:
            raise ModelError(
                f"the csv format supports the activations {', '.join(CSV_ACTIVATIONS)}; "
                f"layer {layer.name!r} uses {activation!r}"
            )
    return layers


def _write_csv(model, target: Path, options: ExportOptions) -> dict[str, Any]:
    target.mkdir()
    described = []
    for number, (layer, activation) in enumerate(_csv_layers(model), start=1):
        weights = layer.get_weights()  # [kernel] or [kernel, bias]
        kernel = np.asarray(weights[0], dtype=np.float64)
        bias = (np.asarray(weights[1], dtype=np.float64) if len(weights) > 1
                else np.zeros(kernel.shape[1]))
        theta = np.vstack([bias[None, :], kernel])  # row 0: biases, row i: input unit i
        filename = f"layer{number}.csv"
        # 9 significant digits round-trip float32 exactly
        np.savetxt(target / filename, theta, delimiter=",", fmt="%.9g")
        described.append({
            "file": filename,
            "name": layer.name,
            "inputs": int(kernel.shape[0]),
            "units": int(kernel.shape[1]),
            "rows": int(theta.shape[0]),
            "columns": int(theta.shape[1]),
            "activation": activation,
            "activation_formula": CSV_ACTIVATIONS[activation],
        })
    manifest = {
        "format": CSV_FORMAT_NAME,
        "version": 1,
        "model": model.name,
        "input": {
            "size": IMAGE_PIXELS,
            "from": f"a {IMAGE_SIDE}x{IMAGE_SIDE} greyscale image, white digit on black, "
                    f"flattened row by row (pixel at row r, column c is input "
                    f"r * {IMAGE_SIDE} + c)",
            "scaling": "pixel / 255",
        },
        "layers": described,
        "output": f"probabilities of the classes 0-{described[-1]['units'] - 1}; the "
                  "prediction is the largest",
        **({"classes": list(options.record["class_names"])}
           if options.record and options.record.get("class_names") else {}),
        "how": f"a = the {IMAGE_PIXELS} scaled pixels; for each layer in order: theta = the "
               "CSV as a matrix (rows x columns); "
               "z[j] = theta[0][j] + sum_i a[i] * theta[i + 1][j]; a = activation(z). "
               "Dropout layers are left out: they do nothing at prediction time.",
    }
    (target / CSV_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return {"files": [layer["file"] for layer in described] + [CSV_MANIFEST],
            "layers": len(described)}


# ------------------------------------------------------------------------------ registry

FORMATS: dict[str, ExportFormat] = {
    "tflite": ExportFormat(
        "tflite", "TensorFlow Lite flatbuffer for LiteRT (float, or int8 quantised)",
        "model.tflite", directory=False, suffix=None, write=_write_tflite),
    "savedmodel": ExportFormat(
        "savedmodel", "TensorFlow SavedModel directory, for TF Serving",
        "savedmodel", directory=True, suffix=None, write=_write_savedmodel),
    "keras": ExportFormat(
        "keras", "Keras 3 model file (.keras)",
        "model.keras", directory=False, suffix=".keras", write=_write_keras),
    "csv": ExportFormat(
        "csv", "dense networks: one CSV of weights per layer (theta layout) + manifest.json",
        "csv", directory=True, suffix=None, write=_write_csv, check=_csv_layers),
    "onnx": ExportFormat(
        "onnx", "ONNX model (needs tf2onnx)",
        "model.onnx", directory=False, suffix=None, write=_write_onnx),
    # mnistcli.web_export builds on the csv format above, so it is loaded on use
    "web": ExportFormat(
        "web", "dense networks: the drawing page, running the model in the browser offline "
        "(index.html + the csv weights)", "web", directory=True, suffix=None,
        write=lambda *args: _web_export().write_web(*args),
        check=lambda model: _web_export().check_web(model)),
}


def _web_export():
    from mnistcli import web_export

    return web_export


def get_format(name: str) -> ExportFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ModelError(
            f"unknown export format {name!r}; choose one of: {', '.join(FORMATS)}"
        ) from None


def default_destination(base: Path, fmt: ExportFormat, quantize: str | None) -> Path:
    """BASE/export/<name>; BASE is the run's output directory (RunInfo.output_dir)."""
    name = fmt.default_name
    if quantize:
        stem, dot, suffix = name.partition(".")
        name = f"{stem}-{quantize}{dot}{suffix}"
    return base / EXPORT_DIR / name


def export_model(keras_path: Path | None, run_path: Path, format_name: str, out: Path,
                 quantize: str | None = None, data_dir: Path | None = None,
                 validation: int | None = None, model=None,
                 force: bool = False, record: dict[str, Any] | None = None) -> dict[str, Any]:
    """Export the model at ``keras_path`` (the run at ``run_path``) as ``format_name`` to
    ``out`` (see :func:`default_destination` for the usual place).

    Returns a record: format, path, size_bytes and what the format adds (for tflite: the
    test accuracy, and with int8 the float model's size and accuracy for comparison).

    Nothing the toolkit did not write is replaced: an existing ``out`` must be an earlier
    export of ours and ``force`` given (see mnistcli.fsutil.check_output).
    """
    fmt = get_format(format_name)
    if quantize is not None:
        if quantize not in QUANTIZE_CHOICES:
            raise ModelError(f"unknown quantisation {quantize!r}; choose one of: "
                             f"{', '.join(QUANTIZE_CHOICES)}")
        if fmt.name != "tflite":
            raise ModelError(f"quantisation applies to the tflite format, not {fmt.name}")
    out = Path(out)
    if fmt.suffix and out.suffix != fmt.suffix:
        raise RunError(f"{out}: a {fmt.name} export must be named *{fmt.suffix}")
    if not fmt.directory and out.is_dir():
        raise RunError(f"{out}: is a directory; name the {fmt.name} file to write")
    if fmt.directory and out.exists() and not out.is_dir():
        raise RunError(f"{out}: exists and is not a directory")
    if (out.parent / RUN_FILE).is_file() and out.name in RUN_FILES:
        raise RunError(f"{out}: is part of the run in {out.parent}; name another file")
    check_output(out, force=force)  # before the model is loaded
    if model is None:
        model = load_keras_model(keras_path, run_path)
    if fmt.check is not None:
        fmt.check(model)  # before anything is written

    options = ExportOptions(quantize, Path(data_dir) if data_dir else None, validation,
                            record=record)
    with atomic_output(out, force=force) as built:
        try:
            details = fmt.write(model, built, options)
        except MnistError as exc:  # named as the user named it, not the scratch copy
            raise type(exc)(str(exc).replace(str(built), str(out))) from None
        size = _size(built)
    return {"format": fmt.name, "path": str(out), "size_bytes": size,
            "source": str(keras_path), **details}
