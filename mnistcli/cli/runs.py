"""``mnist runs``: the training runs in MNIST_HOME, oldest first."""

from __future__ import annotations

from mnistcli.cli.common import JsonOption, emit, emit_json, err_console, stdout_is_terminal
from mnistcli.home import runs_dir
from mnistcli.runs import list_runs


def _accuracy(value) -> str:
    return "" if value is None else f"{value:.4f}"


def command(as_json: JsonOption = False) -> None:
    """List training runs: name, model, status, test accuracy, start time, path.

    A table on the terminal; piped, one tab-separated line per run (no header), so the
    latest run is `mnist runs | tail -n 1 | cut -f 6`; --json gives a list of records.

    Example: mnist runs --json
    """
    runs = list_runs()
    if as_json:
        emit_json([run.summary() for run in runs])
        return
    if not stdout_is_terminal():
        for run in runs:
            emit("\t".join([run.name, run.model or "", run.status or "",
                            _accuracy(run.test_accuracy), run.started or "", str(run.path)]))
        return
    if not runs:
        err_console.print(f"No runs in {runs_dir()} yet; train one with `mnist train`.")
        return
    from rich.table import Table

    table = Table(title=f"Runs in {runs_dir()}", title_justify="left")
    for header, justify in (("name", "left"), ("model", "left"), ("status", "left"),
                            ("epochs", "right"), ("test accuracy", "right"),
                            ("started (UTC)", "left")):
        table.add_column(header, justify=justify)
    for run in runs:
        status = run.status or ""
        style = "green" if status == "completed" else "yellow"
        table.add_row(run.name, run.model or "", f"[{style}]{status}[/]",
                      str(run.record.get("epochs_completed", "")),
                      _accuracy(run.test_accuracy), (run.started or "").replace("+00:00", ""))
    err_console.print(table)
