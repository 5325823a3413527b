"""Issue 10, training, runs and outputs: nothing of the user's is deleted or overwritten,
two writers never share a run, signals and kills lose at most the epoch in flight, bad run
records are skipped with a warning, an empty pipe is an error, bad settings fail before
training and a damaged model before use.

The process tests run the CLI through tests/signal_driver.py, which signals the process
itself at a given phase of `mnist train` (or pauses there), so every phase is hit
deterministically."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURE_IMAGES, TINY_DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mnistcli.cli import app
from mnistcli.errors import MnistError, ModelError, OutputError, RunError, RunRecordWarning
from mnistcli.fsutil import OUTPUT_MARKER, atomic_output, check_output
from mnistcli.runs import (
    ASSETS_DIR,
    RunInfo,
    check_run_record,
    list_runs,
    list_unfinished,
    partial_path,
    read_run_record,
    run_lock,
)

REPO = Path(__file__).resolve().parent.parent
DRIVER = [sys.executable, str(REPO / "tests" / "signal_driver.py")]
MNIST = [sys.executable, "-m", "mnistcli"]
IMAGE = FIXTURE_IMAGES / "7_white_on_black.png"
TINY_TRAIN = ["train", "-m", "logreg", "--data", str(TINY_DATA), "--validation", "100",
              "--epochs", "2", "--max-steps", "3", "--batch-size", "32", "-q"]

runner = CliRunner()


def invoke(*args: str, input: str | None = None):
    result = runner.invoke(app, list(args), input=input)
    assert "unexpected" not in result.stderr, result.stderr
    return result


def fake_run(home: Path, name: str, **changes) -> Path:
    """A complete run directory: the shipped model's files, its record changed."""
    run = home / "runs" / name
    shutil.copytree(ASSETS_DIR, run, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    record = json.loads((run / "run.json").read_text())
    record.update({"name": name, **changes})
    (run / "run.json").write_text(json.dumps(record))
    return run


def env_for(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "MNIST_HOME": str(home), "NO_COLOR": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


# --- case 6: one bad run.json -------------------------------------------------------------

def test_a_bad_run_record_is_skipped_with_one_warning(mnist_home):
    fake_run(mnist_home, "good", started="2026-01-01T00:00:00+00:00")
    bad = fake_run(mnist_home, "bad", started=12345)
    with pytest.warns(RunRecordWarning, match="bad.*started"):
        assert [run.name for run in list_runs()] == ["good"]
    result = invoke("runs")
    assert result.exit_code == 0
    assert result.stderr.count("Warning:") == 1 and str(bad / "run.json") in result.stderr
    assert "good" in result.stdout and "bad" not in result.stdout
    # predict without a model argument falls back to the latest good run
    result = invoke("predict", str(IMAGE))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("Warning:") == 1


@pytest.mark.parametrize("field, value", [("started", 12345), ("metrics", {"test_accuracy": "x"}),
                                          ("epochs_completed", "3"), ("hyperparameters", []),
                                          ("seed", 1.5), ("model", ""), ("class_names", 3)])
def test_wrong_typed_fields_are_refused_when_read(tmp_path, field, value):
    (tmp_path / "run.json").write_text(json.dumps({"model": "cnn", field: value}))
    with pytest.raises(RunError, match=field):
        read_run_record(tmp_path)


records = st.dictionaries(
    st.sampled_from(["model", "name", "status", "started", "finished", "metrics",
                     "epochs_completed", "seed", "hyperparameters", "data", "resumed",
                     "class_names", "training_seconds", "parameters"]),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.sampled_from(["test_accuracy", "epochs", "dataset",
                                                    "validation", "x"]), inner, max_size=3),
                 max_leaves=10),
    max_size=8)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(record=records)
def test_run_records_are_refused_or_usable(tmp_path, record):
    """Whatever a run.json holds, reading it gives a RunError or a record every reader of
    runs can use (listing, sorting, comparing) without another exception."""
    (tmp_path / "run.json").write_text(json.dumps(record))
    try:
        checked = read_run_record(tmp_path)
    except RunError:
        return
    run = RunInfo(path=tmp_path, source="run", record=checked)
    summary = run.summary()
    json.dumps(summary)
    sorted([run, run], key=lambda r: (r.started or "", r.name))
    assert run.test_accuracy is None or isinstance(run.test_accuracy, (int, float))
    check_run_record(checked)


# --- case 5: an empty pipe ----------------------------------------------------------------

def test_an_empty_pipe_is_an_error_not_the_latest_run(tmp_path, mnist_home):
    fake_run(mnist_home, "older")
    env = env_for(mnist_home)
    pipeline = subprocess.run(
        f"{sys.executable} -m mnistcli train -m bogus | "
        f"{sys.executable} -m mnistcli plot-history --out {tmp_path / 'h.png'}",
        shell=True, env=env, capture_output=True, text=True, timeout=300)
    assert pipeline.returncode == 1
    assert "nothing on stdin: did the command before the pipe fail?" in pipeline.stderr
    assert not (tmp_path / "h.png").exists()
    empty = tmp_path / "empty"
    empty.write_text("")
    with open(empty) as stdin:  # a regular file that holds nothing
        result = subprocess.run([*MNIST, "predict", "-m", "-", str(IMAGE)], stdin=stdin,
                                env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "nothing on stdin" in result.stderr
    # /dev/null (cron, `< /dev/null`) is like a terminal: the latest run is used
    with open(os.devnull) as stdin:
        result = subprocess.run([*MNIST, "plot-history", "--out", str(tmp_path / "h.png")],
                                stdin=stdin, env=env, capture_output=True, text=True,
                                timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "h.png").is_file()


def test_cli_runner_input_is_a_pipe(mnist_home):
    run = fake_run(mnist_home, "piped")
    assert "nothing on stdin" in invoke("plot-history", input="").stderr
    result = invoke("plot-history", "--out", str(mnist_home / "h.png"), input=f"{run}\n")
    assert result.exit_code == 0, result.stderr


# --- case 1: outputs never replace what is not ours -----------------------------------------

def test_export_never_deletes_a_users_directory(tmp_path, mnist_home):
    run = fake_run(mnist_home, "r")
    other = fake_run(mnist_home, "other")
    before = {path: sorted(os.listdir(path)) for path in (run, other, mnist_home / "runs")}
    thesis = tmp_path / "d" / "thesis.txt"
    thesis.parent.mkdir()
    thesis.write_text("x")
    for fmt, out in (("csv", thesis.parent), ("savedmodel", run),
                     ("savedmodel", mnist_home / "runs"), ("web", other)):
        result = invoke("export", str(run), "--format", fmt, "--out", str(out), "--force")
        assert result.exit_code == 1, (fmt, out, result.stderr)
        assert "never replaced" in result.stderr
    assert thesis.read_text() == "x"
    assert {path: sorted(os.listdir(path)) for path in before} == before


def test_export_replaces_a_file_only_with_force(tmp_path, mnist_home):
    run = fake_run(mnist_home, "r")
    mine = tmp_path / "m.keras"
    mine.write_text("my own file")
    result = invoke("export", str(run), "--format", "keras", "--out", str(mine))
    assert result.exit_code == 1 and "--force" in result.stderr
    assert mine.read_text() == "my own file"
    # nor a run's own files, even with --force
    result = invoke("export", str(run), "--format", "tflite", "--out",
                    str(run / "model.tflite"), "--force")
    assert result.exit_code == 1 and "part of the run" in result.stderr
    result = invoke("export", str(run), "--format", "keras", "--out", str(mine), "--force")
    assert result.exit_code == 0, result.stderr
    assert mine.read_bytes()[:2] == b"PK"


def test_force_replaces_only_an_earlier_export_of_ours(tmp_path):
    out = tmp_path / "export"
    with atomic_output(out) as built:
        built.mkdir()
        (built / "a.csv").write_text("old")
    assert (out / OUTPUT_MARKER).is_file()
    with pytest.raises(OutputError, match="--force"):
        check_output(out)
    with atomic_output(out, force=True) as built:
        built.mkdir()
        (built / "b.csv").write_text("new")
    assert sorted(os.listdir(out)) == sorted([OUTPUT_MARKER, "b.csv"])
    (out / OUTPUT_MARKER).unlink()  # now it could be anyone's
    with pytest.raises(OutputError, match="never replaced"):
        check_output(out, force=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    check_output(empty)


@pytest.mark.parametrize("args", [
    ["plot-history", "{run}", "--out", "{file}"],
    ["plot-weights", "{run}", "--out", "{file}"],
    ["inspect", str(IMAGE), "--save", "{file}"],
])
def test_pictures_do_not_overwrite_a_users_file(tmp_path, mnist_home, args):
    run = fake_run(mnist_home, "r")
    users = tmp_path / "mine.png"
    users.write_bytes(b"my picture")
    filled = [arg.format(run=run, file=users) for arg in args]
    result = invoke(*filled)
    assert result.exit_code == 1 and "--force" in result.stderr
    assert users.read_bytes() == b"my picture"
    result = invoke(*filled, "--force")
    assert result.exit_code == 0, result.stderr
    assert users.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_outputs_are_checked_before_evaluating(tmp_path, mnist_home):
    run = fake_run(mnist_home, "r")
    users = tmp_path / "confusion-calibration.png"
    users.write_bytes(b"mine")
    result = invoke("evaluate", str(run), "--plot", str(tmp_path / "confusion.png"))
    assert result.exit_code == 1 and "--force" in result.stderr
    assert users.read_bytes() == b"mine"


# --- case 12, 15: bad settings before training; runs that cannot be resumed -----------------

@pytest.mark.parametrize("option, value, message", [
    ("--lr", "inf", "learning-rate"), ("--lr", "nan", "learning-rate"),
    ("--seed", "-1", "seed"), ("--seed", str(2**40), "seed"),
])
def test_bad_settings_fail_before_training(option, value, message, mnist_home):
    result = invoke(*TINY_TRAIN, option, value)
    assert result.exit_code != 0 and message in result.stderr
    assert "Training" not in result.stderr
    assert not (mnist_home / "runs").exists() or not os.listdir(mnist_home / "runs")


def test_an_empty_test_split_fails_before_training(tmp_path):
    from mnistcli.idx import read_idx, write_idx

    data = tmp_path / "data"
    data.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        shutil.copy(TINY_DATA / name, data / name)
    write_idx(data / "t10k-images-idx3-ubyte.gz",
              read_idx(TINY_DATA / "t10k-images-idx3-ubyte.gz")[:0])
    write_idx(data / "t10k-labels-idx1-ubyte.gz",
              read_idx(TINY_DATA / "t10k-labels-idx1-ubyte.gz")[:0])
    out = tmp_path / "run"
    result = invoke("train", "-m", "logreg", "--data", str(data), "--validation", "100",
                    "--epochs", "1", "--max-steps", "2", "--out", str(out))
    assert result.exit_code == 1
    assert "test" in result.stderr and "Training" not in result.stderr
    assert not out.exists()


def test_a_diverging_training_stops_and_publishes_nothing(tmp_path):
    from mnistcli.recipes import make_config
    from mnistcli.training import TrainingDiverged, train

    config = make_config("mlp100", epochs=3, batch_size=32, learning_rate=1e30,
                         optimizer="sgd", seed=1, validation=100, data_dir=TINY_DATA,
                         max_steps=3)
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="loss"):
        train(config, out=out)
    assert os.listdir(tmp_path) == []


def test_the_shipped_model_cannot_be_resumed(mnist_home):
    result = invoke("train", "--resume", str(ASSETS_DIR), "--epochs", "20")
    assert result.exit_code == 1 and "shipped" in result.stderr


def test_resuming_a_run_whose_model_is_corrupt_says_so(mnist_home):
    run = fake_run(mnist_home, "r", status="interrupted", data={"dataset": "mnist"})
    record = json.loads((run / "run.json").read_text())
    record["hyperparameters"].update(validation=100, max_steps=2)
    (run / "run.json").write_text(json.dumps(record))
    (run / "model.keras").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    result = invoke("train", "--resume", str(run), "--data", str(TINY_DATA), "--epochs", "16")
    assert result.exit_code == 1
    assert "model.keras" in result.stderr and "not found" not in result.stderr.lower()
    assert ".partial" not in result.stderr
    assert sorted(os.listdir(run)) == sorted(os.listdir(ASSETS_DIR))


# --- case 2: one writer per run -----------------------------------------------------------

def test_a_second_writer_fails_at_once(tmp_path):
    from test_train import tiny_config

    from mnistcli.training import train

    out = tmp_path / "R"
    with run_lock(out):
        started = time.monotonic()
        with pytest.raises(RunError, match="another mnist process"):
            train(tiny_config(), out=out)
        assert time.monotonic() - started < 60
    assert not out.exists() and not partial_path(out).exists()


# --- case 4: unfinished runs: listed, resumable, pruned ------------------------------------

def _unfinished(home: Path, name: str, checkpoint: bool) -> Path:
    partial = home / "runs" / f".{name}.partial"
    partial.mkdir(parents=True)
    if checkpoint:
        shutil.copytree(ASSETS_DIR, partial / "checkpoint",
                        ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.tflite"))
        record = json.loads((partial / "checkpoint" / "run.json").read_text())
        record.update({"name": name, "status": "training", "epochs_completed": 3})
        (partial / "checkpoint" / "run.json").write_text(json.dumps(record))
    return partial


def test_runs_lists_unfinished_runs_and_prune_removes_the_abandoned(mnist_home):
    fake_run(mnist_home, "done")
    resumable = _unfinished(mnist_home, "killed", checkpoint=True)
    abandoned = _unfinished(mnist_home, "early", checkpoint=False)
    busy = _unfinished(mnist_home, "busy", checkpoint=True)
    statuses = {run.name: run.status for run in list_unfinished()}
    with run_lock(mnist_home / "runs" / "busy"):
        statuses = {run.name: run.status for run in list_unfinished()}
        assert statuses == {"killed": "resumable", "early": "abandoned", "busy": "training"}
        lines = invoke("runs").stdout.splitlines()
        assert lines[-1].startswith("done\t")  # the last line stays the latest finished run
        assert any(line.startswith("killed\tcnn\tresumable\t") for line in lines)
        result = invoke("runs", "--prune")  # no terminal to ask on
        assert result.exit_code == 1 and "--yes" in result.stderr
        assert resumable.exists()
        result = invoke("runs", "--prune", "--yes")
        assert result.exit_code == 0
        assert sorted(result.stdout.split()) == sorted([str(resumable), str(abandoned)])
    assert not resumable.exists() and not abandoned.exists() and busy.exists()
    assert (mnist_home / "runs" / "done").is_dir()


def test_a_new_training_never_deletes_a_resumable_one(mnist_home):
    from test_train import tiny_config

    from mnistcli.training import train

    partial = _unfinished(mnist_home, "R", checkpoint=True)
    with pytest.raises(RunError, match="--resume"):
        train(tiny_config(), out=mnist_home / "runs" / "R")
    assert (partial / "checkpoint" / "model.keras").is_file()


# --- case 11: a model is checked before use -------------------------------------------------

class _Fake:
    path = Path("fake.tflite")
    num_classes = 10

    def __init__(self, answer):
        self.answer = answer

    def predict_proba(self, images):
        return np.tile(np.asarray(self.answer, dtype=np.float32), (len(images), 1))


@pytest.mark.parametrize("answer, message", [
    ([np.nan] * 10, "NaN"), ([0.5] * 10, "not probabilities"), ([1.0] * 9, "shape"),
])
def test_a_model_that_answers_garbage_is_refused(answer, message):
    from mnistcli.inference import check_predictor

    with pytest.raises(ModelError, match=message):
        check_predictor(_Fake(answer))
    check_predictor(_Fake([0.1] * 10))


@pytest.mark.slow
def test_corrupted_tflite_files_are_refused_or_work(tmp_path):
    """40 randomly corrupted copies of the shipped .tflite: each either refused with a
    ModelError or a model that answers with probabilities (in a child process, since a
    damaged flatbuffer may crash the interpreter itself)."""
    script = f"""
import sys, numpy as np
from pathlib import Path
from mnistcli.errors import ModelError
from mnistcli.inference import load_predictor
rng = np.random.default_rng(10)
good = Path({str(ASSETS_DIR / "model.tflite")!r}).read_bytes()
ok = refused = 0
for i in range(40):
    data = bytearray(good)
    for position in rng.integers(0, len(data), size=int(rng.integers(1, 50))):
        data[position] = int(rng.integers(0, 256))
    path = Path({str(tmp_path)!r}) / f"m{{i}}.tflite"
    path.write_bytes(bytes(data))
    try:
        predictor = load_predictor(path)
    except ModelError:
        refused += 1
        continue
    p = predictor.predict_proba(np.zeros((3, 28, 28), np.uint8))
    assert np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1, atol=0.05), i
    ok += 1
print(ok, refused)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]


# --- cases 2, 3, 4: real processes, real signals --------------------------------------------

def _train_process(home: Path, out: Path, *extra: str, **environment: str):
    return subprocess.Popen([*DRIVER, *TINY_TRAIN, "--out", str(out), *extra],
                            env=env_for(home, **environment), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.1)


@pytest.mark.slow
def test_two_processes_never_share_a_run(tmp_path, mnist_home):
    out = mnist_home / "runs" / "R"
    pause = tmp_path / "paused"
    first = _train_process(mnist_home, out, MNIST_TEST_PAUSE=f"mid-epoch:{pause}")
    _wait_for(pause, first)
    # the first holds the run: a second training, and a resume, fail at once
    second = subprocess.run([*MNIST, *TINY_TRAIN, "-m", "mlp100", "--out", str(out)],
                            env=env_for(mnist_home), capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 1 and "another mnist process" in second.stderr
    listed = subprocess.run([*MNIST, "runs"], env=env_for(mnist_home), capture_output=True,
                            text=True, timeout=300)
    assert "\ttraining\t" in listed.stdout
    resumed = subprocess.run([*MNIST, "train", "--resume", "R", "-q"],
                             env=env_for(mnist_home), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 1 and "another mnist process" in resumed.stderr
    pause.unlink()
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    record = json.loads((out / "run.json").read_text())
    assert record["model"] == "logreg" and record["status"] == "completed"
    from mnistcli.keras_files import load_keras_model

    assert load_keras_model(out / "model.keras").count_params() == record["parameters"]
    assert sorted(os.listdir(out.parent)) == ["R"]


PHASES = ["begin", "mid-epoch", "testing", "saving", "converting", "writing"]


@pytest.mark.slow
@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_signals_at_every_phase_of_train(tmp_path, mnist_home, phase, signal_name):
    """Nothing half-written is published, nothing of the user's deleted, at most the epoch
    in flight lost."""
    runs = mnist_home / "runs"
    runs.mkdir(parents=True)
    (runs / "notes.txt").write_text("mine")
    out = runs / "R"
    process = _train_process(mnist_home, out, MNIST_TEST_SIGNAL=f"{phase}:{signal_name}")
    stdout, stderr = process.communicate(timeout=600)
    assert "unexpected" not in stderr and "Traceback" not in stderr, stderr
    assert (runs / "notes.txt").read_text() == "mine"
    partial = partial_path(out)
    if out.exists():  # published: complete and consistent
        assert sorted(os.listdir(out)) == sorted(["model.keras", "model.tflite",
                                                  "history.csv", "run.json"])
        record = json.loads((out / "run.json").read_text())
        assert record["epochs_completed"] == len((out / "history.csv").read_text()
                                                 .splitlines()) - 1
    if signal_name == "SIGKILL":
        assert process.returncode == -signal.SIGKILL
        assert not out.exists()  # killed before publishing
        if phase == "begin":
            return  # no epoch was complete: nothing to keep (`mnist runs` says abandoned)
        checkpoint = json.loads((partial / "checkpoint" / "run.json").read_text())
        assert checkpoint["epochs_completed"] == (1 if phase == "mid-epoch" else 2)
        assert "\tresumable\t" in subprocess.run(
            [*MNIST, "runs"], env=env_for(mnist_home), capture_output=True, text=True,
            timeout=300).stdout
        if phase in ("mid-epoch", "writing"):
            resumed = subprocess.run([*MNIST, "train", "--resume", "R", "-q"],
                                     env=env_for(mnist_home), capture_output=True,
                                     text=True, timeout=600)
            assert resumed.returncode == 0, resumed.stderr
            record = json.loads((out / "run.json").read_text())
            assert record["status"] == "completed" and record["epochs_completed"] == 2
            assert not partial.exists()
        return
    # SIGINT and SIGTERM: stop cleanly, exit 130 when anything was kept
    assert not partial.exists()
    if phase == "begin":
        assert not out.exists() and process.returncode == 1
        assert "nothing saved" in stderr
    elif phase == "mid-epoch":
        assert process.returncode == 130
        record = json.loads((out / "run.json").read_text())
        assert record["status"] == "interrupted" and record["epochs_completed"] == 1
    else:  # after the last epoch: the finished training is kept, and that is said
        assert process.returncode == 130
        record = json.loads((out / "run.json").read_text())
        assert record["status"] == "completed" and record["epochs_completed"] == 2
        assert "kept" in stderr
        assert stdout.strip() == str(out)


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_second_signal_aborts_and_keeps_the_checkpoint(tmp_path, mnist_home, signal_name):
    out = mnist_home / "runs" / "R"
    pause = tmp_path / "paused"
    process = _train_process(mnist_home, out, MNIST_TEST_PAUSE=f"testing:{pause}")
    _wait_for(pause, process)
    pid = int(pause.read_text())
    os.kill(pid, getattr(signal, signal_name))
    time.sleep(0.5)
    os.kill(pid, getattr(signal, signal_name))
    pause.unlink()
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 130, stderr
    assert "--resume" in stderr and "kept" in stderr
    assert not out.exists()
    assert json.loads((partial_path(out) / "checkpoint" / "run.json").read_text())[
        "epochs_completed"] == 2


def test_mnist_error_base():
    assert issubclass(OutputError, MnistError)


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGKILL"])
def test_signals_during_a_download_publish_nothing_half_written(tmp_path, signal_name):
    """SIGTERM is Ctrl-C (exit 130, "Interrupted."); SIGKILL leaves only the .part file a
    later download resumes. The final name never holds a partial file."""
    from test_faults import signal_a_download_in_flight

    process, stdout, stderr, part = signal_a_download_in_flight(
        tmp_path, getattr(signal, signal_name))
    assert "Traceback" not in stderr and stdout == ""
    if signal_name == "SIGTERM":
        assert process.returncode == 130 and stderr.rstrip().endswith("Interrupted.")
    else:
        assert process.returncode == -signal.SIGKILL
    assert not part.with_suffix("").exists()


def test_a_model_answering_nan_is_an_error_in_every_command(tmp_path):
    """Case 10: a model whose outputs are NaN is refused before use (predict, evaluate,
    export's accuracy check, serve all load through load_predictor); any JSON printed is
    valid."""
    import keras

    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    model.set_weights([np.full(w.shape, np.nan, dtype=np.float32) for w in model.get_weights()])
    path = tmp_path / "nan.keras"
    model.save(path)
    for args in (["predict", "--json", "-m", str(path), str(IMAGE)],
                 ["evaluate", str(path), "--data", str(TINY_DATA), "--json"]):
        result = invoke(*args)
        assert result.exit_code == 1, result.output
        assert "NaN" in result.stderr
        if result.stdout.strip():
            json.loads(result.stdout)  # strict: NaN tokens would fail here
