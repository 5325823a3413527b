"""``mnist models``: the model zoo and each model's default training recipe."""

from __future__ import annotations

from typing import Any

from mnistcli.cli.output import (
    Column,
    CsvOption,
    Format,
    JsonLinesOption,
    JsonOption,
    choose_format,
    output_rows,
)
from mnistcli.models import DEFAULT_MODEL, MODELS


def model_rows() -> list[dict[str, Any]]:
    rows = []
    for spec in MODELS.values():
        recipe = spec.recipe
        rows.append({
            "name": spec.name,
            "default": spec.name == DEFAULT_MODEL,
            "description": spec.description,
            "tutorial_accuracy": spec.tutorial_accuracy,
            "target_accuracy": spec.target_accuracy,
            "epochs": recipe.epochs,
            "batch_size": recipe.batch_size,
            "learning_rate": recipe.learning_rate,
            "optimizer": recipe.optimizer,
            "schedule": recipe.schedule,
            "augment": recipe.augment,
        })
    return rows


# Piped (TSV) and CSV columns, in the order scripts have relied on.
COLUMNS = [Column(key) for key in ("name", "description", "tutorial_accuracy",
                                   "target_accuracy", "epochs", "batch_size",
                                   "learning_rate", "optimizer")]
TABLE_COLUMNS = [
    Column("name", text=lambda r: r["name"] + (" (default)" if r["default"] else "")),
    Column("description"),
    Column("tutorial", text=lambda r: f"{r['tutorial_accuracy']:.1%}", justify="right"),
    Column("target", text=lambda r: f"{r['target_accuracy']:.1%}", justify="right"),
    Column("epochs", justify="right"),
    Column("batch", key="batch_size", justify="right"),
    Column("lr", text=lambda r: f"{r['learning_rate']:g}", justify="right"),
    Column("optimizer"),
]


def show_models(fmt: Format) -> None:
    output_rows(model_rows(), TABLE_COLUMNS if fmt is Format.TABLE else COLUMNS, fmt,
                title="Model zoo (mnist train --model NAME)")


def command(as_json: JsonOption = False, as_jsonl: JsonLinesOption = False,
            as_csv: CsvOption = False) -> None:
    """List the model zoo: each model, what its tutorial reported, the test accuracy our
    default recipe reaches, and that recipe (epochs, batch size, learning rate, optimizer).

    A table on the terminal (stderr), TSV when piped, a JSON list with --json, one object
    per line with --jsonl, CSV with a header with --csv.

    Example: mnist models --json
    """
    show_models(choose_format(as_json, as_jsonl, as_csv))
