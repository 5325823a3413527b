"""Value completion for options and arguments (run names, zoo models, datasets, export
formats). Completion runs on every Tab, so these import only what they need, and never
numpy or tensorflow."""

from __future__ import annotations


def runs(incomplete: str) -> list[str]:
    """Run names in MNIST_HOME (newest first), as `mnist runs` shows them."""
    from mnistcli.home import run_dirs

    names: list[str] = []
    for directory in run_dirs():
        try:
            children = sorted(directory.iterdir(), reverse=True)
        except OSError:
            continue
        names += [child.name for child in children
                  if child.is_dir() and not child.name.startswith(".")
                  and child.name.startswith(incomplete) and child.name not in names]
    return names


def zoo_models(incomplete: str) -> list[tuple[str, str]]:
    from mnistcli.models import MODELS

    return [(name, spec.description) for name, spec in MODELS.items()
            if name.startswith(incomplete)]


def datasets(incomplete: str) -> list[tuple[str, str]]:
    from mnistcli.datasets import DATASETS

    return [(name, spec.description) for name, spec in DATASETS.items()
            if name.startswith(incomplete)]


def export_formats(incomplete: str) -> list[str]:
    from mnistcli.export import FORMATS

    return [name for name in FORMATS if name.startswith(incomplete)]


def schedules(incomplete: str) -> list[tuple[str, str]]:
    from mnistcli.models import SCHEDULES

    return [(name, text) for name, text in SCHEDULES.items() if name.startswith(incomplete)]
