"""Fetching a dataset's four files from mirrors, with verified integrity.

Every file is checked against the SHA-256 digest in the dataset registry. A file is
written to ``<name>.part`` in the dataset directory while it arrives and renamed to its
final name only once it is complete and verified, so a final name always holds a good
file. An interrupted HTTP download keeps its ``.part`` and resumes with a Range request;
transient failures are retried with backoff before moving on to the next mirror.

Mirrors are tried in order: explicit ones, else ``MNIST_MIRROR`` (several separated by
whitespace or commas), else the registry's public mirrors. ``http(s)://`` and
``file://`` URLs and plain directory paths work; a malformed entry is skipped with a
note, and a list with no usable entry is an error. Only the standard library does HTTP.

A file is never read past the size the registry gives for it, so a misbehaving mirror
cannot fill the disk. A full disk stops the download at once (retrying cannot help).
Two downloads into the same directory do not interleave: the second waits for an
inter-process lock held by the first (a file beside the directory), then finds the
files there and verified.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mnistcli import __version__
from mnistcli.datasets import DEFAULT_DATASET, DatasetFile, DatasetSpec, get_dataset, sha256_file
from mnistcli.errors import DownloadError, MnistError
from mnistcli.fsutil import expand_user, make_directory
from mnistcli.home import MIRROR_ENV, dataset_dir

PART_SUFFIX = ".part"
CHUNK_SIZE = 64 * 1024
DEFAULT_RETRIES = 2  # retries per mirror after the first attempt, for transient failures
DEFAULT_BACKOFF = 0.5  # seconds before the first retry; doubles each time
DEFAULT_TIMEOUT = 30.0  # seconds without data before a connection counts as failed
LOCK_SUFFIX = ".lock"
USER_AGENT = f"mnistcli/{__version__} (+python urllib)"

# Status of one file in a DownloadResult
DOWNLOADED = "downloaded"  # fetched over HTTP(S)
COPIED = "copied"  # copied from a local directory or file:// mirror
SKIPPED = "skipped"  # already present and verified


class DownloadProgress:
    """Receives progress events; the CLI subclasses it to draw a progress bar.

    ``total_bytes`` is None when the source does not say. ``bytes_done`` counts the whole
    file, including any part resumed from an earlier attempt.
    """

    def on_start(self, filename: str, total_bytes: int | None, source: str) -> None:
        pass

    def on_progress(self, filename: str, bytes_done: int) -> None:
        pass

    def on_done(self, filename: str, status: str) -> None:
        pass

    def on_note(self, message: str) -> None:
        """Something people may want to know: a failed attempt, a retry, a resume."""


@dataclass(frozen=True)
class FileResult:
    role: str
    filename: str
    path: Path
    status: str  # DOWNLOADED, COPIED or SKIPPED
    bytes: int
    sha256: str
    source: str | None  # the URL or path it came from; None when skipped

    def to_dict(self) -> dict:
        return {"role": self.role, "filename": self.filename, "path": str(self.path),
                "status": self.status, "bytes": self.bytes, "sha256": self.sha256,
                "source": self.source}


@dataclass(frozen=True)
class DownloadResult:
    dataset: str
    directory: Path
    files: list[FileResult] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "directory": str(self.directory),
                "files": [f.to_dict() for f in self.files]}


class _Transient(Exception):
    """A failure worth retrying on the same mirror (dropped connection, timeout, 5xx)."""


class _MirrorFailed(Exception):
    """This mirror cannot deliver this file; move on to the next one."""


def parse_mirror_list(value: str) -> list[str]:
    """Split a ``MNIST_MIRROR`` value: mirrors separated by whitespace and/or commas."""
    return [item for item in re.split(r"[\s,]+", value) if item]


def mirror_problem(mirror: str) -> str | None:
    """Why ``mirror`` cannot be used (a malformed URL, an unsupported scheme), or None."""
    if not _is_url(mirror):
        try:
            expand_user(mirror)
        except MnistError as exc:
            return str(exc)
        return None  # a directory path: whether it exists is checked when it is used
    try:
        parsed = urllib.parse.urlparse(mirror)
        parsed.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"malformed URL ({exc})"
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        if not parsed.hostname:
            return "malformed URL (no host)"
        if re.search(r"[\x00-\x20\x7f]", mirror):
            return "malformed URL (it holds spaces or control characters)"
        return None
    if scheme == "file":
        return None
    return f"unsupported URL scheme {scheme!r}; use http(s)://, file:// or a directory path"


def resolve_mirrors(spec: DatasetSpec, mirrors: Sequence[str] | None = None,
                    progress: DownloadProgress | None = None) -> list[str]:
    """Explicit mirrors, else ``MNIST_MIRROR``, else the registry's public mirrors.

    A malformed entry is skipped with a note to ``progress``; a list given (explicitly or
    by a non-blank ``MNIST_MIRROR``) with no usable entry raises DownloadError rather than
    quietly falling back to the public mirrors."""
    if mirrors:
        candidates, origin = [m for m in mirrors if m.strip()], "the mirrors given"
    else:
        value = os.environ.get(MIRROR_ENV, "")
        if not value.strip():
            return list(spec.mirrors)
        candidates, origin = parse_mirror_list(value), MIRROR_ENV
        if not candidates:
            raise DownloadError(f"{MIRROR_ENV}={_shorten(value)!r} names no mirror; give "
                                "URLs or directories separated by spaces or commas, or unset "
                                "it to use the public mirrors")
    usable, problems = [], []
    for mirror in candidates:
        problem = mirror_problem(mirror)
        if problem is None:
            usable.append(mirror)
        else:
            problems.append((_shorten(mirror), problem))
    if not usable:
        detail = "; ".join(f"{mirror} ({problem})" for mirror, problem in problems)
        raise DownloadError(f"no usable mirror in {origin}: {detail or 'none given'}")
    for mirror, problem in problems:
        if progress is not None:
            progress.on_note(f"skipping mirror {mirror}: {problem}")
    return usable


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_url(mirror: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", mirror) is not None


def _local_source(mirror: str, filename: str) -> Path | None:
    """The path of ``filename`` in a local mirror (directory or file:// URL), else None."""
    if not _is_url(mirror):
        return expand_user(mirror) / filename
    parsed = urllib.parse.urlparse(mirror)
    if parsed.scheme == "file":
        from urllib.request import url2pathname

        return Path(url2pathname(parsed.path)) / filename
    return None


def _file_url(mirror: str, filename: str) -> str:
    return mirror.rstrip("/") + "/" + filename


def download_dataset(
    dataset: str | DatasetSpec = DEFAULT_DATASET,
    *,
    mirrors: Sequence[str] | None = None,
    from_dir: Path | str | None = None,
    directory: Path | str | None = None,
    force: bool = False,
    progress: DownloadProgress | None = None,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    timeout: float = DEFAULT_TIMEOUT,
) -> DownloadResult:
    """Make sure ``directory`` (default ``MNIST_HOME/datasets/<name>``; the EMNIST datasets
    share ``emnist``) holds the dataset's files, verified. ``from_dir`` copies from a local
    directory instead of mirrors.

    Raises DownloadError, naming every source tried and why it failed, when a file cannot
    be obtained from any of them.
    """
    spec = dataset if isinstance(dataset, DatasetSpec) else get_dataset(dataset)
    target = Path(directory) if directory is not None else dataset_dir(spec.directory_name)
    progress = progress or DownloadProgress()
    if from_dir is not None:
        from_dir = expand_user(from_dir)
        if not from_dir.is_dir():
            raise DownloadError(f"--from {from_dir}: not a directory")
        sources = [str(from_dir)]
    else:
        sources = resolve_mirrors(spec, mirrors, progress)
    make_directory(target)
    fetcher = _Fetcher(progress, retries=retries, backoff=backoff, timeout=timeout)
    results = []
    with dataset_lock(target, progress):
        for entry in spec.files:
            results.append(_ensure_file(entry, target, sources, force, fetcher, progress,
                                        from_dir is not None))
    return DownloadResult(spec.name, target, results)


def lock_path(directory: Path) -> Path:
    """The lock file of a dataset directory: hidden, beside it (not inside, so the
    directory holds only the dataset's files)."""
    directory = Path(directory)
    return directory.parent / f".{directory.name}{LOCK_SUFFIX}"


@contextlib.contextmanager
def dataset_lock(directory: Path, progress: DownloadProgress) -> Iterator[None]:
    """Hold the inter-process lock of ``directory`` while writing into it; when another
    process holds it, say so through ``progress`` and wait for it."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_path(directory)))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        progress.on_note(f"another download is writing into {directory}; waiting for it "
                         "to finish")
        lock.acquire()
    except OSError as exc:
        # a read-only shared copy: nothing will be written there unless a file is
        # missing, and then writing it fails with its own clear error
        progress.on_note(f"cannot lock {directory} ({exc.strerror or exc}); going on "
                         "without a lock")
        yield
        return
    try:
        yield
    finally:
        lock.release()


def _ensure_file(entry: DatasetFile, target: Path, sources: list[str], force: bool,
                 fetcher: _Fetcher, progress: DownloadProgress, copy_mode: bool) -> FileResult:
    final = target / entry.filename
    part = target / (entry.filename + PART_SUFFIX)
    if final.is_file() and not force:
        digest = sha256_file(final)
        if digest == entry.sha256:
            size = final.stat().st_size
            progress.on_start(entry.filename, size, str(final))
            progress.on_progress(entry.filename, size)
            progress.on_done(entry.filename, SKIPPED)
            return FileResult(entry.role, entry.filename, final, SKIPPED, size, digest, None)
        progress.on_note(f"{entry.filename}: present but its SHA-256 does not match; "
                         "fetching it again")
    if force:
        # a forced fetch starts from nothing, not from an earlier partial
        part.unlink(missing_ok=True)
    failures: list[str] = []
    for mirror in sources:
        try:
            status, source = fetcher.fetch(entry, mirror, part)
        except _MirrorFailed as exc:
            failures.append(f"{mirror} ({exc})")
            progress.on_note(f"{entry.filename}: {mirror} failed: {exc}")
            continue
        # complete and verified: only now does it take the final name
        try:
            os.replace(part, final)
        except OSError as exc:
            raise DownloadError(f"{final}: cannot write ({exc.strerror or exc})") from None
        progress.on_done(entry.filename, status)
        return FileResult(entry.role, entry.filename, final, status, final.stat().st_size,
                          entry.sha256, source)
    if copy_mode:
        hint = "check that the directory holds the dataset's four original .gz files"
    else:
        hint = (f"set {MIRROR_ENV} to a URL or directory holding the files (several may be "
                "separated by spaces or commas), pass --mirror URL, or copy them from a "
                "local directory with `mnist download --from DIR`")
    tried = "; ".join(failures) if failures else "no mirrors configured"
    raise DownloadError(f"could not get {entry.filename}: tried {tried}. To fix: {hint}")


class _Fetcher:
    def __init__(self, progress: DownloadProgress, retries: int, backoff: float,
                 timeout: float) -> None:
        self.progress = progress
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout

    def fetch(self, entry: DatasetFile, mirror: str, part: Path) -> tuple[str, str]:
        """Bring ``entry`` from ``mirror`` into ``part``, complete and verified.
        Returns (status, source). Raises _MirrorFailed; never leaves a bad ``part``."""
        local = _local_source(mirror, entry.filename)
        if local is not None:
            self._copy(entry, local, part)
            return COPIED, str(local)
        url = _file_url(mirror, entry.filename)
        scheme = urllib.parse.urlparse(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise _MirrorFailed(f"unsupported URL scheme {scheme!r}; use http(s)://, "
                                "file:// or a directory path")
        if part.is_file() and sha256_file(part) == entry.sha256:
            # an earlier run finished the transfer but stopped before the rename
            return DOWNLOADED, url
        if part.is_file() and entry.size is not None and part.stat().st_size > entry.size:
            part.unlink()  # longer than the file can be: nothing in it to resume from
        resumed_digest_retry = False
        attempt = 0
        while True:
            offset = part.stat().st_size if part.is_file() else 0
            try:
                self._http_get(entry, url, part, offset)
            except _Transient as exc:
                if attempt >= self.retries:
                    raise _MirrorFailed(f"{exc}; gave up after {attempt + 1} attempts") from None
                delay = self.backoff * (2 ** attempt)
                attempt += 1
                self.progress.on_note(f"{entry.filename}: {exc}; retrying in {delay:g} s "
                                      f"(attempt {attempt + 1} of {self.retries + 1})")
                time.sleep(delay)
                continue
            digest = sha256_file(part)
            if digest == entry.sha256:
                return DOWNLOADED, url
            # a wrong file is never kept, not even as a partial to resume from
            part.unlink(missing_ok=True)
            if offset > 0 and not resumed_digest_retry:
                # the bytes resumed from may have come from another source: start afresh once
                resumed_digest_retry = True
                self.progress.on_note(f"{entry.filename}: resumed file failed verification; "
                                      "downloading it again from the start")
                continue
            raise _MirrorFailed(_mismatch(digest, entry.sha256))

    def _http_get(self, entry: DatasetFile, url: str, part: Path, offset: int) -> None:
        """Download ``url`` into ``part``, resuming after ``offset`` bytes when the server
        honours Range, never reading past the file's known size. Raises _Transient
        (retry), _MirrorFailed (next mirror) or DownloadError (a local failure: stop)."""
        # the HTTP stack loads here, not with the module: most commands never download
        import http.client
        import urllib.error
        import urllib.request

        filename, limit = entry.filename, entry.size
        headers = {"User-Agent": USER_AGENT}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        request = urllib.request.Request(url, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 416 and offset:
                # the partial is not a prefix the server recognises: start again
                part.unlink(missing_ok=True)
                raise _Transient("server rejected the resume range") from None
            if exc.code >= 500 or exc.code in (408, 429):
                raise _Transient(f"HTTP {exc.code} {exc.reason}") from None
            raise _MirrorFailed(f"HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise _Transient(_reason(exc.reason)) from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(_reason(exc)) from None
        with response:
            status = response.status
            length = response.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            if status == 206 and offset:
                start, total = _content_range(response.headers.get("Content-Range", ""))
                if start != offset:
                    part.unlink(missing_ok=True)
                    raise _Transient("server answered the resume request with the wrong range")
                mode = "ab"
                self.progress.on_note(f"{filename}: resuming at {offset} bytes")
            elif status == 200:
                # the server sent the whole file (it ignores Range, or we asked for none)
                offset, total, mode = 0, length, "wb"
            else:
                raise _MirrorFailed(f"unexpected HTTP status {status}")
            expected = None if length is None else offset + length
            total = total if total is not None else expected
            if limit is not None and max(total or 0, expected or 0) > limit:
                if mode == "ab":
                    part.unlink(missing_ok=True)
                raise _MirrorFailed(f"offers {max(total or 0, expected or 0)} bytes, but the "
                                    f"file is {limit} bytes; not downloaded")
            self.progress.on_start(filename, total if total is not None else limit, url)
            done = offset
            self.progress.on_progress(filename, done)
            with _open_part(part, mode) as sink:
                while True:
                    try:
                        chunk = response.read(CHUNK_SIZE)
                    except (OSError, http.client.HTTPException) as exc:
                        _flush(sink, part)
                        raise _Transient(f"connection lost after {done} bytes "
                                         f"({_reason(exc)})") from None
                    if not chunk:
                        break
                    if limit is not None and done + len(chunk) > limit:
                        sink.close()
                        part.unlink(missing_ok=True)
                        raise _MirrorFailed(f"sent more than the file's {limit} bytes; "
                                            "stopped reading (discarded)")
                    _write(sink, chunk, part)
                    done += len(chunk)
                    self.progress.on_progress(filename, done)
                _flush(sink, part, sync=True)
            if expected is not None and done < expected:
                raise _Transient(f"connection closed after {done} of {expected} bytes")

    def _copy(self, entry: DatasetFile, source: Path, part: Path) -> None:
        try:
            size = source.stat().st_size
        except FileNotFoundError:
            raise _MirrorFailed(f"{source} not found") from None
        except OSError as exc:
            raise _MirrorFailed(f"{source}: {exc.strerror or exc}") from None
        if not source.is_file():
            raise _MirrorFailed(f"{source} is not a file")
        if entry.size is not None and size != entry.size:
            raise _MirrorFailed(f"{source} is {size} bytes, but the file is {entry.size} "
                                "bytes; not copied")
        self.progress.on_start(entry.filename, size, str(source))
        done = 0
        limit = entry.size if entry.size is not None else size
        try:
            src = open(source, "rb")
        except OSError as exc:
            raise _MirrorFailed(f"{source}: {exc.strerror or exc}") from None
        with src, _open_part(part, "wb") as sink:
            while True:
                try:
                    chunk = src.read(1 << 20)
                except OSError as exc:
                    sink.close()
                    part.unlink(missing_ok=True)
                    raise _MirrorFailed(f"{source}: {exc.strerror or exc}") from None
                if not chunk:
                    break
                if done + len(chunk) > limit:  # the source grew while being copied
                    sink.close()
                    part.unlink(missing_ok=True)
                    raise _MirrorFailed(f"{source} holds more than the file's {limit} "
                                        "bytes; not copied")
                _write(sink, chunk, part)
                done += len(chunk)
                self.progress.on_progress(entry.filename, done)
            _flush(sink, part, sync=True)
        digest = sha256_file(part)
        if digest != entry.sha256:
            part.unlink(missing_ok=True)
            raise _MirrorFailed(f"{source}: {_mismatch(digest, entry.sha256)}")


def _local_failure(exc: OSError, part: Path) -> DownloadError:
    """A failure writing the partial file: the user's disk, not the mirror. The partial
    is removed (it may hold a torn write, and a full disk needs the space back)."""
    part.unlink(missing_ok=True)
    final = part.with_name(part.name.removesuffix(PART_SUFFIX))
    if exc.errno == errno.ENOSPC:
        return DownloadError(f"no space left on device while writing {final}; free some "
                             "space and run the download again")
    return DownloadError(f"cannot write {final}: {exc.strerror or exc}")


def _open_part(part: Path, mode: str):
    try:
        return open(part, mode)
    except OSError as exc:
        raise _local_failure(exc, part) from None


def _write(sink, chunk: bytes, part: Path) -> None:
    try:
        sink.write(chunk)
    except OSError as exc:
        with contextlib.suppress(OSError):  # closing flushes, which may fail the same way
            sink.close()
        raise _local_failure(exc, part) from None


def _flush(sink, part: Path, sync: bool = False) -> None:
    try:
        sink.flush()
        if sync:
            os.fsync(sink.fileno())
    except OSError as exc:
        with contextlib.suppress(OSError):
            sink.close()
        raise _local_failure(exc, part) from None


def _content_range(value: str) -> tuple[int | None, int | None]:
    """(start, total) from ``bytes START-END/TOTAL``; None where absent or unknown."""
    match = re.match(r"bytes\s+(\d+)-\d+/(\d+|\*)", value.strip())
    if not match:
        return None, None
    total = match.group(2)
    return int(match.group(1)), (int(total) if total != "*" else None)


def _mismatch(actual: str, expected: str) -> str:
    return f"SHA-256 mismatch: got {actual[:12]}..., expected {expected[:12]}... (discarded)"


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__
