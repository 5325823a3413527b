"""``mnist inspect``: look at digits in the terminal, save them as a PNG, or summarise the
dataset. Never imports tensorflow, so it starts fast."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnistcli.cli.common import (
    DataDirOption,
    DatasetOption,
    ForceOption,
    QuietOption,
    SplitOption,
    check_outputs,
    err_console,
)
from mnistcli.cli.output import JsonOption, emit, emit_json
from mnistcli.datasets import (
    DATASETS,
    DEFAULT_DATASET,
    DEFAULT_VALIDATION,
    DIGITS,
    SPLITS,
    get_dataset,
)
from mnistcli.errors import DataError

CAPTION_WIDTH = 40  # an image file's caption; 40 + 2 + 28 columns fit 80
STATUS_TEXT = {
    "verified": "verified",
    "modified": "SHA-256 differs from the registry",
    "missing": "missing",
}


def command(
    image: Annotated[
        str | None,
        typer.Argument(metavar="[IMAGE]",
                       help="An image file (or - for stdin) to show beside what the model "
                       "sees after preprocessing; without it, digits come from the dataset.",
                       show_default=False),
    ] = None,
    index: Annotated[
        list[str] | None,
        typer.Option("--index", "-i", metavar="N[,N...]",
                     help="Image index within the split, counting from 0; repeat the option "
                     "or give a comma-separated list for several.", show_default=False),
    ] = None,
    label: Annotated[
        int | None,
        typer.Option("--label", "-l", metavar="D", min=0,
                     max=max(spec.num_classes for spec in DATASETS.values()) - 1,
                     help="Show examples of this digit (the first --count of them).",
                     show_default=False),
    ] = None,
    count: Annotated[
        int,
        typer.Option("--count", "-n", metavar="K", min=1,
                     help="How many examples --label shows."),
    ] = 10,
    split: SplitOption = "train",
    save: Annotated[
        Path | None,
        typer.Option("--save", metavar="PNG",
                     help="Write the digit enlarged as a PNG (several: a grid with "
                     "captions) and print its path on stdout.", show_default=False),
    ] = None,
    scale: Annotated[
        int,
        typer.Option("--scale", metavar="S", min=1, max=64,
                     help="Enlargement of --save: each pixel becomes SxS."),
    ] = 8,
    json_output: JsonOption = False,
    force: ForceOption = False,
    quiet: QuietOption = False,
    data_dir: DataDirOption = None,
    dataset: DatasetOption = DEFAULT_DATASET,
    validation: Annotated[
        int | None,
        typer.Option("--validation", metavar="N", min=0,
                     help="Hold out the last N training images as the validation split "
                     f"[default: {DEFAULT_VALIDATION}, or a sixth of the training set when "
                     "that is smaller].", show_default=False),
    ] = None,
) -> None:
    """Show digits from the dataset, or an image file as the model sees it, or summarise
    the dataset.

    With IMAGE, draws the picture (fitted into 28x28) beside the 28x28 digit the models
    get after preprocessing (greyscale, polarity, background removed, cropped, scaled,
    centred by mass); --save writes both side by side, --json gives the model input's
    pixels and statistics.

    With --index or --label, draws the digits on stderr (grey half blocks on a terminal,
    28 columns by 14 rows per digit; plain ASCII when NO_COLOR is set or stderr is not a
    terminal) with their split, index and label. stdout carries only data: the JSON with
    --json (label and pixel statistics of each image; no drawing then), the saved path
    with --save, otherwise nothing.

    Without them, summarises the dataset on stderr: its files and whether their SHA-256
    matches the registry, images per split, images per digit, pixel mean and standard
    deviation (--json: the same as JSON on stdout).

    Examples:

      mnist inspect --index 7

      mnist inspect --split test --index 0,1,2 --save first.png

      mnist inspect --label 4 --count 8

      mnist inspect --index 7 --json

      mnist inspect --data fixtures/tiny

      mnist inspect photo_of_a_digit.jpg --save seen.png
    """
    if split not in SPLITS:
        raise typer.BadParameter(f"{split!r} is not one of: {', '.join(SPLITS)}",
                                 param_hint="'--split'")
    check_outputs(save, force=force)
    if index and label is not None:
        raise typer.BadParameter("give either --index or --label, not both",
                                 param_hint="'--index' / '--label'")
    spec = get_dataset(dataset)
    if label is not None and label >= spec.num_classes:
        raise typer.BadParameter(f"{label} is not a class of {spec.name} (0-"
                                 f"{spec.num_classes - 1})", param_hint="'--label'")
    if image is not None:
        if index or label is not None:
            raise typer.BadParameter("show either an IMAGE file or dataset digits "
                                     "(--index/--label), not both", param_hint="IMAGE")
        _show_image_file(image, save, scale, json_output, quiet, spec.preprocessing)
        return
    if validation is None:
        from mnistcli.inspection import default_validation

        validation = default_validation(data_dir, spec.name)
    if index or label is not None:
        _show_digits(index, label, count, split, save, scale, json_output, quiet, data_dir,
                     validation, spec.name)
    else:
        if save is not None:
            raise typer.BadParameter("--save needs --index or --label (which digits to save)",
                                     param_hint="'--save'")
        _show_summary(json_output, quiet, data_dir, validation, spec.name)


def _caption_label(spec, label: int) -> str:
    """A label as captions show it: the digit, or the class number and name."""
    return str(label) if spec.class_names == DIGITS else f"{label} {spec.class_names[label]}"


def _show_digits(index, label, count, split, save, scale, json_output, quiet, data_dir,
                 validation, dataset: str = DEFAULT_DATASET) -> None:
    import numpy as np

    from mnistcli.cli.terminal import draw_digits
    from mnistcli.datasets import load_split
    from mnistcli.fsutil import save_png
    from mnistcli.inspection import describe_images, indices_of_label, parse_indices
    from mnistcli.pictures import digit_grid, enlarge

    spec = get_dataset(dataset)
    what = "digit" if spec.class_names == DIGITS else "class"
    if index:
        try:
            indices = parse_indices(index)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--index'") from None
        if not indices:
            raise typer.BadParameter("no index given", param_hint="'--index'")
    chosen = load_split(split, data_dir, dataset=spec.name, validation=validation)
    if label is not None:
        indices = indices_of_label(chosen.labels, label, count, spec.num_classes)
        if not indices:
            raise DataError(f"the {split} split holds no image of {what} {label}")
    records = describe_images(chosen, indices)  # checks the indices are in range
    images = chosen.images[np.asarray(indices)]

    saved = None
    if save is not None:
        if len(records) == 1:
            picture = enlarge(images[0], scale)
        else:
            picture = digit_grid(images, [f"#{r['index']}: {_caption_label(spec, r['label'])}"
                                          for r in records],
                                 scale=scale, columns=min(len(records), 10))
        saved = save_png(picture, save)

    if json_output:
        emit_json({"split": split, "validation": validation, "images": records,
                   **({"saved": str(saved)} if saved else {})})
    else:
        if not quiet:
            if len(records) == 1:
                captions = [f"{split} #{records[0]['index']}  label "
                            f"{_caption_label(spec, records[0]['label'])}"]
            else:
                captions = [f"#{r['index']}: {_caption_label(spec, r['label'])}"
                            for r in records]
            if label is not None:
                err_console.print(f"{what} {_caption_label(spec, label)} in {split}: "
                                  f"{len(records)} example(s)",
                                  markup=False, highlight=False)
            draw_digits(err_console, list(images), captions)
        if saved:
            emit(str(saved))


def _show_image_file(source: str, save: Path | None, scale: int, json_output: bool,
                     quiet: bool, preprocessing: str = "mnist") -> None:
    import numpy as np

    from mnistcli.cli.terminal import draw_digits
    from mnistcli.fsutil import save_png
    from mnistcli.inspection import pixel_stats
    from mnistcli.pictures import comparison_picture, fit_in_square

    # the preprocessing modules are only needed here
    from mnistcli.preprocess import load_image, to_grey
    from mnistcli.preprocess_fashion import preparation

    picture = load_image(source, name=source)
    processed = preparation(preprocessing)(picture, source)
    original = np.rint(to_grey(picture) * 255).astype(np.uint8)

    saved = None
    if save is not None:
        saved = save_png(comparison_picture(original, processed, scale), save)
    if json_output:
        emit_json({"image": source, "size": list(picture.size), "mode": picture.mode,
                   "stats": pixel_stats(processed), "pixels": processed,
                   **({"saved": str(saved)} if saved else {})})
        return
    if not quiet:
        width, height = picture.size
        caption = f"{Path(source).name} ({width}x{height})"
        if len(caption) > CAPTION_WIDTH:  # keep the two pictures side by side
            caption = caption[:CAPTION_WIDTH - 3] + "..."
        draw_digits(err_console, [fit_in_square(original, 28), processed],
                    [caption, "model input (28x28)"])
    if saved:
        emit(str(saved))


def _show_summary(json_output, quiet, data_dir, validation,
                  dataset: str = DEFAULT_DATASET) -> None:
    from rich.table import Table

    from mnistcli.cli.terminal import bar, color_enabled
    from mnistcli.inspection import dataset_summary

    spec = get_dataset(dataset)
    summary = dataset_summary(data_dir, dataset=spec.name, validation=validation)
    if json_output:
        emit_json(summary)
        return
    if quiet:
        return
    plain = not color_enabled(err_console)
    err_console.print(f"{summary['dataset']} in {summary['directory']}", markup=False,
                      highlight=False)

    files = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    files.add_column("file")
    files.add_column("status")
    for entry in summary["files"]:
        files.add_row(entry["file"], STATUS_TEXT.get(entry["status"], entry["status"]))
    err_console.print(files)
    err_console.print()

    splits = summary["splits"]
    sizes = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    sizes.add_column("split")
    for heading in ("images", "pixel mean", "pixel std"):
        sizes.add_column(heading, justify="right")
    for name, split in splits.items():
        sizes.add_row(name, f"{split['count']:,}", f"{split['pixel_mean']:.2f}",
                      f"{split['pixel_std']:.2f}")
    err_console.print(sizes)
    err_console.print(f"(validation: the last {validation:,} training images; pixels 0-255)",
                      markup=False, highlight=False)
    err_console.print()

    per_digit = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
    per_digit.add_column("digit" if spec.class_names == DIGITS else "class",
                         justify="right")
    for name in splits:
        per_digit.add_column(name, justify="right")
    per_digit.add_column("all splits")
    totals = [sum(split["per_digit"][d] for split in splits.values())
              for d in range(spec.num_classes)]
    for digit in range(spec.num_classes):
        per_digit.add_row(_caption_label(spec, digit),
                          *(f"{split['per_digit'][digit]:,}" for split in splits.values()),
                          bar(totals[digit], max(totals), width=24, ascii_only=plain))
    err_console.print(per_digit)
