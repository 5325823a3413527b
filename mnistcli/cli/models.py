"""``mnist models``: the model zoo and each model's default training recipe."""

from __future__ import annotations

from typing import Any

from mnistcli.cli.common import JsonOption, emit, emit_json, err_console, stdout_is_terminal
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


def show_models(as_json: bool = False) -> None:
    """JSON, a table on stderr (terminal) or TSV on stdout (piped)."""
    rows = model_rows()
    if as_json:
        emit_json(rows)
        return
    if not stdout_is_terminal():
        for row in rows:
            emit("\t".join(str(row[key]) for key in (
                "name", "description", "tutorial_accuracy", "target_accuracy", "epochs",
                "batch_size", "learning_rate", "optimizer")))
        return
    from rich.table import Table

    table = Table(title="Model zoo (mnist train --model NAME)", title_justify="left")
    for header in ("name", "description", "tutorial", "target", "epochs", "batch", "lr",
                   "optimizer"):
        justify = "left" if header in ("name", "description", "optimizer") else "right"
        table.add_column(header, justify=justify)
    for row in rows:
        name = row["name"] + (" (default)" if row["default"] else "")
        table.add_row(name, row["description"], f"{row['tutorial_accuracy']:.1%}",
                      f"{row['target_accuracy']:.1%}", str(row["epochs"]),
                      str(row["batch_size"]), f"{row['learning_rate']:g}", row["optimizer"])
    err_console.print(table)


def command(as_json: JsonOption = False) -> None:
    """List the model zoo: each model, what its tutorial reported, the test accuracy our
    default recipe reaches, and that recipe (epochs, batch size, learning rate, optimizer).

    A table on the terminal, TSV when piped, JSON with --json.

    Example: mnist models --json
    """
    show_models(as_json)
