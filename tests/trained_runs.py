"""Real run directories for the plot, export and predict tests, trained briefly on the
tiny fixture with the real training code (``mnistcli.training.train``), so the tests see
exactly what `mnist train` writes."""

from __future__ import annotations

from pathlib import Path

from conftest import TINY_DATA

TINY_VALIDATION = 100
TRAIN_STEPS = 4  # batches per epoch: enough to move the weights, quick on two cores


def make_run(model: str, parent: Path) -> Path:
    from mnistcli.recipes import make_config
    from mnistcli.training import train

    config = make_config(model, epochs=1, batch_size=32, seed=1, validation=TINY_VALIDATION,
                         data_dir=TINY_DATA, max_steps=TRAIN_STEPS)
    return train(config, out=parent / model).run.path
