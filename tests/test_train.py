"""`mnist train` and mnistcli.training on the tiny fixture dataset."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_DATA
from typer.testing import CliRunner

from mnistcli.cli import app
from mnistcli.datasets import load_split
from mnistcli.errors import MnistError, RunError
from mnistcli.inference import load_predictor
from mnistcli.models import MODELS
from mnistcli.recipes import make_config
from mnistcli.runs import HISTORY_COLUMNS, RUN_FILES, load_run
from mnistcli.training import TrainingObserver, resume, train

# the tiny fixture has 600 training images: keep 100 for validation
TINY_VALIDATION = 100


def tiny_config(model: str = "logreg", **overrides):
    settings = {"epochs": 1, "batch_size": 32, "max_steps": 3, "seed": 1,
                "validation": TINY_VALIDATION, "data_dir": TINY_DATA}
    settings.update(overrides)
    return make_config(model, **settings)


def read_history(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def keras_weights(path: Path) -> list[np.ndarray]:
    import keras

    return keras.models.load_model(path, compile=False).get_weights()


def runs_in_home(home: Path) -> list[str]:
    runs = home / "runs"
    return sorted(os.listdir(runs)) if runs.exists() else []


@pytest.mark.slow
@pytest.mark.parametrize("model", list(MODELS))
def test_every_zoo_model_trains_into_a_valid_run(model, tmp_path):
    out = tmp_path / "run"
    result = train(tiny_config(model), out=out)

    assert result.run.path == out
    assert sorted(os.listdir(out)) == sorted(RUN_FILES)  # nothing else, no temp files
    record = json.loads((out / "run.json").read_text())
    assert record["model"] == model
    assert record["status"] == "completed"
    assert record["epochs_completed"] == 1
    assert record["seed"] == 1
    assert record["hyperparameters"]["batch_size"] == 32
    assert record["hyperparameters"]["epochs"] == 1
    assert record["hyperparameters"]["optimizer"] == MODELS[model].recipe.optimizer
    assert set(record["data"]["digests"]) == {p.name for p in TINY_DATA.glob("*.gz")}
    assert record["data"]["images"] == {"train": 500, "validation": 100, "test": 200}
    assert {"tensorflow", "keras", "numpy", "python", "mnistcli"} <= set(record["versions"]) \
        or {"tensorflow-cpu", "keras"} <= set(record["versions"])
    assert record["started"] <= record["finished"]
    assert 0.0 <= record["metrics"]["test_accuracy"] <= 1.0
    assert record["metrics"]["test_loss"] > 0
    assert record["parameters"] > 0
    history = read_history(out)
    assert list(history[0]) == list(HISTORY_COLUMNS)
    assert [row["epoch"] for row in history] == ["1"]
    assert float(history[0]["val_accuracy"]) >= 0 and float(history[0]["seconds"]) > 0

    # the .tflite gives the Keras model's answers
    images = load_split("test", data_dir=TINY_DATA).images[:50]
    from_keras = load_predictor(out / "model.keras").predict_proba(images)
    from_tflite = load_predictor(out / "model.tflite").predict_proba(images)
    assert from_tflite.shape == (50, 10)
    np.testing.assert_allclose(from_tflite, from_keras, atol=1e-4)
    np.testing.assert_allclose(from_tflite.sum(axis=1), 1.0, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted({"logreg", "cnn"} & set(MODELS)))
def test_same_seed_same_weights_other_seed_other_weights(model, tmp_path):
    # two epochs, so the second epoch's reshuffle is covered too; few steps (cnn is slow)
    settings = {"epochs": 2, "max_steps": 2}
    first = train(tiny_config(model, seed=7, **settings), out=tmp_path / "a").run.path
    second = train(tiny_config(model, seed=7, **settings), out=tmp_path / "b").run.path
    a, b = (keras_weights(p / "model.keras") for p in (first, second))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    if model == "logreg":  # the comparison can fail: another seed, other weights
        other = train(tiny_config(model, seed=8, **settings), out=tmp_path / "c").run.path
        c = keras_weights(other / "model.keras")
        assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_recipe_supplies_defaults_and_options_override_them():
    recipe = MODELS["logreg"].recipe
    config = make_config("logreg")
    assert (config.epochs, config.batch_size, config.learning_rate, config.optimizer) == (
        recipe.epochs, recipe.batch_size, recipe.learning_rate, recipe.optimizer)
    config = make_config("logreg", epochs=3, batch_size=7, learning_rate=0.5, optimizer="sgd")
    assert (config.epochs, config.batch_size, config.learning_rate, config.optimizer) == (
        3, 7, 0.5, "sgd")
    with pytest.raises(MnistError, match="epochs must be at least 1, not 0"):
        make_config("logreg", epochs=0)


class InterruptAt(TrainingObserver):
    """Sends this process SIGINT (as Ctrl-C does) at a given batch of a given epoch."""

    def __init__(self, epoch: int, batch: int):
        self.target = (epoch, batch)
        self.epoch = -1
        self.interrupts = 0

    def on_epoch_begin(self, epoch):
        self.epoch = epoch

    def on_batch_end(self, step, loss, accuracy):
        if (self.epoch, step) == self.target:
            os.kill(os.getpid(), signal.SIGINT)

    def on_interrupt(self):
        self.interrupts += 1


@pytest.mark.slow
def test_sigint_keeps_last_completed_epoch_and_resume_completes_it(tmp_path):
    out = tmp_path / "run"
    observer = InterruptAt(epoch=2, batch=1)  # during the third epoch
    # a constant learning rate, so a shorter uninterrupted run is a fair reference below
    config = dataclasses.replace(tiny_config(epochs=5, max_steps=4), schedule="constant")
    result = train(config, out=out, observer=observer)

    assert observer.interrupts == 1
    assert result.interrupted and result.status == "interrupted"
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "interrupted"
    assert record["epochs_completed"] == 2
    assert [row["epoch"] for row in read_history(out)] == ["1", "2"]
    assert sorted(os.listdir(tmp_path)) == ["run"]  # no partial directory left behind

    # the published weights are those at the end of epoch 2, not mid-epoch 3: an
    # uninterrupted 2-epoch run with the same seed has exactly the same weights
    reference = train(dataclasses.replace(config, epochs=2), out=tmp_path / "two").run.path
    saved, expected = keras_weights(out / "model.keras"), keras_weights(reference / "model.keras")
    assert all(np.array_equal(x, y) for x, y in zip(saved, expected, strict=True))

    import keras

    # the optimizer state travels in model.keras: its step counter continues, not restarts
    assert int(keras.models.load_model(out / "model.keras").optimizer.iterations) == 2 * 4
    resumed = resume(out)
    assert resumed.status == "completed"
    assert int(keras.models.load_model(out / "model.keras").optimizer.iterations) == 5 * 4
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "completed" and record["epochs_completed"] == 5
    assert len(record["resumed"]) == 1
    assert [row["epoch"] for row in read_history(out)] == ["1", "2", "3", "4", "5"]
    assert load_run(out).status == "completed"
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]
    with pytest.raises(RunError, match="nothing to resume"):
        resume(out)


@pytest.mark.slow
def test_sigint_in_first_epoch_saves_nothing(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(MnistError, match="nothing saved"):
        train(tiny_config(epochs=3, max_steps=4), out=out, observer=InterruptAt(0, 1))
    assert os.listdir(tmp_path) == []


# --- the command -------------------------------------------------------------------------

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["train", *args])


TINY_ARGS = ("--data", str(TINY_DATA), "--validation", str(TINY_VALIDATION),
             "--epochs", "1", "--batch-size", "64", "--max-steps", "2", "--model", "logreg")


@pytest.mark.slow
def test_cli_prints_run_path_on_stdout_and_progress_on_stderr(mnist_home):
    result = invoke(*TINY_ARGS)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    run_dir = Path(lines[0])
    assert run_dir.parent == mnist_home / "runs"
    assert run_dir.name.endswith("-logreg")
    assert load_run(run_dir).status == "completed"
    assert "epoch 1/1" in result.stderr
    assert "test accuracy" in result.stderr and "parameters" in result.stderr


@pytest.mark.slow
def test_cli_json_record_and_quiet(mnist_home, tmp_path):
    result = invoke(*TINY_ARGS, "--json", "--quiet", "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["run"] == str(tmp_path / "r")
    assert record["model"] == "logreg" and record["status"] == "completed"
    run_json = json.loads((tmp_path / "r" / "run.json").read_text())
    assert record["metrics"] == run_json["metrics"]
    assert "epoch 1/1" not in result.stderr  # --quiet


def test_cli_list_matches_models_command():
    listed = invoke("--list", "--json")
    models = runner.invoke(app, ["models", "--json"])
    assert listed.exit_code == 0 and models.exit_code == 0
    assert json.loads(listed.stdout) == json.loads(models.stdout)
    assert [row["name"] for row in json.loads(models.stdout)] == list(MODELS)


def test_unknown_model_lists_choices_and_writes_nothing(mnist_home):
    result = invoke("--model", "resnet9000", "--data", str(TINY_DATA))
    assert result.exit_code == 1
    assert "unknown model 'resnet9000'" in result.stderr and "logreg" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert runs_in_home(mnist_home) == []


def test_missing_dataset_is_a_clear_error(mnist_home, tmp_path):
    result = invoke("--model", "logreg", "--data", str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert "mnist download" in result.stderr
    assert runs_in_home(mnist_home) == []


def test_corrupt_dataset_is_a_clear_error(mnist_home, tmp_path):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for source in TINY_DATA.glob("*.gz"):
        data = source.read_bytes()
        if source.name.startswith("train-images"):
            data = data[: len(data) // 2]  # truncated download
        (corrupt / source.name).write_bytes(data)
    result = invoke("--model", "logreg", "--data", str(corrupt))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "train-images" in result.stderr
    assert runs_in_home(mnist_home) == []


def test_unwritable_out_is_a_clear_error(mnist_home, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = invoke(*TINY_ARGS, "--out", str(blocker / "run"))
    assert result.exit_code == 1
    # one line naming the file in the way
    error = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(error) == 1 and str(blocker) in error[0]
    assert blocker.read_text() == "not a directory"
    assert runs_in_home(mnist_home) == []


def test_existing_out_is_not_overwritten(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "precious.txt").write_text("keep me")
    result = invoke(*TINY_ARGS, "--out", str(taken))
    assert result.exit_code == 1 and "already exists" in result.stderr
    assert os.listdir(taken) == ["precious.txt"]


def test_resume_refuses_changed_hyperparameters(tmp_path):
    result = invoke("--resume", str(tmp_path), "--batch-size", "3")
    assert result.exit_code == 2
    assert "--batch-size" in result.stderr


def test_resume_of_a_non_run_is_a_clear_error(tmp_path):
    result = invoke("--resume", str(tmp_path))
    assert result.exit_code == 1
    assert "not a run directory" in result.stderr


@pytest.mark.slow
def test_recipe_augmentation_applies_to_training_batches(tmp_path, monkeypatch):
    import keras

    import mnistcli.models as models

    traced = []

    def make_augmenter(augment):
        assert augment == {"shift": 2.0}

        def blank(images):  # an "augmentation" whose effect is easy to see
            traced.append(tuple(images.shape))
            return images * 0.0

        return blank

    monkeypatch.setattr(models, "make_augmenter", make_augmenter, raising=False)
    config = dataclasses.replace(tiny_config(epochs=2), augment={"shift": 2.0})
    run_dir = train(config, out=tmp_path / "run").run.path

    assert traced and traced[0][1:] == (28, 28, 1)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["hyperparameters"]["augment"] == {"shift": 2.0}
    # trained on blank images, the pixel weights get zero gradients and keep their initial
    # values, while the bias learns the label frequencies
    keras.utils.set_random_seed(config.seed)
    initial_kernel, initial_bias = MODELS["logreg"].build().get_weights()
    kernel, bias = keras_weights(run_dir / "model.keras")
    np.testing.assert_array_equal(kernel, initial_kernel)
    assert not np.array_equal(bias, initial_bias)
