"""From images to answers: the one prediction pipeline.

``mnist predict``, ``mnist evaluate --images``, the HTTP server and the Python API all go
through here, so preprocessing, batching and the shape of a prediction record exist once::

    predictor = load_predictor(run.model_file())
    for prediction in predict_sources(["a.png", "scans/", NamedImage("upload", data)],
                                      predictor):
        if prediction.ok:
            prediction.record(top=3)    # what `mnist predict --json` prints
        else:
            prediction.error            # an MnistError naming the source

Sources are paths (a directory stands for its image files, sorted by name), ``"-"`` for
one image on stdin, or :class:`NamedImage` (bytes, a PIL image or a 2-D array held in
memory). Results come back in order, one per image, an unusable image as that image's
error while the others go on.

Pure numpy and Pillow (and the predictor's own runtime): no typer, rich or tensorflow.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from PIL import Image

from mnistcli.errors import ImageError, MnistError, ModelError
from mnistcli.preprocess import IMAGE_SUFFIXES, STDIN, load_image

if TYPE_CHECKING:
    from mnistcli.inference import Predictor

# Images are predicted in batches of this many: one model call amortises its overhead,
# while the results of a large directory still stream out as they are ready.
BATCH_SIZE = 512
# Probabilities in records are rounded: six decimals are more than any model's precision.
RECORD_DECIMALS = 6
# Many files are prepared by worker processes, one per core (preprocessing is numpy
# work on small arrays and Pillow decoding, which mostly hold the GIL: threads would not
# help). Below PARALLEL_MIN_FILES starting the workers costs more than it saves.
PARALLEL_MIN_FILES = 512
PARALLEL_CHUNK = 64  # files per task: amortises the round trip, keeps results streaming
MAX_WORKERS = 8
WORKERS_ENV = "MNIST_WORKERS"


@dataclass(frozen=True)
class NamedImage:
    """An image held in memory: encoded bytes, a PIL image, or a 2-D array (uint8 0-255
    or float 0-1, either polarity); ``name`` is what records and errors call it."""

    name: str
    data: bytes | Image.Image | np.ndarray


ImageSource = str | Path | NamedImage


@dataclass(frozen=True)
class PreparedImage:
    """One input's outcome before the model: ``pixels`` (uint8 28x28) or ``error``."""

    source: str  # the path as given (or found in a directory), "-" for stdin, or a name
    pixels: np.ndarray | None = None
    error: MnistError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Prediction:
    """One input's answer: the model's probabilities for the 28x28 ``pixels`` it saw, or
    the ``error`` that kept it from the model."""

    source: str
    pixels: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    error: MnistError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def label(self) -> int:
        """The most likely class index."""
        return int(np.argmax(self.probabilities))

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.label])

    def ranking(self, k: int | None = None) -> list[tuple[int, float]]:
        """(class index, probability), most likely first; ties keep the lower index."""
        order = np.argsort(-self.probabilities, kind="stable")
        if k is not None:
            order = order[:k]
        return [(int(index), float(self.probabilities[index])) for index in order]

    def rejected(self, min_confidence: float | None) -> bool:
        """True when the answer's confidence (as records show it, rounded: 0.7 in float32
        is not below 0.7) is below ``min_confidence`` (None: never)."""
        return (min_confidence is not None
                and round(self.confidence, RECORD_DECIMALS) < min_confidence)

    def record(self, top: int = 1, class_names: Sequence[str] | None = None,
               min_confidence: float | None = None) -> dict:
        """The JSON-ready record every front end prints: ``path``, ``digit`` (the class
        index), ``confidence``, the ``top`` K classes and all ``probabilities``. With
        ``class_names`` (a dataset that is not digits), each answer also has its
        ``class`` name. A failed input gives ``path`` and ``error``.

        With ``min_confidence``, every record also says whether it was ``rejected``: a
        rejected one (confidence below the threshold) has ``digit`` None (and no
        ``class``): the model is not sure enough to answer; its ``top`` still shows
        what it would have said."""
        if not self.ok:
            return {"path": self.source, "error": str(self.error)}
        if self.rejected(min_confidence):
            record = self.record(top, class_names)
            record.pop("class", None)
            record["digit"] = None
            record["rejected"] = True
            return record

        def named(index: int, entry: dict) -> dict:
            if class_names is not None:
                entry["class"] = class_names[index]
            return entry

        ranked = self.ranking(max(1, top))
        answer, confidence = ranked[0]
        record = named(answer, {
            "path": self.source,
            "digit": answer,
            "confidence": round(confidence, RECORD_DECIMALS),
            "top": [named(index, {"digit": index,
                                  "probability": round(probability, RECORD_DECIMALS)})
                    for index, probability in ranked],
            "probabilities": [round(float(p), RECORD_DECIMALS) for p in self.probabilities],
        })
        if min_confidence is not None:
            record["rejected"] = False
        return record


# ---------------------------------------------------------------- sources


def expand_sources(sources: Iterable[ImageSource]
                   ) -> Iterator[tuple[ImageSource, ImageError | None]]:
    """Each source as (source, None); a directory becomes its image files (sorted by
    name, hidden files skipped); a directory without images gives (name, ImageError)."""
    for source in sources:
        if isinstance(source, NamedImage):
            yield source, None
            continue
        text = str(source)
        if text != STDIN and os.path.isdir(text):
            found = sorted(
                entry.name for entry in os.scandir(text)
                if not entry.name.startswith(".") and entry.is_file()
                and os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES
            )
            if not found:
                yield text, ImageError(f"{text}: no image files in this directory")
            for name in found:
                yield os.path.join(text, name), None
        else:
            yield text, None


def _source_name(source: ImageSource) -> str:
    return source.name if isinstance(source, NamedImage) else str(source)


def prepare_source(source: ImageSource, stdin: BinaryIO | None = None,
                   preprocessing: str | None = None) -> PreparedImage:
    """Load and preprocess one image; an ImageError becomes the result's error.
    ``preprocessing`` names how the model's dataset was made (``DatasetSpec.preprocessing``:
    "mnist", the default, or "fashion")."""
    from mnistcli.preprocess_fashion import preparation

    prepare = preparation(preprocessing)
    name = _source_name(source)
    try:
        if isinstance(source, NamedImage):
            data = source.data
            image = data if isinstance(data, np.ndarray) else (
                load_image(bytes(data), name=name) if isinstance(data, (bytes, bytearray))
                else data)
        else:
            image = load_image(source, name=name, stdin=stdin)
        return PreparedImage(name, pixels=prepare(image, name))
    except ImageError as exc:
        return PreparedImage(name, error=exc)


def preparation_workers(files: int) -> int:
    """How many processes should prepare ``files`` image files: one per core for a large
    batch (MNIST_WORKERS overrides), else 1 (in this process)."""
    configured = os.environ.get(WORKERS_ENV, "").strip()
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            raise MnistError(f"{WORKERS_ENV}={configured!r}: expected a whole number of "
                             "processes") from None
    if files < PARALLEL_MIN_FILES:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group: the parent reports it, once
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _prepare_chunk(items: list[tuple[str, ImageError | None]],
                   preprocessing: str | None) -> list[PreparedImage]:
    return [PreparedImage(name, error=error) if error is not None
            else prepare_source(name, preprocessing=preprocessing) for name, error in items]


def _prepare_in_processes(items: list[tuple[str, ImageError | None]],
                          preprocessing: str | None, workers: int
                          ) -> Iterator[PreparedImage]:
    """Prepare file sources in ``workers`` processes, chunk by chunk, results in order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    methods = multiprocessing.get_all_start_methods()
    # forkserver: workers start from a clean process (this one may hold the model's
    # threads), with the preprocessing modules imported once
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods
                                          else "spawn")
    if "forkserver" in methods:
        context.set_forkserver_preload([__name__])
    chunks = [items[start:start + PARALLEL_CHUNK]
              for start in range(0, len(items), PARALLEL_CHUNK)]
    pool = ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=context,
                               initializer=_ignore_interrupts)
    try:
        for prepared in pool.map(_prepare_chunk, chunks, [preprocessing] * len(chunks)):
            yield from prepared
    except BrokenProcessPool:
        raise MnistError("a worker process preparing the images died (out of memory?); "
                         f"set {WORKERS_ENV}=1 to prepare them in one process") from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def prepare_sources(sources: Iterable[ImageSource], stdin: BinaryIO | None = None,
                    preprocessing: str | None = None, workers: int | None = 1
                    ) -> Iterator[PreparedImage]:
    """Every image of ``sources``, in order, one result each; a bad one does not stop
    the others.

    ``workers``: processes preparing image files (None: one per core when there are
    PARALLEL_MIN_FILES or more, see :func:`preparation_workers`). Worker processes start
    as Python's multiprocessing starts them, so a script using them needs the usual
    ``if __name__ == "__main__":`` guard; the default, 1, prepares here."""
    sources = list(sources)
    expanded: Iterable[tuple[ImageSource, ImageError | None]] = expand_sources(sources)
    if workers != 1 and all(isinstance(s, (str, Path)) and str(s) != STDIN
                            for s in sources):
        # counted first to choose the workers; listed once either way
        expanded = [(str(source), error) for source, error in expanded]
        if workers is None:
            workers = preparation_workers(len(expanded))
        if workers > 1:
            yield from _prepare_in_processes(expanded, preprocessing, workers)
            return
    stdin_used = False
    for source, error in expanded:
        name = _source_name(source)
        if error is not None:
            yield PreparedImage(name, error=error)
        elif name == STDIN and not isinstance(source, NamedImage) and stdin_used:
            yield PreparedImage(name, error=ImageError("-: stdin can be read only once"))
        else:
            stdin_used = stdin_used or name == STDIN
            yield prepare_source(source, stdin=stdin, preprocessing=preprocessing)


# ---------------------------------------------------------------- predictions


def _answers(batch: list[PreparedImage], probabilities: np.ndarray) -> Iterator[Prediction]:
    for item, row in zip(batch, probabilities, strict=True):
        if not np.isfinite(row).all():
            yield Prediction(item.source, pixels=item.pixels, error=ModelError(
                f"{item.source}: the model gave non-finite probabilities (NaN or infinity); "
                "is the model file damaged?"))
        else:
            yield Prediction(item.source, pixels=item.pixels, probabilities=row)


def predict_prepared(items: Iterable[PreparedImage], predictor: Predictor,
                     batch_size: int | None = None) -> Iterator[Prediction]:
    """Predictions for prepared images, in input order; failed items pass through as
    errors in their place.

    With more than one batch, the model runs a batch in a worker thread (LiteRT releases
    the GIL) while this thread decodes and preprocesses the next, so two cores share the
    work."""
    batch_size = BATCH_SIZE if batch_size is None else batch_size
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    # In input order: failed items, and batches of good ones with their pending answers.
    queue: deque[PreparedImage | tuple[list[PreparedImage], Future]] = deque()
    pending: list[PreparedImage] = []  # good images not yet handed to the model
    executor: ThreadPoolExecutor | None = None

    def hand_over() -> None:
        nonlocal executor
        if not pending:
            return
        if executor is None:
            executor = ThreadPoolExecutor(max_workers=1)
        batch = pending.copy()
        pending.clear()
        queue.append((batch, executor.submit(predictor.predict_proba,
                                             np.stack([item.pixels for item in batch]))))

    def drain(batches_in_flight: int) -> Iterator[Prediction]:
        """Yield what is ready at the front, leaving that many batches running."""
        while queue:
            head = queue[0]
            if isinstance(head, PreparedImage):
                queue.popleft()
                yield Prediction(head.source, error=head.error)
                continue
            if sum(1 for unit in queue if not isinstance(unit, PreparedImage)) \
                    <= batches_in_flight:
                return
            queue.popleft()
            yield from _answers(head[0], head[1].result())

    try:
        for item in items:
            if not item.ok:
                hand_over()  # what came before it is answered before it
                queue.append(item)
                yield from drain(batches_in_flight=1)
                continue
            pending.append(item)
            if len(pending) >= batch_size:
                hand_over()
                yield from drain(batches_in_flight=1)
        if pending and not queue:
            # everything fitted in one batch: answer it here, no thread needed
            yield from _answers(pending, predictor.predict_proba(
                np.stack([item.pixels for item in pending])))
            return
        hand_over()
        yield from drain(batches_in_flight=0)
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def predict_sources(sources: Iterable[ImageSource], predictor: Predictor,
                    batch_size: int | None = None, stdin: BinaryIO | None = None,
                    preprocessing: str | None = None, workers: int | None = 1
                    ) -> Iterator[Prediction]:
    """Predictions for image files, directories, ``"-"`` and in-memory images, in order,
    one per image; an image that cannot be used is that image's error. Images are
    prepared as ``preprocessing`` says (the run's dataset's; default MNIST's), by
    ``workers`` processes (see :func:`prepare_sources`)."""
    prepared = prepare_sources(sources, stdin=stdin, preprocessing=preprocessing,
                               workers=workers)
    return predict_prepared(prepared, predictor, batch_size)


# ---------------------------------------------------------------- labelled images


def _label_of(name: str) -> int | None:
    """A digit label from a leading "<digit>_" or "<digit>-" (or a bare digit) name."""
    stem = os.path.splitext(name)[0]
    if stem[:1].isdigit() and (len(stem) == 1 or stem[1] in "_-. "):
        return int(stem[0])
    return None


def labelled_image_files(directory: str | Path, class_names: Sequence[str] | None = None
                         ) -> list[tuple[str, int]]:
    """(path, label) for DIR/<digit>/<image> files, and for files directly in DIR named
    ``<digit>_<anything>.<ext>`` (the fixture naming), sorted by path. With
    ``class_names`` (a model of another dataset), DIR/<class name>/<image> files are
    labelled with that class's index (a folder named after no class is an error)."""
    root = Path(directory)
    if not root.is_dir():
        raise ImageError(f"{root}: no such directory")
    index_of = ({name: i for i, name in enumerate(class_names)}
                if class_names is not None else None)
    files: list[tuple[str, int]] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        label = None
        if entry.is_dir() and index_of is not None:
            label = index_of.get(entry.name)
            if label is None:
                raise ImageError(f"{entry}: {entry.name!r} is not a class of this model "
                                 f"(its classes: {', '.join(class_names)})")
        elif entry.is_dir() and entry.name.isdigit() and len(entry.name) == 1:
            label = int(entry.name)
        if label is not None:
            files.extend((str(path), label) for path in sorted(entry.iterdir())
                         if path.is_file() and not path.name.startswith(".")
                         and path.suffix.lower() in IMAGE_SUFFIXES)
        elif entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            label = _label_of(entry.name)
            if label is not None:
                files.append((str(entry), label))
    if not files:
        raise ImageError(
            f"{root}: no labelled images (expected {root}/<digit>/*.png, e.g. {root}/7/a.png,"
            f" or files named <digit>_<name>.png)"
        )
    return files


def first_failure(failures: Sequence[MnistError]) -> MnistError:
    """One error standing for several: the first, saying how many more there were."""
    first = failures[0]
    if len(failures) == 1:
        return first
    return type(first)(f"{first} (and {len(failures) - 1} more)")


def load_labelled_images(directory: str | Path, preprocessing: str | None = None,
                         class_names: Sequence[str] | None = None
                         ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Labelled images, preprocessed like every prediction: (images uint8 (N, 28, 28),
    labels uint8 (N,), paths). Any image that cannot be used raises one ImageError naming
    it (and how many others failed)."""
    files = labelled_image_files(directory, class_names)
    prepared = list(prepare_sources((path for path, _label in files),
                                    preprocessing=preprocessing))
    failures = [item.error for item in prepared if not item.ok]
    if failures:
        raise first_failure(failures)
    images = np.stack([item.pixels for item in prepared]).astype(np.uint8, copy=False)
    labels = np.array([label for _path, label in files], dtype=np.uint8)
    return images, labels, [path for path, _label in files]


@dataclass(frozen=True)
class LabelledPredictions:
    """What the model answered for labelled images: the images it saw, their labels and
    its probabilities, with ``paths``; ``failures``, the images that could not be used
    (each its own error, as `mnist predict` reports them)."""

    images: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray
    paths: list[str]
    failures: list[MnistError]


def predict_labelled_images(directory: str | Path, predictor: Predictor,
                            preprocessing: str | None = None,
                            class_names: Sequence[str] | None = None) -> LabelledPredictions:
    """Predict every labelled image under ``directory``. An image that cannot be used is
    left out and listed in ``failures``; when none can be used, the first error (saying
    how many more) is raised."""
    files = labelled_image_files(directory, class_names)
    predictions = list(predict_sources([path for path, _label in files], predictor,
                                       preprocessing=preprocessing))
    failures = [p.error for p in predictions if not p.ok]
    kept = [(p, label) for p, (_path, label) in zip(predictions, files, strict=True) if p.ok]
    if not kept:
        raise first_failure(failures)
    return LabelledPredictions(
        images=np.stack([p.pixels for p, _ in kept]).astype(np.uint8, copy=False),
        labels=np.array([label for _, label in kept], dtype=np.uint8),
        probabilities=np.stack([p.probabilities for p, _ in kept]).astype(np.float32),
        paths=[p.source for p, _ in kept],
        failures=failures)
