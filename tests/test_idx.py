"""The IDX reader and writer: round trips and every way a file can be broken."""

from __future__ import annotations

import gzip
import os
import stat
import struct

import numpy as np
import pytest

from mnistcli.errors import DataError
from mnistcli.idx import encode_idx, parse_idx, read_idx, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "raw"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(7,), (3, 4), (5, 28, 28)], ids=str)
def test_round_trip(tmp_path, dtype, shape, compress):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    else:
        array = rng.standard_normal(shape).astype(dtype) * 1e3
    path = write_idx(tmp_path / "data.idx", array, compress=compress)

    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") is compress
    loaded = read_idx(path)
    assert loaded.shape == shape
    assert loaded.dtype == np.dtype(dtype)  # native byte order after reading
    np.testing.assert_array_equal(loaded, array)


def test_compression_follows_the_file_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert write_idx(tmp_path / "a.gz", array).read_bytes()[:2] == b"\x1f\x8b"
    assert write_idx(tmp_path / "a.idx", array).read_bytes() == encode_idx(array)


def test_header_layout_is_the_idx_format():
    array = np.array([[1, 2, 3], [4, 5, 258]], dtype=np.int16)
    data = encode_idx(array)
    # magic: two zero bytes, type 0x0B (int16), two dimensions; then big-endian sizes
    assert data[:4] == b"\x00\x00\x0b\x02"
    assert struct.unpack(">II", data[4:12]) == (2, 3)
    assert data[-2:] == b"\x01\x02"  # 258, big-endian


def test_gzip_output_is_reproducible(tmp_path):
    array = np.arange(100, dtype=np.uint8)
    first = write_idx(tmp_path / "a.gz", array).read_bytes()
    second = write_idx(tmp_path / "b.gz", array).read_bytes()
    assert first == second


def test_truncated_raw_file(tmp_path):
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(encode_idx(np.zeros((4, 28, 28), np.uint8))[:-10])
    with pytest.raises(DataError, match="truncated") as excinfo:
        read_idx(path)
    assert str(path) in str(excinfo.value)
    assert "(4, 28, 28)" in str(excinfo.value)


def test_truncated_gzip_file(tmp_path):
    path = tmp_path / "short.gz"
    full = gzip.compress(encode_idx(np.arange(5000, dtype=np.int32)))
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match="corrupt or truncated gzip") as excinfo:
        read_idx(path)
    assert str(path) in str(excinfo.value)


def test_corrupt_gzip_file(tmp_path):
    path = tmp_path / "corrupt.gz"
    data = bytearray(gzip.compress(encode_idx(np.arange(5000, dtype=np.int32))))
    middle = len(data) // 2
    data[middle:middle + 16] = bytes(255 - b for b in data[middle:middle + 16])
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt or truncated gzip") as excinfo:
        read_idx(path)
    assert str(path) in str(excinfo.value)


def test_bad_magic(tmp_path):
    path = tmp_path / "notidx"
    path.write_bytes(b"\x89PNG" + bytes(100))
    with pytest.raises(DataError, match="bad magic number 0x89504e47") as excinfo:
        read_idx(path)
    assert str(path) in str(excinfo.value)


def test_unknown_type_code():
    data = b"\x00\x00\x07\x01" + struct.pack(">I", 3) + bytes(3)
    with pytest.raises(DataError, match="unknown IDX data type 0x07"):
        parse_idx(data, "x")


def test_zero_dimensions():
    with pytest.raises(DataError, match="zero dimensions"):
        parse_idx(b"\x00\x00\x08\x00", "x")


def test_too_short_and_truncated_header():
    with pytest.raises(DataError, match="too short"):
        parse_idx(b"\x00\x00", "x")
    with pytest.raises(DataError, match="truncated IDX header"):
        parse_idx(b"\x00\x00\x08\x03" + struct.pack(">I", 10), "x")


def test_trailing_bytes(tmp_path):
    path = tmp_path / "long-idx1-ubyte"
    path.write_bytes(encode_idx(np.zeros(10, np.uint8)) + b"extra")
    with pytest.raises(DataError, match="trailing bytes") as excinfo:
        read_idx(path)
    assert str(path) in str(excinfo.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_idx(tmp_path / "nope.gz")


def test_unsupported_dtype_is_refused(tmp_path):
    with pytest.raises(DataError, match="cannot store dtype"):
        write_idx(tmp_path / "a.idx", np.zeros(3, np.uint16))
    assert not (tmp_path / "a.idx").exists()


def test_writer_leaves_no_temporary_files(tmp_path):
    write_idx(tmp_path / "a.gz", np.zeros((2, 2), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["a.gz"]


def test_written_files_get_the_mode_of_any_new_file(tmp_path):
    # the temporary file is private while it is written; the published one is not
    old = os.umask(0o022)
    try:
        write_idx(tmp_path / "a.gz", np.zeros((2, 2), np.uint8))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.gz").stat().st_mode) == 0o644
