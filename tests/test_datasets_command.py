"""`mnist datasets`: every registry dataset, in every output format."""

from __future__ import annotations

import csv
import io
import json

from dataset_factory import write_dataset
from typer.testing import CliRunner

from mnistcli.cli import app
from mnistcli.datasets import DATASETS
from mnistcli.home import dataset_dir

runner = CliRunner()


def test_piped_output_is_one_tsv_line_per_dataset():
    result = runner.invoke(app, ["datasets"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == list(DATASETS)
    letters = next(line.split("\t") for line in lines if line.startswith("emnist-letters"))
    assert letters[1:5] == ["26", "88800", "14800", "no"]
    assert letters[6] == str(dataset_dir("emnist"))


def test_json_lists_class_names_and_download_state():
    write_dataset(dataset_dir("kmnist"), n_train=6, n_test=2)
    result = runner.invoke(app, ["datasets", "--json"])
    assert result.exit_code == 0, result.output
    records = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(records) == set(DATASETS)
    assert records["kmnist"]["downloaded"] is True
    assert records["mnist"]["downloaded"] is False
    assert records["emnist-balanced"]["classes"] == 47
    assert len(records["emnist-balanced"]["class_names"]) == 47
    assert records["fashion-mnist"]["class_names"][0] == "T-shirt/top"
    assert records["fashion-mnist"]["preprocessing"] == "fashion"
    assert records["mnist"]["verified_on_real_data"] is True


def test_jsonl_and_csv():
    result = runner.invoke(app, ["datasets", "--jsonl"])
    assert [json.loads(line)["name"] for line in result.stdout.splitlines()] == list(DATASETS)
    result = runner.invoke(app, ["datasets", "--csv"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["name"] for row in rows] == list(DATASETS)
    assert rows[0]["classes"] == "10" and rows[0]["downloaded"] == "no"


def test_two_formats_are_a_usage_error():
    result = runner.invoke(app, ["datasets", "--json", "--csv"])
    assert result.exit_code == 2
