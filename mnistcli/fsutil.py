"""Small file-system helpers: every file the toolkit writes appears complete or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mnistcli.errors import OutputError

_DEFAULT_FILE_MODE = 0o666


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
        raise
    finally:
        tmp.unlink(missing_ok=True)


def _naming(exc: OSError, final: Path, name: str | None = None) -> OSError:
    """The same error, about ``name`` (default ``final``)."""
    if exc.errno is None:
        return OSError(f"{final}: {exc}")
    return type(exc)(exc.errno, exc.strerror or str(exc), name or str(final))


def _not_a_directory(path: Path) -> Path | None:
    """The first of ``path`` and its parents that exists but is not a directory."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def make_directory(path: Path | str) -> Path:
    """``mkdir -p``, saying which part is in the way when a file is (rather than
    "File exists" about that file)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = _not_a_directory(path)
        if blocker is None:
            raise
        where = "" if blocker == path else f" (cannot create {path})"
        raise OutputError(f"{blocker} is not a directory{where}") from None
    return path


def write_bytes_atomic(final: Path | str, data: bytes) -> None:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(final: Path | str, text: str) -> None:
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")
