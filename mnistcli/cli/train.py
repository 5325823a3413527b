"""``mnist train``: train a zoo model into a run directory and print its path."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from mnistcli.cli import completers
from mnistcli.cli.common import DatasetOption, QuietOption, err_console
from mnistcli.cli.output import JsonOption, emit, emit_json
from mnistcli.datasets import DEFAULT_DATASET, DEFAULT_VALIDATION
from mnistcli.models import DEFAULT_MODEL, MODELS

# What a shell reports for a process stopped by SIGINT (128 + 2): scripts see that the
# run is not complete, yet stdout still names the interrupted run for --resume.
EXIT_INTERRUPTED = 130


def _fmt(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.4f}"


def _make_observer(quiet: bool):
    from mnistcli.training import TrainingObserver

    class Silent(TrainingObserver):
        pass

    class Reporter(TrainingObserver):
        """An epoch bar and a batch bar with live loss/accuracy and ETA on a terminal;
        one line per epoch otherwise (logs, pipes, CI)."""

        def __init__(self) -> None:
            self.live = err_console.is_terminal
            self.progress = None
            self.epochs = 0
            self.phase = None  # after training: testing, saving, converting, writing

        def on_devices(self, description):
            err_console.print(description, markup=False, soft_wrap=True)

        def on_train_begin(self, *, run_name, epochs, initial_epoch, steps_per_epoch,
                           parameters):
            self.epochs = epochs
            start = f" from epoch {initial_epoch + 1}" if initial_epoch else ""
            err_console.print(f"Training {run_name}: {epochs} epochs of {steps_per_epoch} "
                              f"batches{start}, {parameters:,} parameters", markup=False)
            if not self.live:
                return
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description:>10}"), BarColumn(bar_width=24),
                MofNCompleteColumn(), TextColumn("{task.fields[metrics]}"),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                console=err_console,
            )
            self.epoch_task = self.progress.add_task("epochs", total=epochs,
                                                     completed=initial_epoch, metrics="")
            self.batch_task = self.progress.add_task("batches", total=steps_per_epoch,
                                                     metrics="")
            self.progress.start()

        def on_epoch_begin(self, epoch):
            if self.progress:
                self.progress.reset(self.batch_task, description=f"epoch {epoch + 1}",
                                    metrics="")

        def on_batch_end(self, step, loss, accuracy):
            if self.progress:
                self.progress.update(self.batch_task, completed=step + 1,
                                     metrics=f"loss {loss:.4f} acc {accuracy:.4f}")

        def on_epoch_end(self, row):
            line = (f"epoch {row['epoch']}/{self.epochs}  loss {_fmt(row['loss'])}  "
                    f"accuracy {_fmt(row['accuracy'])}  val_loss {_fmt(row['val_loss'])}  "
                    f"val_accuracy {_fmt(row['val_accuracy'])}  {row['seconds']:.1f}s")
            if self.progress:
                self.progress.update(self.epoch_task, advance=1,
                                     metrics=f"val acc {_fmt(row['val_accuracy'])}")
                self.progress.console.print(line, markup=False, soft_wrap=True)
            else:
                err_console.print(line, markup=False, soft_wrap=True)

        def on_interrupt(self):
            if self.phase is not None:
                err_console.print(f"[yellow]Interrupted while {self.phase}: the training "
                                  "is complete, so the run is finished and kept first "
                                  "(Ctrl-C again to abort; the last epoch's checkpoint "
                                  "stays resumable)[/]")
                return
            err_console.print("[yellow]Interrupted: stopping after this batch "
                              "(Ctrl-C again to abort; the last completed epoch stays "
                              "resumable)[/]")

        def on_phase(self, text):
            self.phase = text
            if not self.progress:
                err_console.print(f"{text}...", markup=False)

        def on_train_end(self):
            if self.progress:
                self.progress.stop()
                self.progress = None

    return Silent() if quiet else Reporter()


def _summary_table(result) -> None:
    from rich.table import Table

    record = result.record
    metrics = record["metrics"]
    table = Table(title=f"Run {record['name']}", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    status = record["status"]
    colour = "green" if status == "completed" else "yellow"
    epochs = f"{record['epochs_completed']} of {record['hyperparameters']['epochs']}"
    rows = [
        ("model", record["model"]),
        ("dataset", (record.get("data") or {}).get("dataset") or "mnist"),
        ("status", f"[{colour}]{status}[/]"),
        ("epochs", epochs),
        ("test accuracy", f"{metrics['test_accuracy']:.2%}"),
        ("test loss", f"{metrics['test_loss']:.4f}"),
        ("validation accuracy", "-" if metrics["val_accuracy"] is None
         else f"{metrics['val_accuracy']:.2%}"),
        ("training time", f"{record['training_seconds']:.1f} s"),
        ("parameters", f"{record['parameters']:,}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    err_console.print(table)
    if status != "completed":
        err_console.print(f"Continue it with: mnist train --resume {result.run.path}",
                          markup=False)


def _augment_choice(augment: bool | None, shift: float | None, rotate: float | None,
                    zoom: float | None) -> dict[str, float] | bool | None:
    """The --augment/--no-augment flag and the strengths, as make_config takes them: None
    (the recipe's), False (none), True (the recipe's, or a default), or strengths."""
    strengths = {key: value for key, value in (("shift", shift), ("rotate", rotate),
                                               ("zoom", zoom)) if value is not None}
    if augment is False:
        if strengths:
            raise typer.BadParameter("--no-augment and augmentation strengths contradict "
                                     "each other", param_hint="--no-augment")
        return False
    if strengths:
        return strengths
    return augment


def _recipe(recipe_file: Path | None, from_run: str | None, augment, **flags) -> dict:
    """make_config's arguments: a --config file or --from-run run, then the flags given."""
    from mnistcli import recipes

    if recipe_file is not None and from_run is not None:
        raise typer.BadParameter("--config and --from-run each give a whole recipe; "
                                 "choose one", param_hint="--config")
    base: dict = {}
    if recipe_file is not None:
        base = recipes.read_recipe_file(recipe_file)
    elif from_run is not None:
        from mnistcli.runs import resolve_run

        base = recipes.recipe_of_run(resolve_run(from_run))
    recipe = {**base, **{key: value for key, value in flags.items() if value is not None}}
    if isinstance(augment, dict):
        # strengths from the flags refine the file's (or the model recipe's) table
        from mnistcli.models import get_model_spec

        given = base.get("augment")
        if not isinstance(given, dict):
            given = get_model_spec(recipe.get("model") or DEFAULT_MODEL).recipe.augment
        recipe["augment"] = {**(given or {}), **augment}
    elif augment is True and not base.get("augment"):
        recipe["augment"] = True
    elif augment is not None:
        recipe["augment"] = augment
    return recipe


ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", metavar="NAME", autocompletion=completers.zoo_models,
                 help=f"Zoo model to train: {', '.join(MODELS) or DEFAULT_MODEL} "
                 f"[default: {DEFAULT_MODEL}]. See `mnist models`.",
                 show_default=False),
]


def command(
    model: ModelOption = None,
    dataset: DatasetOption = DEFAULT_DATASET,
    epochs: Annotated[int | None, typer.Option(
        "--epochs", "-e", min=1, help="Epochs [default: the model's recipe].")] = None,
    batch_size: Annotated[int | None, typer.Option(
        "--batch-size", "-b", min=1, help="Batch size [default: the model's recipe].")] = None,
    learning_rate: Annotated[float | None, typer.Option(
        "--learning-rate", "--lr",
        help="Peak learning rate [default: the model's recipe].")] = None,
    optimizer: Annotated[str | None, typer.Option(
        "--optimizer", metavar="NAME",
        help="adam, adamw, sgd or rmsprop [default: the model's recipe].")] = None,
    schedule: Annotated[str | None, typer.Option(
        "--schedule", metavar="NAME", autocompletion=completers.schedules,
        help="Learning-rate schedule: constant, cosine or onecycle [default: the model's "
        "recipe].", show_default=False)] = None,
    augment: Annotated[bool | None, typer.Option(
        "--augment/--no-augment",
        help="Randomly shift, rotate and zoom training images [default: the model's "
        "recipe].", show_default=False)] = None,
    shift: Annotated[float | None, typer.Option(
        "--shift", metavar="PX", help="Augmentation: largest shift in pixels (implies "
        "--augment).", show_default=False)] = None,
    rotate: Annotated[float | None, typer.Option(
        "--rotate", metavar="DEG", help="Augmentation: largest rotation in degrees "
        "(implies --augment).", show_default=False)] = None,
    zoom: Annotated[float | None, typer.Option(
        "--zoom", metavar="F", help="Augmentation: largest relative change of scale, e.g. "
        "0.1 (implies --augment).", show_default=False)] = None,
    label_smoothing: Annotated[float | None, typer.Option(
        "--label-smoothing", metavar="F",
        help="Label smoothing in [0, 1) [default: the model's recipe].",
        show_default=False)] = None,
    early_stopping: Annotated[int | None, typer.Option(
        "--early-stopping", metavar="PATIENCE", min=1,
        help="Stop after PATIENCE epochs without a lower validation loss and keep the best "
        "epoch's weights.", show_default=False)] = None,
    recipe_file: Annotated[Path | None, typer.Option(
        "--config", metavar="FILE",
        help="A TOML recipe: model, epochs, batch_size, learning_rate, optimizer, "
        "schedule, augment (a table of shift/rotate/zoom, or false), label_smoothing, "
        "early_stopping, seed, validation, dataset. Flags given too win.",
        show_default=False)] = None,
    from_run: Annotated[str | None, typer.Option(
        "--from-run", metavar="RUN", autocompletion=completers.runs,
        help="Train again with exactly that run's recipe (model, seed, data set and "
        "hyperparameters) into a new run. Flags given too win.", show_default=False)] = None,
    tensorboard: Annotated[bool, typer.Option(
        "--tensorboard", help="Write TensorBoard event logs into the run "
        "(RUN/tensorboard; view all runs with `tensorboard --logdir` on the runs "
        "directory).")] = False,
    seed: Annotated[int | None, typer.Option(
        "--seed", help="Random seed: the same seed on the same data gives the same "
        "weights [default: 0].", show_default=False)] = None,
    validation: Annotated[int | None, typer.Option(
        "--validation", metavar="N", min=0,
        help=f"Hold out the last N training images as the validation split [default: "
        f"{DEFAULT_VALIDATION}].", show_default=False)] = None,
    data: Annotated[Path | None, typer.Option(
        "--data", metavar="DIR",
        help="Train on your own data: a directory holding four MNIST-format IDX files "
        "(labels of --dataset's classes), or a folder of images DIR/<class name>/*.png|jpg "
        "(classes from the folder names; 10% of each class held out for validation and "
        "10% for test, chosen with --seed) [default: the --dataset's files in "
        "MNIST_HOME/datasets].", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="DIR",
        help="Run directory to create [default: MNIST_HOME/runs/<UTC time>-<model>].",
        show_default=False)] = None,
    resume: Annotated[str | None, typer.Option(
        "--resume", metavar="RUN", autocompletion=completers.runs,
        help="Continue an interrupted run to its planned epochs: its directory or name, "
        "or one killed while training (`mnist runs` lists it as resumable), from its "
        "last completed epoch.")] = None,
    list_models: Annotated[bool, typer.Option(
        "--list", help="List the zoo models (as `mnist models`) and exit.")] = False,
    max_steps: Annotated[int | None, typer.Option(
        "--max-steps", min=1, hidden=True,
        help="Train at most N batches per epoch (quick checks).")] = None,
    distribute: Annotated[str | None, typer.Option(
        "--distribute", metavar="STRATEGY",
        help="Train on several devices: mirrored (all visible GPUs, or --cpu-replicas) or "
        "multi-worker (the cluster in TF_CONFIG; the chief writes the run). --batch-size "
        "is then per replica and the learning rate is scaled by the replicas, with "
        "warm-up; see docs/scaling.md.", show_default=False)] = None,
    cpu_replicas: Annotated[int | None, typer.Option(
        "--cpu-replicas", metavar="N", min=1,
        help="With --distribute mirrored: split the CPU into N logical devices (the "
        "multi-device path without GPUs).", show_default=False)] = None,
    device: Annotated[str | None, typer.Option(
        "--device", metavar="cpu|gpu",
        help="cpu: ignore GPUs; gpu: fail unless TensorFlow sees one [default: GPUs when "
        "there are any].", show_default=False)] = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Train a model from the zoo and print the run directory on stdout.

    Progress and a summary go to stderr; the run directory (model.keras, model.tflite,
    history.csv, run.json) appears only when complete. Ctrl-C (or SIGTERM) stops after the
    current batch and keeps the last completed epoch as an "interrupted" run (exit code
    130); during testing or writing it lets the finished run be kept first. Each completed
    epoch is checkpointed, so a killed training loses at most the epoch in flight; --resume
    RUN continues either. Two trainings never write into one run directory.

    Example: mnist train --model logreg --epochs 5 | mnist evaluate
    """
    if list_models:
        from mnistcli.cli.models import show_models
        from mnistcli.cli.output import choose_format

        show_models(choose_format(as_json))
        return

    from mnistcli import recipes, training

    observer = _make_observer(quiet)
    recipe = _recipe(recipe_file, from_run, model=model, epochs=epochs,
                     batch_size=batch_size, learning_rate=learning_rate, optimizer=optimizer,
                     schedule=schedule, label_smoothing=label_smoothing,
                     early_stopping=early_stopping, seed=seed, validation=validation,
                     augment=_augment_choice(augment, shift, rotate, zoom))
    if resume is not None:
        changed = [name for name, value in (("--model", model), ("--batch-size", batch_size),
                                            ("--learning-rate", learning_rate),
                                            ("--optimizer", optimizer), ("--out", out),
                                            ("--max-steps", max_steps),
                                            ("--schedule", schedule), ("--augment", augment),
                                            ("--shift", shift), ("--rotate", rotate),
                                            ("--zoom", zoom),
                                            ("--label-smoothing", label_smoothing),
                                            ("--early-stopping", early_stopping),
                                            ("--config", recipe_file),
                                            ("--from-run", from_run))
                   if value is not None]
        if changed:
            raise typer.BadParameter(
                f"{', '.join(changed)} cannot change when resuming a run", param_hint="--resume")
        if distribute is not None or cpu_replicas is not None:
            raise typer.BadParameter("a run resumes on one device", param_hint="--resume")
        result = _stoppable(lambda: training.resume(resume, observer=observer, epochs=epochs,
                                                    data_dir=data))
    else:
        from mnistcli.distribute import Distribution

        distribution = Distribution(strategy=distribute, cpu_replicas=cpu_replicas,
                                    device=device)
        distribution.check()
        if dataset != DEFAULT_DATASET or "dataset" not in recipe:
            recipe["dataset"] = dataset
        config = recipes.make_config(
            recipe.pop("model", None) or DEFAULT_MODEL, data_dir=data, max_steps=max_steps,
            tensorboard=tensorboard, **recipe)
        result = _stoppable(lambda: training.train(config, out=out, observer=observer,
                                                   distribution=distribution))

    if not result.published:
        # a multi-worker run's other worker: the chief prints and publishes the run
        if not quiet:
            err_console.print("Done: the chief worker writes the run.", markup=False)
        return
    if not quiet:
        _summary_table(result)
    if as_json:
        emit_json(result.summary())
    else:
        emit(str(result.run.path))
    if result.stopped_by_signal and not result.interrupted:
        err_console.print(f"Interrupted after training: the finished run was kept in "
                          f"{result.run.path}", markup=False, soft_wrap=True)
    if result.interrupted or result.stopped_by_signal:
        raise typer.Exit(EXIT_INTERRUPTED)


def _stoppable(start):
    """Run ``start()``; an abort (a second Ctrl-C or SIGTERM) says what was kept."""
    from mnistcli.training import TrainingAborted

    try:
        return start()
    except TrainingAborted as exc:
        err_console.print(f"Interrupted: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
