"""EMNIST's layout: one zip (``gzip.zip``) of gzipped IDX files for all its splits.

NIST distributes EMNIST (Cohen, Afshar, Tapson, van Schaik 2017) as ``gzip.zip`` holding
``gzip/emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte.gz`` for the byclass,
bymerge, balanced, letters, digits and mnist splits. Two things differ from MNIST:

- images are stored transposed (each one mirrored and rotated 90 degrees: a row of the
  file is a column of the character), so they are transposed back on load;
- the letters split labels its 26 classes 1-26 (0 is unused); the registry gives it a
  label offset of 1 and the loader maps them to 0-25, like every other dataset.

The archive is read in place (members are decompressed one at a time, nothing is
extracted to disk); a directory holding the extracted ``.gz`` files (directly or in
``gzip/``) works too.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from mnistcli.errors import DataError, DataNotFoundError
from mnistcli.idx import parse_idx, read_idx

ARCHIVE = "gzip.zip"
MEMBER_DIR = "gzip"


def member_name(split: str, part: str, kind: str) -> str:
    """``emnist-letters-train-images-idx3-ubyte.gz`` for split "letters", part "train",
    kind "images" (labels: idx1)."""
    dims = "idx3" if kind == "images" else "idx1"
    return f"emnist-{split}-{part}-{kind}-{dims}-ubyte.gz"


def read_member(directory: Path, split: str, part: str, kind: str,
                dataset: str = "emnist") -> np.ndarray:
    """The array of one EMNIST file, from ``directory/gzip.zip`` or from the extracted
    file in ``directory`` or ``directory/gzip``. Raises DataNotFoundError naming what
    was looked for."""
    name = member_name(split, part, kind)
    for extracted in (directory / name, directory / MEMBER_DIR / name):
        if extracted.is_file():
            return read_idx(extracted)
    archive = directory / ARCHIVE
    if not archive.is_file():
        raise DataNotFoundError(
            f"{dataset} not found: neither {archive} nor {directory / name} exists. Run "
            f"`mnist download --dataset {dataset}` first (or point --data at a directory "
            f"holding EMNIST's {ARCHIVE})")
    try:
        with zipfile.ZipFile(archive) as bundle:
            try:
                raw = bundle.read(f"{MEMBER_DIR}/{name}")
            except KeyError:
                raise DataError(f"{archive}: holds no {MEMBER_DIR}/{name}; is it EMNIST's "
                                f"{ARCHIVE}?") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{archive}: not a readable zip archive ({exc})") from None
    return parse_idx(_gunzip(raw, f"{archive}:{name}"), name=f"{archive}:{name}")


def _gunzip(raw: bytes, name: str) -> bytes:
    import gzip
    import zlib

    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{name}: corrupt or truncated gzip data ({exc})") from None


def untranspose(images: np.ndarray) -> np.ndarray:
    """EMNIST's stored (N, 28, 28) images the right way round (a contiguous copy)."""
    return np.ascontiguousarray(np.transpose(images, (0, 2, 1)))

