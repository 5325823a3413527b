"""`mnist export` and mnistcli.export: every format loads back and gives the run's answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_DATA
from trained_runs import make_run
from typer.testing import CliRunner

from mnistcli.cli import app
from mnistcli.datasets import load_split
from mnistcli.export import FORMATS
from mnistcli.inference import load_predictor, to_model_input

runner = CliRunner()
FLOAT_TOLERANCE = 1e-5  # float32 rounding differences between runtimes


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    parent = tmp_path_factory.mktemp("export_runs")
    return {model: make_run(model, parent) for model in ("logreg", "mlp", "cnn")}


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return load_split("test", TINY_DATA).images  # 200 rendered digits, uint8 (N, 28, 28)


@pytest.fixture(scope="module")
def expected(runs, images) -> dict[str, np.ndarray]:
    """What each run's own Keras model answers on the fixture images."""
    return {model: load_predictor(run / "model.keras").predict_proba(images)
            for model, run in runs.items()}


def export(*args: str):
    return runner.invoke(app, ["export", *args])


def exported(run: Path, tmp_path: Path, fmt: str, name: str, *extra: str) -> Path:
    out = tmp_path / name
    result = export(str(run), "--format", fmt, "--out", str(out), *extra)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}\n"
    assert out.exists()
    return out


def assert_same_answers(actual: np.ndarray, wanted: np.ndarray,
                        tolerance: float = FLOAT_TOLERANCE) -> None:
    assert actual.shape == wanted.shape == (len(wanted), 10)
    np.testing.assert_array_equal(actual.argmax(axis=1), wanted.argmax(axis=1))
    np.testing.assert_allclose(actual, wanted, atol=tolerance)


def assert_one_error_line(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def no_leftovers(directory: Path) -> list[str]:
    """Temporary names an interrupted export would leave behind."""
    return [p.name for p in directory.iterdir() if p.name.startswith(".")]


# --- round trips -----------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["logreg", "cnn"])
def test_tflite_round_trip(runs, expected, images, tmp_path, model):
    out = exported(runs[model], tmp_path, "tflite", "m.tflite")
    predictor = load_predictor(out)
    assert predictor.backend == "litert"
    assert_same_answers(predictor.predict_proba(images), expected[model])


def test_tflite_reports_size_and_test_accuracy(runs, images, tmp_path):
    out = tmp_path / "m.tflite"
    result = export(str(runs["logreg"]), "--out", str(out), "--data", str(TINY_DATA), "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["format"] == "tflite" and record["quantize"] is None
    assert record["size_bytes"] == out.stat().st_size
    labels = load_split("test", TINY_DATA).labels
    accuracy = float(np.mean(load_predictor(out).predict_proba(images).argmax(1) == labels))
    assert record["accuracy"] == pytest.approx(accuracy)
    assert "test accuracy" in result.stderr


def test_tflite_int8_is_smaller_and_agrees(runs, expected, images, tmp_path):
    out = tmp_path / "int8.tflite"
    result = export(str(runs["cnn"]), "--quantize", "int8", "--data", str(TINY_DATA),
                    "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["quantize"] == "int8"
    assert record["representative_samples"] == 500  # of the tiny set's 500 training images
    assert record["size_bytes"] == out.stat().st_size < record["float"]["size_bytes"]
    assert 0 <= record["accuracy"] <= 1 and 0 <= record["float"]["accuracy"] <= 1
    probabilities = load_predictor(out).predict_proba(images)
    # int8 rounding moves the probabilities a little (this briefly trained model is unsure
    # of most digits, so its answers may flip; the real-data test below checks accuracy)
    difference = np.abs(probabilities - expected["cnn"])
    assert difference.mean() < 0.02 and difference.max() < 0.25
    assert "int8" in result.stderr and "float32" in result.stderr
    # the converter's narration ("Saved artifact at ...", warnings) is not for people
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert no_leftovers(tmp_path) == []


def test_int8_needs_training_data(runs, tmp_path):
    out = tmp_path / "int8.tflite"
    result = export(str(runs["logreg"]), "--quantize", "int8", "--data",
                    str(tmp_path / "nodata"), "--out", str(out))
    assert_one_error_line(result, "training images", "mnist download")
    assert not out.exists() and no_leftovers(tmp_path) == []


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_savedmodel_round_trip(runs, expected, images, tmp_path, model):
    import tensorflow as tf

    out = exported(runs[model], tmp_path, "savedmodel", "served")
    assert (out / "saved_model.pb").is_file()
    loaded = tf.saved_model.load(str(out))
    serve = loaded.signatures["serving_default"]
    outputs = serve(tf.constant(to_model_input(images)))
    (probabilities,) = outputs.values()
    assert_same_answers(probabilities.numpy(), expected[model])


def test_keras_round_trip(runs, expected, images, tmp_path):
    import keras

    out = exported(runs["cnn"], tmp_path, "keras", "copy.keras")
    model = keras.models.load_model(out, compile=False)
    assert_same_answers(model.predict(to_model_input(images), verbose=0), expected["cnn"])


def numpy_from_csv(directory: Path, images: np.ndarray) -> np.ndarray:
    """What a hand-written implementation does with the CSVs and their manifest."""
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["input"]["scaling"] == "pixel / 255"
    activations = {
        "linear": lambda z: z,
        "relu": lambda z: np.maximum(z, 0),
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "tanh": np.tanh,
        "softmax": lambda z: (lambda e: e / e.sum(axis=1, keepdims=True))(
            np.exp(z - z.max(axis=1, keepdims=True))),
    }
    a = images.reshape(len(images), 784).astype(np.float64) / 255
    for layer in manifest["layers"]:
        theta = np.loadtxt(directory / layer["file"], delimiter=",", ndmin=2)
        assert theta.shape == (layer["inputs"] + 1, layer["units"])
        a = activations[layer["activation"]](theta[0] + a @ theta[1:])
    return a


@pytest.mark.parametrize("model", ["logreg", "mlp"])
def test_csv_round_trip_with_plain_numpy(runs, expected, images, tmp_path, model):
    out = exported(runs[model], tmp_path, "csv", "theta")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["layers"][-1]["activation"] == "softmax"
    assert manifest["layers"][0]["inputs"] == 784
    assert_same_answers(numpy_from_csv(out, images), expected[model])


def test_csv_theta_layout(runs, tmp_path):
    import keras

    out = exported(runs["logreg"], tmp_path, "csv", "theta")
    dense = keras.models.load_model(runs["logreg"] / "model.keras",
                                    compile=False).get_layer("softmax")
    kernel, bias = dense.get_weights()
    theta = np.loadtxt(out / "layer1.csv", delimiter=",")
    np.testing.assert_array_equal(theta[0].astype(np.float32), bias)  # first row: biases
    np.testing.assert_array_equal(theta[1:].astype(np.float32), kernel)  # row i: input i


def test_onnx_round_trip(runs, expected, images, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    out = exported(runs["cnn"], tmp_path, "onnx", "m.onnx")
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(None, {session.get_inputs()[0].name: to_model_input(images)})
    assert_same_answers(probabilities, expected["cnn"])


def test_default_destination_is_inside_the_run(runs):
    result = export(str(runs["logreg"]), "--format", "csv", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["path"] == str(runs["logreg"] / "export" / "csv")
    # with the marker that lets a later --force replace this export (and nothing else)
    assert sorted(p.name for p in Path(record["path"]).iterdir()) == [
        ".written-by-mnist", "layer1.csv", "manifest.json"]


def test_export_replaces_an_earlier_export_whole(runs, images, expected, tmp_path):
    out = exported(runs["logreg"], tmp_path, "csv", "theta")
    (out / "stale.csv").write_text("old\n")  # an earlier export's file
    assert "--force" in export(str(runs["mlp"]), "--format", "csv", "--out",
                               str(out)).stderr
    exported(runs["mlp"], tmp_path, "csv", "theta", "--force")
    assert not (out / "stale.csv").exists()
    assert_same_answers(numpy_from_csv(out, images), expected["mlp"])
    assert no_leftovers(tmp_path) == []


# --- errors ----------------------------------------------------------------------------------

def test_unknown_format_lists_the_choices(runs, tmp_path):
    result = export(str(runs["logreg"]), "--format", "pickle", "--out", str(tmp_path / "x"))
    assert_one_error_line(result, "unknown export format 'pickle'", ", ".join(FORMATS))
    assert list(tmp_path.iterdir()) == []


def test_csv_does_not_fit_a_cnn_and_nothing_is_written(runs, tmp_path):
    out = tmp_path / "theta"
    result = export(str(runs["cnn"]), "--format", "csv", "--out", str(out))
    assert_one_error_line(result, "csv", "dense", "Conv2D")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_keeps_the_previous_one(runs, tmp_path):
    out = tmp_path / "theta"
    out.mkdir()
    (out / "layer1.csv").write_text("1,2\n")
    assert export(str(runs["cnn"]), "--format", "csv", "--out", str(out)).exit_code == 1
    assert (out / "layer1.csv").read_text() == "1,2\n"
    assert no_leftovers(tmp_path) == []


@pytest.mark.parametrize("args, fragment", [
    (["--format", "savedmodel", "--quantize", "int8"], "quantisation applies to the tflite"),
    (["--quantize", "int4"], "unknown quantisation 'int4'"),
    (["--format", "keras", "--out", "model.h5"], "*.keras"),
])
def test_option_errors(runs, tmp_path, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    assert_one_error_line(export(str(runs["logreg"]), *args), fragment)
    assert list(tmp_path.iterdir()) == []


def test_needs_the_keras_model(runs, tmp_path):
    tflite_only = tmp_path / "model.tflite"
    shutil.copy(runs["logreg"] / "model.tflite", tflite_only)
    result = export(str(tflite_only), "--format", "savedmodel", "--out", str(tmp_path / "s"))
    assert_one_error_line(result, "model.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]


@pytest.mark.realdata
@pytest.mark.slow
def test_int8_keeps_the_accuracy_on_real_mnist(real_mnist_mirror, tmp_path):
    from mnistcli.recipes import make_config
    from mnistcli.training import train

    config = make_config("logreg", epochs=1, data_dir=real_mnist_mirror)
    run = train(config, out=tmp_path / "run").run.path
    result = export(str(run), "--quantize", "int8", "--data", str(real_mnist_mirror),
                    "--out", str(tmp_path / "int8.tflite"), "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["accuracy_split"] == "test"
    assert record["float"]["accuracy"] > 0.88
    assert abs(record["accuracy"] - record["float"]["accuracy"]) < 0.01
    assert record["size_bytes"] < record["float"]["size_bytes"] / 2
