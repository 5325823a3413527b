"""``mnist predict``: which digit is in each image.

Start-up matters here (people call it once per file in shell loops), so numpy, Pillow and
LiteRT are imported only once the arguments are parsed, and tensorflow never when the
model is a .tflite file.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mnistcli.cli.common import (
    JsonOption,
    QuietOption,
    emit,
    emit_json,
    err_console,
    stdout_is_terminal,
)

# Images are predicted in batches of this many: one LiteRT call amortises its overhead,
# while results of a large directory still stream out as they are ready.
BATCH_SIZE = 512
# Runners-up a person sees on a terminal by default (the answer plus two).
TERMINAL_TOP = 3


def _describe_model(run, predictor) -> str:
    """One line for stderr saying which model answers, and why that one."""
    why = {"run": "run", "file": "model file", "shipped": "the model shipped with mnistcli"}
    parts = [why.get(run.source, run.source)]
    if run.source == "run" or run.record:
        if run.model:
            parts.append(run.model)
        if run.test_accuracy is not None:
            parts.append(f"test accuracy {run.test_accuracy:.2%}")
    parts.append(predictor.backend)
    return f"Model: {predictor.path} ({', '.join(parts)})"


def _resolve_model(model: str | None):
    from mnistcli.runs import parse_run_reference, resolve_run

    if model == "-":
        return resolve_run(parse_run_reference(sys.stdin.read()))
    return resolve_run(model)


def _ranking(probabilities, k: int) -> list[tuple[int, float]]:
    order = sorted(range(len(probabilities)), key=lambda d: -probabilities[d])
    return [(digit, float(probabilities[digit])) for digit in order[:k]]


def _record(path: str, probabilities, k: int) -> dict:
    ranked = _ranking(probabilities, k)
    return {
        "path": path,
        "digit": ranked[0][0],
        "confidence": round(ranked[0][1], 6),
        "top": [{"digit": digit, "probability": round(p, 6)} for digit, p in ranked],
        "probabilities": [round(float(p), 6) for p in probabilities],
    }


def _tsv_line(record: dict) -> str:
    # path, digit, confidence; then digit/probability pairs for the runners-up of --top K
    fields = [record["path"], str(record["digit"]), f"{record['confidence']:.4f}"]
    for entry in record["top"][1:]:
        fields += [str(entry["digit"]), f"{entry['probability']:.4f}"]
    return "\t".join(fields)


def _terminal_table(rows: list[tuple[dict, object]], show: bool):
    from rich.table import Table
    from rich.text import Text

    from mnistcli.cli.terminal import color_enabled, digit_lines

    table = Table(show_edge=False, pad_edge=False)
    table.add_column("file", overflow="fold")
    if show:
        table.add_column("preprocessed", no_wrap=True)
    table.add_column("digit", justify="right", style="bold")
    table.add_column("confidence", justify="right")
    table.add_column("runners-up")
    stdout_console = _stdout_console()
    color = color_enabled(stdout_console)
    for record, pixels in rows:
        runners_up = ", ".join(f"{entry['digit']} ({entry['probability']:.1%})"
                               for entry in record["top"][1:])
        cells = [Text(record["path"])]
        if show:
            cells.append(Text("\n").join(digit_lines(pixels, color)))
        cells += [str(record["digit"]), f"{record['confidence']:.1%}", runners_up]
        table.add_row(*cells)
    return table


def _stdout_console():
    from rich.console import Console

    return Console(highlight=False)


def command(
    paths: Annotated[list[str], typer.Argument(
        metavar="PATH",
        help="Image files (PNG, JPEG, BMP, GIF, TIFF, WebP), directories (every image "
        "inside, sorted by name), or - for one image on stdin.",
        show_default=False)],
    model: Annotated[str | None, typer.Option(
        "--model", "-m", metavar="RUN",
        help="A run directory or name, a .tflite/.keras file, or - to read its path from "
        "stdin. Default: the latest run in MNIST_HOME, else the model shipped with "
        "mnistcli.", show_default=False)] = None,
    top: Annotated[int | None, typer.Option(
        "--top", "-k", metavar="K", min=1, max=10,
        help="Show the K most likely digits: the table shows 3 by default; piped output "
        "adds K-1 digit/probability column pairs; JSON lists them under \"top\".",
        show_default=False)] = None,
    as_json: JsonOption = False,
    show: Annotated[bool, typer.Option(
        "--show", help="Draw each preprocessed 28x28 digit (what the model sees) next to "
        "its answer; when stdout is not a terminal the drawings go to stderr.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Predict the digit in each image.

    Any picture of one digit works: dark on light or light on dark, any size, colour or
    transparent (canvas exports); it is turned into a 28x28 MNIST-style image first (see
    `mnist inspect IMAGE`). On a terminal the result is a table (file, digit, confidence,
    runners-up); piped, one `path<TAB>digit<TAB>confidence` line per image; --json gives
    one JSON object per line with all ten probabilities.

    An image that cannot be used (unreadable, not an image, no ink, too large) gets an
    `Error: PATH: ...` line on stderr while the others are still predicted; the exit code
    is then 1. Exit codes: 0 all predicted, 1 some image or the model failed, 2 usage.

    Example: mnist predict digit.png scans/ --top 3
    """
    if model == "-" and "-" in paths:
        raise typer.BadParameter("stdin cannot hold both the model path and an image",
                                 param_hint="--model")
    from mnistcli.inference import load_predictor

    run = _resolve_model(model)
    predictor = load_predictor(run.model_file())
    if not quiet:
        err_console.print(_describe_model(run, predictor), markup=False, soft_wrap=True)

    import numpy as np

    from mnistcli.preprocess import prepare_images

    terminal = stdout_is_terminal() and not as_json
    k = top if top is not None else (TERMINAL_TOP if terminal else 1)
    table_rows: list[tuple[dict, object]] = []

    def write(batch: list, probabilities) -> None:
        for item, row in zip(batch, probabilities, strict=True):
            record = _record(item.source, row, k)
            if terminal:
                table_rows.append((record, item.pixels))
                continue
            if as_json:
                emit_json(record)
            else:
                emit(_tsv_line(record))
            if show:
                from mnistcli.cli.terminal import draw_digits

                draw_digits(err_console, [item.pixels], [
                    f"{record['path']}: {record['digit']} ({record['confidence']:.1%})"])

    # Many images: the model runs a batch in a worker thread (LiteRT releases the GIL)
    # while this thread decodes the next one, so the two cores share the work.
    executor = None
    in_flight: tuple[list, object] | None = None
    pending: list = []
    failed = done = 0

    def submit(final: bool) -> None:
        nonlocal executor, in_flight
        batch = pending[:]
        pending.clear()
        if batch and in_flight is None and final:  # one batch in all: no thread needed
            write(batch, predictor.predict_proba(np.stack([i.pixels for i in batch])))
            return
        if batch:
            if executor is None:
                from concurrent.futures import ThreadPoolExecutor

                executor = ThreadPoolExecutor(max_workers=1)
            future = executor.submit(predictor.predict_proba,
                                     np.stack([i.pixels for i in batch]))
        previous, in_flight = in_flight, ((batch, future) if batch else None)
        if previous is not None:
            write(previous[0], previous[1].result())
        if final and in_flight is not None:
            write(in_flight[0], in_flight[1].result())
            in_flight = None

    try:
        for item in prepare_images(paths):
            if item.error is not None:
                failed += 1
                typer.echo(f"Error: {item.error}", err=True)
                continue
            done += 1
            pending.append(item)
            if len(pending) >= BATCH_SIZE:
                submit(final=False)
        submit(final=True)
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
    if terminal and table_rows:
        _stdout_console().print(_terminal_table(table_rows, show))
    if failed:
        if done and not quiet:
            err_console.print(f"{failed} of {failed + done} images failed", markup=False)
        raise typer.Exit(1)
