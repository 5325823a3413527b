"""mnistcli.keras_files: loading Keras models (safely), converting them, reading layers."""

from __future__ import annotations

import numpy as np
import pytest

from mnistcli.errors import ModelError
from mnistcli.keras_files import (
    NotDenseNetwork,
    check_tflite,
    convert_to_tflite,
    dense_layers,
    flat_layers,
    load_keras_model,
)
from mnistcli.models import INPUT_SHAPE, build_cnn, build_dnn, build_logreg


def images(count: int = 8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, *INPUT_SHAPE[:2]), np.uint8)


def test_load_keras_model_round_trip(tmp_path):
    model = build_logreg()
    model.save(tmp_path / "m.keras")
    loaded = load_keras_model(tmp_path / "m.keras")
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_load_keras_model_errors(tmp_path):
    with pytest.raises(ModelError, match="needs the Keras model"):
        load_keras_model(None, tmp_path / "model.tflite")
    (tmp_path / "junk.keras").write_bytes(b"PK not really a zip")
    with pytest.raises(ModelError, match="not a valid Keras model"):
        load_keras_model(tmp_path / "junk.keras")


def test_a_model_carrying_code_is_refused(tmp_path):
    import keras

    inputs = keras.Input(INPUT_SHAPE)
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    with pytest.raises(ModelError, match="not a valid Keras model .*safe_mode"):
        load_keras_model(tmp_path / "lambda.keras")


def test_dense_layers_of_dense_networks():
    assert [(layer.name, activation) for layer, activation in dense_layers(build_logreg())] \
        == [("softmax", "softmax")]
    assert [activation for _, activation in dense_layers(build_dnn())] == [
        "relu", "relu", "relu", "softmax"]


def test_a_following_activation_layer_counts_as_the_dense_layers():
    import keras

    inputs = keras.Input(INPUT_SHAPE)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(8, name="linear")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Dense(3, name="out")(x)
    x = keras.layers.Activation("softmax")(x)
    found = dense_layers(keras.Model(inputs, x))
    assert [(layer.name, activation) for layer, activation in found] == [
        ("linear", "relu"), ("out", "softmax")]


def test_dense_layers_refuses_other_networks():
    import keras

    with pytest.raises(NotDenseNetwork, match="Conv2D"):
        dense_layers(build_cnn())
    inputs = keras.Input(INPUT_SHAPE)
    with pytest.raises(NotDenseNetwork, match="no Dense layer"):
        dense_layers(keras.Model(inputs, keras.layers.Flatten()(inputs), name="flat"))


def test_flat_layers_expands_nested_models():
    import keras

    inner = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(4)], name="inner")
    inputs = keras.Input(INPUT_SHAPE)
    outer = keras.Model(inputs, keras.layers.Dense(2, name="top")(inner(inputs)))
    kinds = [type(layer).__name__ for layer in flat_layers(outer)]
    assert kinds == ["InputLayer", "Flatten", "Dense", "Dense"]


def test_converted_tflite_agrees_and_a_wrong_one_is_caught(tmp_path):
    import keras

    keras.utils.set_random_seed(1)
    model, other = build_logreg(), build_logreg()
    convert_to_tflite(model, tmp_path / "model.tflite")
    convert_to_tflite(other, tmp_path / "other.tflite")
    assert check_tflite(model, tmp_path / "model.tflite", images()) < 1e-5
    with pytest.raises(ModelError, match="other.tflite disagrees"):
        check_tflite(model, tmp_path / "other.tflite", images())
    assert check_tflite(model, tmp_path / "other.tflite", images(0)) == 0.0
