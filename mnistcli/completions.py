"""Generate the shell completion scripts for ``mnist`` (bash, zsh, fish).

    python -m mnistcli.completions completions      # or: make completions

The scripts come from typer's own completion machinery. Each one asks ``mnist`` itself for
the candidates at completion time (``_MNIST_COMPLETE=complete_<shell> mnist``), so new
commands and options complete without regenerating; a test still checks that the
committed files equal freshly generated ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROG_NAME = "mnist"
COMPLETE_VAR = "_MNIST_COMPLETE"
# shell -> file name, as each shell's completion directories expect it
SCRIPT_NAMES = {
    "bash": "mnist.bash",
    "zsh": "_mnist",
    "fish": "mnist.fish",
}


# typer renders each candidate's help text with rich at the terminal width, which is 80
# columns when the shell captures the output; a long option help then spans two lines,
# and fish takes the second line for a candidate of its own. A wide TERMINAL_WIDTH (read
# by typer) for the completion call keeps every help text on one line.
WIDE = "TERMINAL_WIDTH=10000"


def completion_script(shell: str) -> str:
    """The completion script source for ``shell``, ending in a newline."""
    from typer.completion import get_completion_script

    script = get_completion_script(prog_name=PROG_NAME, complete_var=COMPLETE_VAR,
                                   shell=shell)
    if shell in ("zsh", "fish"):  # the shells that show help texts
        script = script.replace(f"{COMPLETE_VAR}=", f"{WIDE} {COMPLETE_VAR}=")
    return script + "\n"


def completion_scripts() -> dict[str, str]:
    """File name -> script source, for every supported shell."""
    return {name: completion_script(shell) for shell, name in SCRIPT_NAMES.items()}


def write_completions(directory: Path | str) -> list[Path]:
    from mnistcli.fsutil import write_text_atomic

    directory = Path(directory)
    written = []
    for name, script in completion_scripts().items():
        write_text_atomic(directory / name, script)
        written.append(directory / name)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m mnistcli.completions DIR", file=sys.stderr)
        return 2
    for path in write_completions(args[0]):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
