"""The model zoo: a registry of name -> ModelSpec (a builder plus its default recipe).

Every model takes float32 images of shape (28, 28, 1) scaled to [0, 1] (pixel / 255) and
ends in a softmax over the dataset's classes (``num_classes``, ten for MNIST). Builders
return an uncompiled ``keras.Model``; keras is imported inside them so importing this module
stays cheap.

Besides the builders this module holds the two factories a training loop needs to follow
a recipe: :func:`make_optimizer` (optimizer plus learning-rate schedule) and
:func:`make_augmenter` (random shifts and rotations of training batches, kept outside the
model so nothing of it is saved or exported).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mnistcli.datasets import IMAGE_SHAPE, NUM_CLASSES
from mnistcli.errors import ModelError

if TYPE_CHECKING:
    import keras

INPUT_SHAPE = (*IMAGE_SHAPE, 1)  # one grey channel


@dataclass(frozen=True)
class Recipe:
    """How a model is trained by default (every field can be overridden on the CLI)."""

    epochs: int
    batch_size: int
    learning_rate: float  # the peak rate for the cosine and onecycle schedules
    optimizer: str = "adam"  # see OPTIMIZERS
    schedule: str = "constant"  # see SCHEDULES
    # Light augmentation of training batches, e.g. {"shift": 2, "rotate": 10}
    # (pixels, degrees); None trains on the images as they are. See make_augmenter.
    augment: dict[str, float] | None = None
    label_smoothing: float = 0.0


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    tutorial_accuracy: float  # what the classic tutorial reported on the test set
    target_accuracy: float  # what our default recipe must reach on the test set
    build: Callable[[int], keras.Model]  # num_classes -> an uncompiled model
    recipe: Recipe


# --- builders ------------------------------------------------------------------------------

def _classifier(name: str, num_classes: int, body: list) -> keras.Model:
    """image -> the ``body`` layers in order -> a softmax over ``num_classes``."""
    import keras
    from keras import layers

    x = inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    for layer in body:
        x = layer(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def build_logreg(num_classes: int = NUM_CLASSES) -> keras.Model:
    """Softmax regression: one weight per pixel and class, plus a bias per class."""
    from keras import layers

    return _classifier("logreg", num_classes, [layers.Flatten()])


def build_mlp(num_classes: int = NUM_CLASSES) -> keras.Model:
    """784-300-10 with a sigmoid hidden layer (LeCun et al. 1998's 2-layer network)."""
    from keras import layers

    return _classifier("mlp", num_classes, [
        layers.Flatten(),
        layers.Dense(300, activation="sigmoid", name="hidden"),
    ])


def build_dnn(num_classes: int = NUM_CLASSES) -> keras.Model:
    """784-512-256-128-10 with ReLU and dropout 0.5 before the output layer."""
    from keras import layers

    return _classifier("dnn", num_classes, [
        layers.Flatten(),
        layers.Dense(512, activation="relu", name="hidden1"),
        layers.Dense(256, activation="relu", name="hidden2"),
        layers.Dense(128, activation="relu", name="hidden3"),
        layers.Dropout(0.5),
    ])


def build_mlp100(num_classes: int = NUM_CLASSES) -> keras.Model:
    """The TensorFlow beginner tutorial's model: Flatten, Dense(100, relu), Dense(10)."""
    from keras import layers

    return _classifier("mlp100", num_classes, [
        layers.Flatten(),
        layers.Dense(100, activation="relu", name="hidden"),
    ])


def build_mlp2(num_classes: int = NUM_CLASSES) -> keras.Model:
    """784-256-256-10 with two ReLU hidden layers."""
    from keras import layers

    return _classifier("mlp2", num_classes, [
        layers.Flatten(),
        layers.Dense(256, activation="relu", name="hidden1"),
        layers.Dense(256, activation="relu", name="hidden2"),
    ])


def _conv_block(filters: int, name: str) -> list:
    """3x3 convolution, batch norm, ReLU, 2x2 max pool: halves the image, widens the
    channels. The batch norm's shift makes a convolution bias redundant. Keras' default
    momentum (0.99) would leave the moving statistics behind the weights in a one- or
    two-epoch run, and the model would then test at chance level: 0.9 keeps up."""
    from keras import layers

    return [
        layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv"),
        layers.BatchNormalization(momentum=0.9, name=f"{name}_bn"),
        layers.ReLU(name=f"{name}_relu"),
        layers.MaxPooling2D(2, name=f"{name}_pool"),
    ]


def build_cnn(num_classes: int = NUM_CLASSES) -> keras.Model:
    """Three convolution blocks widening 16 -> 32 -> 64 channels as the image shrinks
    28 -> 14 -> 7 -> 3, then a dense layer of 128 and the softmax, with dropout before
    each. Sized for accuracy per CPU-second (see BENCHMARKS.md); channel counts that are
    multiples of 16 run fastest on oneDNN's CPU kernels."""
    from keras import layers

    return _classifier("cnn", num_classes, [
        *_conv_block(16, "block1"),  # 28x28 -> 14x14
        *_conv_block(32, "block2"),  # 14x14 -> 7x7
        *_conv_block(64, "block3"),  # 7x7 -> 3x3
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(128, activation="relu", name="dense"),
        layers.Dropout(0.2),
    ])



def build_cnn_best(num_classes: int = NUM_CLASSES) -> keras.Model:
    """The cnn at twice its width: 32 -> 64 -> 128 channels, the same dense 128 and
    dropout. Designed for accuracy per CPU-minute on 2 cores: it costs 2.3x the cnn's CPU
    time per batch, while two 3x3 convolutions per block at the same width cost 5.4x
    (benchmarks/cnn_best_search.py; BENCHMARKS.md has the table of what was tried)."""
    from keras import layers

    return _classifier("cnn_best", num_classes, [
        *_conv_block(32, "block1"),  # 28x28 -> 14x14
        *_conv_block(64, "block2"),  # 14x14 -> 7x7
        *_conv_block(128, "block3"),  # 7x7 -> 3x3
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(128, activation="relu", name="dense"),
        layers.Dropout(0.2),
    ])


# --- the registry --------------------------------------------------------------------------

# Small shifts and rotations: without them the dense models learn the training set by heart
# (99.5%+ train accuracy) and stop improving on the test set.
MLP_AUGMENT = {"shift": 1, "rotate": 8}

MODELS: dict[str, ModelSpec] = {
    "logreg": ModelSpec(
        name="logreg",
        description="softmax regression on the 784 pixels",
        tutorial_accuracy=0.929,
        target_accuracy=0.925,
        build=build_logreg,
        recipe=Recipe(epochs=15, batch_size=128, learning_rate=2e-3, schedule="cosine"),
    ),
    "mlp": ModelSpec(
        name="mlp",
        description="784-300-10, sigmoid hidden layer",
        tutorial_accuracy=0.972,
        target_accuracy=0.980,
        build=build_mlp,
        # sigmoid units learn slowly: a higher rate than the ReLU models'
        recipe=Recipe(epochs=30, batch_size=128, learning_rate=3e-3, schedule="cosine",
                      augment=MLP_AUGMENT),
    ),
    "dnn": ModelSpec(
        name="dnn",
        description="784-512-256-128-10, ReLU, dropout 0.5 before the output",
        tutorial_accuracy=0.921,
        target_accuracy=0.982,
        build=build_dnn,
        recipe=Recipe(epochs=20, batch_size=128, learning_rate=1e-3, schedule="cosine"),
    ),
    "mlp100": ModelSpec(
        name="mlp100",
        description="Flatten, Dense(100, relu), Dense(10, softmax)",
        tutorial_accuracy=0.975,
        target_accuracy=0.978,
        build=build_mlp100,
        recipe=Recipe(epochs=30, batch_size=128, learning_rate=1e-3, schedule="cosine",
                      augment=MLP_AUGMENT),
    ),
    "mlp2": ModelSpec(
        name="mlp2",
        description="784-256-256-10, ReLU",
        tutorial_accuracy=0.948,
        target_accuracy=0.982,
        build=build_mlp2,
        recipe=Recipe(epochs=30, batch_size=128, learning_rate=1e-3, schedule="cosine",
                      augment=MLP_AUGMENT),
    ),
    "cnn": ModelSpec(
        name="cnn",
        description="3 conv blocks (16-32-64, batch norm, max pool), dense 128, augmentation",
        tutorial_accuracy=0.99,
        target_accuracy=0.995,
        build=build_cnn,
        recipe=Recipe(epochs=15, batch_size=128, learning_rate=4e-3, optimizer="adam",
                      schedule="onecycle", augment={"shift": 2, "rotate": 10}),
    ),
    # The top preset: long training (40 epochs of about 30 s on 2 quiet cores) on images
    # that also change scale, for the last tenths of a percent.
    "cnn-best": ModelSpec(
        name="cnn-best",
        description="3 conv blocks (32-64-128, batch norm, max pool), dense 128, 40 epochs, "
                    "shifts, rotations and zoom",
        tutorial_accuracy=0.997,  # the MLP tutorial's "state of the art can give 99.7%"
        target_accuracy=0.997,
        build=build_cnn_best,
        recipe=Recipe(epochs=40, batch_size=128, learning_rate=4e-3, optimizer="adam",
                      schedule="onecycle", augment={"shift": 2, "rotate": 10, "zoom": 0.1}),
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


# --- optimizers and learning-rate schedules -----------------------------------------------

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = {
    "constant": "the learning rate throughout",
    "cosine": "cosine decay from the learning rate to 0 over all epochs",
    "onecycle": "linear warm-up from rate/25 to the rate over the first 20% of the steps, "
                "then cosine decay to rate/1000 (Smith's one-cycle policy)",
}
# onecycle: the warm-up share of all steps, where it starts and where the decay ends
ONECYCLE_WARMUP_FRACTION = 0.2
ONECYCLE_START_DIVISOR = 25.0
ONECYCLE_FINAL_FRACTION = 1e-3
ADAMW_WEIGHT_DECAY = 1e-4
SGD_MOMENTUM = 0.9


def make_schedule(schedule: str, learning_rate: float, steps_per_epoch: int, epochs: int):
    """The learning rate as a float (constant) or a keras LearningRateSchedule over
    ``epochs * steps_per_epoch`` steps, so fewer epochs get a whole, faster cycle.
    Only built-in Keras schedules are used, so a saved model.keras loads anywhere."""
    import keras

    if schedule not in SCHEDULES:
        raise ModelError(f"unknown schedule {schedule!r}; choose one of: "
                         f"{', '.join(SCHEDULES)}")
    total_steps = max(1, steps_per_epoch * epochs)
    if schedule == "constant":
        return learning_rate
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=learning_rate, decay_steps=total_steps, alpha=0.0)
    warmup_steps = max(1, math.floor(total_steps * ONECYCLE_WARMUP_FRACTION))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / ONECYCLE_START_DIVISOR,
        warmup_target=learning_rate,
        warmup_steps=warmup_steps,
        decay_steps=max(1, total_steps - warmup_steps),
        alpha=ONECYCLE_FINAL_FRACTION,
    )


def make_optimizer(name: str, learning_rate: float, schedule: str, steps_per_epoch: int,
                   epochs: int):
    """A keras optimizer ``name`` (one of OPTIMIZERS) whose learning rate follows
    ``schedule`` (one of SCHEDULES) over ``epochs`` epochs of ``steps_per_epoch`` steps."""
    import keras

    if name not in OPTIMIZERS:
        raise ModelError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")
    rate = make_schedule(schedule, learning_rate, steps_per_epoch, epochs)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=rate)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=rate, weight_decay=ADAMW_WEIGHT_DECAY)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum=SGD_MOMENTUM, nesterov=True)
    return keras.optimizers.RMSprop(learning_rate=rate)


# --- augmentation --------------------------------------------------------------------------

# What --augment means for a model whose recipe does not augment.
DEFAULT_AUGMENT = {"shift": 2.0, "rotate": 10.0}
AUGMENTATIONS = {
    "shift": "largest shift in pixels, up/down and left/right independently",
    "rotate": "largest rotation in degrees, either way",
    "zoom": "largest relative change of scale, e.g. 0.1 for 90%-110%",
    "flip": "1 to mirror half the images left-right (for classes a mirror keeps, e.g. "
            "clothing; never digits or letters)",
}


def make_augmenter(augment: dict[str, float] | None):
    """None for no augmentation, else a function ``augment(images, training=True)`` that
    moves each image of a float32 batch (N, 28, 28, 1) by a random affine transform
    (rotation and zoom about the centre, then a shift), filling with 0 (background).

    It is plain TensorFlow, meant for a tf.data ``map`` over batches (or a train step),
    and is no part of the model: saved and exported models never carry it. Its random
    numbers come from TensorFlow's global seed, so a seeded run is repeatable."""
    if not augment:
        return None
    check_augment(augment)
    max_shift = float(augment.get("shift", 0.0))
    max_angle = math.radians(float(augment.get("rotate", 0.0)))
    max_zoom = float(augment.get("zoom", 0.0))
    flip = bool(augment.get("flip", 0))
    affine = bool(max_shift or max_angle or max_zoom)

    import tensorflow as tf

    height, width = INPUT_SHAPE[0], INPUT_SHAPE[1]

    def random_affine(images, training: bool = True):
        if not training:
            return images
        count = tf.shape(images)[0]
        if flip:
            mirrored = tf.random.uniform([count, 1, 1, 1]) < 0.5
            images = tf.where(mirrored, tf.reverse(images, axis=[2]), images)
        if not affine:
            return images

        def uniform(limit):
            return tf.random.uniform([count], -limit, limit, dtype=tf.float32)

        angle, dx, dy = uniform(max_angle), uniform(max_shift), uniform(max_shift)
        scale = 1.0 + uniform(max_zoom)
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=_affine_transforms(tf, angle, scale, dx, dy),
            output_shape=tf.constant([height, width], tf.int32),
            fill_value=tf.constant(0.0, tf.float32),
            interpolation="BILINEAR", fill_mode="CONSTANT")

    return random_affine


def check_augment(augment: dict[str, float]) -> None:
    """Raise ModelError for an unknown augmentation or a strength out of its range."""
    unknown = sorted(set(augment) - set(AUGMENTATIONS))
    if unknown:
        raise ModelError(f"unknown augmentation {', '.join(unknown)}; choose from: "
                         f"{', '.join(AUGMENTATIONS)}")
    for key, value in augment.items():
        limit = (INPUT_SHAPE[0] if key == "shift" else 90 if key == "rotate"
                 else 2 if key == "flip" else 1)
        if not 0 <= float(value) < limit:
            raise ModelError(f"augmentation {key}={value} is out of range")


def _affine_transforms(tf, angle, scale, dx, dy):
    """One row per image for ImageProjectiveTransform, which maps each *output* pixel
    (x, y) to the input pixel it samples: input = A (output - centre - shift) + centre,
    with A = rotation by ``angle`` / ``scale``."""
    height, width = INPUT_SHAPE[0], INPUT_SHAPE[1]
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    ox, oy = cx + dx, cy + dy
    a0, a1, b0, b1 = cos, -sin, sin, cos
    a2 = cx - a0 * ox - a1 * oy
    b2 = cy - b0 * ox - b1 * oy
    zeros = tf.zeros_like(angle)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
