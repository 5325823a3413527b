"""Small file-system helpers: every file or directory the toolkit writes appears complete or
not at all.

- :func:`atomic_path` / :func:`write_text_atomic` / :func:`save_png`: one file, written
  under a temporary name beside it and renamed into place;
- :func:`atomic_directory`: a directory filled in a hidden scratch directory beside it and
  renamed into place (a run, the shipped assets);
- :func:`atomic_output`: a file *or* directory made by a library at a path we give it (an
  export), built in a hidden scratch directory and renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mnistcli.errors import OutputError

_DEFAULT_FILE_MODE = 0o666
_DEFAULT_DIR_MODE = 0o777


def _current_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(final: Path | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` only on success.

    The temporary name sits in the same directory so the rename is atomic, and keeps
    ``suffix`` so libraries that choose a format by file extension still work.
    """
    final = Path(final)
    make_directory(final.parent)
    if final.is_dir():
        raise OutputError(f"{final} is a directory; give a file name")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix + ".part",
                                        dir=final.parent)
    except OSError as exc:
        raise _naming(exc, final) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the mode any new file gets
        if tmp.is_file():
            os.chmod(tmp, _DEFAULT_FILE_MODE & ~_current_umask())
        os.replace(tmp, final)
    except OSError as exc:
        # errors name the file people asked for, never the temporary one
        names = [os.fsdecode(name) for name in (exc.filename, exc.filename2)
                 if isinstance(name, (str, bytes, os.PathLike))]
        if any(tmp.name in name for name in names):
            raise _naming(exc, final, names[0].replace(str(tmp), str(final))) from None
        if not names and exc.errno is not None:  # e.g. ENOSPC from a write: say where
            raise _naming(exc, final) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def _naming(exc: OSError, final: Path, name: str | None = None) -> OSError:
    """The same error, about ``name`` (default ``final``)."""
    if exc.errno is None:
        return OSError(f"{final}: {exc}")
    return type(exc)(exc.errno, exc.strerror or str(exc), name or str(final))


def not_a_directory(path: Path | str) -> Path | None:
    """The first of ``path`` and its parents that exists but is not a directory."""
    path = Path(path)
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def expand_user(path: Path | str) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; an OutputError (not Python's
    RuntimeError) when that user or home directory does not exist."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        head = str(path).split("/")[0]
        raise OutputError(f"{path}: cannot expand {head!r} (no such user or home "
                          "directory)") from None


def make_directory(path: Path | str) -> Path:
    """``mkdir -p``, saying which part is in the way when a file is (rather than
    "File exists" about that file)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = not_a_directory(path)
        if blocker is None:
            raise
        where = "" if blocker == path else f" (cannot create {path})"
        raise OutputError(f"{blocker} is not a directory{where}") from None
    return path


def write_text_atomic(final: Path | str, text: str) -> None:
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_png(picture: Any, path: Path | str) -> Path:
    """Write a picture atomically: ``picture`` is a Pillow image or a matplotlib figure.

    PNG unless the name's extension asks for another format that can be written (``.jpg``
    gives JPEG, ``.webp`` WebP, a figure also ``.svg`` or ``.pdf``): the bytes always match
    the name. An extension naming no such format raises OutputError."""
    path = Path(path)
    suffix = path.suffix.lower()
    if hasattr(picture, "savefig"):
        known = picture.canvas.get_supported_filetypes()
        file_format = suffix[1:] if suffix else "png"
        if file_format not in known:
            raise OutputError(_unknown_format(path, sorted(f".{k}" for k in known)))
        with atomic_path(path, suffix=suffix or ".png") as tmp:
            picture.savefig(tmp, format=file_format)  # at the figure's own size and dpi
        return path
    from PIL import Image

    extensions = {ext: fmt for ext, fmt in Image.registered_extensions().items()
                  if fmt in Image.SAVE}
    file_format = extensions.get(suffix) if suffix else "PNG"
    if file_format is None:
        raise OutputError(_unknown_format(path, [".png", ".jpg", ".webp", ".bmp", ".tif",
                                                 ".gif"]))
    if file_format == "JPEG" and picture.mode not in ("L", "RGB", "CMYK"):
        picture = picture.convert("RGB")  # JPEG has no alpha
    with atomic_path(path, suffix=suffix or ".png") as tmp:
        try:
            picture.save(tmp, format=file_format)
        except (KeyError, ValueError) as exc:
            raise OutputError(f"{path}: cannot write this picture as {file_format} "
                              f"({exc})") from None
        except OSError as exc:
            if exc.errno is not None:
                raise
            raise OutputError(f"{path}: cannot write this picture as {file_format} "
                              f"({exc})") from None
    return path


def _unknown_format(path: Path, examples: list[str]) -> str:
    return (f"{path}: {path.suffix!r} is not an image format that can be written; name "
            f"the file with one of {', '.join(examples)}")


# --- directories -------------------------------------------------------------------------

def scratch_directory(final: Path | str, name: str | None = None) -> Path:
    """Create an empty hidden directory beside ``final`` (same file system, so it can be
    renamed into place), with the mode any new directory gets. ``name`` fixes its name
    (one left behind by a killed process is cleared first); default: a fresh one."""
    final = Path(final)
    make_directory(final.parent)
    if name is None:
        scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".part",
                                        dir=final.parent))
        # mkdtemp makes the directory private (0700)
        os.chmod(scratch, _DEFAULT_DIR_MODE & ~_current_umask())
        return scratch
    scratch = final.with_name(name)
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    return scratch


def publish(built: Path | str, final: Path | str, *, replace: bool) -> None:
    """Rename the finished file or directory ``built`` to ``final``.

    An existing ``final`` is replaced only with ``replace`` (else FileExistsError). A
    directory being replaced is moved aside first and deleted only once the new one is in
    place; if that rename fails the old one is put back."""
    built, final = Path(built), Path(final)
    if not os.path.lexists(final):
        os.rename(built, final)
        return
    if not replace:
        raise FileExistsError(f"{final}: already exists")
    if not final.is_dir() or final.is_symlink():
        os.replace(built, final)
        return
    retired = final.with_name(f".{final.name}.old-{os.getpid()}")
    if retired.exists():
        shutil.rmtree(retired)
    os.rename(final, retired)
    try:
        os.rename(built, final)
    except OSError:
        os.rename(retired, final)
        raise
    shutil.rmtree(retired, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(final: Path | str, *, replace: bool = False,
                     scratch_name: str | None = None) -> Iterator[Path]:
    """Yield an empty scratch directory (see :func:`scratch_directory`) to fill; when the
    block completes it becomes ``final`` (see :func:`publish`); if the block fails it is
    deleted and ``final`` is unchanged."""
    scratch = scratch_directory(final, scratch_name)
    try:
        yield scratch
        publish(scratch, final, replace=replace)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


# --- never replacing what the toolkit did not write ---------------------------------------

# Written into every directory an output of ours is (an export): `--force` may replace
# such a directory, and only such a directory.
OUTPUT_MARKER = ".written-by-mnist"


def is_our_output(path: Path | str) -> bool:
    """Whether ``path`` is a directory an earlier output of the toolkit made."""
    path = Path(path)
    return path.is_dir() and not path.is_symlink() and (path / OUTPUT_MARKER).is_file()


def check_output(path: Path | str, *, force: bool = False) -> None:
    """The one rule for every file or directory a command writes where the user said:
    never delete or overwrite what the toolkit did not write, nor anything without
    ``force``. Raises OutputError unless ``path``

    - does not exist, or is an empty directory;
    - is a file, and ``force`` (a user's own file is theirs to name with --force);
    - is a directory an earlier output of ours made (holding OUTPUT_MARKER), and ``force``.

    A directory holding anything else is never replaced, even with ``force``."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    if path.is_dir() and not path.is_symlink():
        try:
            empty = not any(path.iterdir())
        except OSError as exc:
            raise OutputError(f"{path}: cannot read ({exc.strerror or exc})") from None
        if empty:
            return
        if not is_our_output(path):
            raise OutputError(f"{path}: a directory holding files mnist did not write; "
                              "it is never replaced: choose another destination")
        if not force:
            raise OutputError(f"{path}: exists (an earlier output of mnist); pass --force "
                              "to replace it")
        return
    if not force:
        raise OutputError(f"{path}: already exists; pass --force to replace it")


def mark_output(directory: Path) -> None:
    """Mark ``directory`` as an output of ours (see :func:`check_output`)."""
    (Path(directory) / OUTPUT_MARKER).write_text(
        "Written by mnist (mnistcli): `--force` may replace this directory.\n",
        encoding="utf-8")


@contextlib.contextmanager
def atomic_output(final: Path | str, *, force: bool = False) -> Iterator[Path]:
    """Yield a path that does not exist yet, named as ``final`` but in a scratch directory,
    for a library to write a file or a directory at; when the block completes it becomes
    ``final`` (see :func:`publish`). Whatever happens, the scratch directory is removed.

    What is at ``final`` already is replaced only as :func:`check_output` allows (checked
    before and again just before the rename); a directory written here is marked as ours."""
    final = Path(final)
    check_output(final, force=force)
    scratch = scratch_directory(final)
    try:
        built = scratch / final.name
        yield built
        if built.is_dir() and not built.is_symlink():
            mark_output(built)
        check_output(final, force=force)
        if final.is_dir() and not any(final.iterdir()):
            final.rmdir()
        publish(built, final, replace=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
