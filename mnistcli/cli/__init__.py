"""The ``mnist`` command: one module per subcommand, merged into one typer app.

Domain errors (``MnistError``) become a one-line ``Error: ...`` and exit 1 here, and only
here. ``MNIST_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys

import typer
from typer.core import TyperGroup

from mnistcli import __version__
from mnistcli.errors import MnistError

# Each command lives in mnistcli.cli.<name with - as _>, as a function ``command``.
# Modules import only light libraries at top level, so `mnist --help` and completion
# stay fast. This order is the order of `mnist --help`.
COMMANDS = (
    "download",
    "inspect",
    "train",
    "evaluate",
    "predict",
    "runs",
    "models",
    "plot-weights",
    "plot-history",
    "export",
    "serve",
)


def command_module(name: str) -> str:
    return f"mnistcli.cli.{name.replace('-', '_')}"


def debug_enabled() -> bool:
    return os.environ.get("MNIST_DEBUG", "") not in ("", "0")


def fail(message: str) -> typer.Exit:
    """Print one ``Error: ...`` line on stderr; the caller raises the returned Exit(1)."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(1)


class MnistGroup(TyperGroup):
    """Turns core errors into CLI errors in exactly one place."""

    def list_commands(self, ctx) -> list[str]:
        # keep the order above rather than alphabetical
        return [name for name in COMMANDS if name in self.commands]

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except MnistError as exc:
            if debug_enabled():
                raise
            raise fail(str(exc)) from None
        except OSError as exc:
            # e.g. a full disk or a permission problem outside what the core checks
            if debug_enabled() or getattr(exc, "errno", None) == errno.EPIPE:
                raise
            where = f": {exc.filename}" if exc.filename else ""
            raise fail(f"{exc.strerror or exc}{where}") from None
        except Exception as exc:
            # a usage error from the parser carries its own exit code and message
            if hasattr(exc, "exit_code") and hasattr(exc, "show"):
                raise
            if debug_enabled():
                raise
            # a bug: still no traceback for users
            raise fail(
                f"unexpected {type(exc).__name__}: {exc} (set MNIST_DEBUG=1 for a traceback)"
            ) from None


app = typer.Typer(
    name="mnist",
    cls=MnistGroup,
    help="The handwritten-digit (MNIST) workflow: download, inspect, train, evaluate, "
    "predict, plot and export.\n\n"
    "Example: mnist download | mnist train --model cnn | mnist evaluate --json",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"mnist {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True,
        help="Show the version and exit.",
    ),
) -> None:
    """The handwritten-digit (MNIST) workflow: download, inspect, train, evaluate, predict,
    plot and export.

    Example: mnist download | mnist train --model cnn | mnist evaluate --json
    """


for _name in COMMANDS:
    # an import error here is a bug to see, not a command to drop silently
    app.command(_name)(importlib.import_module(command_module(_name)).command)


def main(prog_name: str | None = None) -> None:
    try:
        app(prog_name=prog_name)
    except BrokenPipeError:
        # `mnist predict DIR | head`: the reader left; not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
