"""``mnist completion``: shell completion that reaches a pip or pipx install.

The script asks ``mnist`` itself for candidates at completion time, so it never goes out
of date; values complete too (zoo models, datasets, export formats, run names), through
the completers in :mod:`mnistcli.cli.completers`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mnistcli.cli.common import err_console
from mnistcli.errors import MnistError

SHELLS = ("bash", "zsh", "fish")


def install_path(shell: str) -> Path:
    """Where each shell looks for a user's completion script without further setup
    (zsh: a directory the user adds to $fpath once, as the message says)."""
    home = Path.home()
    if shell == "bash":
        data = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
        return data / "bash-completion" / "completions" / "mnist"
    if shell == "zsh":
        return home / ".zfunc" / "_mnist"
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return config / "fish" / "completions" / "mnist.fish"


def _complete_shell(incomplete: str) -> list[str]:
    return [shell for shell in SHELLS if shell.startswith(incomplete)]


def command(
    shell: Annotated[str, typer.Argument(
        metavar="SHELL", help="bash, zsh or fish.", autocompletion=_complete_shell,
        show_default=False)],
    install: Annotated[bool, typer.Option(
        "--install", help="Write the script where the shell finds it (bash: "
        "~/.local/share/bash-completion/completions/mnist, zsh: ~/.zfunc/_mnist, fish: "
        "~/.config/fish/completions/mnist.fish) and print its path.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="With --install, replace a file there that mnist did not "
        "write.")] = False,
) -> None:
    """Print the shell completion script for SHELL (or --install it).

    Commands, options and values complete: zoo models, datasets, export formats and run
    names. The script asks mnist for candidates each time, so it never goes stale.

    Example: mnist completion bash --install

    Example: eval "$(mnist completion bash)"      # this shell only
    """
    if shell not in SHELLS:
        raise typer.BadParameter(f"{shell!r}: choose one of {', '.join(SHELLS)}",
                                 param_hint="SHELL")
    from mnistcli.completions import COMPLETE_VAR, completion_script

    script = completion_script(shell)
    if not install:
        typer.echo(script, nl=False)
        return
    from mnistcli.fsutil import write_text_atomic

    target = install_path(shell)
    if target.exists() and COMPLETE_VAR not in target.read_text(errors="replace") \
            and not force:
        raise MnistError(f"{target} exists and was not written by mnist; "
                         "pass --force to replace it")
    write_text_atomic(target, script)
    typer.echo(str(target))
    hint = {
        "bash": "open a new shell (bash-completion loads it on first use)",
        "zsh": "add `fpath=(~/.zfunc $fpath); autoload -Uz compinit; compinit` to "
               "~/.zshrc once, then open a new shell",
        "fish": "open a new shell",
    }[shell]
    err_console.print(f"Installed {shell} completion: {hint}.", markup=False,
                      soft_wrap=True)
