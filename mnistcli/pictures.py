"""Pictures of digits made with Pillow: enlarged digits, captioned grids (inspect --save,
evaluate's worst mistakes) and an image beside what the model sees.

No typer, rich or tensorflow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mnistcli.datasets import IMAGE_SIDE
from mnistcli.errors import OutputError

# The largest picture drawn, in pixels (50 megapixels: 150 MB as RGB while drawing; Pillow
# itself warns when opening anything over ~89 megapixels). A request for more is refused
# before anything is allocated, whatever the number of images or the scale.
MAX_PICTURE_PIXELS = 50_000_000


def check_picture_size(width: int, height: int, what: str) -> None:
    """Refuse a picture over MAX_PICTURE_PIXELS, before drawing it."""
    if width * height > MAX_PICTURE_PIXELS:
        raise OutputError(
            f"{what} would be {width:,}x{height:,} pixels ({width * height / 1e6:,.0f} "
            f"megapixels), over the limit of {MAX_PICTURE_PIXELS / 1e6:.0f}; draw fewer "
            "images or use a smaller scale")


def enlarge(image: np.ndarray, scale: int) -> Image.Image:
    """One greyscale image scaled up by an integer factor, pixels kept square and sharp."""
    height, width = np.shape(image)[:2]
    check_picture_size(width * scale, height * scale, "the enlarged image")
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    return picture.resize((picture.width * scale, picture.height * scale),
                          Image.Resampling.NEAREST)


def digit_grid(images: Sequence[np.ndarray] | np.ndarray, captions: Sequence[str] | None = None,
               *, scale: int = 4, columns: int | None = None,
               caption_colors: Sequence[tuple[int, int, int]] | None = None,
               gap: int = 2) -> Image.Image:
    """A grid of greyscale images (each enlarged by ``scale``) as an RGB picture, with an
    optional caption under each (e.g. ``"7: 3"``, ``"true 4, predicted 9"``) in the given
    colours (default light grey). ``columns`` defaults to up to 10 per row."""
    count = len(images)
    if count:  # at least this big, before captions widen it: check before enlarging any
        shown = max(1, min(columns or 10, count))
        side = max(max(np.shape(image)[:2]) for image in images) * scale
        check_picture_size(shown * (side + gap) + gap, -(-count // shown) * (side + gap) + gap,
                           f"a grid of {count:,} images")
    tiles = [enlarge(image, scale) for image in images]
    if not tiles:
        raise ValueError("digit_grid needs at least one image")
    if captions is not None and len(captions) != len(tiles):
        raise ValueError("digit_grid: one caption per image")
    columns = max(1, min(columns or 10, len(tiles)))
    rows = -(-len(tiles) // columns)
    tile_width = max(tile.width for tile in tiles)
    tile_height = max(tile.height for tile in tiles)
    font_size = max(10, min(4 * scale, 24))
    font = ImageFont.load_default(font_size) if captions else None
    caption_height = int(font_size * 1.5) if captions else 0
    if captions:
        # wide captions widen every cell, so no caption runs into its neighbour
        widest = max(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(c, font=font)
                     for c in captions)
        tile_width = max(tile_width, int(widest) + 4)
    cell_width, cell_height = tile_width + gap, tile_height + caption_height + gap
    check_picture_size(columns * cell_width + gap, rows * cell_height + gap,
                       f"a grid of {len(tiles):,} images")
    grid = Image.new("RGB", (columns * cell_width + gap, rows * cell_height + gap),
                     (48, 48, 48))
    draw = ImageDraw.Draw(grid)
    for position, tile in enumerate(tiles):
        left = gap + (position % columns) * cell_width
        top = gap + (position // columns) * cell_height
        grid.paste(tile.convert("RGB"), (left + (tile_width - tile.width) // 2, top))
        if captions:
            color = caption_colors[position] if caption_colors else (230, 230, 230)
            draw.text((left + tile_width // 2, top + tile_height + caption_height // 2),
                      captions[position], fill=tuple(color), font=font, anchor="mm")
    return grid


def fit_in_square(image: np.ndarray, side: int) -> np.ndarray:
    """A greyscale uint8 image scaled (area-averaged, aspect kept) so its longer side is
    ``side`` pixels: a picture of any size shown at a digit's size."""
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    fit = side / max(picture.size)
    size = (max(1, round(picture.width * fit)), max(1, round(picture.height * fit)))
    resample = Image.Resampling.BOX if fit < 1 else Image.Resampling.LANCZOS
    return np.asarray(picture.resize(size, resample))


def comparison_picture(original: np.ndarray, processed: np.ndarray, scale: int = 8,
                       captions: tuple[str, str] = ("original", "model input (28x28)"),
                       ) -> Image.Image:
    """An image file beside what the model sees: the original greyscale (any size) fitted
    smoothly into a square of 28*scale pixels, and the 28x28 ``processed`` digit enlarged
    with sharp pixels, each captioned."""
    side = IMAGE_SIDE * scale
    check_picture_size(2 * side + 6 * scale, side + 4 * scale + 36, "the comparison picture")
    left = Image.fromarray(fit_in_square(original, side))
    right = enlarge(processed, scale)
    font_size = max(10, min(4 * scale, 24))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    while font_size > 6 and max(
            measure.textlength(c, font=ImageFont.load_default(font_size)) for c in captions
    ) > side:
        font_size -= 1  # small --scale: shrink the captions to the tiles' width
    font = ImageFont.load_default(font_size)
    caption_height = int(font_size * 1.5)
    gap = 2 * scale
    picture = Image.new("RGB", (2 * side + 3 * gap, side + caption_height + 2 * gap),
                        (48, 48, 48))
    draw = ImageDraw.Draw(picture)
    for column, (tile, caption) in enumerate(zip((left, right), captions, strict=True)):
        x = gap + column * (side + gap)
        picture.paste(tile.convert("RGB"), (x + (side - tile.width) // 2,
                                            gap + (side - tile.height) // 2))
        draw.text((x + side // 2, gap + side + caption_height // 2), caption,
                  fill=(230, 230, 230), font=font, anchor="mm")
    return picture
