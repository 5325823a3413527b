"""The one output layer: every command hands its records here and says which columns a
person sees; this module decides how they are written.

- on a terminal: a rich table, on stderr (stdout carries data only);
- piped: tab-separated values on stdout, one line per record, no header;
- ``--json``: JSON on stdout (a list, or one object per line for streaming commands);
- ``--jsonl``: one JSON object per line;
- ``--csv``: comma-separated values with a header line.

A new format is one change here. A command declares its columns once::

    columns = [Column("name"), Column("accuracy", text=lambda r: f"{r['accuracy']:.4f}")]
    output_rows(records, columns, choose_format(as_json, as_jsonl, as_csv))
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from mnistcli.cli.common import err_console, stdout_is_terminal


class Format(str, Enum):
    TABLE = "table"
    TSV = "tsv"
    CSV = "csv"
    JSON = "json"
    JSONL = "jsonl"


@dataclass(frozen=True)
class Column:
    """One column: its ``header``, the record ``key`` it shows, how it reads as ``text``
    (TSV, CSV and table cells), and optionally a richer table ``cell`` (colour, drawings)."""

    header: str
    key: str | None = None
    text: Callable[[dict], str] | None = None
    cell: Callable[[dict], Any] | None = None
    justify: str = "left"

    def as_text(self, record: dict) -> str:
        if self.text is not None:
            return self.text(record)
        value = record.get(self.key or self.header)
        return "" if value is None else str(value)


# Shared options, defined once; a listing command takes all three.
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
JsonLinesOption = Annotated[bool, typer.Option(
    "--jsonl", help="Print one JSON object per line on stdout.")]
CsvOption = Annotated[bool, typer.Option(
    "--csv", help="Print comma-separated values with a header line on stdout.")]


def choose_format(as_json: bool = False, as_jsonl: bool = False,
                  as_csv: bool = False) -> Format:
    """What the user asked for; without a flag, a table on a terminal, else TSV."""
    chosen = [fmt for fmt, wanted in ((Format.JSON, as_json), (Format.JSONL, as_jsonl),
                                      (Format.CSV, as_csv)) if wanted]
    if len(chosen) > 1:
        flags = " and ".join(f"--{fmt.value}" for fmt in chosen)
        raise typer.BadParameter(f"{flags} cannot be used together; choose one format")
    if chosen:
        return chosen[0]
    return Format.TABLE if stdout_is_terminal() else Format.TSV


def to_json(value: Any) -> str:
    """Strict JSON in one line: NaN and infinity become null, numpy values plain numbers,
    paths text."""
    return json.dumps(_finite(value), allow_nan=False, default=_json_default)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy
        return _finite(value.tolist())
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit(line: str = "") -> None:
    """One line of data on stdout."""
    typer.echo(line)


def emit_json(record: Any) -> None:
    """One JSON document on stdout, in one line (so it also works as JSON Lines)."""
    typer.echo(to_json(record))


def output_rows(records: Iterable[dict], columns: Sequence[Column], fmt: Format, *,
                title: str | None = None, json_lines: bool = False,
                empty: str | None = None) -> int:
    """Write ``records`` in ``fmt``; returns how many were written.

    TSV, CSV and JSON Lines stream (each record is written as it arrives); a table and a
    JSON list are written once all have arrived. ``json_lines``: ``--json`` writes one
    object per line (for commands whose output streams). ``empty``: a message for people
    (stderr) when a table would be empty."""
    if fmt is Format.JSON and not json_lines:
        rows = list(records)
        emit_json(rows)
        return len(rows)
    if fmt in (Format.JSON, Format.JSONL):
        count = 0
        for record in records:
            emit_json(record)
            count += 1
        return count
    if fmt is Format.TSV:
        count = 0
        for record in records:
            emit("\t".join(_tsv_safe(column.as_text(record)) for column in columns))
            count += 1
        return count
    if fmt is Format.CSV:
        emit(_csv_line([column.header for column in columns]))
        count = 0
        for record in records:
            emit(_csv_line([column.as_text(record) for column in columns]))
            count += 1
        return count
    rows = list(records)
    if not rows:
        if empty:
            err_console.print(empty, markup=False, soft_wrap=True)
        return 0
    err_console.print(render_table(rows, columns, title))
    return len(rows)


def render_table(rows: Sequence[dict], columns: Sequence[Column], title: str | None = None):
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", show_edge=title is not None,
                  pad_edge=title is not None)
    for column in columns:
        table.add_column(column.header, justify=column.justify, overflow="fold")
    for record in rows:
        table.add_row(*[column.cell(record) if column.cell is not None
                        else Text(column.as_text(record)) for column in columns])
    return table


def output_fields(fields: dict[str, Any], fmt: Format) -> None:
    """A single result as ``key<TAB>value`` lines (or ``key,value`` CSV, or one JSON
    object), for commands whose result is one record rather than a list."""
    if fmt in (Format.JSON, Format.JSONL):
        emit_json(fields)
        return
    if fmt is Format.CSV:
        emit(_csv_line(["key", "value"]))
    for key, value in fields.items():
        if value is None:
            continue
        text = f"{value:.6f}" if isinstance(value, float) else str(value)
        emit(_csv_line([key, text]) if fmt is Format.CSV else f"{key}\t{text}")


def _tsv_safe(text: str) -> str:
    # a tab or newline inside a value would shift every later column of the line
    return text.replace("\t", " ").replace("\n", " ")


def _csv_line(values: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(values)
    return buffer.getvalue()
