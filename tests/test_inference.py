"""The predictors read the class count from the model; the dataset registry gives it."""

from __future__ import annotations

import numpy as np
import pytest

from mnistcli.datasets import DATASETS, IMAGE_PIXELS, IMAGE_SHAPE, NUM_CLASSES
from mnistcli.errors import ModelError
from mnistcli.inference import load_predictor


def test_each_dataset_counts_its_classes():
    assert NUM_CLASSES == DATASETS["mnist"].num_classes == 10
    assert DATASETS["fashion-mnist"].num_classes == len(DATASETS["fashion-mnist"].class_names)
    assert IMAGE_SHAPE == (28, 28) and IMAGE_PIXELS == 784


@pytest.mark.parametrize("num_classes", [3, 26])
def test_a_keras_predictor_gives_the_models_class_count(num_classes, tmp_path):
    from mnistcli.models import build_logreg

    path = tmp_path / "model.keras"
    build_logreg(num_classes).save(path)
    predictor = load_predictor(path)
    assert predictor.num_classes == num_classes
    probabilities = predictor.predict_proba(np.zeros((4, *IMAGE_SHAPE), np.uint8))
    assert probabilities.shape == (4, num_classes)
    assert predictor.predict_proba(np.zeros((0, *IMAGE_SHAPE), np.uint8)).shape == (0,
                                                                                      num_classes)


def test_a_model_with_one_output_is_no_classifier(tmp_path):
    import keras

    inputs = keras.Input((*IMAGE_SHAPE, 1))
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(inputs))
    path = tmp_path / "regression.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelError, match="at least 2 classes"):
        load_predictor(path)


def test_without_litert_tensorflow_reads_the_tflite(tmp_path, monkeypatch):
    from mnistcli import inference
    from mnistcli.keras_files import convert_to_tflite
    from mnistcli.models import build_logreg

    convert_to_tflite(build_logreg(4), tmp_path / "model.tflite")
    images = np.random.default_rng(0).integers(0, 256, (5, *IMAGE_SHAPE), np.uint8)
    litert = load_predictor(tmp_path / "model.tflite")
    monkeypatch.setattr(inference, "litert_available", lambda: False)
    fallback = load_predictor(tmp_path / "model.tflite")
    assert (litert.backend, fallback.backend) == ("litert", "tensorflow-lite")
    assert fallback.num_classes == 4
    np.testing.assert_allclose(fallback.predict_proba(images), litert.predict_proba(images),
                               atol=1e-6)
