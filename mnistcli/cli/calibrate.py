"""``mnist calibrate``: fit a run's temperature so its confidence means what it says."""

from __future__ import annotations

from typing import Annotated

import typer

from mnistcli.cli import completers
from mnistcli.cli.common import DataDirOption, QuietOption, err_console, read_piped_stdin
from mnistcli.cli.output import Format, JsonOption, output_fields


def command(
    run: Annotated[str | None, typer.Argument(
        metavar="RUN", autocompletion=completers.runs,
        help="Run directory or name. Default: what is piped on stdin (a path or `mnist "
        "train --json`), else the latest run.", show_default=False)] = None,
    data: DataDirOption = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Calibrate a run's probabilities: fit one temperature T on its validation split
    (the images it held out in training) and store it in its run.json.

    From then on predict, evaluate, serve, the Python API and an ensemble's export answer
    with softmax(log p / T) instead of the model's own probabilities p: the answers stay
    the same, only the confidence changes, so that `--min-confidence` thresholds mean
    what they say. The
    report shows the expected calibration error (ECE) on the validation split before and
    after; stdout gets `key<TAB>value` lines (temperature, ece_before, ece_after), or
    everything with --json. Calibrating again replaces the temperature.

    Example: mnist calibrate RUN && mnist evaluate RUN
    """
    from mnistcli.calibration import calibrate_run
    from mnistcli.runs import resolve_run

    stdin_text = read_piped_stdin() if run is None else None
    trained = resolve_run(run, stdin_text=stdin_text)
    result = calibrate_run(trained, data_dir=data)
    if not quiet:
        err_console.print(
            f"{trained.name}: temperature {result['temperature']:.3f} fitted on "
            f"{result['images']:,} validation images", markup=False, soft_wrap=True)
        err_console.print(
            f"expected calibration error {result['ece_before']:.4f} -> "
            f"{result['ece_after']:.4f}; cross-entropy {result['nll_before']:.4f} -> "
            f"{result['nll_after']:.4f}", markup=False)
        direction = ("over-confident: probabilities softened"
                     if result["temperature"] > 1 else
                     "under-confident: probabilities sharpened")
        err_console.print(f"The model was {direction}; stored in "
                          f"{trained.path / 'run.json'}", markup=False, soft_wrap=True)
    if as_json:
        output_fields({"run": str(trained.path), **result}, Format.JSON)
        return
    output_fields({"temperature": result["temperature"], "ece_before": result["ece_before"],
                   "ece_after": result["ece_after"]}, Format.TSV)
