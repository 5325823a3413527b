"""Charts drawn with matplotlib: training curves and the confusion matrix.

matplotlib is imported inside the functions, so importing this module costs nothing.
Figures are made with matplotlib's object API (``matplotlib.figure.Figure``), never pyplot:
drawing a chart leaves a notebook user's backend and open figures alone. Every chart is
written atomically as a PNG of a fixed size (``figsize`` x ``DPI``), laid out so that no
label is cut off.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from mnistcli.fsutil import save_png
from mnistcli.runs import History

DPI = 100
HISTORY_FIGSIZE = (12.0, 8.0)  # inches: a 1200x800 PNG
CONFUSION_FIGSIZE = (8.0, 7.0)  # a 800x700 PNG
TRAIN_COLOUR = "#1f77b4"
VALIDATION_COLOUR = "#d62728"


def _figure(figsize: tuple[float, float]):
    """A figure of its own, outside pyplot: no backend is selected, none is switched, and
    nothing is left in pyplot's list of open figures."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=DPI, layout="constrained")


# ------------------------------------------------------------------------- training curves

def zoom_window(epochs: int) -> int:
    """How many of the last epochs the zoomed panels show: the last half, at least 2."""
    return max(2, math.ceil(epochs / 2)) if epochs > 2 else epochs


def plot_history(history: History, path: Path | str, title: str | None = None) -> Path:
    """Accuracy and loss per epoch (``history`` as :func:`mnistcli.runs.read_history`
    gives it), training and validation, each with a zoomed panel of the last epochs
    (where the curves flatten and overfitting shows)."""
    from matplotlib.ticker import MaxNLocator

    figure = _figure(HISTORY_FIGSIZE)
    axes = figure.subplots(2, 2)
    last = zoom_window(len(history))
    zoom = slice(len(history) - last, None)
    panels = (("accuracy", history.accuracy, history.val_accuracy),
              ("loss", history.loss, history.val_loss))
    for row, (metric, train, validation) in enumerate(panels):
        for column, window in enumerate((slice(None), zoom)):
            axis = axes[row][column]
            epochs = history.epoch[window]
            axis.plot(epochs, train[window], "o-", color=TRAIN_COLOUR, label=f"training {metric}")
            if np.isfinite(validation[window]).any():
                axis.plot(epochs, validation[window], "s-", color=VALIDATION_COLOUR,
                          label=f"validation {metric}")
            zoomed = column == 1
            if not zoomed and last < len(history):
                # where the zoomed panel beside it looks
                axis.axvspan(history.epoch[zoom][0], history.epoch[-1], color="0.9",
                             zorder=0, label="_zoomed")
            axis.set_title(f"{metric}, last {last} epoch{'s' * (last != 1)} (zoom)" if zoomed
                           else f"{metric} per epoch")
            axis.set_xlabel("epoch")
            axis.set_ylabel(metric)
            axis.grid(True, alpha=0.3)
            # whole epochs only on the x axis
            if len(epochs) <= 12:
                axis.set_xticks(epochs, [str(int(e)) for e in epochs])
            else:
                axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            if len(epochs) == 1:
                axis.set_xlim(epochs[0] - 1, epochs[0] + 1)
            axis.legend(loc="best")  # where it hides the fewest points
    if title:
        figure.suptitle(title)
    return save_png(figure, path)


# ------------------------------------------------------------------------ confusion matrix

def plot_confusion(matrix, path: Path | str, labels: list[str] | None = None,
                   title: str | None = None, what: str = "digit") -> Path:
    """The confusion matrix as a heat map with the count in every cell (rows: true digit,
    columns: predicted digit). Colours are on a log scale so that the few mistakes are
    visible next to the thousands of correct answers on the diagonal. ``labels`` name the
    classes (default their numbers) and ``what`` they are ("digit", or "class")."""
    from matplotlib.colors import LogNorm

    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"a confusion matrix must be square, got shape {matrix.shape}")
    classes = matrix.shape[0]
    labels = labels or [str(i) for i in range(classes)]
    figure = _figure(CONFUSION_FIGSIZE)
    axis = figure.subplots()
    shown = np.where(matrix > 0, matrix, np.nan)  # zero cells stay white
    peak = max(1, int(matrix.max()))
    # vmin below 1 so that a single mistake is a visible pale blue, not white like zero
    image = axis.imshow(shown, cmap="Blues", norm=LogNorm(vmin=0.5, vmax=max(peak, 2)))
    threshold = math.sqrt(max(peak, 2))  # half way up the log scale: white text above
    font_size = 10 if classes <= 10 else max(5, int(100 / classes))
    for true in range(classes):
        for predicted in range(classes):
            count = int(matrix[true, predicted])
            axis.text(predicted, true, str(count), ha="center", va="center",
                      fontsize=font_size, color="white" if count > threshold else "black")
    axis.set_xticks(range(classes), labels)
    axis.set_yticks(range(classes), labels)
    axis.set_xlabel(f"predicted {what}")
    axis.set_ylabel(f"true {what}")
    if classes > 10 or max(len(label) for label in labels) > 2:
        axis.tick_params(axis="x", labelrotation=90)
    total = int(matrix.sum())
    correct = int(np.trace(matrix))
    accuracy = f", accuracy {correct / total:.2%}" if total else ""
    axis.set_title(title or f"confusion matrix ({total} images{accuracy})")
    bar = figure.colorbar(image, ax=axis, label="images (log scale)", shrink=0.8)
    ticks = [t for t in (1, 10, 100, 1000, 10000, 100000) if t <= peak] or [1]
    bar.set_ticks(ticks, labels=[str(t) for t in ticks])
    bar.minorticks_off()
    return save_png(figure, path)


# ------------------------------------------------------- calibration and coverage

CALIBRATION_FIGSIZE = (12.0, 5.5)  # a 1200x550 PNG: two panels side by side


def plot_calibration(bins, coverage, accuracy, path: Path | str,
                     title: str | None = None) -> Path:
    """Two panels: the reliability diagram (accuracy against confidence per bin, the
    diagonal being perfect calibration; ``bins`` as mnistcli.calibration.reliability_bins
    gives them) and the accuracy of the answers against the share answered when only
    the most confident are answered (``coverage`` and ``accuracy`` arrays, as
    mnistcli.calibration.coverage_curve gives them)."""
    figure = _figure(CALIBRATION_FIGSIZE)
    reliability, tradeoff = figure.subplots(1, 2)

    filled = [b for b in bins if b.count]
    centres = [(b.lower + b.upper) / 2 for b in filled]
    width = filled[0].upper - filled[0].lower if filled else 0.1
    reliability.bar(centres, [b.accuracy for b in filled], width=width * 0.9,
                    color=TRAIN_COLOUR, alpha=0.8, label="accuracy in the bin")
    reliability.plot([b.confidence for b in filled], [b.accuracy for b in filled], "o",
                     color=VALIDATION_COLOUR, label="at the bin's mean confidence")
    reliability.plot([0, 1], [0, 1], "--", color="0.4", label="perfect calibration")
    for centre, b in zip(centres, filled, strict=True):
        reliability.annotate(f"{b.count:,}", (centre, b.accuracy), textcoords="offset points",
                             xytext=(0, 3), ha="center", fontsize=7)
    reliability.set_xlim(0, 1)
    reliability.set_ylim(0, 1.05)
    reliability.set_xlabel("confidence of the answer")
    reliability.set_ylabel("share of answers right")
    reliability.set_title("reliability diagram (images per bin above the bars)")
    reliability.grid(True, alpha=0.3)
    reliability.legend(loc="upper left")

    coverage = np.asarray(coverage, dtype=float)
    accuracy = np.asarray(accuracy, dtype=float)
    tradeoff.plot(coverage * 100, accuracy * 100, color=TRAIN_COLOUR)
    if len(coverage):
        tradeoff.axvline(99, color="0.6", linestyle=":", label="99% answered")
        floor = float(accuracy[int(len(accuracy) * 0.5):].min()) * 100
        tradeoff.set_ylim(max(0.0, floor - 0.2), 100.05)
        tradeoff.set_xlim(50, 100)
        tradeoff.legend(loc="lower left")
    tradeoff.set_xlabel("images answered (%), the most confident first")
    tradeoff.set_ylabel("accuracy of the answers (%)")
    tradeoff.set_title("accuracy against coverage")
    tradeoff.grid(True, alpha=0.3)
    if title:
        figure.suptitle(title)
    return save_png(figure, path)
