"""Fault injection (issue 10): hostile bytes, broken images, closed pipes and streams,
Ctrl-C, paths under files, unknown output formats. Every case ends in a clear MnistError
(one ``Error: ...`` line from the CLI) or a valid result, never another exception and
never the "unexpected ..." catch-all of mnistcli.cli.

Property-based tests (hypothesis) feed arbitrary bytes to the IDX reader, the run-record
reader and the image loader; the CLI cases run through CliRunner, and the ones about
streams and signals in real subprocesses.
"""

from __future__ import annotations

import errno
import gzip
import http.server
import io
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from typer.testing import CliRunner

from mnistcli.cli import app, describe_os_error
from mnistcli.errors import DataError, ImageError, MnistError, OutputError, RunError
from mnistcli.fsutil import atomic_output, atomic_path, make_directory, save_png
from mnistcli.idx import parse_idx, read_idx
from mnistcli.pictures import MAX_PICTURE_PIXELS, comparison_picture, digit_grid, enlarge
from mnistcli.preprocess import load_image, preprocess
from mnistcli.runs import ASSETS_DIR, read_run_record

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / "fixtures" / "tiny"
IMAGES = REPO / "fixtures" / "images"
GOOD_IMAGE = IMAGES / "7_white_on_black.png"
MNIST = [sys.executable, "-m", "mnistcli"]

# database=None: no .hypothesis/ directory in the work tree; failures print their example
FAST = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


# --- arbitrary bytes --------------------------------------------------------------------

def _idx_header(type_code: int, shape: tuple[int, ...]) -> bytes:
    return struct.pack(">HBB", 0, type_code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)


idx_like = st.one_of(
    st.binary(max_size=600),
    # a plausible header, then anything
    st.builds(lambda code, shape, body: _idx_header(code, tuple(shape)) + body,
              st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]),
              st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=4),
              st.binary(max_size=300)),
    # the header of a huge array, with little data
    st.builds(lambda shape: _idx_header(0x08, tuple(shape)),
              st.lists(st.sampled_from([0, 1, 28, 60000, 2**31, 2**32 - 1]), min_size=1,
                       max_size=8)),
)


@FAST
@given(data=idx_like)
@example(data=b"")
@example(data=_idx_header(0x08, (2**32 - 1,) * 3))
@example(data=_idx_header(0x08, (0, 2**32 - 1)))
def test_idx_parser_gives_an_array_or_a_data_error(data):
    try:
        array = parse_idx(data, "f.idx")
    except DataError as exc:
        assert str(exc).startswith("f.idx: ")
        return
    assert isinstance(array, np.ndarray)
    assert array.nbytes <= len(data)


@FAST
@given(data=idx_like, compress=st.booleans(), cut=st.integers(0, 50))
def test_idx_files_gzip_or_not_truncated_or_not(tmp_path, data, compress, cut):
    path = tmp_path / "x.idx"
    raw = gzip.compress(data) if compress else data
    path.write_bytes(raw[:len(raw) - cut] if cut and compress else raw)
    try:
        read_idx(path)
    except DataError as exc:
        assert str(path) in str(exc)


def test_a_gzip_bomb_is_not_inflated(tmp_path):
    """10 images declared, then 256 MiB of zeros in a file of a few hundred kB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(_idx_header(0x08, (10, 28, 28)))]
    zeros = bytes(1 << 20)
    parts += [compressor.compress(zeros) for _ in range(256)]
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(b"".join(parts) + compressor.flush())
    with pytest.raises(DataError, match="has trailing bytes.*holds more"):
        read_idx(path)
    huge = tmp_path / "huge.gz"
    huge.write_bytes(gzip.compress(_idx_header(0x08, (2**32 - 1, 2**32 - 1))))
    with pytest.raises(DataError, match="more than the"):
        read_idx(huge)


run_json = st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4)
                 | st.dictionaries(st.sampled_from(["model", "started", "run", "x"]), inner,
                                   max_size=4),
                 max_leaves=20).map(lambda value: json.dumps(value).encode()),
)


@FAST
@given(data=run_json)
@example(data=b"\xff\xfe")
@example(data=b"NaN")
@example(data=b'{"model": 1}')
def test_run_record_reader_gives_a_dict_or_a_run_error(tmp_path, data):
    (tmp_path / "run.json").write_bytes(data)
    try:
        record = read_run_record(tmp_path)
    except RunError:
        return
    assert isinstance(record, dict) and "model" in record


def test_run_record_reader_survives_deep_nesting(tmp_path):
    (tmp_path / "run.json").write_text("[" * 100_000)
    with pytest.raises(RunError):
        read_run_record(tmp_path)


def _check_loaded(data: bytes) -> None:
    """load_image + preprocess: an ImageError naming the input, or a 28x28 uint8 digit."""
    try:
        pixels = preprocess(load_image(data, name="input.bin"), name="input.bin")
    except ImageError as exc:
        assert str(exc).startswith("input.bin")
        return
    assert pixels.shape == (28, 28) and pixels.dtype == np.uint8


@FAST
@given(data=st.binary(max_size=2000))
@example(data=b"")
@example(data=b"\x89PNG\r\n\x1a\n")
@example(data=b"GIF89a")
def test_image_loader_on_arbitrary_bytes(data):
    _check_loaded(data)


@FAST
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1,
                      max_size=8),
       source=st.sampled_from(sorted(p.name for p in IMAGES.iterdir()
                                     if p.is_file() and p.suffix != ".md")),
       cut=st.integers(0, 1))
def test_image_loader_on_corrupted_fixture_images(flips, source, cut):
    data = bytearray((IMAGES / source).read_bytes())
    for position, value in flips:
        data[position % len(data)] ^= value
    if cut:
        data = data[:len(data) * 2 // 3]
    _check_loaded(bytes(data))


float_images = hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1,
                                                       max_side=40),
                          elements=st.floats(width=32, allow_nan=True, allow_infinity=True))


@FAST
@given(pixels=float_images, fmt=st.sampled_from(["TIFF", "npy"]))
# finite, but their differences overflow float32 (they gave NaN, then a crash in ink_map)
@example(pixels=np.random.default_rng(1).normal(0, 1e38, (10, 10)).astype(np.float32),
         fmt="TIFF")
def test_float_images_with_nan_or_infinity(pixels, fmt):
    if fmt == "TIFF":
        buffer = io.BytesIO()
        Image.fromarray(pixels, mode="F").save(buffer, format="TIFF")
        _check_loaded(buffer.getvalue())
    else:  # the API's array input: finite values only are a picture
        try:
            result = preprocess(Image.fromarray(pixels, mode="F"), name="arr")
        except ImageError:
            return
        assert result.shape == (28, 28)


def test_stdin_is_read_only_up_to_a_limit(monkeypatch):
    monkeypatch.setattr("mnistcli.preprocess.MAX_STDIN_BYTES", 1000)
    endless = io.BytesIO(b"y\n" * 100_000)  # as `yes | mnist predict -`
    with pytest.raises(ImageError, match="more than 0 MiB on stdin"):
        load_image("-", stdin=endless)
    assert endless.tell() == 1001


def _nan_tiff(path: Path) -> Path:
    pixels = np.zeros((40, 40), np.float32)
    pixels[8:32, 18:22] = 1.0
    pixels[0, 0] = np.nan
    Image.fromarray(pixels, mode="F").save(path)
    return path


def test_image_files_are_closed_once_loaded():
    # a GIF (any multi-frame format) kept its file open until garbage collection: a
    # ResourceWarning per file, and descriptors held while a directory is read
    import gc
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        image = load_image(IMAGES / "1_palette.gif")
        assert preprocess(image).shape == (28, 28)
        del image
        gc.collect()


def test_a_nan_pixel_is_that_files_error(tmp_path):
    nan = _nan_tiff(tmp_path / "nan.tif")
    with pytest.raises(ImageError, match=r"nan\.tif: holds NaN or infinite pixel values"):
        load_image(nan)


# --- pictures: a size budget ------------------------------------------------------------

def test_grids_over_the_pixel_budget_are_refused_before_drawing():
    digit = np.zeros((28, 28), np.uint8)
    many = np.zeros((2001, 28, 28), np.uint8)
    with pytest.raises(OutputError, match="over the limit"):
        digit_grid(many, [str(i) for i in range(2001)], scale=64)
    with pytest.raises(OutputError, match="over the limit"):
        enlarge(digit, 1000)
    with pytest.raises(OutputError, match="over the limit"):
        comparison_picture(digit, digit, scale=1000)
    # up to the budget they are drawn
    grid = digit_grid(many[:20], scale=8)
    assert grid.width * grid.height <= MAX_PICTURE_PIXELS


# --- files: paths under files, temporary names, formats --------------------------------

def test_a_directory_under_a_file_is_named(tmp_path):
    blocker = tmp_path / "passwd"
    blocker.write_text("keep me")
    with pytest.raises(OutputError, match=f"^{blocker} is not a directory"):
        make_directory(blocker / "x" / "y")
    with pytest.raises(OutputError, match=f"^{blocker} is not a directory$"):
        with atomic_path(blocker / "x.png"):
            pass
    with pytest.raises(OutputError, match=f"^{blocker} is not a directory"):
        with atomic_output(blocker / "export"):
            pass
    # an OSError from elsewhere reaches the CLI boundary, which names the file in the way
    for error in (FileExistsError(17, "File exists", str(blocker)),
                  NotADirectoryError(20, "Not a directory", str(blocker / "a" / "b"))):
        assert describe_os_error(error) == f"{blocker} is not a directory"
    assert blocker.read_text() == "keep me"


def test_errors_name_the_users_path_not_the_temporary_file(tmp_path):
    final = tmp_path / "x.png"
    with pytest.raises(OSError) as excinfo:
        with atomic_path(final, suffix=".png") as tmp:
            open(tmp / "inside", "w")  # a file is not a directory: fails naming tmp
    assert ".part" not in str(excinfo.value) and str(final) in str(excinfo.value)
    assert list(tmp_path.iterdir()) == []  # and nothing is left behind
    with pytest.raises(OSError) as excinfo:
        with atomic_path(final):
            raise OSError(errno.ENOSPC, "No space left on device")  # as write() says it
    assert str(excinfo.value) == f"[Errno {errno.ENOSPC}] No space left on device: '{final}'"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, magic", [("g.png", b"\x89PNG"), ("g.jpg", b"\xff\xd8"),
                                         ("g.JPEG", b"\xff\xd8"), ("g.webp", b"RIFF"),
                                         ("g.bmp", b"BM"), ("g", b"\x89PNG")])
def test_pictures_are_written_in_the_format_their_name_says(tmp_path, name, magic):
    picture = digit_grid(np.zeros((3, 28, 28), np.uint8), ["a", "b", "c"])
    path = save_png(picture, tmp_path / name)
    assert path.read_bytes().startswith(magic)
    Image.open(path).verify()


def test_an_unknown_picture_format_is_refused(tmp_path):
    with pytest.raises(OutputError, match=r"'\.foo' is not an image format"):
        save_png(Image.new("L", (4, 4)), tmp_path / "g.foo")
    assert list(tmp_path.iterdir()) == []


# --- the CLI: bad input never reaches the catch-all -------------------------------------

def _fixture_files(tmp_path: Path) -> dict[str, Path]:
    files = {"nan": _nan_tiff(tmp_path / "nan.tif")}
    files["garbage"] = tmp_path / "garbage.png"
    files["garbage"].write_bytes(os.urandom(3000))
    files["empty"] = tmp_path / "empty.png"
    files["empty"].write_bytes(b"")
    files["afile"] = tmp_path / "afile"
    files["afile"].write_text("mine")
    labelled = tmp_path / "labelled" / "7"
    labelled.mkdir(parents=True)
    _nan_tiff(labelled / "nan.tif")
    Image.open(GOOD_IMAGE).save(labelled / "good.png")
    files["labelled"] = tmp_path / "labelled"
    files["noimages"] = tmp_path / "noimages"
    files["noimages"].mkdir()
    # a home whose one run has a wrong-typed run.json field
    files["badhome"] = tmp_path / "badhome"
    bad_run = files["badhome"] / "runs" / "bad"
    shutil.copytree(ASSETS_DIR, bad_run, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    record = json.loads((bad_run / "run.json").read_text())
    (bad_run / "run.json").write_text(json.dumps({**record, "started": 12345}))
    files["shipped"] = ASSETS_DIR
    return files


DATA = ["--data", str(TINY)]
TINY_INSPECT = ["inspect", *DATA, "--validation", "100"]

# (arguments, environment, stdin): each must fail (or succeed) with a clear message
BAD_INPUTS = [
    (["download"], {"MNIST_MIRROR": ",,,"}, None),
    (["download"], {"MNIST_MIRROR": "http://[::1"}, None),
    (["download"], {"MNIST_MIRROR": "http://[::1 ftp://x/ http://:80/"}, None),
    (["download", "--mirror", "http://[::1"], {}, None),
    (["download", "--from", "~nosuchuser/x"], {}, None),
    (["download"], {"MNIST_MIRROR": "~nosuchuser/x"}, None),
    (["download", "--from", "{afile}"], {}, None),
    (["runs"], {"MNIST_HOME": "~nosuchuser/x"}, None),
    (["download"], {"MNIST_HOME": "~nosuchuser/x"}, None),
    (["evaluate", *DATA], {"MNIST_HOME": "~nosuchuser/x"}, None),
    (["download", "--from", str(TINY)], {"MNIST_HOME": "{afile}/home"}, None),
    (["inspect", "{nan}"], {}, None),
    (["inspect", "{garbage}"], {}, None),
    (["inspect", "{empty}"], {}, None),
    (["inspect", "{noimages}"], {}, None),
    (["inspect", "{nan}", "--save", "{afile}/x.png"], {}, None),
    (["inspect", str(GOOD_IMAGE), "--save", "{afile}/x.png"], {}, None),
    (["inspect", str(GOOD_IMAGE), "--save", "{tmp}/x.foo"], {}, None),
    (["inspect", "-"], {}, b""),
    (["inspect", "-"], {}, b"\x00\x01garbage"),
    ([*TINY_INSPECT, "--index", "0,1", "--save", "{afile}/g.png"], {}, None),
    ([*TINY_INSPECT, "--index", "0,1", "--save", "{tmp}/g.foo"], {}, None),
    ([*TINY_INSPECT, "--index", "0,1", "--save", "{tmp}"], {}, None),
    ([*TINY_INSPECT, "--index", ",".join(map(str, range(500))), "--save", "{tmp}/g.png",
      "--scale", "64"], {}, None),
    ([*TINY_INSPECT, "--index", "99999999999999999999"], {}, None),
    ([*TINY_INSPECT, "--index", "-1"], {}, None),
    (["inspect", "--data", "{afile}"], {}, None),
    (["inspect", "--data", "{noimages}"], {}, None),
    (["predict", "{nan}", "{garbage}", "{empty}", "{noimages}", "{tmp}/missing.png"], {},
     None),
    (["predict", "-"], {}, b"\x00garbage"),
    (["predict", "-m", "-", str(GOOD_IMAGE)], {}, os.urandom(3000)),
    (["predict", "-m", "-", str(GOOD_IMAGE)], {}, b"a" * 200_000),
    (["predict", "-m", "{garbage}", str(GOOD_IMAGE)], {}, None),
    (["evaluate", *DATA], {}, os.urandom(3000)),
    (["evaluate", *DATA], {}, b"a" * 5000),
    (["evaluate", *DATA], {}, b"b" * 200_000),
    (["evaluate", *DATA], {}, b'{"run": 1}'),
    (["evaluate", *DATA], {}, b"{" * 5000),
    (["evaluate", "--images", "{labelled}"], {}, None),
    (["evaluate", "--images", "{noimages}"], {}, None),
    (["evaluate", "--images", "{afile}"], {}, None),
    (["evaluate", *DATA, "--plot", "{tmp}/c.foo"], {}, None),
    (["evaluate", *DATA, "--plot", "{afile}/c.png"], {}, None),
    (["evaluate", *DATA, "--misclassified", "100000", "--save", "{tmp}/m.png"], {}, None),
    (["plot-history"], {}, b"\x00" * 100),
    (["plot-weights"], {}, b"c" * 100_000),
    (["plot-history", "{garbage}"], {}, None),
    (["plot-weights", "{garbage}"], {}, None),
    (["plot-history", "{tmp}/missing-run", "--out", "{afile}/h.png"], {}, None),
    (["export"], {}, b"\x00garbage"),
    (["export", "{garbage}"], {}, None),
    (["runs"], {"MNIST_HOME": "{afile}"}, None),
    (["runs", "--json"], {"MNIST_HOME": "/dev/null"}, None),
    (["models", "--json"], {"MNIST_HOME": "{afile}/x"}, None),
    # training, runs and exports (cases 1, 5, 6, 12, 15)
    (["train", "-m", "bogus"], {}, None),
    (["train", *DATA, "--lr", "inf"], {}, None),
    (["train", *DATA, "--lr", "nan"], {}, None),
    (["train", *DATA, "--seed", "-1"], {}, None),
    (["train", *DATA, "--seed", str(2**70)], {}, None),
    (["train", *DATA, "--validation", "600"], {}, None),
    (["train", *DATA, "--out", "{afile}"], {}, None),
    (["train", "--resume", "{shipped}", "--epochs", "20"], {}, None),
    (["train", "--resume", "{tmp}/no-such-run"], {}, None),
    (["train", "--resume", "{garbage}"], {}, None),
    (["evaluate", *DATA], {}, b""),
    (["evaluate", *DATA], {}, b"\n  \n"),
    (["export"], {}, b""),
    (["plot-weights"], {}, b""),
    (["predict", "-m", "-", str(GOOD_IMAGE)], {}, b""),
    (["export", "{shipped}", "--format", "csv", "--out", "{tmp}", "--force"], {}, None),
    (["export", "{shipped}", "--format", "keras", "--out", "{afile}"], {}, None),
    (["plot-history", "{shipped}", "--out", "{afile}"], {}, None),
    (["runs"], {"MNIST_HOME": "{badhome}"}, None),
    (["runs", "--prune"], {"MNIST_HOME": "{badhome}"}, None),
    (["predict", str(GOOD_IMAGE)], {"MNIST_HOME": "{badhome}"}, None),
    (["runs", "--prune", "--yes", "x"], {}, None),
]


@pytest.mark.slow
def test_bad_input_never_reaches_the_catch_all(tmp_path, monkeypatch):
    files = _fixture_files(tmp_path)
    names = {key: str(path) for key, path in files.items()} | {"tmp": str(tmp_path)}
    runner = CliRunner()
    problems = []
    for args, env, stdin in BAD_INPUTS:
        args = [arg.format(**names) for arg in args]
        with monkeypatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value.format(**names))
            result = runner.invoke(app, args, input=stdin)
        stderr = result.stderr
        if ("unexpected" in stderr or "Traceback" in stderr
                or (result.exception and not isinstance(result.exception, SystemExit))):
            problems.append(f"mnist {' '.join(args)[:120]}: {stderr[-300:]!r} "
                            f"{result.exception!r}")
            continue
        if result.exit_code not in (0, 1, 2):
            problems.append(f"mnist {' '.join(args)[:120]}: exit {result.exit_code}")
        for line in stderr.splitlines():
            if line.startswith("Error:"):
                assert len(line) < 1500, f"an error line of {len(line)} characters"
                assert ".part" not in line
    assert not problems, "\n".join(problems)
    assert files["afile"].read_text() == "mine"


def test_nan_image_in_a_batch_fails_alone(tmp_path):
    nan = _nan_tiff(tmp_path / "nan.tif")
    result = CliRunner().invoke(app, ["predict", str(nan), str(GOOD_IMAGE), "-q"])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{GOOD_IMAGE}\t7\t")
    assert f"Error: {nan}: holds NaN or infinite pixel values" in result.stderr
    assert "unexpected" not in result.stderr


def test_huge_stdin_is_not_echoed(tmp_path):
    result = CliRunner().invoke(app, ["evaluate", *DATA], input=b"x" * 10_000_000)
    assert result.exit_code == 1
    assert len(result.stderr) < 400 and "stdin holds more than 64 KiB" in result.stderr


# --- streams and signals, in real processes ---------------------------------------------

def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "MNIST_HOME": str(tmp_path / "home"), "NO_COLOR": "1",
            "PYTHONPATH": str(REPO)}


def test_a_reader_that_leaves_ends_the_command_quietly(tmp_path):
    indices = ",".join(map(str, range(500)))
    process = subprocess.Popen([*MNIST, *TINY_INSPECT, "--index", indices, "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=_env(tmp_path))
    process.stdout.close()  # the reader is gone before anything is written
    with process.stderr:
        stderr = process.stderr.read().decode()
    process.wait(timeout=60)
    assert process.returncode == 141, stderr  # 128 + SIGPIPE, as for `yes | head`
    assert stderr == ""


@pytest.mark.slow
def test_predict_into_head(tmp_path):
    directory = tmp_path / "many"
    directory.mkdir()
    data = GOOD_IMAGE.read_bytes()
    for index in range(1500):
        (directory / f"{index:04d}.png").write_bytes(data)
    result = subprocess.run(f"{' '.join(MNIST)} predict {directory} -q | head -1; "
                            "echo \"status=${PIPESTATUS[0]}\"", shell=True,
                            executable="/bin/bash", capture_output=True, text=True,
                            env=_env(tmp_path), timeout=300)
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{directory}/0000.png\t7\t")
    assert lines[-1] in ("status=141", "status=0")  # 0 only if all fitted in the pipe
    assert result.stderr == ""


@pytest.mark.parametrize("command", [["runs"], ["models"], ["runs", "--json"]])
def test_a_closed_stdout_is_an_error_not_a_crash(tmp_path, command):
    result = subprocess.run([*MNIST, *command], capture_output=False, stderr=subprocess.PIPE,
                            text=True, env=_env(tmp_path), timeout=60,
                            preexec_fn=lambda: os.close(1))
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr
    assert "isatty" not in result.stderr
    if result.returncode:
        assert result.returncode == 1
        assert result.stderr.startswith("Error: standard output is closed")


def test_a_closed_stdin_reads_as_empty(tmp_path):
    result = subprocess.run([*MNIST, "predict", "-", "-q"], capture_output=True,
                            text=True, env=_env(tmp_path),
                            timeout=60, preexec_fn=lambda: os.close(0))
    assert result.returncode == 1
    assert "nothing on stdin" in result.stderr and "unexpected" not in result.stderr


class _SlowMirror(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "9912422")
        self.end_headers()
        try:
            for _ in range(2000):
                self.wfile.write(b"x" * 1000)
                self.wfile.flush()
                time.sleep(0.02)
        except OSError:
            pass


def signal_a_download_in_flight(tmp_path: Path, signum: int
                                ) -> tuple[subprocess.Popen, str, str, Path]:
    """Start `mnist download` from a slow local mirror, send ``signum`` once the first
    file's .part holds bytes; (process, stdout, stderr, that .part path)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowMirror)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        process = subprocess.Popen(
            [*MNIST, "download", "--mirror", f"http://127.0.0.1:{server.server_address[1]}/"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path))
        part = tmp_path / "home" / "datasets" / "mnist" / "train-images-idx3-ubyte.gz.part"
        deadline = time.monotonic() + 120
        while not (part.exists() and part.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    return process, stdout, stderr, part


@pytest.mark.slow
def test_ctrl_c_during_a_download_says_interrupted(tmp_path):
    process, stdout, stderr, part = signal_a_download_in_flight(tmp_path, signal.SIGINT)
    assert process.returncode == 130
    assert stderr.rstrip().endswith("Interrupted.")
    assert "Traceback" not in stderr and stdout == ""
    # kept to resume from, and nothing under the final name
    assert part.exists() and not part.with_suffix("").exists()


@pytest.mark.slow
def test_ctrl_c_while_tensorflow_loads_says_interrupted(tmp_path):
    process = subprocess.Popen([*MNIST, "train", "-m", "logreg", *DATA, "--validation", "100"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=_env(tmp_path))
    time.sleep(1.0)  # importing tensorflow takes longer than this
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    # 130, or killed by SIGINT itself (which a shell shows as 130 too)
    assert process.returncode in (130, -signal.SIGINT)
    assert "Interrupted" in stderr and "Traceback" not in stderr


def test_mnist_error_is_the_base_of_the_new_errors():
    assert issubclass(OutputError, MnistError)
