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
from mnistcli.recipes import make_config
from mnistcli.runs import (
    RUN_FILES,
    latest_run,
    list_runs,
    load_run,
    parse_run_reference,
    resolve_run,
)
from mnistcli.training import train

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


# ---------------------------------------------------------------- compare and rm


def two_runs(trained_run, home: Path) -> tuple[Path, Path]:
    first = install_run(trained_run, home, "20260101T000000Z-logreg", seed=5)
    record = json.loads((trained_run / "run.json").read_text())
    hyper = {**record["hyperparameters"], "learning_rate": 0.123}
    second = install_run(trained_run, home, "20260102T000000Z-logreg", seed=6,
                         hyperparameters=hyper)
    return first, second


def test_compare_puts_runs_side_by_side_and_marks_differences(trained_run, mnist_home):
    first, second = two_runs(trained_run, mnist_home)
    rows = {row["field"]: row for row in runs_module.compare_runs(
        [load_run(first), load_run(second)])}
    assert rows["seed"]["values"] == [5, 6] and rows["seed"]["differs"]
    assert rows["hyperparameters.learning_rate"]["values"][1] == 0.123
    assert rows["hyperparameters.learning_rate"]["differs"]
    assert not rows["model"]["differs"] and rows["model"]["values"] == ["logreg", "logreg"]
    assert "metrics.test_accuracy" in rows


def test_runs_compare_command_in_every_format(trained_run, mnist_home):
    first, second = two_runs(trained_run, mnist_home)
    result = runner.invoke(app, ["runs", "--compare", first.name, str(second)])
    assert result.exit_code == 0, result.output
    seed = next(line for line in result.stdout.splitlines() if line.startswith("seed\t"))
    assert seed.split("\t") == ["seed", "5", "6", "yes"]
    as_json = runner.invoke(app, ["runs", "compare", first.name, second.name, "--json"])
    rows = {row["field"]: row for row in json.loads(as_json.stdout)}
    assert rows["seed"]["values"] == {first.name: 5, second.name: 6}
    one = runner.invoke(app, ["runs", "--compare", first.name])
    assert one.exit_code == 2 and "at least two" in one.output


def test_runs_rm_deletes_only_runs_and_asks_first(trained_run, mnist_home, tmp_path):
    first, second = two_runs(trained_run, mnist_home)
    refused = runner.invoke(app, ["runs", "rm", first.name])  # no terminal to ask
    assert refused.exit_code == 1 and "--yes" in refused.stderr and first.is_dir()
    declined = runner.invoke(app, ["runs", "rm", first.name], input="n\n")
    assert first.is_dir()
    assert declined.exit_code == 1
    done = runner.invoke(app, ["runs", "rm", first.name, "--yes"])
    assert done.exit_code == 0 and done.stdout.strip() == str(first)
    assert not first.exists() and second.is_dir()
    stranger = tmp_path / "thesis"
    stranger.mkdir()
    (stranger / "chapter1.txt").write_text("mine")
    kept = runner.invoke(app, ["runs", "rm", str(stranger), "--yes"])
    assert kept.exit_code == 1 and (stranger / "chapter1.txt").is_file()
    model_file = runner.invoke(app, ["runs", "rm", str(second / "model.tflite"), "--yes"])
    assert model_file.exit_code == 1 and (second / "model.tflite").is_file()
