"""Keeping the standard streams clean around TensorFlow and LiteRT.

stdout is for data, so whatever TensorFlow or Keras prints goes to stderr
(:func:`stdout_to_stderr`). Their native libraries also write start-up chatter straight
to file descriptor 2 ("oneDNN custom operations are on", "Created TensorFlow Lite
XNNPACK delegate"), which no Python setting turns off: :func:`quiet_native_stderr` drops
it, unless ``MNIST_DEBUG=1`` asks to see everything.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator


def _debug() -> bool:
    return os.environ.get("MNIST_DEBUG", "") not in ("", "0")


def _redirect_fd(target_fd: int, source_fd: int) -> int | None:
    """Point ``target_fd`` at ``source_fd``; returns a copy of the old one (None when
    ``target_fd`` is not a real descriptor, e.g. under a test runner capturing output)."""
    try:
        saved = os.dup(target_fd)
    except OSError:
        return None
    os.dup2(source_fd, target_fd)
    return saved


def _restore_fd(target_fd: int, saved: int | None) -> None:
    if saved is not None:
        os.dup2(saved, target_fd)
        os.close(saved)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Keep stdout for data: anything TensorFlow or Keras prints (from Python or C++)
    goes to stderr while this is active."""
    sys.stdout.flush()
    saved = _redirect_fd(1, 2)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        _restore_fd(1, saved)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what native code writes to file descriptor 2 while this is active.

    Python exceptions still propagate (they are printed later, by whoever catches them),
    so only the libraries' log lines are lost. Keep the block short: a real native error
    message inside it would be lost too, which is why MNIST_DEBUG=1 turns this off.
    """
    if _debug():
        yield
        return
    sys.stderr.flush()
    with open(os.devnull, "wb") as devnull:
        saved = _redirect_fd(2, devnull.fileno())
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                yield
        finally:
            _restore_fd(2, saved)


@contextlib.contextmanager
def quiet_library_output() -> Iterator[None]:
    """Drop what a library prints on either stream, from Python or native code (the
    TensorFlow Lite converter and tf2onnx narrate every step). Its exceptions still
    propagate; MNIST_DEBUG=1 shows the output (on stderr)."""
    with quiet_native_stderr(), stdout_to_stderr():
        yield


def import_keras():
    """``(keras, tensorflow)``, imported without TensorFlow's start-up log lines."""
    # Python-side TensorFlow logging (absl) too, unless the user set a level
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        with quiet_native_stderr():
            import tensorflow  # noqa: F401
    import keras
    import tensorflow as tf

    return keras, tf
