"""``mnist plot-weights``: what the first layer of a trained model looks at, as a picture."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mnistcli.cli import completers
from mnistcli.cli.common import (
    ForceOption,
    QuietOption,
    check_outputs,
    err_console,
    read_piped_stdin,
)
from mnistcli.cli.output import JsonOption, emit, emit_json

if TYPE_CHECKING:
    import numpy as np

THUMBNAIL_SIDE = 14  # pixels per map in the terminal: 14 columns by 7 rows
ASCII_NEGATIVE = "-="  # weak, strong negative (without colour)
ASCII_POSITIVE = "+#"


def _tile_lines(values: np.ndarray, diverging: bool, colour: bool):
    """One thumbnail (normalised values) as rich Text lines, two pixel rows per line."""
    import numpy as np
    from rich.text import Text

    from mnistcli.cli.terminal import ASCII_RAMP, half_block_lines, ramp_levels
    from mnistcli.weight_maps import colorize

    if colour:
        return half_block_lines(colorize(values, diverging))
    if values.shape[0] % 2:
        values = np.vstack([values, np.zeros((1, values.shape[1]))])
    mean = (values[0::2] + values[1::2]) / 2
    if not diverging:
        return [Text("".join(ASCII_RAMP[level] for level in row))
                for row in ramp_levels(mean)]
    lines = []
    for row in mean:
        characters = []
        for value in row.tolist():
            strength = abs(value)
            ramp = ASCII_NEGATIVE if value < 0 else ASCII_POSITIVE
            characters.append(" " if strength < 0.15 else ramp[int(strength >= 0.45)])
        lines.append(Text("".join(characters)))
    return lines


def draw_in_terminal(sections) -> None:
    """A small version of the picture on stderr: each map as a 14x14 thumbnail."""
    import numpy as np

    from mnistcli.cli.terminal import color_enabled, draw_blocks
    from mnistcli.weight_maps import thumbnails

    colour = color_enabled(err_console)
    for section in sections:
        err_console.print(section.title, markup=False, highlight=False, soft_wrap=True)
        # small maps (3x3 filters) get two characters per pixel, large ones are shrunk
        side = min(THUMBNAIL_SIDE, 2 * max(section.maps.shape[1:]))
        small = thumbnails(section, side)
        # shrinking averages neighbouring pixels and pales the maps: stretch them back
        # (all by the same factor, so they still share one scale)
        peak = float(np.abs(small).max())
        if peak > 0:
            small = small / peak
        tiles = [_tile_lines(values, section.diverging, colour) for values in small]
        cell = max(side, *(len(label) for label in section.labels))
        draw_blocks(err_console, tiles, section.labels, width=cell, blank_between_rows=False)
        limit = section.limit * peak if peak > 0 else section.limit
        scale = (f"-{limit:.3g} .. 0 .. +{limit:.3g}" if section.diverging
                 else f"0 .. {limit:.3g}")
        legend = ("blue negative, white zero, red positive" if colour and section.diverging
                  else "'=' '-' negative, blank zero, '+' '#' positive" if section.diverging
                  else "dark low, bright high")
        err_console.print(f"{section.legend} scale {scale} ({legend})", markup=False,
                          highlight=False, soft_wrap=True)


def _load_input_image(path: Path) -> np.ndarray:
    """An image file as the model sees it (28x28 uint8, white ink on black)."""
    from mnistcli.preprocess import load_image, preprocess

    return preprocess(load_image(path, name=str(path)), name=str(path))


def command(
    run: Annotated[str | None, typer.Argument(
        metavar="[RUN]", autocompletion=completers.runs,
        help="Run directory or .keras model file. Default: what is piped on stdin, else "
        "the latest run.", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="PNG",
        help="Where to write the picture [default: RUN/weights.png, or RUN/features.png "
        "with --input].", show_default=False)] = None,
    units: Annotated[int | None, typer.Option(
        "--units", "-n", metavar="N", min=1,
        help="Dense networks: how many first-layer units to draw, the strongest by weight "
        "norm [default: 16]; CNNs: at most this many filters [default: all].",
        show_default=False)] = None,
    input_image: Annotated[Path | None, typer.Option(
        "--input", metavar="IMAGE",
        help="CNN only: also draw the feature maps this image produces in the first "
        "convolutional layers.", show_default=False)] = None,
    terminal: Annotated[bool | None, typer.Option(
        "--terminal/--no-terminal",
        help="Draw a small version on stderr [default: when stdout is a terminal].",
        show_default=False)] = None,
    force: ForceOption = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Draw the weights of a trained model's first layer as a PNG; print its path.

    logreg: one 28x28 map per digit; dense networks: the strongest first-layer units;
    CNNs: the first convolution's filters (and with --input, the feature maps an image
    produces). Weights use one colour scale centred on zero: blue negative, white zero,
    red positive. The minimum and maximum weight go to stderr (and into --json).

    Example: mnist train --model logreg | mnist plot-weights --out weights.png
    """
    import sys

    from mnistcli.fsutil import save_png
    from mnistcli.keras_files import load_keras_model
    from mnistcli.runs import resolve_run
    from mnistcli.weight_maps import feature_maps, render, weight_maps

    check_outputs(out, force=force)  # the default, in the run, is the toolkit's own
    stdin_text = read_piped_stdin() if run is None else None
    trained = resolve_run(run, stdin_text=stdin_text)
    if out is None:
        out = trained.output_dir() / ("features.png" if input_image is not None else "weights.png")
    image = _load_input_image(input_image) if input_image is not None else None
    model = load_keras_model(trained.keras_path, trained.path)
    report = weight_maps(model, units=units, class_names=trained.class_names)
    sections = list(report.sections)
    if image is not None:
        if report.kind != "conv":
            from mnistcli.errors import ModelError

            raise ModelError(f"--input draws convolutional feature maps; {model.name!r} "
                             "has no convolution (it is a dense network)")
        sections += feature_maps(model, image)
    name = trained.model or model.name
    if trained.source == "shipped":
        where = "the model shipped with mnistcli"
    elif trained.path.is_dir():
        where = trained.path.name
    else:
        where = f"{trained.path.parent.name}/{trained.path.name}"
    picture = render(sections, heading=f"{name}: {where}")
    save_png(picture, out)

    if not quiet:
        err_console.print(f"{name}: layer {report.layer!r} weights: min "
                          f"{report.minimum:.4g}, max {report.maximum:.4g}", markup=False,
                          highlight=False, soft_wrap=True)
    if terminal if terminal is not None else sys.stdout.isatty():
        draw_in_terminal(sections)
    if as_json:
        emit_json({"path": str(out), "run": str(trained.path), "model": name,
                   **report.summary(), "width": picture.width, "height": picture.height,
                   "input": str(input_image) if input_image is not None else None})
    else:
        emit(str(out))
