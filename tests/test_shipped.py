"""The model shipped in the package, and the step that puts a run there."""

from __future__ import annotations

import json
import shutil

import pytest

from mnistcli.datasets import get_dataset
from mnistcli.errors import RunError
from mnistcli.runs import ASSETS_DIR, load_run
from mnistcli.shipped import MAX_SHIPPED_BYTES, main, ship_run


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from trained_runs import make_run

    return make_run("logreg", tmp_path_factory.mktemp("shipped_run"))


def test_the_shipped_record_describes_a_cnn_trained_on_real_mnist():
    record = json.loads((ASSETS_DIR / "run.json").read_text(encoding="utf-8"))
    assert record["model"] == "cnn" and record["status"] == "completed"
    assert record["metrics"]["test_accuracy"] >= 0.995
    mnist = {file.filename: file.sha256 for file in get_dataset("mnist").files}
    assert record["data"]["digests"] == mnist
    assert "dir" not in record["data"]  # no path of the machine that trained it
    shipped = sorted(p.name for p in ASSETS_DIR.iterdir())
    assert shipped == ["history.csv", "model.keras", "model.tflite", "run.json"]
    assert sum((ASSETS_DIR / name).stat().st_size for name in shipped) <= MAX_SHIPPED_BYTES


def test_ship_run_copies_the_model_and_drops_the_data_dir(trained_run, tmp_path):
    import keras
    import numpy as np

    assets = tmp_path / "assets"
    record = ship_run(trained_run, assets_dir=assets)
    assert sorted(p.name for p in assets.iterdir()) == ["history.csv", "model.keras",
                                                         "model.tflite", "run.json"]
    for name in ("model.tflite", "history.csv"):
        assert (assets / name).read_bytes() == (trained_run / name).read_bytes()
    # the Keras model is the same network, minus the optimizer state
    original_model = keras.models.load_model(trained_run / "model.keras", compile=False)
    shipped_model = keras.models.load_model(assets / "model.keras", compile=False)
    for ours, theirs in zip(shipped_model.get_weights(), original_model.get_weights(),
                            strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert (assets / "model.keras").stat().st_size < (trained_run / "model.keras").stat().st_size
    written = json.loads((assets / "run.json").read_text(encoding="utf-8"))
    assert written == record
    original = load_run(trained_run).record
    assert "dir" in original["data"] and "dir" not in written["data"]
    assert written["data"]["digests"] == original["data"]["digests"]
    assert written["metrics"] == original["metrics"]


def test_only_a_completed_run_is_shipped(trained_run, tmp_path):
    interrupted = tmp_path / "interrupted"
    shutil.copytree(trained_run, interrupted)
    record = json.loads((interrupted / "run.json").read_text(encoding="utf-8"))
    record["status"] = "interrupted"
    (interrupted / "run.json").write_text(json.dumps(record), encoding="utf-8")
    assets = tmp_path / "assets"
    with pytest.raises(RunError, match="only a completed run"):
        ship_run(interrupted, assets_dir=assets)
    assert not assets.exists()


def test_too_big_to_ship_changes_nothing(trained_run, tmp_path, monkeypatch):
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "model.tflite").write_bytes(b"the old model")
    monkeypatch.setattr("mnistcli.shipped.MAX_SHIPPED_BYTES", 1000)
    with pytest.raises(RunError, match="more than the 1,000"):
        ship_run(trained_run, assets_dir=assets)
    assert [p.name for p in assets.iterdir()] == ["model.tflite"]
    assert (assets / "model.tflite").read_bytes() == b"the old model"


@pytest.mark.parametrize("command, produced", [
    (["plot-weights"], "weights.png"),
    (["plot-history"], "history.png"),
    (["export", "--format", "keras"], "export/model.keras"),
])
def test_shipped_model_outputs_go_to_the_current_directory(command, produced, tmp_path,
                                                           monkeypatch, interactive_stdin):
    from typer.testing import CliRunner

    from mnistcli.cli import app

    monkeypatch.chdir(tmp_path)  # MNIST_HOME has no runs: the shipped model is used
    before = sorted(p.name for p in ASSETS_DIR.iterdir())
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / produced)
    assert (tmp_path / produced).exists()
    assert sorted(p.name for p in ASSETS_DIR.iterdir()) == before  # the package untouched


def test_main_reports_errors_in_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and len(err.strip().splitlines()) == 1
    assert main([]) == 2
