"""What every command shares: the stderr console, reading stdin, and option aliases
(output options and writers are in :mod:`mnistcli.cli.output`).

Data goes to stdout (paths, JSON, TSV); everything meant for people goes to stderr.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mnistcli.cli import completers

# The app has no --install-completion option, so typer would not register its shell
# completion classes; without them `_MNIST_COMPLETE=complete_bash mnist` fails. Only a
# completion request needs them (they import shellingham and subprocess).
if os.environ.get("_MNIST_COMPLETE"):
    from typer.completion import completion_init

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


def stdin_is_interactive(stream=None) -> bool:
    """Whether nobody piped anything in: stdin is absent, a terminal, or another character
    device (``/dev/null``, as cron and ``< /dev/null`` give, and a stdin closed with
    ``<&-``, which the CLI reopens on /dev/null). A pipe, a file or a socket is not."""
    stream = sys.stdin if stream is None else stream
    try:
        if stream is None or stream.isatty():
            return True
    except (OSError, ValueError):  # closed
        return True
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return False  # a stream without a descriptor (a test harness's input): read it
    return stat.S_ISCHR(mode)


EMPTY_STDIN = ("nothing on stdin: did the command before the pipe fail? (pass the run or "
               "model as an argument; without a pipe the latest run is used)")


def read_piped_stdin() -> str | None:
    """What a previous command piped in, or None when nothing was piped (see
    :func:`stdin_is_interactive`): then commands use the latest run.

    A pipe or file that holds nothing is a RunError (EMPTY_STDIN): in `mnist train -m bogus
    | mnist evaluate` the first command failed, and falling back to an older run would
    hide it. Also a RunError, quoting only the start of it, when stdin cannot be a run
    reference: binary data, more than STDIN_LIMIT, or a line longer than any path."""
    from mnistcli.errors import RunError

    stream = sys.stdin
    if stdin_is_interactive(stream):
        return None
    try:
        text = stream.read(STDIN_LIMIT + 1)
    except UnicodeDecodeError:
        text = "\x00"
    except (OSError, ValueError, RuntimeError):  # closed, or replaced by a test harness
        return None
    if "\x00" in text or not text.isprintable() and _undecodable(text):
        raise RunError("stdin holds binary data, not a run directory or model path "
                       "(expected what `mnist train` prints)")
    stripped = text.strip()
    if not stripped:
        raise RunError(EMPTY_STDIN)
    last = stripped.splitlines()[-1]
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
ForceOption = Annotated[
    bool, typer.Option("--force", help="Replace a file already at the output path (a "
                       "directory of yours is never replaced).")
]


def check_outputs(*paths: Path | None, force: bool) -> None:
    """Before any work: refuse output paths that would overwrite something (see
    mnistcli.fsutil.check_output); None is an output not asked for."""
    from mnistcli.fsutil import check_output

    for path in paths:
        if path is not None:
            check_output(path, force=force)


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
