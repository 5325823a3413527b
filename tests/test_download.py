"""`mnist download` and its core, against a real HTTP server on 127.0.0.1.

The server serves generated IDX files (written by mnistcli.idx.write_idx) under several
"mirror" prefixes, honours Range requests, and can be told to drop a connection mid-file,
fail once with 503, or serve a corrupted copy.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dataset_factory import FILENAMES, spec_for, write_dataset
from typer.testing import CliRunner

from mnistcli.cli import app
from mnistcli.datasets import DATASETS, sha256_file, verify_files
from mnistcli.download import (
    COPIED,
    DOWNLOADED,
    SKIPPED,
    DownloadProgress,
    download_dataset,
    parse_mirror_list,
    resolve_mirrors,
)
from mnistcli.errors import DownloadError
from mnistcli.home import dataset_dir

DATASET = "testdigits"
TRAIN_IMAGES = FILENAMES["train-images"]


@dataclass
class MirrorServer:
    """What the handler serves and what it saw. Paths look like /<mirror>/<filename>."""

    files: dict[str, bytes] = field(default_factory=dict)
    drop_after: dict[str, int] = field(default_factory=dict)  # path -> bytes, once
    fail_once: set[str] = field(default_factory=set)  # paths answered 503 once
    ignore_range: bool = False  # answer every request with the whole file, as some do
    endless: set[str] = field(default_factory=set)  # paths streamed on and on, no length
    padded: set[str] = field(default_factory=set)  # paths served with 1 MiB of junk added
    chunk_delay: float = 0.0  # seconds between 4 KiB pieces: a slow mirror
    gate: threading.Event | None = None  # when set up, bodies wait for it (60 s at most)
    sent: dict[str, int] = field(default_factory=dict)  # path -> bytes written
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)
    base_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, mirror: str) -> str:
        return f"{self.base_url}/{mirror}/"

    def requests_for(self, mirror: str, filename: str) -> list[str | None]:
        return [rng for path, rng in self.requests if path == f"/{mirror}/{filename}"]


def make_handler(state: MirrorServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            range_header = self.headers.get("Range")
            with state.lock:
                state.requests.append((self.path, range_header))
                body = state.files.get(self.path)
                fail = self.path in state.fail_once
                state.fail_once.discard(self.path)
                drop = state.drop_after.pop(self.path, None)
            if body is not None and state.gate is not None:
                state.gate.wait(timeout=60)
            if body is not None and self.path in state.endless:
                self._stream_endlessly(body)
                return
            if body is not None and self.path in state.padded:
                body = body + bytes(1 << 20)
            if body is None or fail:
                code = 404 if body is None else 503
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = 0
            match = None if state.ignore_range else re.fullmatch(r"bytes=(\d+)-",
                                                                 range_header or "")
            if match:
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range",
                                 f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start:]
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if drop is not None:
                # send part of the file, then cut the connection as a network failure would
                self.wfile.write(payload[:drop])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if state.chunk_delay:
                for start in range(0, len(payload), 4096):
                    self.wfile.write(payload[start:start + 4096])
                    self.wfile.flush()
                    time.sleep(state.chunk_delay)
                return
            self.wfile.write(payload)

        def _stream_endlessly(self, body: bytes) -> None:
            """The file, then zeros without end (up to 200 MiB), with no Content-Length:
            only the reader can stop it."""
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            sent = 0
            try:
                self.wfile.write(body)
                sent = len(body)
                zeros = bytes(64 * 1024)
                while sent < 200 << 20:
                    self.wfile.write(zeros)
                    sent += len(zeros)
            except OSError:
                pass  # the reader hung up, as it should
            finally:
                with state.lock:
                    state.sent[self.path] = sent

    return Handler


@pytest.fixture
def source(tmp_path):
    """A directory of generated files and a registry entry for them, registered."""
    directory = tmp_path / "source"
    # 300 random images make a ~235 kB train file: several chunks, so drops land mid-file
    write_dataset(directory, n_train=300, n_test=40)
    return directory


@pytest.fixture
def spec(source, monkeypatch):
    spec = spec_for(source, DATASET)
    monkeypatch.setitem(DATASETS, DATASET, spec)
    return spec


@pytest.fixture
def server(source, monkeypatch):
    # CI sets MNIST_MIRROR for the real-data tests; these tests choose their own mirrors
    monkeypatch.delenv("MNIST_MIRROR", raising=False)
    state = MirrorServer()
    for filename in FILENAMES.values():
        body = (source / filename).read_bytes()
        state.files[f"/good/{filename}"] = body
        state.files[f"/also-good/{filename}"] = body
        corrupted = bytearray(body)
        corrupted[len(body) // 2] ^= 0xFF
        state.files[f"/corrupt/{filename}"] = bytes(corrupted)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


class RecordingProgress(DownloadProgress):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def on_start(self, filename, total_bytes, source):
        self.events.append(("start", filename, total_bytes))

    def on_progress(self, filename, bytes_done):
        self.events.append(("progress", filename, bytes_done))

    def on_done(self, filename, status):
        self.events.append(("done", filename, status))

    def on_note(self, message):
        self.events.append(("note", message))


def assert_dataset_complete(directory: Path, source: Path) -> None:
    """The four final files equal the originals and no partial file is left."""
    assert sorted(p.name for p in directory.iterdir()) == sorted(FILENAMES.values())
    for filename in FILENAMES.values():
        assert sha256_file(directory / filename) == sha256_file(source / filename)


def run_cli(*args: str):
    return CliRunner().invoke(app, ["download", *args])


# --- the core ---------------------------------------------------------------------------

def test_normal_download(server, spec, source):
    progress = RecordingProgress()
    result = download_dataset(DATASET, mirrors=[server.url("good")], progress=progress,
                              backoff=0)
    assert result.directory == dataset_dir(DATASET)
    assert [f.status for f in result.files] == [DOWNLOADED] * 4
    assert [f.source for f in result.files] == [server.url("good") + f for f in FILENAMES.values()]
    assert_dataset_complete(result.directory, source)
    assert {s.status for s in verify_files(dataset=DATASET)} == {"verified"}
    # progress: each file starts with its real size and ends at it
    size = (source / TRAIN_IMAGES).stat().st_size
    assert ("start", TRAIN_IMAGES, size) in progress.events
    last = [e for e in progress.events if e[0] == "progress" and e[1] == TRAIN_IMAGES][-1]
    assert last[2] == size
    assert ("done", TRAIN_IMAGES, DOWNLOADED) in progress.events


def test_dropped_connection_is_resumed_with_range(server, spec, source):
    server.drop_after[f"/good/{TRAIN_IMAGES}"] = 100_000
    progress = RecordingProgress()
    result = download_dataset(DATASET, mirrors=[server.url("good")], progress=progress,
                              backoff=0)
    assert server.requests_for("good", TRAIN_IMAGES) == [None, "bytes=100000-"]
    assert result.files[0].status == DOWNLOADED
    assert_dataset_complete(result.directory, source)
    assert any("resuming at 100000 bytes" in e[1] for e in progress.events if e[0] == "note")


def test_interrupted_download_keeps_only_a_part_file_then_resumes(server, spec, source):
    server.drop_after[f"/good/{TRAIN_IMAGES}"] = 50_000
    with pytest.raises(DownloadError, match="connection closed after 50000 of"):
        download_dataset(DATASET, mirrors=[server.url("good")], retries=0, backoff=0)
    directory = dataset_dir(DATASET)
    # never under the final name; the partial is kept to resume from
    assert not (directory / TRAIN_IMAGES).exists()
    part = directory / (TRAIN_IMAGES + ".part")
    assert part.stat().st_size == 50_000

    # a later run (from another mirror, even) resumes where the first stopped
    result = download_dataset(DATASET, mirrors=[server.url("also-good")], backoff=0)
    assert server.requests_for("also-good", TRAIN_IMAGES) == ["bytes=50000-"]
    assert result.files[0].status == DOWNLOADED
    assert_dataset_complete(directory, source)


def test_server_ignoring_range_restarts_from_zero(server, spec, source):
    server.ignore_range = True
    server.drop_after[f"/good/{TRAIN_IMAGES}"] = 100_000
    result = download_dataset(DATASET, mirrors=[server.url("good")], backoff=0)
    # the second answer is the whole file again (200): it must not be appended
    assert server.requests_for("good", TRAIN_IMAGES) == [None, "bytes=100000-"]
    assert result.files[0].status == DOWNLOADED
    assert_dataset_complete(result.directory, source)


def test_complete_part_file_is_used_without_refetching(server, spec, source):
    directory = dataset_dir(DATASET)
    directory.mkdir(parents=True)
    # as if a run was stopped between the last byte and the rename
    (directory / (TRAIN_IMAGES + ".part")).write_bytes((source / TRAIN_IMAGES).read_bytes())
    result = download_dataset(DATASET, mirrors=[server.url("good")], backoff=0)
    assert server.requests_for("good", TRAIN_IMAGES) == []
    assert result.files[0].status == DOWNLOADED
    assert_dataset_complete(directory, source)


def test_transient_server_error_is_retried(server, spec, source):
    server.fail_once.add(f"/good/{TRAIN_IMAGES}")
    progress = RecordingProgress()
    result = download_dataset(DATASET, mirrors=[server.url("good")], progress=progress,
                              backoff=0)
    assert len(server.requests_for("good", TRAIN_IMAGES)) == 2
    assert any("HTTP 503" in e[1] and "retrying" in e[1]
               for e in progress.events if e[0] == "note")
    assert_dataset_complete(result.directory, source)


def test_corrupt_mirror_is_discarded_and_the_next_one_used(server, spec, source):
    result = download_dataset(DATASET, mirrors=[server.url("corrupt"), server.url("good")],
                              backoff=0)
    for entry in result.files:
        assert entry.source == server.url("good") + entry.filename
        assert server.requests_for("corrupt", entry.filename) == [None]  # not retried
    assert_dataset_complete(result.directory, source)


def test_a_corrupt_file_is_never_kept(server, spec):
    with pytest.raises(DownloadError, match="SHA-256 mismatch") as excinfo:
        download_dataset(DATASET, mirrors=[server.url("corrupt")], backoff=0)
    assert server.url("corrupt") in str(excinfo.value)
    assert list(dataset_dir(DATASET).iterdir()) == []  # neither final nor .part


def test_404_everywhere_lists_every_mirror(server, spec):
    mirrors = [server.url("nothing-here"), server.url("gone")]
    with pytest.raises(DownloadError) as excinfo:
        download_dataset(DATASET, mirrors=mirrors, backoff=0)
    message = str(excinfo.value)
    for mirror in mirrors:
        assert f"{mirror} (HTTP 404" in message
    assert "MNIST_MIRROR" in message and "--from" in message
    assert "\n" not in message


def test_skips_files_already_verified(server, spec, source):
    download_dataset(DATASET, mirrors=[server.url("good")], backoff=0)
    seen = len(server.requests)
    result = download_dataset(DATASET, mirrors=[server.url("good")], backoff=0)
    assert [f.status for f in result.files] == [SKIPPED] * 4
    assert [f.source for f in result.files] == [None] * 4
    assert len(server.requests) == seen  # nothing fetched


def test_force_fetches_again(server, spec, source):
    download_dataset(DATASET, mirrors=[server.url("good")], backoff=0)
    seen = len(server.requests)
    result = download_dataset(DATASET, mirrors=[server.url("good")], force=True, backoff=0)
    assert [f.status for f in result.files] == [DOWNLOADED] * 4
    assert len(server.requests) == seen + 4
    assert_dataset_complete(result.directory, source)


def test_a_modified_file_is_fetched_again(server, spec, source):
    download_dataset(DATASET, mirrors=[server.url("good")], backoff=0)
    modified = dataset_dir(DATASET) / FILENAMES["test-labels"]
    modified.write_bytes(b"not the labels")
    result = download_dataset(DATASET, mirrors=[server.url("good")], backoff=0)
    assert [f.status for f in result.files] == [SKIPPED, SKIPPED, SKIPPED, DOWNLOADED]
    assert_dataset_complete(result.directory, source)


def test_file_url_and_directory_mirrors(spec, source, tmp_path):
    for mirror in (source.as_uri(), str(source)):
        result = download_dataset(DATASET, mirrors=[mirror], force=True,
                                  directory=tmp_path / "out")
        assert [f.status for f in result.files] == [COPIED] * 4
        assert result.files[0].source == str(source / TRAIN_IMAGES)
        assert_dataset_complete(tmp_path / "out", source)


def test_missing_local_mirror_then_next(spec, source, tmp_path):
    result = download_dataset(DATASET, mirrors=[str(tmp_path / "absent"), str(source)])
    assert [f.status for f in result.files] == [COPIED] * 4


def test_mnist_mirror_env_holds_several(server, spec, source, monkeypatch):
    monkeypatch.setenv("MNIST_MIRROR", f"{server.url('nothing')} ,\n {server.url('good')}")
    result = download_dataset(DATASET, backoff=0)
    assert result.files[0].source == server.url("good") + TRAIN_IMAGES
    assert server.requests_for("nothing", TRAIN_IMAGES) == [None]
    assert_dataset_complete(result.directory, source)


def test_mirror_resolution_order(spec, monkeypatch):
    assert parse_mirror_list(" a, b\tc,,d ") == ["a", "b", "c", "d"]
    monkeypatch.delenv("MNIST_MIRROR", raising=False)
    assert resolve_mirrors(DATASETS["mnist"]) == list(DATASETS["mnist"].mirrors)
    monkeypatch.setenv("MNIST_MIRROR", "/env/dir")
    assert resolve_mirrors(DATASETS["mnist"]) == ["/env/dir"]
    assert resolve_mirrors(DATASETS["mnist"], ["http://x/"]) == ["http://x/"]


def test_unsupported_scheme_is_reported(spec):
    with pytest.raises(DownloadError, match="unsupported URL scheme 'ftp'"):
        download_dataset(DATASET, mirrors=["ftp://example.org/mnist/"])


# --- the command ------------------------------------------------------------------------

def test_cli_stdout_is_just_the_directory(server, spec, source):
    result = run_cli("--dataset", DATASET, "--mirror", server.url("good"))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{dataset_dir(DATASET)}\n"
    assert TRAIN_IMAGES in result.stderr  # the progress display went to stderr
    assert_dataset_complete(dataset_dir(DATASET), source)


def test_cli_json(server, spec, source):
    result = run_cli("--dataset", DATASET, "--mirror", server.url("good"), "--json", "-q")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["directory"] == str(dataset_dir(DATASET))
    assert [f["status"] for f in record["files"]] == [DOWNLOADED] * 4
    assert record["files"][0]["sha256"] == sha256_file(source / TRAIN_IMAGES)
    assert result.stderr == ""  # --quiet


def test_cli_skip_and_force(server, spec, source):
    assert run_cli("--dataset", DATASET, "--mirror", server.url("good"), "-q").exit_code == 0
    again = run_cli("--dataset", DATASET, "--mirror", server.url("good"), "--json")
    assert [f["status"] for f in json.loads(again.stdout)["files"]] == [SKIPPED] * 4
    assert "skipped" in again.stderr
    forced = run_cli("--dataset", DATASET, "--mirror", server.url("good"), "--json", "--force")
    assert [f["status"] for f in json.loads(forced.stdout)["files"]] == [DOWNLOADED] * 4


def test_cli_404_everywhere(server, spec):
    result = run_cli("--dataset", DATASET, "--mirror", server.url("a"),
                     "--mirror", server.url("b"))
    assert result.exit_code == 1
    assert result.stdout == ""
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1
    assert server.url("a") in error_lines[0] and server.url("b") in error_lines[0]
    assert "MNIST_MIRROR" in error_lines[0] and "--from DIR" in error_lines[0]
    assert "Traceback" not in result.stderr
    assert list(dataset_dir(DATASET).iterdir()) == []


def test_cli_from_dir(spec, source):
    result = run_cli("--dataset", DATASET, "--from", str(source))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{dataset_dir(DATASET)}\n"
    assert_dataset_complete(dataset_dir(DATASET), source)


def test_cli_from_missing_dir(spec, tmp_path):
    result = run_cli("--dataset", DATASET, "--from", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: --from ") and "not a directory" in result.stderr


def test_cli_mirror_and_from_together_is_a_usage_error(spec, source):
    result = run_cli("--dataset", DATASET, "--from", str(source), "--mirror", str(source))
    assert result.exit_code == 2
    assert result.stdout == ""


def test_cli_unknown_dataset():
    result = run_cli("--dataset", "cifar")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unknown dataset 'cifar'")
    assert "mnist" in result.stderr


def test_cli_help_documents_mnist_mirror_and_an_example():
    result = CliRunner().invoke(app, ["download", "--help"])
    assert result.exit_code == 0
    assert "MNIST_MIRROR" in result.stdout and "Example: mnist download" in result.stdout


@pytest.mark.realdata
def test_real_mnist_download(real_mnist_mirror, monkeypatch):
    monkeypatch.delenv("MNIST_MIRROR", raising=False)
    result = CliRunner().invoke(app, ["download", "--mirror", str(real_mnist_mirror)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{dataset_dir('mnist')}\n"
    statuses = verify_files(dataset="mnist")
    assert [s.status for s in statuses] == ["verified"] * 4
    for status in statuses:
        assert status.sha256 == DATASETS["mnist"].file(status.role).sha256


# --- size cap, full disk, bad mirror lists (issue 10, cases 8 and 13) ---------------------

def test_a_mirror_streaming_too_much_is_cut_off_at_the_known_size(server, spec, source):
    path = f"/good/{TRAIN_IMAGES}"
    server.endless.add(path)
    started = time.monotonic()
    with pytest.raises(DownloadError, match="sent more than the file's"):
        download_dataset(DATASET, mirrors=[server.url("good")], backoff=0)
    assert time.monotonic() - started < 20
    # it stopped reading: the server could not push anywhere near its 200 MiB
    deadline = time.monotonic() + 5
    while path not in server.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.sent[path] < 50 << 20
    assert list(dataset_dir(DATASET).iterdir()) == []  # nothing kept, not even a .part


def test_a_mirror_announcing_too_much_is_not_read(server, spec, source):
    server.padded.add(f"/good/{TRAIN_IMAGES}")
    result = download_dataset(DATASET, mirrors=[server.url("good"), server.url("also-good")],
                              backoff=0)
    assert result.files[0].source == server.url("also-good") + TRAIN_IMAGES
    assert_dataset_complete(result.directory, source)


def test_a_local_mirror_of_the_wrong_size_is_not_copied(spec, source, tmp_path):
    bigger = tmp_path / "bigger"
    bigger.mkdir()
    for filename in FILENAMES.values():
        (bigger / filename).write_bytes((source / filename).read_bytes() + b"x" * 1000)
    with pytest.raises(DownloadError, match="not copied"):
        download_dataset(DATASET, mirrors=[str(bigger)], directory=tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_reported_at_once_not_retried(server, spec, source):
    directory = dataset_dir(DATASET)
    directory.mkdir(parents=True)
    # every write to /dev/full fails with ENOSPC, as on a full disk
    (directory / (TRAIN_IMAGES + ".part")).symlink_to("/dev/full")
    with pytest.raises(DownloadError) as excinfo:
        download_dataset(DATASET, mirrors=[server.url("good"), server.url("also-good")],
                         backoff=0)
    message = str(excinfo.value)
    assert "no space left on device" in message and TRAIN_IMAGES in message
    assert ".part" not in message and "connection lost" not in message
    assert len(server.requests_for("good", TRAIN_IMAGES)) == 1  # no retry
    assert server.requests_for("also-good", TRAIN_IMAGES) == []  # no other mirror either


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_while_copying_is_reported(spec, source):
    directory = dataset_dir(DATASET)
    directory.mkdir(parents=True)
    (directory / (TRAIN_IMAGES + ".part")).symlink_to("/dev/full")
    result = run_cli("--dataset", DATASET, "--from", str(source))
    assert result.exit_code == 1
    assert "no space left on device" in result.stderr
    assert "unexpected" not in result.stderr


def test_a_malformed_mirror_is_skipped_with_a_note(server, spec, source, monkeypatch):
    monkeypatch.setenv("MNIST_MIRROR", f"http://[::1 {server.url('good')}")
    progress = RecordingProgress()
    result = download_dataset(DATASET, progress=progress, backoff=0)
    assert result.files[0].source == server.url("good") + TRAIN_IMAGES
    notes = [e[1] for e in progress.events if e[0] == "note"]
    assert any("skipping mirror http://[::1" in note for note in notes)
    assert_dataset_complete(result.directory, source)


@pytest.mark.parametrize("value", [",,,", "http://[::1", "http://[::1 ftp://x/ http://:80/",
                                   "http://a\x01b/", "http://host:99999/"])
def test_a_mirror_list_with_nothing_usable_is_an_error(spec, monkeypatch, value):
    monkeypatch.setenv("MNIST_MIRROR", value)
    with pytest.raises(DownloadError, match="MNIST_MIRROR"):
        download_dataset(DATASET, backoff=0)
    result = run_cli("--dataset", DATASET)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "MNIST_MIRROR" in result.stderr
    assert "unexpected" not in result.stderr


def test_bad_mirror_options_are_skipped_or_refused(server, spec, source):
    result = run_cli("--dataset", DATASET, "--mirror", "http://[::1", "--mirror",
                     server.url("good"), "-q")
    assert result.exit_code == 0, result.stderr
    result = run_cli("--dataset", DATASET, "--mirror", "http://[::1", "--force")
    assert result.exit_code == 1 and "no usable mirror" in result.stderr
    assert "unexpected" not in result.stderr


def test_a_dataset_directory_under_a_file_is_named(spec, source, tmp_path, monkeypatch):
    blocker = tmp_path / "afile"
    blocker.write_text("mine")
    monkeypatch.setenv("MNIST_HOME", str(blocker / "home"))
    result = run_cli("--dataset", DATASET, "--from", str(source))
    assert result.exit_code == 1
    assert f"{blocker} is not a directory" in result.stderr
    assert "File exists" not in result.stderr
    assert blocker.read_text() == "mine"


# --- two downloads at once (issue 10, case 2) ---------------------------------------------

_DOWNLOAD_IN_A_PROCESS = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from dataset_factory import spec_for
    from mnistcli.datasets import DATASETS
    from mnistcli.cli import main
    DATASETS["testdigits"] = spec_for(__import__("pathlib").Path(sys.argv[2]), "testdigits")
    sys.argv = ["mnist", "download", "--dataset", "testdigits", "--mirror", sys.argv[3]]
    main()
""")


@pytest.mark.slow
def test_two_downloads_at_once_do_not_collide(server, spec, source):
    server.gate = threading.Event()  # the first holds on until the second is waiting
    command = [sys.executable, "-c", _DOWNLOAD_IN_A_PROCESS, str(Path(__file__).parent),
               str(source), server.url("good")]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    deadline = time.monotonic() + 60
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.02)  # the first is fetching (and holds the lock)
    assert server.requests, "the first download never started"
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)
    said = ""
    while "waiting for it to finish" not in " ".join(said.split()):
        line = second.stderr.readline()
        assert line, f"the second ended without waiting: {said!r}"
        said += line
    server.gate.set()
    second_out, second_err = second.communicate(timeout=120)
    first_out, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_err
    assert second.returncode == 0, said + second_err
    assert first_out.strip() == second_out.strip() == str(dataset_dir(DATASET))
    # each file was fetched once, by the first; the second found them verified
    for filename in FILENAMES.values():
        assert len(server.requests_for("good", filename)) == 1
    assert second_err.count("skipped") == 4
    assert_dataset_complete(dataset_dir(DATASET), source)


def test_a_verified_copy_where_no_lock_can_be_made_is_still_used(spec, source,
                                                                  monkeypatch):
    download_dataset(DATASET, mirrors=[str(source)])

    class ReadOnlyLock:  # what filelock does on a read-only file system
        def __init__(self, path):
            pass

        def acquire(self, timeout=None):
            raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("filelock.FileLock", ReadOnlyLock)
    progress = RecordingProgress()
    result = download_dataset(DATASET, mirrors=[str(source)], progress=progress)
    assert [f.status for f in result.files] == [SKIPPED] * 4
    assert any("without a lock" in e[1] for e in progress.events if e[0] == "note")
