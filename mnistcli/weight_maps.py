"""What a trained network has learnt, as pictures: weight maps and feature maps.

The first layer that has weights tells what the model looks at in the 28x28 pixels:
- softmax regression (``logreg``): one 784-weight vector per digit, shown as ten 28x28 maps;
- a dense network (``mlp``, ``dnn``, ...): the first layer's units, the strongest first;
- a convolutional network: the first convolution's filters, and for one input image the
  feature maps it produces in the first convolutional layers.

Weights are drawn with a diverging colour map centred on zero (blue negative, near-white
zero, red positive) on one shared, symmetric scale with a colour bar, so colours compare
across maps. Pictures are made with numpy and Pillow only; keras is never imported here:
callers pass a loaded model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mnistcli.datasets import IMAGE_PIXELS, IMAGE_SHAPE, IMAGE_SIDE
from mnistcli.errors import ModelError
from mnistcli.keras_files import flat_layers

DEFAULT_UNITS = 16

# ColorBrewer RdBu, reversed: dark blue (most negative) .. near-white (zero) .. dark red.
DIVERGING_ANCHORS = np.array([
    (5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222), (209, 229, 240),
    (247, 247, 247),
    (253, 219, 199), (244, 165, 130), (214, 96, 77), (178, 24, 43), (103, 0, 31),
], dtype=np.float64)
NEUTRAL_COLOUR = (247, 247, 247)  # what a weight of exactly zero is drawn as
# viridis, for activations (which are >= 0 after a ReLU): dark purple .. yellow.
SEQUENTIAL_ANCHORS = np.array([
    (68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
    (31, 158, 137), (53, 183, 121), (110, 206, 88), (181, 222, 43), (253, 231, 37),
], dtype=np.float64)

BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (20, 20, 20)
FRAME_COLOUR = (150, 150, 150)
CELL_TARGET_PX = 112  # each map is enlarged (nearest neighbour) to about this size
CELL_GAP_PX = 12
MARGIN_PX = 16
COLOUR_BAR_PX = (360, 14)  # width, height


@dataclass
class MapSet:
    """Same-sized 2-D maps that share one colour scale, drawn as one titled grid."""

    title: str
    maps: np.ndarray  # (K, H, W) float
    labels: list[str]
    columns: int
    diverging: bool  # True: centred on zero, scale [-limit, limit]; else [0, limit]
    legend: str  # what the colour bar measures, e.g. "weight"
    limit: float = field(init=False)
    minimum: float = field(init=False)
    maximum: float = field(init=False)

    def __post_init__(self) -> None:
        self.maps = np.asarray(self.maps, dtype=np.float64)
        self.minimum = float(self.maps.min()) if self.maps.size else 0.0
        self.maximum = float(self.maps.max()) if self.maps.size else 0.0
        if self.diverging:
            limit = max(abs(self.minimum), abs(self.maximum))
        else:
            limit = max(self.maximum, 0.0)
        # an all-zero set still needs a non-empty scale
        self.limit = limit if limit > 0 else 1.0

    def normalised(self) -> np.ndarray:
        """Maps scaled to [-1, 1] (diverging) or [0, 1] (sequential) on the shared scale."""
        low = -1.0 if self.diverging else 0.0
        return np.clip(self.maps / self.limit, low, 1.0)


@dataclass
class WeightReport:
    """The picture's content and the numbers printed with it."""

    kind: str  # "softmax" (one map per digit), "dense" (hidden units) or "conv" (filters)
    layer: str  # name of the layer whose weights are shown
    minimum: float  # over all the layer's weights, not only the maps shown
    maximum: float
    units_total: int
    units_shown: int
    sections: list[MapSet]

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "layer": self.layer,
            "min": self.minimum,
            "max": self.maximum,
            "units_total": self.units_total,
            "units_shown": self.units_shown,
        }


# ---------------------------------------------------------------------------- extraction

def _kernel_layers(model) -> list:
    return [layer for layer in flat_layers(model) if _kernel_of(layer) is not None]


def _kernel_of(layer):
    if type(layer).__name__ not in ("Dense", "Conv2D") or not layer.get_weights():
        return None
    return layer.get_weights()[0]  # the kernel; the bias (if any) comes second


def weight_maps(model, units: int | None = None,
                class_names: list[str] | tuple[str, ...] | None = None) -> WeightReport:
    """The maps of the first layer that has weights: per digit, per unit or per filter.

    ``units``: how many hidden units of a dense network to show, the strongest first
    (default DEFAULT_UNITS), or at most how many convolution filters (default: all).
    ``class_names``: a softmax regression's maps are titled with them (a model of a
    dataset that is not digits); default "digit 0" ... "digit 9"."""
    if units is not None and units < 1:
        raise ModelError(f"units must be at least 1, not {units}")
    kernel_layers = _kernel_layers(model)
    if not kernel_layers:
        raise ModelError("the model has no Dense or Conv2D layer whose weights can be drawn")
    first = kernel_layers[0]
    kernel = _kernel_of(first)
    low, high = float(kernel.min()), float(kernel.max())

    if type(first).__name__ == "Conv2D":
        height, width, in_channels, filters = kernel.shape
        # a first convolution sees one grey channel; several would be averaged
        maps = kernel.mean(axis=2).transpose(2, 0, 1)
        shown = maps if units is None else maps[:units]
        section = MapSet(
            title=f"{first.name}: {filters} filters {height}x{width} "
                  f"(showing {len(shown)})",
            maps=shown, labels=[f"filter {i}" for i in range(len(shown))],
            columns=min(len(shown), 8), diverging=True, legend="weight")
        return WeightReport("conv", first.name, low, high, filters, len(shown), [section])

    inputs, outputs = kernel.shape
    if inputs != IMAGE_PIXELS:
        raise ModelError(
            f"the first Dense layer {first.name!r} has {inputs} inputs, not the "
            f"{IMAGE_PIXELS} pixels of a flattened image: nothing to draw as "
            f"{IMAGE_SIDE}x{IMAGE_SIDE} maps"
        )
    per_unit = kernel.T.reshape(outputs, IMAGE_SIDE, IMAGE_SIDE)
    if first is kernel_layers[-1]:
        # softmax regression: the only layer, one unit per class
        digits = class_names is None or list(class_names) == [str(d) for d in range(10)]
        if digits or len(class_names) != outputs:
            what, labels = "digit", [f"digit {d}" for d in range(outputs)]
        else:
            what, labels = "class", [str(name) for name in class_names]
        section = MapSet(
            title=f"{first.name}: the weights of each {what} (red: evidence for, blue: "
                  "against)",
            maps=per_unit, labels=labels, columns=5 if outputs <= 10 else 8,
            diverging=True, legend="weight")
        return WeightReport("softmax", first.name, low, high, outputs, outputs, [section])

    norms = np.linalg.norm(kernel, axis=0)
    strongest = np.argsort(-norms, kind="stable")[:units or DEFAULT_UNITS]
    section = MapSet(
        title=f"{first.name}: the {len(strongest)} strongest of {outputs} units "
              f"(by weight norm)",
        maps=per_unit[strongest], labels=[f"unit {int(u)}" for u in strongest],
        columns=min(len(strongest), 8), diverging=True, legend="weight")
    return WeightReport("dense", first.name, low, high, outputs, len(strongest), [section])


def feature_maps(model, image: np.ndarray, conv_layers: int = 2,
                 max_maps: int = 32) -> list[MapSet]:
    """The activations one image produces after each of the first ``conv_layers``
    convolutions (following them through batch normalisation and activation layers).

    ``image``: uint8 (28, 28), as preprocessed for the model."""
    import keras

    image = np.asarray(image)
    if image.shape != IMAGE_SHAPE:
        raise ModelError(f"expected a {IMAGE_SIDE}x{IMAGE_SIDE} image, got shape {image.shape}")
    layers = flat_layers(model)
    taps = []  # (description, layer whose output is shown)
    for index, layer in enumerate(layers):
        if type(layer).__name__ != "Conv2D":
            continue
        activation = getattr(getattr(layer, "activation", None), "__name__", "linear")
        shown = layer
        steps = [layer.name if activation == "linear" else f"{layer.name} ({activation})"]
        for following in layers[index + 1:]:
            if type(following).__name__ not in _ELEMENTWISE_LAYERS:
                break
            shown = following
            steps.append(following.name)
        taps.append((" -> ".join(steps), shown))
        if len(taps) == conv_layers:
            break
    if not taps:
        raise ModelError("the model has no convolution: feature maps need a CNN")
    probe = keras.Model(model.inputs, [shown.output for _, shown in taps])
    batch = (image.astype(np.float32) / 255.0)[None, :, :, None]
    outputs = probe([batch], training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    sections = [MapSet(title="input, as the model sees it", maps=image[None] / 255.0,
                       labels=["input"], columns=1, diverging=False, legend="pixel")]
    for (description, _), activations in zip(taps, outputs, strict=True):
        values = np.asarray(activations)[0].transpose(2, 0, 1)  # (channels, H, W)
        shown = values[:max_maps]
        diverging = bool(values.min() < 0)
        sections.append(MapSet(
            title=f"{description}: {values.shape[0]} feature maps {values.shape[1]}x"
                  f"{values.shape[2]} (showing {len(shown)})",
            maps=shown, labels=[f"map {i}" for i in range(len(shown))],
            columns=min(len(shown), 8), diverging=diverging, legend="activation"))
    return sections


# Layers that transform each value on its own, so a convolution's maps stay maps.
_ELEMENTWISE_LAYERS = {"BatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU",
                       "PReLU", "Softmax"}


# ------------------------------------------------------------------------------ colours

def colorize(values: np.ndarray, diverging: bool) -> np.ndarray:
    """Map normalised values ([-1, 1] diverging, [0, 1] sequential) to uint8 RGB."""
    anchors = DIVERGING_ANCHORS if diverging else SEQUENTIAL_ANCHORS
    position = (np.clip(values, -1, 1) + 1) / 2 if diverging else np.clip(values, 0, 1)
    stops = np.linspace(0.0, 1.0, len(anchors))
    channels = [np.interp(position, stops, anchors[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


def thumbnails(section: MapSet, side: int) -> np.ndarray:
    """The section's normalised maps resampled to ``side`` x ``side`` (for a terminal)."""
    from PIL import Image

    small = []
    for values in section.normalised():
        picture = Image.fromarray(values.astype(np.float32), mode="F")
        shrink = picture.width > side
        resample = Image.Resampling.BOX if shrink else Image.Resampling.NEAREST
        small.append(np.asarray(picture.resize((side, side), resample)))
    return np.stack(small)


# ----------------------------------------------------------------------------- drawing

def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType
        return ImageFont.load_default()


def _text_size(draw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def _format(value: float) -> str:
    return f"{value:.3g}"


def _draw_section(section: MapSet):
    from PIL import Image, ImageDraw

    count, height, width = section.maps.shape
    scale = max(1, round(CELL_TARGET_PX / max(height, width)))
    cell_w, cell_h = width * scale, height * scale
    columns = max(1, section.columns)
    rows = math.ceil(count / columns)
    title_font, label_font, tick_font = _font(16), _font(13), _font(12)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    title_w, title_h = _text_size(probe, section.title, title_font)
    label_h = _text_size(probe, "Digit 0g", label_font)[1] + 6
    grid_w = columns * cell_w + (columns - 1) * CELL_GAP_PX
    row_h = label_h + cell_h + CELL_GAP_PX
    bar_w, bar_h = COLOUR_BAR_PX
    legend_h = 22 + bar_h + 24
    legend_w = bar_w + 2 * 60
    width_px = max(grid_w, title_w, legend_w) + 2 * MARGIN_PX
    height_px = MARGIN_PX + title_h + 12 + rows * row_h + legend_h + MARGIN_PX
    canvas = Image.new("RGB", (width_px, height_px), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((MARGIN_PX, MARGIN_PX), section.title, fill=TEXT_COLOUR, font=title_font)

    colours = colorize(section.normalised(), section.diverging)
    top = MARGIN_PX + title_h + 12
    left0 = MARGIN_PX + (width_px - 2 * MARGIN_PX - grid_w) // 2
    for index in range(count):
        row, column = divmod(index, columns)
        x = left0 + column * (cell_w + CELL_GAP_PX)
        y = top + row * row_h
        label = section.labels[index]
        text_w = _text_size(draw, label, label_font)[0]
        draw.text((x + (cell_w - text_w) // 2, y), label, fill=TEXT_COLOUR, font=label_font)
        tile = Image.fromarray(colours[index]).resize((cell_w, cell_h), Image.Resampling.NEAREST)
        canvas.paste(tile, (x, y + label_h))
        draw.rectangle((x - 1, y + label_h - 1, x + cell_w, y + label_h + cell_h),
                       outline=FRAME_COLOUR)

    _draw_colour_bar(canvas, draw, section, top + rows * row_h + 22, tick_font)
    return canvas


def _draw_colour_bar(canvas, draw, section: MapSet, bar_top: int, tick_font) -> None:
    """The shared colour scale under a section's maps, centred, with a caption above and
    ticks at its ends, its middle and zero."""
    from PIL import Image

    bar_w, bar_h = COLOUR_BAR_PX
    width_px = canvas.width
    bar_left = (width_px - bar_w) // 2
    low = -section.limit if section.diverging else 0.0
    ramp = np.linspace(-1 if section.diverging else 0, 1, bar_w)
    bar = colorize(np.tile(ramp, (bar_h, 1)), section.diverging)
    canvas.paste(Image.fromarray(bar), (bar_left, bar_top))
    draw.rectangle((bar_left - 1, bar_top - 1, bar_left + bar_w, bar_top + bar_h),
                   outline=FRAME_COLOUR)
    caption = (f"{section.legend} (shared scale; min {_format(section.minimum)}, "
               f"max {_format(section.maximum)})")
    caption_w, caption_h = _text_size(draw, caption, tick_font)
    draw.text(((width_px - caption_w) // 2, bar_top - caption_h - 8), caption,
              fill=TEXT_COLOUR, font=tick_font)
    ticks = np.linspace(low, section.limit, 5)
    for tick in ticks:
        x = bar_left + round((tick - low) / (section.limit - low) * (bar_w - 1))
        draw.line((x, bar_top + bar_h, x, bar_top + bar_h + 4), fill=TEXT_COLOUR)
        text = _format(0.0 if abs(tick) < 1e-12 else float(tick))
        text_w = _text_size(draw, text, tick_font)[0]
        draw.text((x - text_w // 2, bar_top + bar_h + 6), text, fill=TEXT_COLOUR,
                  font=tick_font)


def render(sections: list[MapSet], heading: str | None = None):
    """One picture: an optional heading, then each section's grid and colour bar."""
    from PIL import Image, ImageDraw

    blocks = [_draw_section(section) for section in sections]
    heading_h = 0
    font = _font(18)
    if heading:
        probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
        heading_w, heading_h = _text_size(probe, heading, font)
        heading_h += MARGIN_PX
    width = max([block.width for block in blocks]
                + ([heading_w + 2 * MARGIN_PX] if heading else []))
    height = heading_h + sum(block.height for block in blocks) + (MARGIN_PX if heading else 0)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    y = 0
    if heading:
        draw.text((MARGIN_PX, MARGIN_PX), heading, fill=TEXT_COLOUR, font=font)
        y = heading_h + MARGIN_PX
    for block in blocks:
        canvas.paste(block, ((width - block.width) // 2, y))
        y += block.height
    return canvas

