"""Reading and writing IDX files, the format MNIST is distributed in (gzip or raw).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the values, big-endian.
"""

from __future__ import annotations

import gzip
import io
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from mnistcli.errors import DataError
from mnistcli.fsutil import atomic_path

GZIP_MAGIC = b"\x1f\x8b"
# The largest IDX data read (4 GiB; EMNIST's largest file holds 0.55 GB). A compressed
# file is never inflated past what its header declares.
MAX_IDX_BYTES = 4 << 30

# IDX type code -> numpy dtype (big-endian, as stored on disk)
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
TYPE_CODES = {dtype.newbyteorder(">") if dtype.itemsize > 1 else dtype: code
              for code, dtype in IDX_DTYPES.items()}


def read_idx_bytes(path: Path | str) -> bytes:
    """The decompressed bytes of an IDX file, gzip or raw (detected by content)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            return _read_declared(stream, path)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from None


def _read_declared(stream: gzip.GzipFile, path: Path) -> bytes:
    """Decompress no more than the header declares (and one byte, to tell trailing data),
    so a small file that inflates to gigabytes (a gzip bomb) is never held in memory."""
    head = stream.read(4)
    if len(head) < 4 or head[:2] != b"\x00\x00" or head[2] not in IDX_DTYPES:
        return head + stream.read(1 << 16)  # not an IDX header: parse_idx says what is wrong
    shape_bytes = stream.read(4 * head[3])
    if len(shape_bytes) < 4 * head[3]:
        return head + shape_bytes
    shape = struct.unpack(f">{head[3]}I", shape_bytes)
    declared = math.prod(shape) * IDX_DTYPES[head[2]].itemsize
    if declared > MAX_IDX_BYTES:
        raise DataError(f"{path}: header declares shape {tuple(shape)} ({declared:,} bytes), "
                        f"more than the {MAX_IDX_BYTES:,} bytes an IDX file may hold here")
    data = stream.read(declared + 1)
    if len(data) > declared:
        raise DataError(f"{path}: has trailing bytes: header declares shape {tuple(shape)} "
                        f"({declared} bytes of data) but the file holds more")
    return head + shape_bytes + data


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array (a read-only view of ``data``, native byte order for
    uint8). Raises DataError naming ``name`` and what is wrong."""
    if len(data) < 4:
        raise DataError(f"{name}: too short to be an IDX file ({len(data)} bytes)")
    zero, type_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0:
        raise DataError(f"{name}: not an IDX file (bad magic number 0x{data[:4].hex()})")
    if type_code not in IDX_DTYPES:
        raise DataError(f"{name}: unknown IDX data type 0x{type_code:02x}")
    if ndim == 0:
        raise DataError(f"{name}: IDX header declares zero dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(f"{name}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = IDX_DTYPES[type_code]
    # Python integers: numpy's int64 product wraps around for a hostile header such as
    # (4, 2**31, 2**31), which would then seem to match an empty body
    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - header_len
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise DataError(
            f"{name}: {what}: header declares shape {tuple(shape)} ({expected} bytes of "
            f"data) but the file holds {actual}"
        )
    try:
        array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    except ValueError:  # e.g. (0, 2**31, 2**31): empty, yet too big for numpy to shape
        raise DataError(f"{name}: header declares shape {tuple(shape)}, which no array "
                        "can have") from None
    if dtype.itemsize > 1:
        array = array.astype(dtype.newbyteorder("="))
    return array


def read_idx(path: Path | str) -> np.ndarray:
    """Read an IDX file (gzip or raw) into a numpy array, validating it against its header."""
    return parse_idx(read_idx_bytes(path), name=str(path))


def encode_idx(array: np.ndarray) -> bytes:
    array = np.asarray(array)
    disk_dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if disk_dtype not in TYPE_CODES:
        raise DataError(f"cannot store dtype {array.dtype} in an IDX file")
    if array.ndim == 0 or array.ndim > 255:
        raise DataError(f"cannot store a {array.ndim}-dimensional array in an IDX file")
    header = struct.pack(">HBB", 0, TYPE_CODES[disk_dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(disk_dtype).tobytes()


def write_idx(path: Path | str, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when ``compress`` (default: when the
    name ends in ``.gz``). The file appears complete or not at all."""
    path = Path(path)
    if compress is None:
        compress = path.suffix == ".gz"
    data = encode_idx(array)
    if compress:
        # mtime=0 keeps the output byte-identical between runs (reproducible fixtures)
        data = gzip.compress(data, compresslevel=9, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
