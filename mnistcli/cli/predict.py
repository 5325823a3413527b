"""``mnist predict``: which digit is in each image.

Start-up matters here (people call it once per file in shell loops), so numpy, Pillow and
LiteRT are imported only once the arguments are parsed, and tensorflow never when the
model is a .tflite file.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mnistcli.cli import completers
from mnistcli.cli.common import QuietOption, err_console, read_piped_stdin
from mnistcli.cli.output import (
    Column,
    CsvOption,
    Format,
    JsonLinesOption,
    JsonOption,
    choose_format,
    output_rows,
)

# Runners-up a person sees on a terminal by default (the answer plus two).
TERMINAL_TOP = 3


def _describe_model(run, predictor) -> str:
    """One line for stderr saying which model answers, and why that one."""
    if isinstance(run, list):  # several runs: an ensemble
        from mnistcli.ensemble import describe_runs

        return (f"Model: {predictor.path} ({describe_runs(run)}, {predictor.backend}): "
                "their probabilities are averaged")
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
        return resolve_run(parse_run_reference(read_piped_stdin() or ""))
    return resolve_run(model)


def _columns(k: int, what: str = "digit") -> list[Column]:
    """path, digit, confidence, then a digit/probability pair per runner-up (TSV, CSV);
    a table shows the runners-up in one cell, and the drawing with --show. A model of
    another dataset answers with class names: ``what`` is then "class"."""
    def runner_up(rank: int, field: str):
        def text(record: dict) -> str:
            entry = record["top"][rank]
            return _answer(entry) if field == "digit" else f"{entry['probability']:.4f}"
        return text

    columns = [Column("path"), Column(what, text=_digit, justify="right"),
               Column("confidence", text=lambda r: f"{r['confidence']:.4f}", justify="right")]
    for rank in range(1, k):
        columns += [Column(f"{what}_{rank + 1}", text=runner_up(rank, "digit")),
                    Column(f"probability_{rank + 1}", text=runner_up(rank, "probability"))]
    return columns


def _answer(entry: dict) -> str:
    """A class's name (a dataset that is not digits), else its digit."""
    return str(entry["class"]) if "class" in entry else str(entry["digit"])


def _digit(record: dict) -> str:
    """The answer, or ? where the model was not sure enough (--min-confidence)."""
    return "?" if record.get("rejected") else _answer(record)


def _table_columns(show: bool, what: str = "digit") -> list[Column]:
    from rich.text import Text

    from mnistcli.cli.terminal import color_enabled, digit_lines

    color = color_enabled(err_console)
    columns = [Column("file", key="path")]
    if show:
        columns.append(Column("preprocessed", cell=lambda r: Text("\n").join(
            digit_lines(r["_pixels"], color))))
    columns += [
        Column(what, text=_digit, justify="right"),
        Column("confidence", text=lambda r: f"{r['confidence']:.1%}", justify="right"),
        Column("runners-up", text=lambda r: ", ".join(
            f"{_answer(entry)} ({entry['probability']:.1%})" for entry in r["top"][1:])),
    ]
    return columns


def _exit_if_failed(failures: int, answered: int, quiet: bool) -> None:
    """Each failed image has had its own Error line; say how many, and exit 1."""
    if failures:
        if answered and not quiet:
            err_console.print(f"{failures} of {failures + answered} images failed",
                              markup=False)
        raise typer.Exit(1)


def _predict_numbers(paths: list[str], predictor, fmt: Format, show: bool,
                     quiet: bool, min_confidence: float | None = None) -> None:
    """``--number``: mnistcli.numbers.read_number on each image, through the output layer
    (path, number, lowest digit confidence); with ``min_confidence`` a number with any
    digit below it is ``?``."""
    from mnistcli.errors import ImageError
    from mnistcli.numbers import picture_with_boxes, read_number
    from mnistcli.predicting import expand_sources
    from mnistcli.preprocess import load_image

    failures = answered = 0

    def records():
        nonlocal failures, answered
        for source, error in expand_sources(paths):
            name = str(source)
            try:
                if error is not None:
                    raise error
                image = load_image(source, name=name)
                reading = read_number(image, predictor, name)
            except ImageError as exc:
                failures += 1
                typer.echo(f"Error: {exc}", err=True)
                continue
            answered += 1
            if show:
                from mnistcli.cli.terminal import color_enabled, digit_lines, draw_blocks

                color = color_enabled(err_console)
                overview = picture_with_boxes(image, reading)
                if not color:
                    overview = overview.max(axis=2) // 2 + overview.min(axis=2) // 2
                draw_blocks(err_console, [digit_lines(overview, color)], [
                    f"{name}: {reading.number or '(no digits)'}"])
                if reading.digits:
                    draw_blocks(err_console, [digit_lines(d.pixels, color)
                                              for d in reading.digits], [
                        f"{d.digit} ({d.confidence:.1%})" for d in reading.digits])
            yield {"path": name, **reading.record(min_confidence)}

    columns = [Column("path"),
               Column("number", text=lambda r: "?" if r.get("rejected") else r["number"]),
               Column("confidence", text=lambda r: f"{r['confidence']:.4f}", justify="right")]
    output_rows(records(), columns, fmt, json_lines=True)
    _exit_if_failed(failures, answered, quiet)


def command(
    paths: Annotated[list[str], typer.Argument(
        metavar="PATH",
        help="Image files (PNG, JPEG, BMP, GIF, TIFF, WebP), directories (every image "
        "inside, sorted by name), or - for one image on stdin.",
        show_default=False)],
    models: Annotated[list[str] | None, typer.Option(
        "--model", "-m", metavar="RUN", autocompletion=completers.runs,
        help="A run directory or name, a .tflite/.keras file, or - to read its path from "
        "stdin. Given more than once, the models answer together: their probabilities "
        "are averaged (an ensemble). Default: the latest run in MNIST_HOME, else the "
        "model shipped with mnistcli.", show_default=False)] = None,
    min_confidence: Annotated[float | None, typer.Option(
        "--min-confidence", metavar="P", min=0.0, max=1.0,
        help="Answer only when the model's confidence is at least P (0-1); below it the "
        "answer is ? (JSON: \"digit\": null, \"rejected\": true) and the exit code stays "
        "0. With --number, a number is ? when any of its digits is. `mnist evaluate` shows "
        "what each P answers and how accurately.",
        show_default=False)] = None,
    top: Annotated[int | None, typer.Option(
        "--top", "-k", metavar="K", min=1, max=10,
        help="Show the K most likely digits: the table shows 3 by default; piped output "
        "adds K-1 digit/probability column pairs; JSON lists them under \"top\".",
        show_default=False)] = None,
    as_json: JsonOption = False,
    as_jsonl: JsonLinesOption = False,
    as_csv: CsvOption = False,
    show: Annotated[bool, typer.Option(
        "--show", help="Draw each preprocessed 28x28 digit (what the model sees) next to "
        "its answer; when stdout is not a terminal the drawings go to stderr.")] = False,
    number: Annotated[bool, typer.Option(
        "--number", help="Each image holds a whole number (digits side by side: a ZIP "
        "code, a meter reading): print the number and its least confident digit's "
        "confidence; --json adds each digit's box [x, y, w, h], digit and probabilities; "
        "--show draws the boxes found.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Predict the digit in each image.

    Any picture of one digit works: dark on light or light on dark, any size, colour or
    transparent (canvas exports); it is turned into a 28x28 MNIST-style image first (see
    `mnist inspect IMAGE`). On a terminal the result is a table (file, digit, confidence,
    runners-up) on stderr; piped, one `path<TAB>digit<TAB>confidence` line per image on
    stdout; --json (or --jsonl) gives one JSON object per line with all ten
    probabilities; --csv gives the piped columns with a header line.

    An image that cannot be used (unreadable, not an image, no ink, too large) gets an
    `Error: PATH: ...` line on stderr while the others are still predicted; the exit code
    is then 1. Exit codes: 0 all predicted, 1 some image or the model failed, 2 usage.

    Example: mnist predict digit.png scans/ --top 3
    """
    models = models or [None]
    if "-" in models and "-" in paths:
        raise typer.BadParameter("stdin cannot hold both the model path and an image",
                                 param_hint="--model")
    if models.count("-") > 1:
        raise typer.BadParameter("stdin can hold only one model path", param_hint="--model")
    fmt = choose_format(as_json, as_jsonl, as_csv)
    from mnistcli.ensemble import load_runs_predictor

    runs = [_resolve_model(model) for model in models]
    # each run with its `mnist calibrate` temperature; several averaged
    predictor = load_runs_predictor(runs)
    if not quiet:
        err_console.print(_describe_model(runs if len(runs) > 1 else runs[0], predictor),
                          markup=False, soft_wrap=True)

    if number:
        _predict_numbers(paths, predictor, fmt, show, quiet, min_confidence)
        return
    from mnistcli.predicting import predict_sources

    # a model of another dataset: its images prepared as that dataset's were, its
    # answers named by its classes
    if len({run.class_names for run in runs}) > 1:
        from mnistcli.errors import MnistError

        raise MnistError("these models have different classes; an ensemble needs models "
                         "of one dataset")
    class_names = None if runs[0].digits else runs[0].class_names
    what = "digit" if class_names is None else "class"

    k = top if top is not None else (TERMINAL_TOP if fmt is Format.TABLE else 1)
    failures = answered = 0

    def records():
        nonlocal failures, answered
        # many files: prepared by one process per core (workers=None decides)
        for prediction in predict_sources(paths, predictor, workers=None,
                                          preprocessing=runs[0].preprocessing):
            if not prediction.ok:
                failures += 1
                typer.echo(f"Error: {prediction.error}", err=True)
                continue
            answered += 1
            record = prediction.record(top=k, class_names=class_names,
                                       min_confidence=min_confidence)
            if show and fmt is Format.TABLE:
                record["_pixels"] = prediction.pixels  # drawn in the table, not output
            elif show:
                from mnistcli.cli.terminal import draw_digits

                draw_digits(err_console, [prediction.pixels], [
                    f"{record['path']}: {_digit(record)} ({record['confidence']:.1%})"])
            yield record

    columns = _table_columns(show, what) if fmt is Format.TABLE else _columns(k, what)
    output_rows(records(), columns, fmt, json_lines=True)
    _exit_if_failed(failures, answered, quiet)
