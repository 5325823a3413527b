"""``mnist download``: fetch a dataset's four files, verified, and print where they are."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnistcli.cli.common import DatasetOption, QuietOption, err_console
from mnistcli.cli.output import JsonOption, emit, emit_json
from mnistcli.datasets import DEFAULT_DATASET
from mnistcli.download import SKIPPED, DownloadProgress, download_dataset


class RichDownloadProgress(DownloadProgress):
    """One progress bar per file on stderr: bytes, speed and time remaining."""

    def __init__(self) -> None:
        # rich is already loaded by the CLI; progress widgets only when needed
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=10),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=err_console,
        )
        self.tasks: dict[str, int] = {}
        self.started = False

    def __enter__(self) -> RichDownloadProgress:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.started:
            self.progress.stop()

    def on_start(self, filename: str, total_bytes: int | None, source: str) -> None:
        if not self.started:  # started late so a failure before any file draws no empty bar
            self.progress.start()
            self.started = True
        task = self.tasks.get(filename)
        if task is None:
            self.tasks[filename] = self.progress.add_task(filename, total=total_bytes,
                                                          status="")
        else:  # a retry or another mirror: same bar, new total
            self.progress.reset(task, total=total_bytes, status="")

    def on_progress(self, filename: str, bytes_done: int) -> None:
        self.progress.update(self.tasks[filename], completed=bytes_done)

    def on_done(self, filename: str, status: str) -> None:
        # fits 80 columns beside the file name, bytes, speed and time left
        label = "skipped" if status == SKIPPED else "verified"
        self.progress.update(self.tasks[filename], status=label)

    def on_note(self, message: str) -> None:
        err_console.print(message, markup=False)


MirrorOption = Annotated[
    list[str] | None,
    typer.Option(
        "--mirror",
        metavar="URL",
        help="Mirror to fetch from (http(s)://, file:// or a directory); repeat to try "
        "several in order. Overrides MNIST_MIRROR and the public mirrors.",
        show_default=False,
    ),
]
FromOption = Annotated[
    Path | None,
    typer.Option(
        "--from",
        metavar="DIR",
        help="Copy the files from a local directory instead of downloading.",
        show_default=False,
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option("--force", help="Fetch again even files already present and verified."),
]


def command(
    dataset: DatasetOption = DEFAULT_DATASET,
    mirror: MirrorOption = None,
    from_dir: FromOption = None,
    force: ForceOption = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Download a dataset's files, verify their SHA-256 and print the directory.

    Most datasets are four IDX files; the EMNIST ones share one zip (`emnist`). See
    `mnist datasets` for the list.

    Files already present and verified are skipped; an interrupted download resumes. A
    progress bar goes to stderr; stdout gets the dataset directory (one line), or a JSON
    record with --json.

    Mirrors: --mirror URL (repeatable), else the MNIST_MIRROR environment variable (one
    or more http(s)://, file:// URLs or directories, separated by spaces or commas), else
    the public MNIST mirrors. Offline, point MNIST_MIRROR or --from at a directory holding
    the four .gz files.

    Example: mnist download | mnist train --model cnn

    Example: MNIST_MIRROR=/data/mnist mnist download --json
    """
    if mirror and from_dir is not None:
        raise typer.BadParameter("use either --mirror or --from, not both",
                                 param_hint="--from")
    if quiet:
        result = download_dataset(dataset, mirrors=mirror, from_dir=from_dir, force=force)
    else:
        with RichDownloadProgress() as progress:
            result = download_dataset(dataset, mirrors=mirror, from_dir=from_dir, force=force,
                                      progress=progress)
    if json_output:
        emit_json(result.to_dict())
    else:
        emit(str(result.directory))
