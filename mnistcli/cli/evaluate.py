"""``mnist evaluate``: how well a trained model does on a split of the dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnistcli.cli import completers
from mnistcli.cli.common import (
    DataDirOption,
    ForceOption,
    QuietOption,
    check_outputs,
    err_console,
    read_piped_stdin,
)
from mnistcli.cli.output import Format, JsonOption, output_fields


def _report(evaluation) -> None:
    """People's view, on stderr: summary, per-digit scores, confusion matrix, confusions."""
    from rich.table import Table

    source = evaluation.model_file or evaluation.run
    err_console.print(
        f"{evaluation.model or 'model'} ({source}, {evaluation.backend}) on the "
        f"{evaluation.split} split of {evaluation.data}: {evaluation.images:,} images",
        markup=False, soft_wrap=True)
    err_console.print(f"accuracy [bold]{evaluation.accuracy:.2%}[/]  "
                      f"loss {evaluation.loss:.4f}  errors {evaluation.errors:,}")

    # a model of another dataset names its classes (evaluation.class_names)
    what = "class" if getattr(evaluation, "class_names", None) else "digit"
    name = getattr(evaluation, "name", str)
    scores = Table(title=f"Per {what}", title_justify="left")
    for header in (what, "precision", "recall", "F1", "images"):
        scores.add_column(header, justify="right")
    for score in evaluation.per_digit:
        scores.add_row(name(score.digit), f"{score.precision:.4f}", f"{score.recall:.4f}",
                       f"{score.f1:.4f}", f"{score.support:,}")
    err_console.print(scores)
    classes = len(evaluation.confusion)
    if classes > MAX_TERMINAL_CLASSES:
        err_console.print(f"Confusion matrix: {classes} classes, too wide for a terminal "
                          "(--plot PNG draws it, --json gives it)", markup=False)
        _report_confused(evaluation, name)
        return

    matrix = Table(title="Confusion matrix (row: true, column: predicted)",
                   title_justify="left")
    matrix.add_column("", style="bold", justify="right")
    for digit in range(classes):
        matrix.add_column(name(digit), justify="right")
    worst = max((count for t, row in enumerate(evaluation.confusion)
                 for p, count in enumerate(row) if t != p), default=0)
    for true, row in enumerate(evaluation.confusion):
        cells = []
        for predicted, count in enumerate(row):
            if true == predicted:
                cells.append(f"[bold green]{count}[/]")
            elif count == 0:
                cells.append("[dim]·[/]")
            else:
                # the more often confused, the stronger the red
                style = "bold red" if worst and count >= worst / 2 else "red"
                cells.append(f"[{style}]{count}[/]")
        matrix.add_row(name(true), *cells)
    err_console.print(matrix)
    _report_confused(evaluation, name)


# A wider confusion matrix (EMNIST's 26 or 47 classes) is left to --plot and --json.
MAX_TERMINAL_CLASSES = 16


def _report_confused(evaluation, name) -> None:
    if evaluation.most_confused:
        pairs = ", ".join(f"{name(pair['true'])} as {name(pair['predicted'])} "
                          f"({pair['count']})" for pair in evaluation.most_confused)
        err_console.print(f"Most confused: {pairs}", markup=False)


def _calibration_report(report) -> None:
    """How far the confidence can be trusted: ECE, and the trade-off of answering only
    above a confidence threshold (`mnist predict --min-confidence`)."""
    from rich.table import Table

    if report.tradeoff is None:
        return
    table = Table(title="Answering only when sure (mnist predict --min-confidence P)",
                  title_justify="left")
    for header in ("min confidence", "answered", "share answered", "accuracy of answers",
                   "wrong answers"):
        table.add_column(header, justify="right")
    for row in report.tradeoff:
        accuracy = f"{row.accuracy:.2%}" if row.answered else "-"
        table.add_row(f"{row.threshold:g}", f"{row.answered:,}", f"{row.coverage:.2%}",
                      accuracy, f"{row.errors:,}")
    err_console.print(table)
    at = report.at_99_coverage
    err_console.print(f"Answering the 99% most confident (min confidence {at.threshold:.4g}): "
                      f"accuracy {at.accuracy:.2%}, {at.errors} wrong of {at.answered:,}",
                      markup=False)
    if report.calibrated:
        shown = ", ".join(f"{t:.3g}" if t is not None else "none"
                          for t in report.temperatures or [])
        err_console.print(f"Expected calibration error: {report.ece:.4f} uncalibrated, "
                          f"{report.ece_calibrated:.4f} calibrated (temperature {shown})",
                          markup=False)
    else:
        err_console.print(f"Expected calibration error: {report.ece:.4f} (not calibrated; "
                          "`mnist calibrate RUN` fits a temperature)", markup=False)


def command(
    runs: Annotated[list[str] | None, typer.Argument(
        metavar="RUN", autocompletion=completers.runs,
        help="Run directory, or a .tflite/.keras model file; several are evaluated as one "
        "ensemble (their probabilities averaged). Default: what is piped on stdin (a path "
        "or `mnist train --json`), else the latest run, else the shipped model.",
        show_default=False)] = None,
    split: Annotated[str, typer.Option(
        "--split", help="Which split: test or validation.")] = "test",
    data: DataDirOption = None,
    dataset: Annotated[str | None, typer.Option(
        "--dataset", "-d", metavar="NAME", autocompletion=completers.datasets,
        help="Evaluate on this dataset instead of the run's own (of the model's classes, "
        "e.g. an MNIST model on emnist-digits) [default: the run's].",
        show_default=False)] = None,
    validation: Annotated[int | None, typer.Option(
        "--validation", metavar="N", min=0,
        help="Size of the validation split [default: what the run was trained with].",
        show_default=False)] = None,
    misclassified: Annotated[int, typer.Option(
        "--misclassified", metavar="N", min=0,
        help="Show the N worst mistakes (with --save, draw them).")] = 0,
    save: Annotated[Path | None, typer.Option(
        "--save", metavar="PNG",
        help="Write a grid of the --misclassified worst mistakes to this PNG.",
        show_default=False)] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", metavar="PNG",
        help="Write the confusion matrix as a heat map to this PNG, and the reliability "
        "diagram with the accuracy-against-coverage curve beside it (NAME-calibration.png).",
        show_default=False)] = None,
    images: Annotated[Path | None, typer.Option(
        "--images", metavar="DIR",
        help="Evaluate on your own labelled images instead: DIR/<digit>/*.png (any image "
        "format), preprocessed as `mnist predict` does.", show_default=False)] = None,
    force: ForceOption = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Evaluate a trained model: accuracy, loss, per-digit precision/recall/F1, the
    confusion matrix and the most confused pairs; how far its confidence can be trusted
    (expected calibration error, before and after `mnist calibrate`), and what answering
    only above a confidence threshold gives (share answered, accuracy of the answers).

    The report goes to stderr; stdout gets `key<TAB>value` lines (accuracy, loss, images,
    errors, ece), or everything with --json. Inference runs the run's model.tflite on
    LiteRT. Without --data, the dataset the run was trained on is used. Several RUNs are
    one ensemble: the average of their probabilities is evaluated.

    Example: mnist evaluate RUN --misclassified 24 --save worst.png --plot confusion.png
    """
    if split not in ("test", "validation"):
        raise typer.BadParameter(f"{split!r}: choose test or validation", param_hint="--split")
    if images is not None and (data is not None or validation is not None
                               or split != "test" or dataset is not None):
        raise typer.BadParameter("--images evaluates on your own images; it does not go "
                                 "with --data, --dataset, --split or --validation",
                                 param_hint="--images")
    check_outputs(save, plot, None if plot is None else
                  plot.with_name(f"{plot.stem}-calibration{plot.suffix or '.png'}"),
                  force=force)
    if save is not None and misclassified == 0:
        misclassified = 32
    from mnistcli.calibration import calibration_report, run_temperature
    from mnistcli.ensemble import describe_runs, load_runs_predictor
    from mnistcli.evaluation import evaluate_run, save_mistakes_grid
    from mnistcli.runs import resolve_run

    if runs:
        trained_runs = [resolve_run(run) for run in runs]
    else:
        trained_runs = [resolve_run(None, stdin_text=read_piped_stdin())]
    trained = trained_runs[0]
    if trained.source == "shipped" and not quiet:
        err_console.print("Using the model shipped with mnistcli (no run found).")
    predictor = load_runs_predictor(trained_runs)
    if len(trained_runs) > 1 and not quiet:
        err_console.print(f"Ensemble of {len(trained_runs)} models: their probabilities are "
                          "averaged.", markup=False)
    evaluation, arrays = evaluate_run(trained, split=split, data_dir=data, validation=validation,
                                      misclassified=misclassified, images_dir=images,
                                      predictor=predictor, dataset=dataset)
    if len(trained_runs) > 1:
        evaluation.model = describe_runs(trained_runs)
        evaluation.run = ", ".join(str(run.path) for run in trained_runs)
    temperatures = [run_temperature(run.record) for run in trained_runs]
    uncalibrated = None
    if any(t is not None for t in temperatures):  # the "before": the models' own
        uncalibrated = load_runs_predictor(trained_runs, calibrate=False).predict_proba(
            arrays["images"])
    calibration = calibration_report(arrays["probabilities"], arrays["labels"],
                                     uncalibrated=uncalibrated, temperatures=temperatures)
    grid = confusion_png = calibration_png = None
    if save is not None:
        grid = save_mistakes_grid(save, arrays["images"], arrays["labels"],
                                  arrays["probabilities"], arrays["mistakes"])
    if plot is not None:
        from mnistcli.charts import plot_confusion

        confusion_png = plot_confusion(
            evaluation.confusion, plot,
            title=f"{evaluation.model or 'model'} on {evaluation.images:,} "
                  f"{evaluation.split} images, accuracy {evaluation.accuracy:.2%}",
            labels=getattr(evaluation, "class_names", None),
            what="class" if getattr(evaluation, "class_names", None) else "digit")
        calibration_png = _plot_calibration(calibration, arrays, evaluation, plot)
    if not quiet:
        _report(evaluation)
        _calibration_report(calibration)
        if evaluation.misclassified and not as_json:
            name = getattr(evaluation, "name", str)
            shown = ", ".join(f"#{m['index']} {name(m['true'])} as {name(m['predicted'])} "
                              f"({m['confidence']:.0%})" for m in evaluation.misclassified[:10])
            err_console.print(f"Worst mistakes: {shown}", markup=False)
        if grid is not None:
            err_console.print(f"Wrote {len(arrays['mistakes'])} mistakes to {grid}",
                              markup=False)
        if confusion_png is not None:
            err_console.print(f"Wrote the confusion matrix to {confusion_png} and the "
                              f"reliability and coverage curves to {calibration_png}",
                              markup=False)
    if as_json:
        record = evaluation.to_dict()
        record["calibration"] = calibration.to_dict()
        record["grid"] = str(grid) if grid is not None else None
        record["plot"] = str(confusion_png) if confusion_png is not None else None
        record["calibration_plot"] = \
            str(calibration_png) if calibration_png is not None else None
        output_fields(record, Format.JSON)
    else:
        output_fields({"accuracy": evaluation.accuracy, "loss": evaluation.loss,
                       "images": evaluation.images, "errors": evaluation.errors,
                       "ece": calibration.ece, "ece_calibrated": calibration.ece_calibrated,
                       "grid": grid, "plot": confusion_png,
                       "calibration_plot": calibration_png}, Format.TSV)
    if evaluation.skipped:
        # as `mnist predict` does: each unusable image its own error; the rest evaluated
        for message in evaluation.skipped:
            typer.echo(f"Error: {message}", err=True)
        if not quiet:
            err_console.print(f"{len(evaluation.skipped)} of "
                              f"{len(evaluation.skipped) + evaluation.images} images could "
                              "not be used; the scores above leave them out", markup=False)
        raise typer.Exit(1)


def _plot_calibration(calibration, arrays, evaluation, plot: Path) -> Path:
    """The reliability diagram and accuracy-against-coverage curve, beside --plot."""
    from mnistcli.calibration import coverage_curve
    from mnistcli.charts import plot_calibration

    coverage, accuracy, _ = coverage_curve(arrays["probabilities"], arrays["labels"])
    ece = calibration.ece_calibrated if calibration.calibrated else calibration.ece
    return plot_calibration(
        calibration.reliability or [], coverage, accuracy,
        plot.with_name(f"{plot.stem}-calibration{plot.suffix or '.png'}"),
        title=f"{evaluation.model or 'model'} on {evaluation.images:,} {evaluation.split} "
              f"images: ECE {ece:.4f}")
