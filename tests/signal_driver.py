"""Run the ``mnist`` CLI with hooks at the phases of `mnist train`, for the signal and
lock tests (tests only: nothing in the package knows about it).

    python tests/signal_driver.py train ...           # as `mnist train ...`

Environment:

- ``MNIST_TEST_SIGNAL=PHASE:SIGNAME``: at PHASE the process sends itself SIGNAME (SIGINT,
  SIGTERM, SIGKILL), once;
- ``MNIST_TEST_PAUSE=PHASE:FILE``: at PHASE it writes its pid to FILE and waits until the
  test deletes FILE.

PHASE: ``begin`` (the model is built, before the first epoch), ``mid-epoch`` (the second
batch of the second epoch, so one epoch is complete and checkpointed), ``epoch-1`` (just
after the first epoch ends), or an after-training phase the observer reports:
``testing``, ``saving``, ``converting``, ``writing`` (the last before publishing).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def _spec(name: str) -> tuple[str, str]:
    phase, _, value = os.environ.get(name, "").partition(":")
    return phase, value


def _arrive(phase: str, done: set[str]) -> None:
    pause_phase, pause_file = _spec("MNIST_TEST_PAUSE")
    if phase == pause_phase and "pause" not in done:
        done.add("pause")
        Path(pause_file).write_text(str(os.getpid()))
        while os.path.exists(pause_file):
            time.sleep(0.05)
    signal_phase, signal_name = _spec("MNIST_TEST_SIGNAL")
    if phase == signal_phase and "signal" not in done:
        done.add("signal")
        os.kill(os.getpid(), getattr(signal, signal_name))
        time.sleep(0.1)  # let Python run the handler here, in this phase


def _hook(observer):
    done: set[str] = set()
    epoch = {"index": 0}
    on_train_begin, on_epoch_begin = observer.on_train_begin, observer.on_epoch_begin
    on_batch_end, on_epoch_end = observer.on_batch_end, observer.on_epoch_end
    on_phase = observer.on_phase

    def train_begin(**kwargs):
        on_train_begin(**kwargs)
        _arrive("begin", done)

    def epoch_begin(index):
        epoch["index"] = index
        on_epoch_begin(index)

    def batch_end(step, loss, accuracy):
        on_batch_end(step, loss, accuracy)
        if epoch["index"] >= 1 and step == 1:
            _arrive("mid-epoch", done)

    def epoch_end(row):
        on_epoch_end(row)
        _arrive(f"epoch-{row['epoch']}", done)

    def phase(text):
        on_phase(text)
        _arrive(text, done)

    observer.on_train_begin, observer.on_epoch_begin = train_begin, epoch_begin
    observer.on_batch_end, observer.on_epoch_end = batch_end, epoch_end
    observer.on_phase = phase
    return observer


def main() -> None:
    import mnistcli.cli.train as train_command
    from mnistcli.cli import main as mnist

    make_observer = train_command._make_observer
    train_command._make_observer = lambda quiet: _hook(make_observer(quiet))
    sys.argv[0] = "mnist"
    mnist(prog_name="mnist")


if __name__ == "__main__":
    main()
