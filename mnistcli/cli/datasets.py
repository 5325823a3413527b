"""``mnist datasets``: the datasets the toolkit knows, and which are downloaded."""

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
from mnistcli.datasets import DATASETS, is_downloaded, resolve_data_dir


def dataset_records() -> list[dict]:
    records = []
    for spec in DATASETS.values():
        train, test = spec.sizes or (None, None)
        records.append({
            "name": spec.name,
            "classes": spec.num_classes,
            "train_images": train,
            "test_images": test,
            "description": spec.description,
            "source": spec.homepage or (spec.mirrors[0] if spec.mirrors else ""),
            "downloaded": is_downloaded(spec.name),
            "directory": str(resolve_data_dir(None, spec.name)),
            "verified_on_real_data": spec.verified_on_real_data,
            "preprocessing": spec.preprocessing,
            "class_names": list(spec.class_names),
        })
    return records


def _count(key: str):
    return lambda record: "" if record.get(key) is None else f"{record[key]:,}"


def _yes_no(key: str):
    return lambda record: "yes" if record.get(key) else "no"


def _downloaded_cell(record: dict):
    from rich.text import Text

    return Text("yes", style="green") if record["downloaded"] else Text("no", style="dim")


# Piped (TSV) columns, in this order for scripts: the name first, the directory last.
COLUMNS = [
    Column("name"),
    Column("classes", justify="right"),
    Column("train_images", text=lambda r: str(r["train_images"] or "")),
    Column("test_images", text=lambda r: str(r["test_images"] or "")),
    Column("downloaded", text=_yes_no("downloaded")),
    Column("source"),
    Column("directory"),
]
TABLE_COLUMNS = [
    Column("name"),
    Column("classes", justify="right"),
    Column("train", text=_count("train_images"), justify="right"),
    Column("test", text=_count("test_images"), justify="right"),
    Column("downloaded", cell=_downloaded_cell, text=_yes_no("downloaded")),
    Column("description"),
    Column("source"),
]


def command(as_json: JsonOption = False, as_jsonl: JsonLinesOption = False,
            as_csv: CsvOption = False) -> None:
    """List the datasets: name, classes, images per split, whether downloaded, source.

    A table on the terminal (stderr); piped, one tab-separated line per dataset (name,
    classes, train images, test images, downloaded yes/no, source, directory); --json
    gives a list of records (with class names), --jsonl one per line, --csv a header and
    a line per dataset. Any of them goes to --dataset NAME of download, inspect, train
    and evaluate.

    Example: mnist datasets --json
    """
    fmt = choose_format(as_json, as_jsonl, as_csv)
    table = fmt is Format.TABLE
    output_rows(dataset_records(), TABLE_COLUMNS if table else COLUMNS, fmt,
                title="Datasets (mnist download --dataset NAME)")
