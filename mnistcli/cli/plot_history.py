"""``mnist plot-history``: a run's training curves as a picture."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnistcli.cli import completers
from mnistcli.cli.common import (
    ForceOption,
    QuietOption,
    check_outputs,
    err_console,
    read_piped_stdin,
)
from mnistcli.cli.output import JsonOption, emit, emit_json


def command(
    run: Annotated[str | None, typer.Argument(
        metavar="[RUN]", autocompletion=completers.runs,
        help="Run directory. Default: what is piped on stdin, else the latest run.",
        show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="PNG",
        help="Where to write the chart [default: RUN/history.png].",
        show_default=False)] = None,
    force: ForceOption = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Plot training and validation accuracy and loss per epoch, with zoomed panels of
    the last epochs, from the run's history.csv; print the PNG's path.

    Example: mnist train --model mlp | mnist plot-history --out curves.png
    """
    from mnistcli.charts import plot_history
    from mnistcli.errors import RunError
    from mnistcli.runs import HISTORY_FILE, read_history, resolve_run

    check_outputs(out, force=force)  # the default, in the run, is the toolkit's own
    stdin_text = read_piped_stdin() if run is None else None
    trained = resolve_run(run, stdin_text=stdin_text)
    directory = trained.path if trained.path.is_dir() else trained.path.parent
    history_path = directory / HISTORY_FILE
    if not history_path.is_file():
        raise RunError(f"{trained.path}: no {HISTORY_FILE} here; plot-history needs a run "
                       "directory made by `mnist train`")
    history = read_history(history_path)
    out = out if out is not None else trained.output_dir() / "history.png"
    name = trained.model or directory.name
    plot_history(history, out, title=f"{name}: {directory.name}")
    if not quiet:
        last = len(history) - 1
        validation = (f", validation accuracy {history.val_accuracy[last]:.4f}"
                      if history.has_validation else "")
        err_console.print(f"{name}: {len(history)} epochs, final training accuracy "
                          f"{history.accuracy[last]:.4f}{validation}", markup=False,
                          highlight=False, soft_wrap=True)
    if as_json:
        emit_json({"path": str(out), "run": str(directory), "model": trained.model,
                   "epochs": len(history)})
    else:
        emit(str(out))
