"""Shared test fixtures. Every test runs with MNIST_HOME in a temporary directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
TINY_DATA = FIXTURES / "tiny"  # the generated tiny dataset, in IDX format
FIXTURE_IMAGES = FIXTURES / "images"


@pytest.fixture(autouse=True)
def mnist_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("mnist_home")
    monkeypatch.setenv("MNIST_HOME", str(home))
    monkeypatch.delenv("MNIST_DEBUG", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    return home


def _real_mirror() -> Path | None:
    """The real MNIST files: MNIST_MIRROR if it is a directory, else ../shared/mnist."""
    candidates = [os.environ.get("MNIST_MIRROR", ""), str(REPO.parent / "shared" / "mnist")]
    for candidate in candidates:
        path = Path(candidate.removeprefix("file://")) if candidate else None
        if path and (path / "train-images-idx3-ubyte.gz").is_file():
            return path
    return None


@pytest.fixture(scope="session")
def real_mnist_mirror() -> Path:
    """A directory with the real MNIST files, or skip."""
    mirror = _real_mirror()
    if mirror is None:
        pytest.skip("real MNIST not available (set MNIST_MIRROR to a directory holding it)")
    return mirror


@pytest.fixture
def interactive_stdin(monkeypatch) -> None:
    """Commands see stdin as a terminal (nothing piped in), as when run by hand: only then
    do they fall back to the latest run. CliRunner's stdin is otherwise an empty pipe,
    which is an error ("nothing on stdin")."""
    monkeypatch.setattr("mnistcli.cli.common.stdin_is_interactive", lambda stream=None: True)
