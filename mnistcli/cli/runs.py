"""``mnist runs``: the training runs in MNIST_HOME, oldest first."""

from __future__ import annotations

from mnistcli.cli.output import (
    Column,
    CsvOption,
    Format,
    JsonLinesOption,
    JsonOption,
    choose_format,
    output_rows,
)
from mnistcli.home import runs_dir
from mnistcli.runs import list_runs


def _accuracy(record: dict) -> str:
    value = record.get("test_accuracy")
    return "" if value is None else f"{value:.4f}"


def _status_cell(record: dict) -> str:
    from rich.text import Text

    status = record.get("status") or ""
    return Text(status, style="green" if status == "completed" else "yellow")


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


def command(as_json: JsonOption = False, as_jsonl: JsonLinesOption = False,
            as_csv: CsvOption = False) -> None:
    """List training runs: name, model, status, test accuracy, start time, path.

    A table on the terminal (stderr); piped, one tab-separated line per run (no header),
    so the latest run is `mnist runs | tail -n 1 | cut -f 6`; --json gives a list of
    records, --jsonl one per line, --csv a header and a line per run.

    Example: mnist runs --json
    """
    fmt = choose_format(as_json, as_jsonl, as_csv)
    records = [run.summary() for run in list_runs()]
    table = fmt is Format.TABLE
    output_rows(records, TABLE_COLUMNS if table else COLUMNS, fmt,
                title=f"Runs in {runs_dir()}",
                empty=f"No runs in {runs_dir()} yet; train one with `mnist train`.")
