"""mnistcli.models: every zoo builder gives a softmax over the classes asked for; the
augmenter checks its settings and moves images without changing their shape."""

from __future__ import annotations

import numpy as np
import pytest

from mnistcli.errors import ModelError
from mnistcli.models import INPUT_SHAPE, MODELS, make_augmenter


@pytest.mark.parametrize("name", list(MODELS))
def test_each_builder_ends_in_a_softmax_over_the_classes(name):
    model = MODELS[name].build(26)
    assert model.name == name.replace("-", "_")  # keras names are identifiers
    assert tuple(model.inputs[0].shape[1:]) == INPUT_SHAPE
    assert tuple(model.outputs[0].shape[1:]) == (26,)
    output = model.layers[-1]
    assert output.name == "softmax" and output.activation.__name__ == "softmax"


@pytest.mark.parametrize("augment, message", [
    ({"tilt": 3}, "unknown augmentation tilt"),
    ({"shift": 28}, "shift=28 is out of range"),
    ({"rotate": -1}, "rotate=-1 is out of range"),
    ({"zoom": 1.5}, "zoom=1.5 is out of range"),
])
def test_bad_augmentation_settings_are_refused(augment, message):
    with pytest.raises(ModelError, match=message):
        make_augmenter(augment)


def test_the_augmenter_moves_training_images_only():
    import tensorflow as tf

    assert make_augmenter(None) is None and make_augmenter({}) is None
    images = np.zeros((4, *INPUT_SHAPE), np.float32)
    images[:, 10:18, 12:16] = 1.0
    batch = tf.constant(images)
    tf.random.set_seed(0)
    moved = np.asarray(make_augmenter({"shift": 3, "rotate": 20})(batch))
    assert moved.shape == images.shape and not np.allclose(moved, images)
    assert np.array_equal(np.asarray(make_augmenter({"shift": 3})(batch, training=False)),
                          images)
    # no shift, rotation or zoom: every pixel samples itself
    still = make_augmenter({"shift": 0, "rotate": 0, "zoom": 0})(batch)
    np.testing.assert_allclose(np.asarray(still), images, atol=1e-6)
