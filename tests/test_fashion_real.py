"""Fashion-MNIST on the real files, through the user's code path: `mnist download
--dataset fashion-mnist` from a local mirror (checking Zalando's files against the
registry's digests), `mnist train --dataset fashion-mnist`, `mnist evaluate`.

The mirror is FASHION_MNIST_MIRROR when it names a directory, else ../shared/fashion-mnist
beside the repository (as tests/conftest.py finds the MNIST files); without it these
tests skip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnistcli.datasets import get_dataset, load_dataset, verify_files

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.realdata


def _fashion_mirror() -> Path | None:
    candidates = [os.environ.get("FASHION_MNIST_MIRROR", ""),
                  str(REPO.parent / "shared" / "fashion-mnist")]
    for candidate in candidates:
        path = Path(candidate.removeprefix("file://")) if candidate else None
        if path and (path / "train-images-idx3-ubyte.gz").is_file():
            return path
    return None


@pytest.fixture(scope="module")
def fashion_mirror() -> Path:
    mirror = _fashion_mirror()
    if mirror is None:
        pytest.skip("real Fashion-MNIST not available (set FASHION_MNIST_MIRROR to a "
                    "directory holding it)")
    return mirror


def mnist(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mnistcli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=900)


def test_download_through_mnist_mirror_verifies_zalandos_files(fashion_mirror, mnist_home):
    result = mnist("download", "--dataset", "fashion-mnist", "--json", "--quiet",
                   env={"MNIST_MIRROR": str(fashion_mirror)})
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert [f["status"] for f in record["files"]] == ["copied"] * 4
    assert [s.status for s in verify_files(dataset="fashion-mnist")] == ["verified"] * 4
    data = load_dataset(dataset="fashion-mnist")
    assert [len(data[s]) for s in ("train", "validation", "test")] == [55000, 5000, 10000]
    # every class, 1,000 test images each, as published
    assert sorted(set(data["test"].labels.tolist())) == list(range(10))
    assert get_dataset("fashion-mnist").class_names[9] == "Ankle boot"


@pytest.mark.slow
def test_logreg_one_epoch_beats_80_percent_and_evaluate_names_classes(fashion_mirror,
                                                                      mnist_home):
    assert mnist("download", "--dataset", "fashion-mnist", "--from", str(fashion_mirror),
                 "--quiet").returncode == 0
    trained = mnist("train", "--dataset", "fashion-mnist", "--model", "logreg",
                    "--epochs", "1", "--json", "--quiet")
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["dataset"] == "fashion-mnist"
    assert summary["metrics"]["test_accuracy"] > 0.80
    evaluated = mnist("evaluate", summary["run"], "--json", "--quiet")
    assert evaluated.returncode == 0, evaluated.stderr
    evaluation = json.loads(evaluated.stdout)
    assert evaluation["accuracy"] == pytest.approx(summary["metrics"]["test_accuracy"],
                                                   abs=1e-3)
    assert evaluation["images"] == 10000
