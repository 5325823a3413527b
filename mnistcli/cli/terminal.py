"""Drawing digits in a terminal.

In colour, each character cell shows two pixels stacked: the upper half block ``▀`` in
the upper pixel's grey as foreground over the lower pixel's grey as background, so a
28x28 digit takes 28 columns by 14 rows. Without colour (NO_COLOR, or not a terminal)
the same 28x14 shape is drawn with a plain ASCII ramp, each character standing for the
mean of the two pixels it covers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from rich.color import Color
from rich.console import Console
from rich.style import Style
from rich.text import Text

UPPER_HALF_BLOCK = "▀"
ASCII_RAMP = " .:-=+*#%@"  # dark to light: background is blank, ink is dense
GAP = "  "  # between digits drawn side by side


def color_enabled(console: Console) -> bool:
    """Half blocks in grey only when the console is a terminal and NO_COLOR is unset."""
    return console.is_terminal and not os.environ.get("NO_COLOR") and not console.no_color


@lru_cache(maxsize=4096)
def _cell_style(upper: tuple[int, int, int], lower: tuple[int, int, int]) -> Style:
    return Style(color=Color.from_rgb(*upper), bgcolor=Color.from_rgb(*lower))


def _pairs(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower rows of each character row (an odd last row pairs with black)."""
    pixels = np.asarray(image)
    if pixels.shape[0] % 2:
        pixels = np.concatenate([pixels, np.zeros((1, *pixels.shape[1:]), pixels.dtype)])
    return pixels[0::2], pixels[1::2]


def ascii_lines(image: np.ndarray) -> list[str]:
    """A greyscale image as plain text: one character per column, one line per two rows."""
    upper, lower = _pairs(np.asarray(image, dtype=np.uint8))
    mean = (upper.astype(np.uint16) + lower) / 2.0
    return ["".join(ASCII_RAMP[level] for level in row) for row in ramp_levels(mean / 256)]


def ramp_levels(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1) as indices into ASCII_RAMP."""
    levels = (np.asarray(values) * len(ASCII_RAMP)).astype(int)
    return np.clip(levels, 0, len(ASCII_RAMP) - 1)


def half_block_lines(image: np.ndarray) -> list[Text]:
    """An image as rich Text lines of half blocks: greyscale (H, W) or colour (H, W, 3)
    uint8, two pixel rows per line."""
    pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    upper, lower = _pairs(pixels)
    lines = []
    for top_row, bottom_row in zip(upper, lower, strict=True):
        line = Text()
        cells = [(tuple(top), tuple(bottom))
                 for top, bottom in zip(top_row.tolist(), bottom_row.tolist(), strict=True)]
        start = 0
        while start < len(cells):
            # one span per run of equal cells keeps the escape codes short
            end = start + 1
            while end < len(cells) and cells[end] == cells[start]:
                end += 1
            line.append(UPPER_HALF_BLOCK * (end - start), _cell_style(*cells[start]))
            start = end
        lines.append(line)
    return lines


def digit_lines(image: np.ndarray, color: bool) -> list[Text]:
    if color:
        return half_block_lines(image)
    return [Text(line) for line in ascii_lines(image)]


def draw_digits(console: Console, images: Sequence[np.ndarray],
                captions: Sequence[str] | None = None, color: bool | None = None) -> None:
    """Draw greyscale images side by side, each with its caption above it."""
    if color is None:
        color = color_enabled(console)
    draw_blocks(console, [digit_lines(image, color) for image in images], captions)


def draw_blocks(console: Console, blocks: Sequence[Sequence[Text]],
                captions: Sequence[str] | None = None, width: int | None = None,
                blank_between_rows: bool = True) -> None:
    """Blocks of text lines (drawings) side by side, as many per row as the console is
    wide, each with its caption above it; ``width``: every block's column width."""
    captions = list(captions) if captions is not None else [""] * len(blocks)
    widths = [width or max(max((len(line) for line in block), default=0), len(caption))
              for block, caption in zip(blocks, captions, strict=True)]
    start = 0
    while start < len(blocks):
        # fill the row up to the console's width (at least one block per row)
        end, used = start + 1, widths[start]
        while end < len(blocks) and used + len(GAP) + widths[end] <= console.width:
            used += len(GAP) + widths[end]
            end += 1
        row = range(start, end)
        if any(captions[i] for i in row):
            console.print(GAP.join(captions[i].ljust(widths[i]) for i in row).rstrip(),
                          markup=False, highlight=False, soft_wrap=True)
        height = max(len(blocks[i]) for i in row)
        for line_number in range(height):
            line = Text()
            for position, i in enumerate(row):
                if position:
                    line.append(GAP)
                block = blocks[i]
                piece = block[line_number] if line_number < len(block) else Text("")
                line.append_text(piece)
                line.append(" " * (widths[i] - len(piece)))
            console.print(line, soft_wrap=True, highlight=False)
        start = end
        if start < len(blocks) and blank_between_rows:
            console.print()


def bar(value: int, largest: int, width: int = 30, ascii_only: bool = False) -> str:
    """A horizontal bar of ``value`` out of ``largest``, at most ``width`` characters
    (``#`` when ``ascii_only``)."""
    if largest <= 0:
        return ""
    filled = value * width / largest
    if ascii_only:
        return "#" * round(filled)
    return "█" * int(filled) + ("▌" if filled - int(filled) >= 0.5 else "")
