"""Where the toolkit keeps its files.

- Datasets (downloaded again at will) live in the user *cache* directory, e.g.
  ``~/.cache/mnistcli/datasets`` on Linux.
- Runs (trained models: work that a cache purge must not take) live in the user *data*
  directory, e.g. ``~/.local/share/mnistcli/runs`` on Linux.
- ``MNIST_HOME`` overrides both: ``$MNIST_HOME/datasets`` and ``$MNIST_HOME/runs``.

Runs written by earlier versions, which kept them in the cache directory
(``~/.cache/mnistcli/runs`` on Linux), are still read: :func:`run_dirs` lists that
directory after the current one. New runs always go to :func:`runs_dir`.

The platform's directories come from platformdirs (imported when first needed).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "mnistcli"
HOME_ENV = "MNIST_HOME"
MIRROR_ENV = "MNIST_MIRROR"


def configured_home() -> Path | None:
    """``$MNIST_HOME`` when it is set (and not empty), else None."""
    configured = os.environ.get(HOME_ENV)
    if not configured:
        return None
    try:
        return Path(configured).expanduser()
    except RuntimeError:  # ~user naming no user, or no home directory to expand ~ to
        from mnistcli.errors import MnistError

        raise MnistError(f"{HOME_ENV}={configured!r}: cannot expand "
                         f"{configured.split('/')[0]!r} (no such user or home directory); "
                         "give a path that exists or can be created") from None


def cache_dir() -> Path:
    """``$MNIST_HOME``, else the user cache directory (e.g. ``~/.cache/mnistcli``)."""
    home = configured_home()
    if home is not None:
        return home
    import platformdirs

    return platformdirs.user_cache_path(APP_NAME, appauthor=False)


def data_dir() -> Path:
    """``$MNIST_HOME``, else the user data directory (e.g. ``~/.local/share/mnistcli``)."""
    home = configured_home()
    if home is not None:
        return home
    import platformdirs

    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def datasets_dir() -> Path:
    return cache_dir() / "datasets"


def dataset_dir(name: str) -> Path:
    return datasets_dir() / name


def runs_dir() -> Path:
    """Where new runs are written."""
    return data_dir() / "runs"


def legacy_runs_dir() -> Path | None:
    """Where mnistcli 0.1 wrote runs when ``MNIST_HOME`` was not set: ``runs`` in
    the cache directory as they computed it. None when ``MNIST_HOME`` is set (its layout
    is unchanged)."""
    if configured_home() is not None:
        return None
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / APP_NAME / "runs"


def run_dirs() -> list[Path]:
    """Every directory that holds runs, the current one first, then the legacy one if it
    exists (and is another directory: on Windows the two coincide)."""
    current = runs_dir()
    directories = [current]
    legacy = legacy_runs_dir()
    if legacy is not None and legacy.is_dir():
        try:
            same = current.is_dir() and legacy.samefile(current)
        except OSError:
            same = False
        if not same and legacy != current:
            directories.append(legacy)
    return directories
