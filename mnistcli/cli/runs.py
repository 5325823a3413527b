"""``mnist runs``: the training runs in MNIST_HOME, oldest first; compare or delete them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mnistcli.cli import completers
from mnistcli.cli.common import err_console
from mnistcli.cli.output import (
    Column,
    CsvOption,
    Format,
    JsonLinesOption,
    JsonOption,
    choose_format,
    emit,
    output_rows,
)
from mnistcli.errors import RunError
from mnistcli.home import runs_dir

VERBS = ("compare", "rm")


def _accuracy(record: dict) -> str:
    value = record.get("test_accuracy")
    return "" if value is None else f"{value:.4f}"


def _status_cell(record: dict):
    from rich.text import Text

    status = record.get("status") or ""
    styles = {"completed": "green", "training": "cyan", "abandoned": "dim"}
    return Text(status, style=styles.get(status, "yellow"))


# Piped (TSV) columns are kept in this order so scripts can cut them: the path is 6th.
COLUMNS = [
    Column("name"),
    Column("model"),
    Column("status", cell=_status_cell),
    Column("test_accuracy", text=_accuracy, justify="right"),
    Column("started"),
    Column("path"),
]
TABLE_COLUMNS = [
    Column("name"),
    Column("model"),
    Column("status", cell=_status_cell),
    Column("epochs", key="epochs_completed", justify="right"),
    Column("test accuracy", text=_accuracy, justify="right"),
    Column("started (UTC)", text=lambda r: (r.get("started") or "").replace("+00:00", "")),
]


def _complete(incomplete: str) -> list[str]:
    return [verb for verb in VERBS if verb.startswith(incomplete)] + completers.runs(incomplete)


def _value_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, sort_keys=True)
    return str(value)


def _compare(runs, fmt: Format) -> None:
    from mnistcli.runs import compare_runs

    if len(runs) < 2:
        raise typer.BadParameter("compare needs at least two runs", param_hint="RUN")
    rows = compare_runs(runs)
    names = [run.name for run in runs]
    if fmt in (Format.JSON, Format.JSONL):
        output_rows([{"field": row["field"], "differs": row["differs"],
                      "values": dict(zip(names, row["values"], strict=True))}
                     for row in rows], [], fmt)
        return

    def value_column(index: int, header: str) -> Column:
        def cell(row: dict):
            from rich.text import Text

            return Text(_value_text(row["values"][index]),
                        style="bold yellow" if row["differs"] else "")
        return Column(header, text=lambda row: _value_text(row["values"][index]), cell=cell)

    def field_cell(row: dict):
        from rich.text import Text

        return Text(row["field"], style="bold" if row["differs"] else "dim")

    columns = [Column("field", cell=field_cell)]
    columns += [value_column(index, name) for index, name in enumerate(names)]
    columns.append(Column("differs", text=lambda row: "yes" if row["differs"] else ""))
    title = "Runs side by side (differences in yellow)" if fmt is Format.TABLE else None
    if fmt is Format.TABLE:
        columns = columns[:-1]  # the colour says it
    output_rows(rows, columns, fmt, title=title)


def _confirm(what: str, paths: list, yes: bool) -> None:
    """Ask before deleting, unless --yes; without a terminal to ask on, refuse."""
    if yes:
        return
    listing = "\n".join(f"  {path}" for path in paths)
    if not sys.stdin or not sys.stdin.isatty():
        raise RunError(f"would delete {len(paths)} {what}; pass --yes to confirm "
                       "(stdin is not a terminal to ask)")
    err_console.print(f"This deletes {len(paths)} {what}:\n{listing}", markup=False)
    if not typer.confirm("Delete?", default=False, err=True):
        raise typer.Exit(1)


def _prune(yes: bool) -> None:
    from mnistcli.runs import prune_candidates, prune_run

    candidates = prune_candidates()
    if not candidates:
        err_console.print("Nothing to prune: no unfinished run is left behind.",
                          markup=False)
        return
    _confirm("unfinished run(s) no process is training", [
        f"{run.path} ({run.status})" for run in candidates], yes)
    for run in candidates:
        emit(str(prune_run(run)))


def _remove(runs, yes: bool) -> None:
    from mnistcli.runs import delete_run

    for run in runs:
        if run.source != "run":
            raise RunError(f"{run.path}: not a run directory; only runs are deleted")
    _confirm("run(s)", [run.path for run in runs], yes)
    for run in runs:
        emit(str(delete_run(run)))


def command(
    args: Annotated[list[str] | None, typer.Argument(
        metavar="[compare|rm] [RUN]...", autocompletion=_complete,
        help="Runs to show (names as listed, or directories); `compare R1 R2 ...` shows "
        "them side by side; `rm R1 ...` deletes them.", show_default=False)] = None,
    compare: Annotated[bool, typer.Option(
        "--compare", help="Show the given runs' hyperparameters and metrics side by side, "
        "what differs highlighted.")] = False,
    prune: Annotated[bool, typer.Option(
        "--prune", help="Delete unfinished runs no process is training (resumable or "
        "abandoned: left by a killed `mnist train`), after asking.")] = False,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="With rm or --prune: delete without asking.")] = False,
    as_json: JsonOption = False,
    as_jsonl: JsonLinesOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List training runs: name, model, status, test accuracy, start time, path.

    A table on the terminal (stderr); piped, one tab-separated line per run (no header),
    so the latest run is `mnist runs | tail -n 1 | cut -f 6`; --json gives a list of
    records, --jsonl one per line, --csv a header and a line per run.

    `mnist runs --compare R1 R2` (or `mnist runs compare R1 R2`) puts runs side by side;
    `mnist runs rm R1 [--yes]` deletes runs after asking (prints each path deleted).

    Unfinished runs are listed first: "training" (a process is writing it now),
    "resumable" (killed while training: `mnist train --resume NAME` continues it from its
    last completed epoch) and "abandoned" (killed before its first epoch ended); their
    path is the hidden directory they are built in. `mnist runs --prune [--yes]` deletes
    the resumable and abandoned ones. The last line stays the latest finished run.

    Example: mnist runs --compare 20260101T120000Z-cnn 20260102T090000Z-cnn
    """
    from mnistcli.runs import list_runs, list_unfinished, load_run, resolve_run

    words = list(args or [])
    if prune:
        if words or compare:
            raise typer.BadParameter("--prune takes no runs and no verb", param_hint="--prune")
        _prune(yes)
        return
    verb = words.pop(0) if words and words[0] in VERBS else None
    if compare:
        if verb == "rm":
            raise typer.BadParameter("--compare does not go with rm")
        verb = "compare"
    fmt = choose_format(as_json, as_jsonl, as_csv)
    if verb is not None and not words:
        raise typer.BadParameter(f"{verb} needs run names or directories", param_hint="RUN")
    runs = [resolve_run(word) for word in words]
    for run, word in zip(runs, words, strict=True):
        if run.source != "run":
            raise RunError(f"{word}: not a run directory")
    if verb == "compare":
        _compare(runs, fmt)
        return
    if verb == "rm":
        _remove([load_run(run.path) for run in runs], yes)
        return
    records = [run.summary() for run in (runs if words else
                                          [*list_unfinished(), *list_runs()])]
    output_rows(records, TABLE_COLUMNS if fmt is Format.TABLE else COLUMNS, fmt,
                title=f"Runs in {runs_dir()}",
                empty=f"No runs in {runs_dir()} yet; train one with `mnist train`.")
