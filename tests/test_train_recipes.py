"""Every recipe knob on the command line: schedule, augmentation, label smoothing, early
stopping, a TOML recipe file, another run's recipe, and TensorBoard logs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import TINY_DATA
from typer.testing import CliRunner

from mnistcli import models
from mnistcli.cli import app
from mnistcli.errors import MnistError
from mnistcli.recipes import make_config, read_recipe_file

runner = CliRunner()
TINY = ["--data", str(TINY_DATA), "--validation", "100", "--max-steps", "2"]


def train(*args: str) -> dict:
    result = runner.invoke(app, ["train", "--quiet", "--json", *TINY, *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_recipe_file_rejects_an_unknown_key_by_name(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('model = "logreg"\nlearnig_rate = 0.1\n')
    with pytest.raises(MnistError, match="unknown key 'learnig_rate'"):
        read_recipe_file(recipe)
    recipe.write_text("epochs = [\n")
    with pytest.raises(MnistError, match="not valid TOML"):
        read_recipe_file(recipe)
    recipe.write_text("augment = 3\n")
    with pytest.raises(MnistError, match="augment must be a table"):
        read_recipe_file(recipe)


def test_make_config_checks_every_knob_before_training():
    assert make_config("logreg", augment=True).augment == models.DEFAULT_AUGMENT
    assert make_config("cnn", augment=False).augment is None
    assert make_config("cnn").augment == models.MODELS["cnn"].recipe.augment
    with pytest.raises(MnistError, match="schedule 'linear' is unknown"):
        make_config("logreg", schedule="linear")
    with pytest.raises(MnistError, match="unknown augmentation"):
        make_config("logreg", augment={"sparkle": 1})
    with pytest.raises(MnistError, match="needs a validation split"):
        make_config("logreg", early_stopping=2, validation=0)
    with pytest.raises(MnistError, match="label smoothing"):
        make_config("logreg", label_smoothing=1.5)


def test_flags_reach_the_run_record_and_win_over_a_recipe_file(tmp_path):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('model = "logreg"\nepochs = 3\nbatch_size = 32\n'
                      'augment = { shift = 1.0 }\nschedule = "constant"\n')
    record = train("--config", str(recipe), "--epochs", "1", "--rotate", "5",
                   "--label-smoothing", "0.1", "--schedule", "cosine")
    hyper = record["hyperparameters"]
    assert record["model"] == "logreg" and hyper["epochs"] == 1  # the flag won
    assert hyper["batch_size"] == 32  # from the file
    assert hyper["augment"] == {"shift": 1.0, "rotate": 5.0}  # the flag refined the file
    assert hyper["label_smoothing"] == 0.1 and hyper["schedule"] == "cosine"


def test_from_run_trains_exactly_that_recipe_again():
    first = train("--model", "logreg", "--epochs", "1", "--seed", "7", "--batch-size", "48",
                  "--no-augment", "--schedule", "cosine")
    again = train("--from-run", first["run"])
    assert again["run"] != first["run"]
    assert again["model"] == "logreg" and again["seed"] == 7
    assert again["hyperparameters"] == first["hyperparameters"]
    assert again["metrics"]["test_accuracy"] == first["metrics"]["test_accuracy"]
    both = runner.invoke(app, ["train", "--from-run", first["run"], "--config", "x.toml"])
    assert both.exit_code == 2


def test_no_augment_with_strengths_is_a_usage_error():
    result = runner.invoke(app, ["train", "--no-augment", "--shift", "2", *TINY])
    assert result.exit_code == 2 and "contradict" in result.output


def test_early_stopping_keeps_the_best_epoch():
    # a rate far too high makes the validation loss climb after the first epochs
    record = train("--model", "logreg", "--epochs", "12", "--learning-rate", "3",
                   "--optimizer", "sgd", "--schedule", "constant", "--early-stopping", "1",
                   "--seed", "3")
    run = Path(record["run"])
    stored = json.loads((run / "run.json").read_text())
    history = [line.split(",") for line in (run / "history.csv").read_text().splitlines()]
    header, rows = history[0], history[1:]
    val_losses = [float(row[header.index("val_loss")]) for row in rows]
    assert stored["status"] == "completed"
    stopped = stored["early_stopping"]
    assert len(rows) == stopped["stopped_after_epoch"] < 12
    best = stopped["best_epoch"]
    assert val_losses[best - 1] == min(val_losses)
    assert stored["metrics"]["val_loss"] == pytest.approx(val_losses[best - 1], rel=1e-4)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_tensorboard_shows_the_runs_event_logs(mnist_home):
    record = train("--model", "logreg", "--epochs", "2", "--tensorboard")
    run = Path(record["run"])
    assert list((run / "tensorboard" / "train").glob("events.out.tfevents.*"))
    port = free_port()
    board = subprocess.Popen(
        [str(Path(sys.executable).parent / "tensorboard"), "--logdir", str(run.parent),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        tags = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not tags:
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/data/plugin/scalars/tags", timeout=5) as r:
                    tags = json.loads(r.read())
            except OSError:
                time.sleep(1)
        assert tags, "tensorboard did not answer"
        train_tags = tags[f"{run.name}/tensorboard/train"]
        assert {"epoch_loss", "epoch_accuracy"} <= set(train_tags)
        assert "epoch_loss" in tags[f"{run.name}/tensorboard/validation"]
    finally:
        board.terminate()
        board.wait(timeout=30)


def test_core_errors_name_parameters_and_the_cli_names_the_flag_typed():
    with pytest.raises(MnistError, match="^learning rate must be a positive number, not inf"):
        make_config("logreg", learning_rate=float("inf"))
    result = runner.invoke(app, ["train", "--lr", "inf", *TINY])
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: --learning-rate must be a positive number, not inf"
    result = runner.invoke(app, ["train", "--early-stopping", "2", "--validation", "0",
                                 "--data", str(TINY_DATA)])
    assert result.stderr.strip().startswith("Error: --early-stopping watches the validation")
