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
    assert (ASSETS_DIR / "model.tflite").stat().st_size <= MAX_SHIPPED_BYTES


def test_ship_run_copies_the_model_and_drops_the_data_dir(trained_run, tmp_path):
    assets = tmp_path / "assets"
    record = ship_run(trained_run, assets_dir=assets)
    assert sorted(p.name for p in assets.iterdir()) == ["model.tflite", "run.json"]
    assert (assets / "model.tflite").read_bytes() == (trained_run / "model.tflite").read_bytes()
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


def test_main_reports_errors_in_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and len(err.strip().splitlines()) == 1
    assert main([]) == 2
