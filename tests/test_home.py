"""mnistcli.home: datasets in the cache directory, runs in the data directory, MNIST_HOME
over both, and runs in the old location still found."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mnistcli import home
from mnistcli.runs import RUN_FILES, list_runs, resolve_run

unix_only = pytest.mark.skipif(sys.platform in ("win32", "darwin"),
                               reason="the XDG variables decide the directories on Linux")


@pytest.fixture
def user_dirs(tmp_path, monkeypatch) -> dict[str, Path]:
    """No MNIST_HOME; XDG cache and data directories in tmp_path."""
    monkeypatch.delenv(home.HOME_ENV, raising=False)
    dirs = {"cache": tmp_path / "cache", "data": tmp_path / "share"}
    monkeypatch.setenv("XDG_CACHE_HOME", str(dirs["cache"]))
    monkeypatch.setenv("XDG_DATA_HOME", str(dirs["data"]))
    return dirs


def fake_run(directory: Path, name: str, started: str) -> Path:
    run = directory / name
    run.mkdir(parents=True)
    for file in RUN_FILES:
        (run / file).write_bytes(b"")
    (run / "run.json").write_text(json.dumps({"name": name, "model": "logreg",
                                              "status": "completed", "started": started}))
    return run


def test_mnist_home_overrides_both(tmp_path, monkeypatch):
    monkeypatch.setenv(home.HOME_ENV, str(tmp_path))
    assert home.dataset_dir("mnist") == tmp_path / "datasets" / "mnist"
    assert home.runs_dir() == tmp_path / "runs"
    assert home.legacy_runs_dir() is None
    (tmp_path / "runs").mkdir()
    assert home.run_dirs() == [tmp_path / "runs"]


def test_empty_mnist_home_means_unset(user_dirs, monkeypatch):
    monkeypatch.setenv(home.HOME_ENV, "")
    assert home.configured_home() is None


@unix_only
def test_datasets_in_the_cache_and_runs_in_the_data_directory(user_dirs):
    assert home.datasets_dir() == user_dirs["cache"] / "mnistcli" / "datasets"
    assert home.runs_dir() == user_dirs["data"] / "mnistcli" / "runs"
    # the old location is the cache directory; it is only listed when it exists
    assert home.legacy_runs_dir() == user_dirs["cache"] / "mnistcli" / "runs"
    assert home.run_dirs() == [home.runs_dir()]


@unix_only
def test_runs_in_the_old_location_are_still_found(user_dirs):
    old = fake_run(user_dirs["cache"] / "mnistcli" / "runs", "20240101T000000Z-logreg",
                   "2024-01-01T00:00:00Z")
    new = fake_run(user_dirs["data"] / "mnistcli" / "runs", "20250101T000000Z-logreg",
                   "2025-01-01T00:00:00Z")
    assert home.run_dirs() == [new.parent, old.parent]
    assert [run.path for run in list_runs()] == [old, new]
    assert resolve_run().path == new  # the latest of both
    assert resolve_run(old.name).path == old  # by name, as `mnist runs` shows it
    assert resolve_run(new.name).path == new


@unix_only
def test_only_old_runs(user_dirs):
    old = fake_run(user_dirs["cache"] / "mnistcli" / "runs", "20240101T000000Z-logreg",
                   "2024-01-01T00:00:00Z")
    assert [run.path for run in list_runs()] == [old]
    assert resolve_run().path == old


def test_the_same_directory_is_listed_once(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setattr(home, "runs_dir", lambda: runs)
    monkeypatch.setattr(home, "legacy_runs_dir", lambda: tmp_path / "." / "runs")
    assert home.run_dirs() == [runs]


def test_home_imports_platformdirs_only_when_needed(tmp_path):
    import subprocess

    code = ("import os, sys; os.environ['MNIST_HOME'] = sys.argv[1]; "
            "from mnistcli.home import runs_dir, dataset_dir; runs_dir(); dataset_dir('mnist'); "
            "print('platformdirs' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                            text=True, check=True).stdout
    assert output.strip() == "False"
