"""What every command shares: the stderr console, reading stdin, and option aliases
(output options and writers are in :mod:`mnistcli.cli.output`).

Data goes to stdout (paths, JSON, TSV); everything meant for people goes to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer.completion import completion_init

from mnistcli.cli import completers

# The app has no --install-completion option, so typer would not register its shell
# completion classes; without them `_MNIST_COMPLETE=complete_bash mnist` fails.
completion_init()

# People-facing output (progress, tables, logs). stdout is reserved for data.
# NO_COLOR is honoured by rich itself.
err_console = Console(stderr=True, highlight=False)


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout is not None and sys.stdout.isatty()
    except (AttributeError, ValueError):  # closed, or replaced by something without isatty
        return False


# What a previous command pipes in is a path or `mnist train --json`'s record: far less.
STDIN_LIMIT = 64 * 1024
PATH_LIMIT = 4096  # the longest path Linux accepts
SHOWN = 80  # characters of unexpected input quoted in an error


def read_piped_stdin() -> str | None:
    """What a previous command piped in, or None when stdin is a terminal or unreadable.

    Raises RunError, quoting only the start of it, when it cannot be a run reference:
    binary data, more than STDIN_LIMIT, or a line longer than any path."""
    from mnistcli.errors import RunError

    stream = sys.stdin
    try:
        if stream is None or stream.isatty():
            return None
        text = stream.read(STDIN_LIMIT + 1)
    except UnicodeDecodeError:
        text = "\x00"
    except (OSError, ValueError, RuntimeError):  # closed, or replaced by a test harness
        return None
    if "\x00" in text or not text.isprintable() and _undecodable(text):
        raise RunError("stdin holds binary data, not a run directory or model path "
                       "(expected what `mnist train` prints)")
    stripped = text.strip()
    last = stripped.splitlines()[-1] if stripped else ""
    if len(text) > STDIN_LIMIT or (not stripped.startswith("{") and len(last) > PATH_LIMIT):
        size = "more than 64 KiB" if len(text) > STDIN_LIMIT else f"{len(text):,} characters"
        raise RunError(f"stdin holds {size} starting {stripped[:SHOWN]!r}..., not a run "
                       "directory or model path (expected what `mnist train` prints)")
    return text


def _undecodable(text: str) -> bool:
    """Whether ``text`` carries bytes that were not UTF-8 (kept as surrogate escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# Shared options, defined once.
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress or tables on stderr.")
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        metavar="DIR",
        help="Dataset directory holding the four IDX files "
        "[default: MNIST_HOME/datasets/mnist].",
        show_default=False,
    ),
]
def _dataset_help() -> str:
    from mnistcli.datasets import DATASETS

    return f"Which dataset: {', '.join(DATASETS)} (see `mnist datasets`)."


DatasetOption = Annotated[
    str,
    typer.Option("--dataset", "-d", metavar="NAME", autocompletion=completers.datasets,
                 help=_dataset_help()),
]
SplitOption = Annotated[
    str,
    typer.Option("--split", help="Which split: train, validation or test."),
]
ValidationOption = Annotated[
    int,
    typer.Option(
        "--validation",
        metavar="N",
        help="Hold out the last N training images as the validation split.",
    ),
]
