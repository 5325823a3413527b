"""The shared output layer: one set of formats for every listing command."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from mnistcli.cli import app
from mnistcli.cli.output import (
    Column,
    Format,
    choose_format,
    output_fields,
    output_rows,
    to_json,
)

RECORDS = [{"name": "a\tb", "score": 0.5, "extra": [1, 2]},
           {"name": "c", "score": float("nan"), "extra": None}]
COLUMNS = [Column("name"), Column("score", text=lambda r: f"{r['score']:.2f}")]


def test_tsv_has_one_line_per_record_and_no_tab_inside_a_value(capsys):
    assert output_rows(RECORDS, COLUMNS, Format.TSV) == 2
    assert capsys.readouterr().out == "a b\t0.50\nc\tnan\n"


def test_csv_has_a_header_and_quotes_what_needs_it(capsys):
    output_rows([{"name": 'say "hi", ok', "score": 1.0}], COLUMNS, Format.CSV)
    assert capsys.readouterr().out == 'name,score\n"say ""hi"", ok",1.00\n'


def test_json_is_one_strict_list_and_jsonl_one_object_per_line(capsys):
    output_rows(RECORDS, COLUMNS, Format.JSON)
    listed = json.loads(capsys.readouterr().out)
    assert listed[1] == {"name": "c", "score": None, "extra": None}  # NaN is not JSON
    output_rows(iter(RECORDS), COLUMNS, Format.JSONL)
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["a\tb", "c"]
    output_rows(RECORDS, COLUMNS, Format.JSON, json_lines=True)
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_a_table_goes_to_stderr_never_stdout(capsys):
    output_rows(RECORDS, COLUMNS, Format.TABLE, title="Things")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Things" in captured.err and "0.50" in captured.err


def test_strict_json_for_numpy_values_and_non_finite_numbers():
    import numpy as np

    text = to_json({"p": np.float32(0.25), "v": np.array([1, 2]), "bad": float("inf")})
    assert json.loads(text) == {"p": 0.25, "v": [1, 2], "bad": None}


def test_two_formats_at_once_is_a_usage_error():
    with pytest.raises(typer.BadParameter, match="--json and --csv"):
        choose_format(as_json=True, as_csv=True)
    assert choose_format() is Format.TSV  # under pytest stdout is not a terminal


def test_fields_as_key_value_lines(capsys):
    output_fields({"accuracy": 0.99, "images": 10, "grid": None}, Format.TSV)
    assert capsys.readouterr().out == "accuracy\t0.990000\nimages\t10\n"


@pytest.mark.parametrize("command", [["runs"], ["models"]])
def test_listing_commands_share_the_formats(command, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_HOME", str(tmp_path))
    runner = CliRunner()
    as_json = runner.invoke(app, [*command, "--json"])
    assert as_json.exit_code == 0, as_json.output
    records = json.loads(as_json.stdout)
    as_jsonl = runner.invoke(app, [*command, "--jsonl"])
    assert [json.loads(line) for line in as_jsonl.stdout.splitlines()] == records
    as_csv = runner.invoke(app, [*command, "--csv"])
    assert as_csv.exit_code == 0
    assert len(as_csv.stdout.splitlines()) == len(records) + 1
    both = runner.invoke(app, [*command, "--json", "--csv"])
    assert both.exit_code == 2
