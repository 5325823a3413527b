"""Where the toolkit keeps its files: ``MNIST_HOME`` (datasets and runs)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_ENV = "MNIST_HOME"
MIRROR_ENV = "MNIST_MIRROR"


def mnist_home() -> Path:
    """``$MNIST_HOME``, else the platform's cache directory (e.g. ``~/.cache/mnistcli``)."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mnistcli"


def datasets_dir() -> Path:
    return mnist_home() / "datasets"


def dataset_dir(name: str) -> Path:
    return datasets_dir() / name


def runs_dir() -> Path:
    return mnist_home() / "runs"
