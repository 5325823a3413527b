"""What every command shares: the stderr console, output helpers and option aliases.

Data goes to stdout (paths, JSON, TSV); everything meant for people goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

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


def color_enabled() -> bool:
    """Colour only on a terminal and when NO_COLOR is unset."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def emit(line: str = "") -> None:
    """One line of data on stdout."""
    typer.echo(line)


def emit_json(record: Any) -> None:
    """One JSON document on stdout (one line, so it also works as JSON Lines)."""
    typer.echo(json.dumps(record, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_piped_stdin() -> str | None:
    """What a previous command piped in, or None when stdin is a terminal or unreadable."""
    stream = sys.stdin
    try:
        if stream is None or stream.isatty():
            return None
        return stream.read()
    except (OSError, ValueError, RuntimeError):  # closed, or replaced by a test harness
        return None


def info(message: str) -> None:
    """A line for people, on stderr."""
    err_console.print(message)


# Shared options, defined once.
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout.")
]
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
