"""The ``mnist`` command: one module per subcommand, merged into one typer app.

Domain errors (``MnistError``) become a one-line ``Error: ...`` and exit 1 here, and only
here. ``MNIST_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import sys
import warnings

import typer
from typer.core import TyperGroup

from mnistcli import __version__
from mnistcli.errors import MnistError, ParameterError, RunRecordWarning

# Each command lives in mnistcli.cli.<name with - as _>, as a function ``command``.
# Modules import only light libraries at top level, so `mnist --help` and completion
# stay fast. This order is the order of `mnist --help`.
COMMANDS = (
    "datasets",
    "download",
    "inspect",
    "train",
    "evaluate",
    "calibrate",
    "predict",
    "runs",
    "models",
    "plot-weights",
    "plot-history",
    "export",
    "serve",
    "completion",
)


def command_module(name: str) -> str:
    return f"mnistcli.cli.{name.replace('-', '_')}"


# Exit codes beyond 0/1/2: the shell's for a process stopped by SIGINT (Ctrl-C) and by
# SIGPIPE (the reader of stdout left, as in `mnist predict DIR | head -1`).
EXIT_INTERRUPTED = 130
EXIT_CLOSED_PIPE = 141


def debug_enabled() -> bool:
    return os.environ.get("MNIST_DEBUG", "") not in ("", "0")


def fail(message: str) -> typer.Exit:
    """Print one ``Error: ...`` line on stderr; the caller raises the returned Exit(1)."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(1)


def _flag_for(group, ctx, parameter: str) -> str | None:
    """The option of the running command that sets ``parameter`` (its long form)."""
    name = ctx.invoked_subcommand
    command = group.get_command(ctx, name) if name else None
    for param in getattr(command, "params", ()):
        if param.name == parameter and getattr(param, "opts", None):
            return max(param.opts, key=len)
    return None


class MnistGroup(TyperGroup):
    """Turns core errors into CLI errors in exactly one place."""

    def list_commands(self, ctx) -> list[str]:
        # keep the order above rather than alphabetical
        return [name for name in COMMANDS if name in self.commands]

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:  # parsing imports libraries: it can take a moment
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    def invoke(self, ctx):
        try:
            with _warnings_as_lines():
                return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except ParameterError as exc:
            if debug_enabled():
                raise
            flag = _flag_for(self, ctx, exc.parameter)
            raise fail(f"{flag} {exc.problem}" if flag else str(exc)) from None
        except MnistError as exc:
            if debug_enabled():
                raise
            raise fail(str(exc)) from None
        except OSError as exc:
            if getattr(exc, "errno", None) == errno.EPIPE:
                raise closed_pipe() from None
            # e.g. a full disk or a permission problem outside what the core checks
            if debug_enabled():
                raise
            raise fail(describe_os_error(exc)) from None
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


@contextlib.contextmanager
def _warnings_as_lines():
    """Warnings the core gives for the user (RunRecordWarning: a run skipped because its
    run.json is bad) become one "Warning: ..." line each on stderr, said once."""
    shown: set[str] = set()
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, RunRecordWarning):
            return original(message, category, filename, lineno, file, line)
        if str(message) not in shown:
            shown.add(str(message))
            typer.echo(f"Warning: {message}", err=True)
        return None

    with warnings.catch_warnings():
        warnings.showwarning = show
        warnings.simplefilter("always", RunRecordWarning)
        yield


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError: what went wrong and where, naming the file in the way
    when a directory cannot be made because a file is there."""
    from mnistcli.fsutil import not_a_directory

    if exc.errno in (errno.EEXIST, errno.ENOTDIR) and isinstance(exc.filename, (str, bytes)):
        try:
            blocker = not_a_directory(os.fsdecode(exc.filename))
        except (OSError, ValueError):
            blocker = None
        if blocker is not None:
            return f"{blocker} is not a directory"
    where = f": {os.fsdecode(exc.filename)}" if isinstance(exc.filename, (str, bytes)) else ""
    return f"{exc.strerror or exc}{where}"


def closed_pipe() -> typer.Exit:
    """The reader of our output left (`mnist predict DIR | head -1`): stop quietly with
    the status of a process ended by SIGPIPE, as `yes | head` does. Both streams go to
    /dev/null so that nothing still buffered raises the same error at exit (only when
    they are the process's own descriptors, not a test runner's stand-ins)."""
    try:
        real = sys.stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):
        real = False
    if real:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            with contextlib.suppress(OSError):
                os.dup2(devnull, fd)
        os.close(devnull)
    return typer.Exit(EXIT_CLOSED_PIPE)


class _ClosedStdout:
    """Stands in for a stdout that was closed before we started (`mnist runs >&-`):
    writing data to it is an error that says so; asking whether it is a terminal is not."""

    encoding = "utf-8"
    errors = "strict"

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if not text:
            return 0
        raise MnistError("standard output is closed, so the result cannot be written "
                         "(redirect it to a file or /dev/null instead of closing it)")

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "standard output is closed")


def _check_standard_streams() -> None:
    """Python sets a stream closed at start-up (`>&-`, `<&-`, `2>&-`) to None."""
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    if sys.stdin is None:
        sys.stdin = open(os.devnull, encoding="utf-8")  # reads as empty
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")


try:
    for _name in COMMANDS:
        # an import error here is a bug to see, not a command to drop silently
        app.command(_name)(importlib.import_module(command_module(_name)).command)
except KeyboardInterrupt:  # Ctrl-C while the commands load
    if sys.stderr is not None:
        print("Interrupted.", file=sys.stderr)
    sys.exit(EXIT_INTERRUPTED)


def _sigterm_interrupts() -> None:
    """SIGTERM (timeout, docker stop, batch schedulers, CI) is handled as Ctrl-C is: the
    command stops cleanly, nothing half-written is left, and `train` keeps its epochs."""
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # not the main thread
        pass


def main(prog_name: str | None = None) -> None:
    _check_standard_streams()
    _sigterm_interrupts()
    try:
        try:
            app(prog_name=prog_name)
        finally:
            if sys.stdout is not None:
                sys.stdout.flush()  # here, where a closed pipe can still be handled
    except BrokenPipeError:
        raise SystemExit(closed_pipe().exit_code) from None
    except KeyboardInterrupt:  # Ctrl-C outside a command (typer building the app)
        print("Interrupted.", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
