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

# The app has no --install-completion option, so typer would not register its shell
# completion classes; without them `_MNIST_COMPLETE=complete_bash mnist` fails.
completion_init()

# People-facing output (progress, tables, logs). stdout is reserved for data.
# NO_COLOR is honoured by rich itself.
err_console = Console(stderr=True, highlight=False)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def read_piped_stdin() -> str | None:
    """What a previous command piped in, or None when stdin is a terminal or unreadable."""
    stream = sys.stdin
    try:
        if stream is None or stream.isatty():
            return None
        return stream.read()
    except (OSError, ValueError, RuntimeError):  # closed, or replaced by a test harness
        return None


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
