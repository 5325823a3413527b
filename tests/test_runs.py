"""mnistcli.runs (layout, loading, resolving) and `mnist runs` / `mnist models`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import TINY_DATA
from typer.testing import CliRunner

from mnistcli import runs as runs_module
from mnistcli.cli import app
from mnistcli.errors import RunError
from mnistcli.models import MODELS
from mnistcli.runs import (
    RUN_FILES,
    latest_run,
    list_runs,
    load_run,
    parse_run_reference,
    resolve_run,
)
from mnistcli.training import make_config, train

runner = CliRunner()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    config = make_config("logreg", epochs=1, batch_size=64, max_steps=2, seed=5,
                         validation=100, data_dir=TINY_DATA)
    return train(config, out=out).run.path


def install_run(source: Path, home: Path, name: str, **changes) -> Path:
    """Copy a run into MNIST_HOME/runs under ``name``, editing its run.json."""
    target = home / "runs" / name
    shutil.copytree(source, target)
    record = json.loads((target / "run.json").read_text())
    record.update({"name": name, **changes})
    (target / "run.json").write_text(json.dumps(record))
    return target


def test_load_run_reads_the_record(trained_run):
    run = load_run(trained_run)
    assert run.source == "run" and run.model == "logreg" and run.status == "completed"
    assert run.model_file() == trained_run / "model.tflite"
    assert run.model_file(prefer="keras") == trained_run / "model.keras"
    assert 0 <= run.test_accuracy <= 1


@pytest.mark.parametrize("missing", RUN_FILES)
def test_load_run_names_the_missing_file(trained_run, tmp_path, missing):
    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    (broken / missing).unlink()
    with pytest.raises(RunError, match=f"missing {missing}"):
        load_run(broken)


def test_load_run_rejects_a_garbled_record(trained_run, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    (broken / "run.json").write_text("{not json")
    with pytest.raises(RunError, match="unreadable run record"):
        load_run(broken)


def test_list_and_latest_skip_partial_and_incomplete_dirs(trained_run, mnist_home):
    assert list_runs() == [] and latest_run() is None
    old = install_run(trained_run, mnist_home, "20240101T000000Z-logreg",
                      started="2024-01-01T00:00:00+00:00")
    new = install_run(trained_run, mnist_home, "20250101T000000Z-logreg",
                      started="2025-01-01T00:00:00+00:00", status="interrupted")
    # a run still being written, and a directory that is not a run
    install_run(trained_run, mnist_home, ".20260101T000000Z-logreg.partial",
                started="2026-01-01T00:00:00+00:00")
    (mnist_home / "runs" / "scratch").mkdir()
    assert [run.path for run in list_runs()] == [old, new]
    assert latest_run().path == new
    assert resolve_run(None).path == new
    assert resolve_run("20240101T000000Z-logreg").path == old  # a bare name, as listed


def test_resolve_model_files(trained_run):
    tflite = resolve_run(trained_run / "model.tflite")
    assert tflite.source == "file" and tflite.model_file() == trained_run / "model.tflite"
    assert tflite.model == "logreg"  # the record of the run it sits in comes along
    keras_file = resolve_run(str(trained_run / "model.keras"))
    assert keras_file.model_file() == trained_run / "model.keras"


def test_resolve_errors(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(RunError, match="not a model file"):
        resolve_run(text)
    with pytest.raises(RunError, match="no such run"):
        resolve_run(tmp_path / "missing")
    with pytest.raises(RunError, match="not a run directory"):
        resolve_run(tmp_path)


def test_parse_run_reference():
    assert parse_run_reference("/some/run\n") == "/some/run"
    assert parse_run_reference('{"run": "/a/b", "status": "completed"}\n') == "/a/b"
    with pytest.raises(RunError, match="nothing on stdin"):
        parse_run_reference("  \n")
    with pytest.raises(RunError, match='no "run" field'):
        parse_run_reference('{"model": "cnn"}')
    with pytest.raises(RunError, match="invalid JSON"):
        parse_run_reference("{oops")


def test_resolve_from_stdin_text(trained_run):
    assert resolve_run(None, stdin_text=f"{trained_run}\n").path == trained_run
    record = json.dumps({"run": str(trained_run)})
    assert resolve_run(None, stdin_text=record).path == trained_run


def test_shipped_model_when_there_are_no_runs(monkeypatch, tmp_path, trained_run):
    assets = tmp_path / "assets"
    monkeypatch.setattr(runs_module, "ASSETS_DIR", assets)
    with pytest.raises(RunError, match="no model is shipped"):
        resolve_run(None)
    assets.mkdir()
    shutil.copy(trained_run / "model.tflite", assets)
    shutil.copy(trained_run / "run.json", assets)
    shipped = resolve_run(None)
    assert shipped.source == "shipped" and shipped.model_file() == assets / "model.tflite"
    assert shipped.model == "logreg"


# --- `mnist runs` ------------------------------------------------------------------------

def test_runs_command_tsv_and_json(trained_run, mnist_home):
    empty = runner.invoke(app, ["runs"])
    assert empty.exit_code == 0 and empty.stdout == ""
    first = install_run(trained_run, mnist_home, "20240101T000000Z-logreg",
                        started="2024-01-01T00:00:00+00:00")
    second = install_run(trained_run, mnist_home, "20250101T000000Z-logreg",
                         started="2025-01-01T00:00:00+00:00", status="interrupted")
    result = runner.invoke(app, ["runs"])
    assert result.exit_code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[0] for row in rows] == [first.name, second.name]
    assert rows[1][1:3] == ["logreg", "interrupted"]
    assert float(rows[0][3]) == pytest.approx(load_run(first).test_accuracy, abs=1e-4)
    assert rows[1][5] == str(second)
    listed = json.loads(runner.invoke(app, ["runs", "--json"]).stdout)
    assert [entry["path"] for entry in listed] == [str(first), str(second)]
    assert listed[1]["status"] == "interrupted" and listed[0]["model"] == "logreg"


# --- `mnist models` ----------------------------------------------------------------------

def test_models_command_lists_the_registry():
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == list(MODELS)
    for row in rows:
        recipe = MODELS[row["name"]].recipe
        assert (row["epochs"], row["batch_size"], row["learning_rate"], row["optimizer"]) == (
            recipe.epochs, recipe.batch_size, recipe.learning_rate, recipe.optimizer)
        assert row["tutorial_accuracy"] == MODELS[row["name"]].tutorial_accuracy
    tsv = runner.invoke(app, ["models"])
    assert [line.split("\t")[0] for line in tsv.stdout.splitlines()] == list(MODELS)
