"""Several models answering as one: the average of their probabilities.

    predictor = load_runs_predictor([run1, run2, run3])   # an EnsemblePredictor
    probabilities = predictor.predict_proba(images)        # the members' mean

An :class:`EnsemblePredictor` is a Predictor like any other (mnistcli.inference), so
`mnist predict --model R1 --model R2` and `mnist evaluate R1 R2 R3` build one and the rest
of their pipeline does not know. Each member answers with its own calibration (its run's
temperature, see mnistcli.calibration) before the average.

:func:`build_average_model` is the same ensemble as one Keras model (the members as
sub-models, then an Average layer), which `mnist export R1 R2 R3` converts into one
.tflite that averages inside. Pure numpy here; keras only inside that function.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mnistcli.errors import ModelError

# How an ensemble's path reads: the members' paths joined by this.
PATH_SEPARATOR = " + "
ENSEMBLE_FILE = "ensemble.tflite"  # what `mnist export R1 R2` writes by default


class EnsemblePredictor:
    """The mean of its members' probabilities (all members must give the same classes).

    ``path`` names every member's file (joined by " + ") and ``backend`` their runtimes,
    so whatever describes a predictor describes the ensemble."""

    def __init__(self, members: Sequence):
        members = list(members)
        if len(members) < 2:
            raise ModelError("an ensemble needs at least two models")
        classes = {member.num_classes for member in members}
        if len(classes) != 1:
            raise ModelError(f"the models of an ensemble must give the same classes; "
                             f"these give {', '.join(str(c) for c in sorted(classes))}")
        self.members = members
        self.num_classes = classes.pop()
        self.path = Path(PATH_SEPARATOR.join(str(member.path) for member in members))
        backends = dict.fromkeys(member.backend for member in members)  # in order, once
        self.backend = "+".join(backends)

    @property
    def description(self) -> str:
        return f"the average of {len(self.members)} models' probabilities"

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        total = None
        for member in self.members:
            probabilities = np.asarray(member.predict_proba(images), dtype=np.float64)
            total = probabilities if total is None else total + probabilities
        return (total / len(self.members)).astype(np.float32)


def load_runs_predictor(runs: Sequence, backend: str = "auto", calibrate: bool = True):
    """One run's predictor (with its temperature), or for several runs an
    EnsemblePredictor averaging theirs."""
    from mnistcli.calibration import load_run_predictor

    if not runs:
        raise ModelError("no model given")
    members = [load_run_predictor(run, backend=backend, calibrate=calibrate) for run in runs]
    return members[0] if len(members) == 1 else EnsemblePredictor(members)


def describe_runs(runs: Sequence) -> str:
    """What an ensemble of runs is, in a few words: "ensemble of 3 (cnn-best x3)"."""
    names: dict[str, int] = {}
    for run in runs:
        name = run.model or "model"
        names[name] = names.get(name, 0) + 1
    parts = [name if count == 1 else f"{name} x{count}" for name, count in names.items()]
    return f"ensemble of {len(runs)} ({', '.join(parts)})"


def build_average_model(members: Sequence, temperatures: Sequence[float | None] = (),
                        name: str = "ensemble"):
    """One Keras model averaging ``members`` (Keras models taking the same images):
    each member a sub-model, its softmax optionally re-tempered (``softmax(log p / T)``
    with its run's temperature), then an Average layer. For conversion to TensorFlow
    Lite, not for saving as .keras (the tempering is plain ops, not a registered layer)."""
    import keras
    from keras import layers

    if len(members) < 2:
        raise ModelError("an ensemble needs at least two models")
    temperatures = list(temperatures) or [None] * len(members)
    shape = tuple(members[0].inputs[0].shape[1:])
    for member in members[1:]:
        if tuple(member.inputs[0].shape[1:]) != shape:
            raise ModelError("the models of an ensemble must take the same input shape")
    inputs = keras.Input(shape=shape, name="image")
    outputs = []
    for number, (member, temperature) in enumerate(zip(members, temperatures, strict=True),
                                                   start=1):
        # sub-models need distinct names; the members usually share their zoo name
        member.name = f"member{number}_{member.name}"
        probabilities = member(inputs)
        if temperature is not None:
            logits = keras.ops.log(keras.ops.maximum(probabilities, 1e-12)) / temperature
            probabilities = layers.Softmax(name=f"member{number}_tempered")(logits)
        outputs.append(probabilities)
    return keras.Model(inputs, layers.Average(name="average")(outputs), name=name)


# How close the averaging .tflite must come to the members' own average.
EXPORT_TOLERANCE = 1e-4


def export_ensemble(runs: Sequence, out: Path | str, check_images: np.ndarray | None = None,
                    calibrate: bool = True, test=None, force: bool = False) -> dict:
    """Write one .tflite averaging the runs' models (each with its run's temperature when
    ``calibrate``), atomically at ``out``. With ``check_images`` (uint8), the file's
    answers are compared with the members' own predictors averaged (ModelError beyond
    EXPORT_TOLERANCE). With ``test`` (a dataset split), the file's accuracy on it is
    measured. ``force``: replace an existing file at ``out`` (see fsutil.check_output).
    Returns a record: path, size_bytes, members, max_difference, accuracy."""
    from mnistcli.calibration import run_temperature
    from mnistcli.fsutil import atomic_output
    from mnistcli.inference import load_predictor
    from mnistcli.keras_files import convert_to_tflite, load_keras_model

    if len(runs) < 2:
        raise ModelError("an ensemble needs at least two models")
    members = [load_keras_model(run.keras_path, run.path) for run in runs]
    temperatures = [run_temperature(run.record) if calibrate else None for run in runs]
    model = build_average_model(members, temperatures)
    out = Path(out)
    difference = None
    with atomic_output(out, force=force) as built:
        convert_to_tflite(model, built)
        if check_images is not None and len(check_images):
            expected = load_runs_predictor(runs, backend="auto", calibrate=calibrate) \
                .predict_proba(check_images)
            actual = load_predictor(built).predict_proba(check_images)
            difference = float(np.abs(actual - expected).max())
            if not difference <= EXPORT_TOLERANCE:
                raise ModelError(f"the averaging model disagrees with its members' average "
                                 f"(max difference {difference:.2g})")
        accuracy = None
        if test is not None and len(test):
            probabilities = load_predictor(built).predict_proba(test.images)
            accuracy = float((probabilities.argmax(axis=1) == test.labels).mean())
        size = built.stat().st_size
    return {"format": "tflite", "path": str(out), "size_bytes": size, "quantize": None,
            "accuracy": accuracy, "accuracy_split": "test" if accuracy is not None else None,
            "members": [str(run.path) for run in runs], "temperatures": temperatures,
            "max_difference": difference}
