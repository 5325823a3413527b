"""``mnist export``: write a trained model in a format other tools load."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnistcli.cli import completers
from mnistcli.cli.common import DataDirOption, QuietOption, err_console, read_piped_stdin
from mnistcli.cli.output import JsonOption, emit, emit_json

# Listed here for --help only; mnistcli.export.FORMATS is the registry (and importing it
# would not cost much, but the help should not depend on the core's load order).
FORMAT_HELP = ("tflite, savedmodel (for TF Serving), keras, csv (dense networks: weights "
               "per layer + manifest.json), onnx, web (dense networks: the drawing page, "
               "offline)")


def _size(size_bytes: int) -> str:
    return f"{size_bytes / 1024:.1f} KiB" if size_bytes < 1 << 20 \
        else f"{size_bytes / (1 << 20):.2f} MiB"


def _accuracy(value: float | None) -> str:
    return f"{value:.2%}" if value is not None else "n/a (no test data)"


def command(
    runs: Annotated[list[str] | None, typer.Argument(
        metavar="RUN", autocompletion=completers.runs,
        help="Run directory or .keras model file; several make one tflite model that "
        "averages their probabilities (an ensemble). Default: what is piped on stdin, else "
        "the latest run.", show_default=False)] = None,
    format_name: Annotated[str, typer.Option(
        "--format", "-f", metavar="FORMAT", autocompletion=completers.export_formats,
        help=f"One of: {FORMAT_HELP}.")] = "tflite",
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="PATH",
        help="File or directory to write [default: RUN/export/<format's name>; for "
        "several runs ./ensemble.tflite].",
        show_default=False)] = None,
    quantize: Annotated[str | None, typer.Option(
        "--quantize", metavar="int8",
        help="tflite only: int8 weights and activations, calibrated on a sample of the "
        "training images (needs the dataset).", show_default=False)] = None,
    data: DataDirOption = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace what is at --out: a file, or a directory an earlier "
        "export wrote (a directory holding anything else is never replaced).")] = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Export a trained model; print the path written.

    tflite reports the model's size and its accuracy on the test split (when the dataset
    is there); with --quantize int8 it reports both the int8 and the float model's.
    Whatever fails, nothing is left half-written. Nothing is overwritten unless --force,
    and a directory is replaced only if an export of mnist made it; the default
    destination in the run is replaced freely.

    Several runs are exported as one tflite model holding all of them and averaging
    their probabilities (each with its `mnist calibrate` temperature), so predict and
    serve load one file; its answers are checked against the models' own.

    Example: mnist export RUN --quantize int8 --out int8.tflite
    """
    from mnistcli.export import default_destination, export_model, get_format
    from mnistcli.runs import resolve_run

    fmt = get_format(format_name)  # an unknown format fails before anything is loaded
    if runs and len(runs) > 1:
        _export_ensemble(runs, fmt.name, out, quantize, data, quiet, as_json,
                         force)
        return
    run = runs[0] if runs else None
    stdin_text = read_piped_stdin() if run is None else None
    trained = resolve_run(run, stdin_text=stdin_text)
    if out is None:
        out = default_destination(trained.output_dir(), fmt, quantize)
        force = True  # the toolkit's own place for it
    validation = (trained.record.get("hyperparameters") or {}).get("validation")
    result = export_model(trained.keras_path, trained.path, format_name, out=out,
                          quantize=quantize, data_dir=data, validation=validation,
                          force=force, record=trained.record or None)
    if not quiet:
        line = f"{result['format']}: {result['path']} ({_size(result['size_bytes'])})"
        if result["format"] == "tflite":
            kind = result["quantize"] or "float32"
            line += f", {kind} test accuracy {_accuracy(result['accuracy'])}"
            if "float" in result:
                reference = result["float"]
                line += (f"; float32: {_size(reference['size_bytes'])}, test accuracy "
                         f"{_accuracy(reference['accuracy'])}")
        err_console.print(line, markup=False, highlight=False, soft_wrap=True)
    if as_json:
        emit_json(result)
    else:
        emit(result["path"])


def _export_ensemble(runs: list[str], format_name: str, out: Path | None,
                     quantize: str | None, data: Path | None, quiet: bool,
                     as_json: bool, force: bool = False) -> None:
    from mnistcli.datasets import load_split
    from mnistcli.ensemble import ENSEMBLE_FILE, export_ensemble
    from mnistcli.errors import DataError
    from mnistcli.evaluation import data_dir_for
    from mnistcli.runs import resolve_run

    if format_name != "tflite" or quantize is not None:
        raise typer.BadParameter("several runs export as one float tflite model (no "
                                 "--quantize)", param_hint="--format")
    trained = [resolve_run(run) for run in runs]
    try:
        test = load_split("test", data_dir_for(trained[0], data))
    except DataError:
        test = None
    if not quiet:
        err_console.print(f"Ensemble of {len(trained)} models: one tflite model averaging "
                          "their probabilities.", markup=False)
    result = export_ensemble(trained, out if out is not None else Path(ENSEMBLE_FILE),
                             check_images=test.images[:256] if test is not None else None,
                             test=test, force=force)
    if not quiet:
        err_console.print(f"tflite: {result['path']} ({_size(result['size_bytes'])}), "
                          f"float32 test accuracy {_accuracy(result['accuracy'])}",
                          markup=False, highlight=False, soft_wrap=True)
    if as_json:
        emit_json(result)
    else:
        emit(result["path"])
