"""The model zoo: a registry of name -> ModelSpec (a builder plus its default recipe).

Every model takes float32 images of shape (28, 28, 1) scaled to [0, 1] (pixel / 255) and
ends in a 10-way softmax. Builders return an uncompiled ``keras.Model``; keras is imported
inside them so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mnistcli.errors import ModelError

if TYPE_CHECKING:
    import keras

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


@dataclass(frozen=True)
class Recipe:
    """How a model is trained by default (every field can be overridden on the CLI)."""

    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str = "adam"  # adam, adamw, sgd, rmsprop
    schedule: str = "constant"  # constant, cosine, onecycle
    # Light augmentation of training batches, e.g. {"shift": 2, "rotate": 10}
    # (pixels, degrees); None trains on the images as they are.
    augment: dict[str, float] | None = None
    label_smoothing: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    tutorial_accuracy: float  # what the classic tutorial reported on the test set
    target_accuracy: float  # what our default recipe must reach on the test set
    build: Callable[[], keras.Model]
    recipe: Recipe


def build_logreg() -> keras.Model:
    import keras
    from keras import layers

    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = layers.Flatten()(inputs)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name="logreg")


# ... the other builders follow the same shape (filled in with the tuned recipes)

MODELS: dict[str, ModelSpec] = {
    "logreg": ModelSpec(
        name="logreg",
        description="softmax regression on the 784 pixels",
        tutorial_accuracy=0.929,
        target_accuracy=0.925,
        build=build_logreg,
        recipe=Recipe(epochs=10, batch_size=128, learning_rate=1e-3),
    ),
}

DEFAULT_MODEL = "cnn"


def get_model_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``; an unknown name lists the choices."""
    try:
        return MODELS[name]
    except KeyError:
        choices = ", ".join(MODELS)
        raise ModelError(f"unknown model {name!r}; choose one of: {choices}") from None
