"""Real run directories for the plot and export tests, trained briefly on the tiny fixture.

Models in the zoo are trained with the real training code (``mnistcli.training.train``),
so the tests see exactly what `mnist train` writes. A zoo model that is not registered
yet is stood in for by a small model of the same kind, trained and saved with the same
training-module helpers, so the tests keep running while the zoo is being filled in.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import TINY_DATA

TINY_VALIDATION = 100
TRAIN_STEPS = 4  # batches per epoch: enough to move the weights, quick on two cores


def make_run(model: str, parent: Path) -> Path:
    from mnistcli.models import MODELS
    from mnistcli.training import make_config, train

    out = parent / model
    if model in MODELS:
        config = make_config(model, epochs=1, batch_size=32, seed=1,
                             validation=TINY_VALIDATION, data_dir=TINY_DATA,
                             max_steps=TRAIN_STEPS)
        return train(config, out=out).run.path
    return _stand_in_run(model, out)


def _stand_in_model(model: str):
    import keras
    from keras import layers

    inputs = keras.Input(shape=(28, 28, 1), name="image")
    if model == "cnn":
        x = layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
        x = layers.GlobalAveragePooling2D()(x)
    else:  # a dense network like mlp: one hidden layer, dropout before the output
        x = layers.Flatten()(inputs)
        x = layers.Dense(32, activation="sigmoid")(x)
        x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=model)


def _stand_in_run(model: str, out: Path) -> Path:
    import keras

    from mnistcli.datasets import load_dataset
    from mnistcli.runs import HISTORY_FILE, KERAS_FILE, RUN_FILE, TFLITE_FILE
    from mnistcli.training import convert_to_tflite, write_history

    keras.utils.set_random_seed(1)
    data = load_dataset(TINY_DATA, validation=TINY_VALIDATION)
    network = _stand_in_model(model)
    network.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
    train_x = data["train"].images[..., None] / 255.0
    valid_x = data["validation"].images[..., None] / 255.0
    fitted = network.fit(train_x, data["train"].labels, batch_size=32, epochs=2,
                         validation_data=(valid_x, data["validation"].labels), verbose=0)
    out.mkdir(parents=True)
    network.save(out / KERAS_FILE)
    convert_to_tflite(network, out / TFLITE_FILE)
    rows = [{"epoch": epoch + 1, **{key: values[epoch] for key, values in
                                    fitted.history.items()}, "seconds": 1.0}
            for epoch in range(2)]
    write_history(out / HISTORY_FILE, rows)
    (out / RUN_FILE).write_text(json.dumps({
        "format": 1, "name": out.name, "model": model, "status": "completed",
        "hyperparameters": {"validation": TINY_VALIDATION}, "started": "2000-01-01T00:00:00Z",
    }), encoding="utf-8")
    return out
